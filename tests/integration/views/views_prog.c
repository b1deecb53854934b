/* SPDX-License-Identifier: MIT */
/*
 * A program whose allocation sites are known, for the tests of `memscope
 * export` and `memscope diff` (views_test.py). Each site is a function of
 * its own, so that a stack's label names it:
 *
 *   main thread
 *     small_temporaries  300 x malloc(40), each freed at once (temporary)
 *     big_buffers         20 x malloc(8192), freed at the end (the peak;
 *                         the most bytes of any site)
 *     leak_tables         10 x calloc(16, 64), never freed
 *     extra_leak           7 x malloc(3000), never freed: only when built
 *                         with -DVIEWS_EXTRA_LEAK (the diff's new site)
 *   thread "views-worker"
 *     worker_nodes       500 x malloc(96) through an inlined helper,
 *                         half freed, half never
 *
 * The program prints nothing and allocates nothing else of its own, so
 * that its two builds differ by extra_leak alone.
 */
#include <pthread.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static void *volatile keep[600];

NOINLINE static void small_temporaries(void)
{
	for (int i = 0; i < 300; i++) {
		keep[0] = malloc(40);
		free(keep[0]);
	}
}

NOINLINE static void big_buffers(void **out)
{
	for (int i = 0; i < 20; i++)
		out[i] = malloc(8192);
}

NOINLINE static void leak_tables(void)
{
	for (int i = 0; i < 10; i++)
		keep[100 + i] = calloc(16, 64);
}

#ifdef VIEWS_EXTRA_LEAK
NOINLINE static void extra_leak(void)
{
	for (int i = 0; i < 7; i++)
		keep[200 + i] = malloc(3000);
}
#endif

/* Inlined into worker_nodes: its frame is an inlined one. */
static inline __attribute__((always_inline)) void *node_new(size_t n)
{
	return malloc(n);
}

NOINLINE static void worker_nodes(void **nodes)
{
	for (int i = 0; i < 500; i++)
		nodes[i] = node_new(96);
	for (int i = 0; i < 500; i += 2)
		free(nodes[i]);
}

static void *worker(void *arg)
{
	static void *nodes[500];

	(void)arg;
	pthread_setname_np(pthread_self(), "views-worker");
	worker_nodes(nodes);
	return NULL;
}

int main(void)
{
	void *big[20];
	pthread_t t;

	small_temporaries();
	big_buffers(big);
	leak_tables();
#ifdef VIEWS_EXTRA_LEAK
	extra_leak();
#endif
	if (pthread_create(&t, NULL, worker, NULL) != 0 ||
	    pthread_join(t, NULL) != 0)
		return 1;
	for (int i = 0; i < 20; i++)
		free(big[i]);
	return 0;
}
