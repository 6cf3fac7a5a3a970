/* forkthreads.c - the parent forks and waits; the child keeps creating
 * short-lived threads from four spawner threads and calls _exit(0) after a
 * moment, so that threads are being cloned whenever it stops. The parent
 * reports how the child ended: "forkthreads: child exited 0". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *idle(void *arg)
{
	return arg;
}

static void *spawner(void *arg)
{
	for (;;) {
		pthread_t t;
		if (pthread_create(&t, NULL, idle, NULL) == 0)
			pthread_detach(t);
	}
	return arg;
}

int main(void)
{
	pid_t child = fork();
	if (child == 0) {
		pthread_t t;
		for (int i = 0; i < 4; i++)
			pthread_create(&t, NULL, spawner, NULL);
		usleep(200000);
		_exit(0);
	}
	int status;
	if (waitpid(child, &status, 0) != child) {
		perror("forkthreads: waitpid");
		return 1;
	}
	printf("forkthreads: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	fflush(stdout);
	return 0;
}
