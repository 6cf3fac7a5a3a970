/* instub.c - single-threaded program for the "work done in the stub" tests
 * (integration/instub_test.go): hardware breakpoints and watchpoints, a
 * watchpoint on a local that goes out of scope, range stepping over a
 * 1000-iteration loop on one line, a function called 1000 times (target-side
 * breakpoint conditions), a dprintf site (agent dprintf), a write(2) (syscall
 * catching) and a buffer with a needle in it (find).
 * Lines the tests refer to carry @mark:NAME comments. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int gvar = 0;
int other = 0;
volatile int calls = 0;
char haystack[256];

int f(int i)
{
    calls++;            /* @mark:f-body */
    return i & 1;
}

void bump(int i)
{
    gvar = gvar + i;    /* read + write of gvar  @mark:bump */
}

int peek(void)
{
    return gvar;        /* read only  @mark:peek */
}

int scoped(int n)
{
    int local = 0;
    local = n;          /* @mark:scoped-set */
    local = local * 3;  /* @mark:scoped-mul */
    return local;
}

int main(void)
{
    int i, s = 0;
    long sum = 0;
    memset(haystack, '.', sizeof haystack);
    memcpy(haystack + 100, "NEEDLE-42", 10);   /* with its NUL, as find "..." searches */
    for (i = 1; i <= 3; i++) {
        bump(i);        /* @mark:call-bump */
        s += peek();
        other++;
    }
    s += scoped(5);     /* @mark:call-scoped */
    for (i = 0; i < 1000; i++) sum += i;   /* @mark:loop1000 */
    for (i = 0; i < 1000; i++)             /* @mark:after-loop1000 */
        s += f(i);      /* @mark:call-f */
    write(1, "instub: write\n", 14);       /* @mark:write */
    printf("instub: gvar=%d s=%d sum=%ld calls=%d\n", gvar, s, sum, calls);
    return 0;
}
