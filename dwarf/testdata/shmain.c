/* shmain.c: linked against libshlib.so. */
#include <stdio.h>

extern int lib_calls;
int lib_apply(int (*fn)(int), int v);

int callback(int v)
{
	return v + 1; /* @mark:callback */
}

int main(void)
{
	int r = lib_apply(callback, 4); /* @mark:main_apply */

	printf("%d %d\n", r, lib_calls);
	return 0;
}
