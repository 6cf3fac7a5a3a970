/* monlib.c: a shared library (libmonlib.so) for the monitor tests. */
int lib_total;

int lib_apply(int (*fn)(int), int x)
{
	int r = fn(x); /* @mark:lib-call */
	lib_total += r;
	return r + 1;
}
