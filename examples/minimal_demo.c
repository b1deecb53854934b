/* SPDX-License-Identifier: MIT */
/*
 * minimal_demo: the explicit API (memscope.h) on a custom allocator.
 *
 * Five threads each own a small bump/free-list pool carved out of one
 * static buffer and report its blocks with memscope_track_alloc() and
 * memscope_track_free(). Start a consumer, then run it in its session:
 *
 *   memscope consumer --session demo --sampling full &
 *   MEMSCOPE_SESSION=demo ./minimal_demo
 *
 * Without a consumer it runs untracked. It prints the exact counts:
 *   memscope-expect thread index=I tid=T allocs=A frees=F
 *   memscope-expect total threads=5 allocs=A frees=F
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memscope.h"

#define THREADS 5
#define BLOCK	64
#define BLOCKS	256 /* per pool */
#define ROUNDS	2000

struct pool {
	unsigned char mem[BLOCKS][BLOCK];
	void *free_list[BLOCKS];
	int nfree;
};

struct worker {
	int index;
	pid_t tid;
	unsigned long allocs, frees;
	struct pool pool;
};

static struct worker workers[THREADS];

static void *pool_alloc(struct worker *w)
{
	void *p;

	if (w->pool.nfree == 0)
		return NULL;
	p = w->pool.free_list[--w->pool.nfree];
	memscope_track_alloc(p, BLOCK);
	w->allocs++;
	return p;
}

static void pool_free(struct worker *w, void *p)
{
	memscope_track_free(p);
	w->frees++;
	w->pool.free_list[w->pool.nfree++] = p;
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	void *held[32] = {0};

	w->tid = gettid();
	memscope_thread_init(); /* optional: the ring now, not at first use */
	for (int i = 0; i < BLOCKS; i++)
		w->pool.free_list[i] = w->pool.mem[i];
	w->pool.nfree = BLOCKS;
	for (int i = 0; i < ROUNDS; i++) {
		int k = (i * 7 + w->index) % 32;

		if (held[k])
			pool_free(w, held[k]);
		held[k] = pool_alloc(w);
	}
	for (int k = 0; k < 32; k++)
		if (held[k])
			pool_free(w, held[k]);
	return NULL;
}

int main(void)
{
	struct memscope_options opt = {.version = MEMSCOPE_API_VERSION,
				       .stack_depth = -1};
	pthread_t th[THREADS];
	unsigned long allocs = 0, frees = 0;
	int err = memscope_init(&opt);

	if (err)
		fprintf(stderr,
			"minimal_demo: not tracked (%s); running "
			"anyway\n",
			strerror(-err));
	for (int i = 0; i < THREADS; i++) {
		workers[i].index = i;
		if (pthread_create(&th[i], NULL, thread_main, &workers[i]))
			return 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		printf("memscope-expect thread index=%d tid=%d allocs=%lu "
		       "frees=%lu\n",
		       i, (int)workers[i].tid, workers[i].allocs,
		       workers[i].frees);
		allocs += workers[i].allocs;
		frees += workers[i].frees;
	}
	printf("memscope-expect total threads=%d allocs=%lu frees=%lu\n",
	       THREADS, allocs, frees);
	memscope_finalize();
	return 0;
}
