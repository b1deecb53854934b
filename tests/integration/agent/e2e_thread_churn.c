/* SPDX-License-Identifier: MIT */
/*
 * Many short threads one after another, in waves: rings of exited threads
 * are reused by later ones once the consumer has drained them, each reuse
 * a new stream. Every thread's counts must still be exact.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "e2e_expect.h"

#define WAVES	 10
#define PER_WAVE 8

static void *worker(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	for (unsigned long i = 0; i < c->allocs; i++)
		e2e_pair(16 + i % 200);
	c->frees = c->allocs;
	return NULL;
}

int main(void)
{
	static struct e2e_counts c[WAVES][PER_WAVE];
	struct timespec pause = {0, 30 * 1000000L};

	for (int w = 0; w < WAVES; w++) {
		pthread_t th[PER_WAVE];

		for (int i = 0; i < PER_WAVE; i++) {
			c[w][i].allocs = 50 + 10 * (unsigned long)i + w;
			if (pthread_create(&th[i], NULL, worker, &c[w][i]))
				return 1;
		}
		for (int i = 0; i < PER_WAVE; i++)
			pthread_join(th[i], NULL);
		nanosleep(&pause, NULL); /* the consumer drains: rings free */
	}
	for (int w = 0; w < WAVES; w++)
		for (int i = 0; i < PER_WAVE; i++)
			e2e_print(&c[w][i], NULL);
	return 0;
}
