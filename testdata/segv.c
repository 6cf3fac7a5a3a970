/* segv.c - dies of SIGSEGV: writes through a NULL pointer in crash(). */
#include <stdio.h>

int before_crash = 0;

void crash(int *p)
{
    *p = 42;   /* @mark:crash */
}

int main(void)
{
    before_crash = 1;
    printf("segv: about to crash\n");
    fflush(stdout);
    crash((int *)0);
    printf("segv: not reached\n");
    return 0;
}
