/* bphit: calls a tiny function in an endless loop.
 * rspbench puts a breakpoint on bench_hit and counts hits per second;
 * the step op single-steps through main's loop.
 * Build: gcc -g -O0 -no-pie -o bphit bphit.c */
volatile unsigned long bench_hits;

__attribute__((noinline)) void bench_hit(void)
{
	bench_hits++;
}

int main(void)
{
	for (;;)
		bench_hit();
}
