/* instub_mt.c - threads writing (and reading) a global, for hardware
 * watchpoints in a multi-threaded program (integration/instub_test.go).
 * Watchpoints are set before the threads exist, so the stub must arm the
 * debug registers of every new thread.
 *
 *   instub_mt            3 threads, one after the other (create, join): each
 *                        reads gvar, stores what it saw in seen[id], then
 *                        adds 10*(id+1) to gvar.  gdb's output is
 *                        deterministic.
 *   instub_mt race       3 threads at once, each adding 1 to gvar 5 times
 *                        under a mutex (hits may coincide in time).
 *   instub_mt ticks [N]  3 threads at once, each calling tick(id, k) for
 *                        k = 0..N-1 (default 5), 1 ms apart: breakpoints
 *                        that several threads hit at about the same time
 *                        (conditions, agent dprintf, hbreak). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 3
#define RACE_ITERS 5

int gvar = 0;
int seen[NTHREADS];
pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void *worker(void *arg)
{
    int id = (int)(long)arg;
    seen[id] = gvar;              /* read  @mark:worker-read */
    gvar = gvar + 10 * (id + 1);  /* read + write  @mark:worker-write */
    return NULL;
}

void *racer(void *arg)
{
    int k;
    (void)arg;
    for (k = 0; k < RACE_ITERS; k++) {
        pthread_mutex_lock(&mu);
        gvar++;                   /* @mark:racer-write */
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int ticks[NTHREADS];
int nticks = 5;

void tick(int id, int k)
{
    ticks[id] += k;               /* @mark:tick-body */
    ticks[id] += 1;               /* @mark:tick-next */
}

void *ticker(void *arg)
{
    int id = (int)(long)arg;
    int k;
    for (k = 0; k < nticks; k++) {
        tick(id, k);
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[NTHREADS];
    int i;
    if (argc > 1 && strcmp(argv[1], "race") == 0) {
        for (i = 0; i < NTHREADS; i++)
            pthread_create(&th[i], NULL, racer, NULL);
        for (i = 0; i < NTHREADS; i++)
            pthread_join(th[i], NULL);
        printf("instub_mt: race gvar=%d\n", gvar);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "ticks") == 0) {
        if (argc > 2)
            nticks = atoi(argv[2]);
        for (i = 0; i < NTHREADS; i++)
            pthread_create(&th[i], NULL, ticker, (void *)(long)i);
        for (i = 0; i < NTHREADS; i++)
            pthread_join(th[i], NULL);
        printf("instub_mt: ticks=%d,%d,%d\n", ticks[0], ticks[1], ticks[2]);
        return 0;
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_create(&th[i], NULL, worker, (void *)(long)i);
        pthread_join(th[i], NULL);
    }
    printf("instub_mt: gvar=%d seen=%d,%d,%d\n", gvar, seen[0], seen[1], seen[2]); /* @mark:mt-done */
    return 0;
}
