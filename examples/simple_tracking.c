/* SPDX-License-Identifier: MIT */
/*
 * simple_tracking: a few threads using plain malloc, calloc, realloc and
 * free — nothing memscope-specific. Run it under the agent:
 *
 *   memscope record --sampling full -- ./simple_tracking
 *
 * and compare `memscope stats ARCHIVE` with the counts it prints:
 *   memscope-expect thread index=I tid=T allocs=A frees=F
 *   memscope-expect total threads=N allocs=A frees=F
 * (realloc(p, n) of a live p counts one free and one allocation).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS	1000

struct worker {
	int index;
	pid_t tid;
	unsigned long allocs, frees;
};

static void *thread_main(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	for (int i = 0; i < ROUNDS; i++) {
		char *a = malloc(32 + (size_t)(i % 64));
		int *b = calloc(16, sizeof(int));
		char *c;

		w->allocs += (a != NULL) + (b != NULL);
		if (a)
			a[0] = 1;
		c = realloc(a, 4096); /* grows: one free, one allocation */
		if (c) {
			w->allocs++;
			w->frees += a != NULL;
			a = c;
		}
		free(NULL); /* counts nothing */
		if (a) {
			free(a);
			w->frees++;
		}
		if (b) {
			free(b);
			w->frees++;
		}
	}
	return NULL;
}

int main(void)
{
	struct worker w[THREADS];
	pthread_t th[THREADS];
	unsigned long allocs = 0, frees = 0;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		w[i].index = i;
		if (pthread_create(&th[i], NULL, thread_main, &w[i]))
			return 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		printf("memscope-expect thread index=%d tid=%d allocs=%lu "
		       "frees=%lu\n",
		       i, (int)w[i].tid, w[i].allocs, w[i].frees);
		allocs += w[i].allocs;
		frees += w[i].frees;
	}
	printf("memscope-expect total threads=%d allocs=%lu frees=%lu\n",
	       THREADS, allocs, frees);
	return 0;
}
