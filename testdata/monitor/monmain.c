/* monmain.c: calls into libmonlib.so, which calls back. */
#include <stdio.h>

int lib_apply(int (*fn)(int), int x);

int callback(int x)
{
	return x * 3; /* @mark:callback */
}

int main(void)
{
	printf("monmain: %d\n", lib_apply(callback, 5)); /* @mark:main-apply */
	return 0;
}
