/* mem64m: maps a 64 MiB buffer, fills it with a known pattern, stores its
 * address in the global bench_buf and then calls bench_ready() forever.
 * rspbench stops at bench_ready, reads bench_buf with 'm' and then reads the
 * whole buffer with 'm' packets.  Byte i of the buffer is
 * (unsigned char)(i * 7 + (i >> 12)).
 * Build: gcc -g -O0 -no-pie -o mem64m mem64m.c */
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#define BENCH_SIZE (64UL << 20)

unsigned char *volatile bench_buf;
volatile unsigned long bench_size = BENCH_SIZE;

__attribute__((noinline)) void bench_ready(void)
{
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	unsigned char *p = mmap(NULL, BENCH_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < BENCH_SIZE; i++)
		p[i] = (unsigned char)(i * 7 + (i >> 12));
	bench_buf = p;
	for (;;) {
		bench_ready();
		sleep(1);
	}
}
