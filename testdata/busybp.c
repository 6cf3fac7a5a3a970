/* busybp.c - two threads spin through the same line as fast as they can,
 * so a breakpoint there is hit by one while gdb steps the other (a step
 * cut short by another thread's stop). */
#include <pthread.h>
#include <stdio.h>

volatile long counts[2];

void *spin(void *arg)
{
    volatile long *c = &counts[(long)arg];
    while (*c >= 0)
        (*c)++; /* @mark:busy */
    return NULL;
}

int main(void)
{
    pthread_t th[2];
    long i;
    for (i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, spin, (void *)i);
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("busybp: done\n");
    return 0;
}
