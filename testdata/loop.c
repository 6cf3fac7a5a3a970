/* loop.c - simple loop program for basic gostub scenarios.
 * Usage: loop [N]   (N iterations, default 5; N=0 means loop forever) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int counter = 0;
volatile int forever_flag = 1;

int add(int a, int b)
{
    int sum = a + b;      /* step lands here  @mark:add-body */
    counter += sum;
    return sum;
}

int main(int argc, char **argv)
{
    int n = (argc > 1) ? atoi(argv[1]) : 5;
    int total = 0;
    char buf[32] = "hello-stack";
    int i;
    total = add(total, 100);
    printf("loop: pid=%d n=%d\n", (int)getpid(), n);
    fflush(stdout);
    for (i = 0; n == 0 || i < n; i++) {
        total = add(total, i);   /* @mark:loop-body */
        if (n == 0) {
            usleep(100000);
            if (!forever_flag)
                break;
        }
    }
    printf("loop: total=%d counter=%d buf=%s\n", total, counter, buf);   /* @mark:after-loop */
    return total & 0x7f;
}
