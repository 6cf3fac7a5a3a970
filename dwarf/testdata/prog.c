/* prog.c: several functions, a loop and globals (built at -O0). */
#include <stdio.h>
#include <stdlib.h>

int counter = 3;
static long table[16];
const char *greeting = "hello";
struct point {
	int x, y;
	double w;
} origin = {1, 2, 3.0};
char buffer[100];

static int square(int v)
{
	return v * v; /* @mark:square_body */
}

int add(int a, int b)
{
	int s = a + b; /* @mark:add_body */

	return s;
}


int sum_to(int n)
{
	int total = 0;

	for (int i = 0; i < n; i++) { /* @mark:loop */
		total = add(total, square(i));
		table[i & 15] = total;
	}
	return total;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5;

	counter += sum_to(n);
	buffer[0] = (char)counter;
	printf("%s %d %ld %d\n", greeting, counter, table[1], origin.x);
	return 0;
}
