/* args.c: a frame with arguments of many types, for `monitor backtrace`. */
#include <stdbool.h>
#include <stdio.h>

enum colour { RED, GREEN = 5, BLUE };
struct point {
	int x, y;
};
typedef unsigned long ulong_t;

static int twice(int x)
{
	return 2 * x;
}

__attribute__((noinline)) int show(char c, unsigned char uc, bool b, short s, long l, ulong_t ul, float f,
				   double d, enum colour col, enum colour odd, const char *str, const char *esc,
				   char *null, struct point pt, int *ip, int (*fn)(int))
{
	return c + uc + b + s + (int)l + (int)ul + (int)f + (int)d + col + odd + str[0] + esc[0] + (null != 0) +
	       pt.x + *ip + fn(1); /* @mark:show */
}

int main(void)
{
	struct point pt = { 1, 2 };
	int i = 7;

	printf("%d\n", show('A', 200, true, -3, -1234567890123L, 42UL, 1.5f, 0.1, GREEN, (enum colour)7,
			    "hello", "tab\there \"q\" \001", NULL, pt, &i, twice));
	return 0;
}
