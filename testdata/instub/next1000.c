/* next1000.c - rspbench's next1000 op: a 1000-iteration loop on one source
 * line, entered again and again.  rspbench stops at the start of the loop
 * line and range-steps over it (vCont;r over the line's addresses), as gdb's
 * `next` does.
 * Build: gcc -g -O0 -no-pie -o next1000 next1000.c */
volatile long sum;

__attribute__((noinline)) void loop_top(void)
{
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	int i;
	for (;;) {
		loop_top();
		for (i = 0; i < 1000; i++) sum += i;   /* @mark:loop1000 */
	}
}
