/* inl.c: static inline functions that -O2 inlines, several times each. */
#include <stdio.h>
#include <stdlib.h>

volatile int sink;

static inline int bump(int v)
{
	sink += v; /* @mark:bump */
	return sink;
}

static inline int scale(int v, int k)
{
	int r = bump(v * k); /* @mark:scale_call */

	sink = r ^ k; /* @mark:scale_store */
	return r + 1;
}

__attribute__((noinline)) int work(int a, int b)
{
	int x = scale(a, 3); /* @mark:work_scale1 */
	int y = scale(b, 5); /* @mark:work_scale2 */

	sink = x;
	return x + y;
}

__attribute__((noinline)) int other(int a)
{
	return bump(a * a); /* @mark:other_bump */
}

int main(int argc, char **argv)
{
	int a = argc > 1 ? atoi(argv[1]) : 7;
	int b = argc > 2 ? atoi(argv[2]) : 11;

	printf("%d %d\n", work(a, b), other(a));
	return 0;
}
