/* sigusr.c - raises SIGUSR1 N times (argv[1], default 3); a handler counts
 * them.  Then calls done_raising() and exits with the count as its status:
 * 3 when every signal was delivered, 0 when none was, 4 when a debugger
 * delivered one more. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile int usr1_count = 0;

void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;   /* @mark:handler */
}

void done_raising(void)
{
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int i, n = (argc > 1) ? atoi(argv[1]) : 3;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    printf("sigusr: pid=%d\n", (int)getpid());
    fflush(stdout);
    for (i = 0; i < n; i++)
        raise(SIGUSR1);   /* @mark:raise */
    done_raising();
    printf("sigusr: usr1_count=%d\n", usr1_count);
    return usr1_count;
}
