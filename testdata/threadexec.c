/* threadexec.c - a second thread execs argv[1] with argument "2" while main sleeps */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static const char *prog;

void *execer(void *arg)
{
    (void)arg;
    usleep(10000);
    execl(prog, prog, "2", (char *)NULL);
    perror("execl");
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th;
    prog = (argc > 1) ? argv[1] : "./loop";
    printf("threadexec: pid=%d\n", (int)getpid());
    fflush(stdout);
    pthread_create(&th, NULL, execer, NULL);
    for (;;)
        sleep(1);
    return 0;
}
