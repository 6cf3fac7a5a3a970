/* shlib.c: a shared library (-shared -fPIC) that calls back into its caller. */
int lib_calls;
long lib_table[8] = {1, 2, 3};

__attribute__((noinline)) int lib_twice(int v)
{
	return v * 2; /* @mark:lib_twice */
}

int lib_apply(int (*fn)(int), int v)
{
	lib_calls++; /* @mark:lib_apply */
	int r = fn(lib_twice(v)); /* @mark:lib_callback */
	return r + (int)lib_table[v & 7];
}
