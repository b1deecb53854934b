/* SPDX-License-Identifier: MIT */
/*
 * Allocates N blocks on each of T threads, prints the expected counts, and
 * SIGKILLs itself while the threads are still alive (their rings ACTIVE):
 * the archive must still hold every allocation.
 * usage: crash_prog [T] [N]   (defaults 4, 10000)
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int n_blocks = 10000;
static pthread_barrier_t ready;

static void *thread_main(void *arg)
{
	*(long *)arg = gettid();
	for (int i = 0; i < n_blocks; i++) {
		char *p = malloc(16 + (size_t)(i % 200));

		if (p)
			p[0] = 1; /* kept: never freed */
	}
	pthread_barrier_wait(&ready);
	pause();
	return NULL;
}

int main(int argc, char **argv)
{
	int t = argc > 1 ? atoi(argv[1]) : 4;
	static long tids[1024];
	pthread_t th;

	if (argc > 2)
		n_blocks = atoi(argv[2]);
	if (t < 1 || t > 1024)
		t = 4;
	pthread_barrier_init(&ready, NULL, (unsigned)t + 1);
	for (int i = 0; i < t; i++)
		pthread_create(&th, NULL, thread_main, &tids[i]);
	pthread_barrier_wait(&ready);
	for (int i = 0; i < t; i++)
		printf("memscope-expect thread index=%d tid=%ld allocs=%d "
		       "frees=0\n",
		       i, tids[i], n_blocks);
	printf("memscope-expect total threads=%d allocs=%ld frees=0\n", t,
	       (long)t * n_blocks);
	fflush(stdout);
	raise(SIGKILL);
	return 0;
}
