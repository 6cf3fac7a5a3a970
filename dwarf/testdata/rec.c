/* rec.c: deep recursion for unwinding tests.  rec [DEPTH [sig]] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile int depth_seen;

__attribute__((noinline)) int leaf(volatile char *p)
{
	depth_seen = p[0]; /* @mark:leaf */
	return p[0] + 1;
}

static inline int helper(volatile char *p)
{
	return leaf(p) * 2; /* @mark:helper */
}

__attribute__((noinline)) int recurse(int n)
{
	volatile char buf[24];

	buf[0] = (char)n;
	if (n == 0)
		return helper(buf); /* @mark:base */
	int r = recurse(n - 1); /* @mark:recurse_call */
	return r + buf[0];
}

/* A variable-length array forces a frame pointer even at -O2. */
__attribute__((noinline)) int vla(int n, int m)
{
	volatile char a[n + 1];

	a[0] = (char)n;
	int r = recurse(m); /* @mark:vla_call */
	return r + a[0];
}

static void on_signal(int sig)
{
	depth_seen = vla(2, 3) + sig; /* @mark:handler */
}

__attribute__((noinline)) int raiser(void)
{
	raise(SIGUSR1); /* @mark:raise */
	return depth_seen;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 10;

	if (argc > 2 && strcmp(argv[2], "sig") == 0) {
		signal(SIGUSR1, on_signal);
		printf("%d\n", raiser());
		return 0;
	}
	printf("%d\n", vla(3, depth)); /* @mark:main_call */
	return 0;
}
