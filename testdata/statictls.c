/* statictls.c - a thread-local variable in a static executable (build with
 * -static -pthread): module 1, no link_map for gdb to name. */
#include <pthread.h>
#include <stdio.h>

__thread int tlsvar = 7;

void ready(void) {}

void *worker(void *arg)
{
    tlsvar = 42;
    ready();
    return arg;
}

int main(void)
{
    pthread_t th;
    tlsvar = 5;
    pthread_create(&th, NULL, worker, NULL);
    pthread_join(th, NULL);
    ready();
    printf("statictls: tlsvar=%d\n", tlsvar);
    return 0;
}
