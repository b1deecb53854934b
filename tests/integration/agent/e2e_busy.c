/* SPDX-License-Identifier: MIT */
/*
 * A malloc-heavy program for the fault tests: argv[1] threads each do
 * argv[2] malloc/free pairs over a window of live blocks, some freed by
 * another thread. Prints a checksum of its own work (identical with and
 * without the agent) and exits 0.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 256

static long iters;
static void *shared[64];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	uint64_t x = (uintptr_t)arg * 2654435761u + 1, sum = 0;
	void *live[WINDOW] = {0};

	for (long i = 0; i < iters; i++) {
		size_t size, k;
		char *p;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size = x % 100 < 95 ? 16 + x % 1000 : 1024 + x % 20000;
		k = (x >> 20) % WINDOW;
		free(live[k]);
		p = malloc(size);
		p[0] = (char)i;
		sum += size;
		live[k] = p;
		if (i % 1000 == 0) { /* hand a block to another thread */
			pthread_mutex_lock(&shared_lock);
			free(shared[i / 1000 % 64]);
			shared[i / 1000 % 64] = live[k];
			live[k] = NULL;
			pthread_mutex_unlock(&shared_lock);
		}
	}
	for (int k = 0; k < WINDOW; k++)
		free(live[k]);
	return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	pthread_t th[256];
	uint64_t total = 0;

	iters = argc > 2 ? atol(argv[2]) : 100000;
	if (n < 1 || n > 256)
		return 2;
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i))
			return 1;
	for (int i = 0; i < n; i++) {
		void *r;

		pthread_join(th[i], &r);
		total += (uintptr_t)r;
	}
	for (int i = 0; i < 64; i++)
		free(shared[i]);
	printf("busy: %d threads x %ld pairs, %llu bytes\n", n, iters,
	       (unsigned long long)total);
	return 0;
}
