/* workers.c: a worker thread sleeping in the C library while the main
 * thread stops in stopme(), for `monitor backtrace` of another thread. */
#include <pthread.h>
#include <unistd.h>

volatile int ticks;

static void *worker(void *arg)
{
	for (;;) {
		ticks++;
		usleep(1000); /* @mark:worker */
	}
	return arg;
}

__attribute__((noinline)) void stopme(void)
{
	ticks++; /* @mark:stopme */
}

int main(void)
{
	pthread_t t;

	pthread_create(&t, 0, worker, 0);
	while (ticks < 3)
		usleep(1000);
	stopme();
	pthread_join(t, 0);
	return 0;
}
