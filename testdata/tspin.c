/* tspin.c - 4 worker threads spin on per-thread counters until stop_all is
 * set (by a debugger).  Each worker calls bump(id) in a busy loop; main
 * calls all_running() once every worker has started, then joins them.
 * For Ctrl-C with every thread running and for scheduler-locking tests. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define NTHREADS 4

volatile long counters[NTHREADS];
volatile int stop_all = 0;
static int started = 0;

void bump(int id)
{
    counters[id]++;   /* @mark:bump */
}

void *worker(void *arg)
{
    int id = (int)(long)arg;
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    while (!stop_all)
        bump(id);   /* @mark:worker-loop */
    return NULL;
}

void all_running(void)
{
    printf("tspin: all %d workers running\n", NTHREADS);
    fflush(stdout);
}

int main(void)
{
    pthread_t th[NTHREADS];
    int i;
    printf("tspin: pid=%d\n", (int)getpid());
    fflush(stdout);
    for (i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(long)i);
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < NTHREADS)
        usleep(1000);
    all_running();
    for (i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    printf("tspin: done\n");
    return 0;
}
