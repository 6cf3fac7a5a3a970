/* sig.c: a backtrace that goes through a signal handler and its
 * trampoline (<signal handler called>) back into the C library. */
#include <signal.h>
#include <stdio.h>

volatile int seen;

__attribute__((noinline)) int inner(int n)
{
	seen += n; /* @mark:inner */
	return seen;
}

static void handler(int sig)
{
	inner(sig);
}

int main(void)
{
	signal(SIGUSR1, handler);
	raise(SIGUSR1); /* @mark:raise */
	printf("sig: %d\n", seen);
	return 0;
}
