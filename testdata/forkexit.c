/* forkexit.c - stops at ready(), then forks a child that outlives it: the
 * child prints a line half a second after its parent has exited. */
#include <stdio.h>
#include <unistd.h>

void ready(void) {}

int main(void)
{
    printf("forkexit: pid=%d\n", (int)getpid());
    fflush(stdout);
    ready();
    if (fork() == 0) {
        usleep(500000);
        printf("forkexit: child done\n");
        fflush(stdout);
    }
    return 0;
}
