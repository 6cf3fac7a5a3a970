/* manythreads.c - creates 200 short-lived threads, 20 at a time, each calls
 * hit(n) once; main joins every batch before starting the next.  Exits 0
 * when all 200 calls happened, 1 otherwise. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define TOTAL 200
#define BATCH 20

static int calls = 0;

int hit(int n)
{
    __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);   /* @mark:hit */
    return n;
}

void *thread_fn(void *arg)
{
    hit((int)(long)arg);
    return NULL;
}

int main(void)
{
    pthread_t th[BATCH];
    int b, i;
    printf("manythreads: pid=%d\n", (int)getpid());
    fflush(stdout);
    for (b = 0; b < TOTAL / BATCH; b++) {
        for (i = 0; i < BATCH; i++)
            pthread_create(&th[i], NULL, thread_fn, (void *)(long)(b * BATCH + i));
        for (i = 0; i < BATCH; i++)
            pthread_join(th[i], NULL);
    }
    printf("manythreads: calls=%d\n", calls);
    return calls == TOTAL ? 0 : 1;
}
