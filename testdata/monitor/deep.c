/* deep.c: recursion for `monitor backtrace` and `monitor info line`.
 * Usage: deep [DEPTH]   (default 100): recurse DEPTH deep, then leaf(). */
#include <stdio.h>
#include <stdlib.h>

int counter;
static int scale = 3;

static inline int twice(int x)
{
	return x * scale; /* @mark:twice */
}

__attribute__((noinline)) int leaf(int n)
{
	counter += twice(n); /* @mark:leaf */
	return counter;
}

/* This comment has no code: @mark:nocode */

__attribute__((noinline)) int recurse(int n)
{
	volatile int pad = n;

	if (n == 0)
		return leaf(pad); /* @mark:base */
	return recurse(n - 1) + pad; /* @mark:recurse */
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 100;

	printf("deep: %d\n", recurse(depth)); /* @mark:main-call */
	return 0;
}
