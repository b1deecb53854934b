/* SPDX-License-Identifier: MIT */
/*
 * Blocks that one thread grows with realloc and another frees: the new
 * block of a realloc is often one the other thread has just freed, while
 * the realloc waited for the arena. The archive's time order must put
 * that FREE before the REALLOC that got its block again: a REALLOC whose
 * time was read before the call came first, and reports found hundreds
 * of double frees here that never happened.
 *
 * usage: e2e_realloc_race [N]   (N blocks, default 100000)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "e2e_expect.h"

#define SLOTS 64

static void *_Atomic slot[SLOTS];
static long n_blocks = 100000;
static struct e2e_counts grower, freer;

/* Each block: a small one (back to this thread's cache when it moves),
 * grown past the per-thread caches' sizes, so that it comes from the
 * arena the other thread frees into; then handed over. */
static void *grow(void *arg)
{
	(void)arg;
	grower.tid = e2e_gettid();
	for (long i = 0; i < n_blocks; i++) {
		char *q = malloc(24), *p;
		void *empty = NULL;

		if (!q)
			abort();
		q[0] = 1;
		p = realloc(q, 4096 + (size_t)(i % 4) * 512);
		if (!p)
			abort();
		p[0] = 2;
		grower.allocs += 2; /* malloc, and realloc's new block */
		grower.frees++;	    /* realloc's old block */
		while (!atomic_compare_exchange_weak(&slot[i % SLOTS], &empty,
						     p))
			empty = NULL;
	}
	return NULL;
}

static void *drop(void *arg)
{
	(void)arg;
	freer.tid = e2e_gettid();
	for (long i = 0; i < n_blocks; i++) {
		void *p;

		while (!(p = atomic_exchange(&slot[i % SLOTS], NULL)))
			;
		free(p);
		freer.frees++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t a, b;

	if (argc > 1)
		n_blocks = atol(argv[1]);
	if (pthread_create(&a, NULL, grow, NULL) ||
	    pthread_create(&b, NULL, drop, NULL))
		return 1;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	e2e_print(&grower, NULL);
	e2e_print(&freer, NULL);
	return 0;
}
