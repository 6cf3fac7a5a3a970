/* clone.c: at -O2 gcc clones g() (g.constprop.0) and splits its cold
 * path (g.constprop.0.cold); file-static data gets a .N suffix. */
#include <stdlib.h>

static int hits;

static __attribute__((noinline)) int g(int a, int b)
{
	static int calls;

	calls++;
	if (a > 100)
		abort();
	return a * b + calls + hits;
}

int main(int argc, char **argv)
{
	(void)argv;
	hits = argc;
	return g(argc, 7) + g(argc + 1, 7);
}
