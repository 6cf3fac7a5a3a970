/* forever.c - runs until killed: prints its pid, then calls beat() and
 * sleeps 10 ms in a loop.  For attach / detach and interrupt tests.
 * Tests build it with -no-pie so the addresses of .text and of `beats` are
 * the ones in the ELF file. */
#include <stdio.h>
#include <unistd.h>

volatile unsigned long beats = 0;

void beat(void)
{
    beats++;   /* @mark:beat */
}

int main(void)
{
    printf("forever: pid=%d\n", (int)getpid());
    fflush(stdout);
    for (;;) {
        beat();
        usleep(10000);
    }
    return 0;
}
