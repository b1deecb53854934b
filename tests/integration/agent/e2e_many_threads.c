/* SPDX-License-Identifier: MIT */
/*
 * N threads alive at once (default 2000), each with a ring of its own:
 * every thread does its calls, then waits at a barrier for all the others,
 * so that the consumer holds every ring together. Usage: [N [HOLD_MS]]:
 * with HOLD_MS, each thread then lives that much longer, its few records
 * older than the consumer's frame age bound before it ends.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "e2e_expect.h"

static pthread_barrier_t all_in;
static long hold_ms;

static void *worker(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	for (unsigned long i = 0; i < c->allocs; i++)
		e2e_pair(24 + i % 100);
	c->frees = c->allocs;
	pthread_barrier_wait(&all_in);
	if (hold_ms > 0) {
		struct timespec ts = {hold_ms / 1000, hold_ms % 1000 * 1000000};

		while (nanosleep(&ts, &ts) != 0)
			;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	struct e2e_counts *c;
	pthread_t *th;
	pthread_attr_t at;

	hold_ms = argc > 2 ? atol(argv[2]) : 0;
	if (n < 1 || n > 100000 || hold_ms < 0 || hold_ms > 600000)
		return 2;
	c = calloc((size_t)n, sizeof(*c));
	th = calloc((size_t)n, sizeof(*th));
	if (!c || !th)
		return 1;
	pthread_barrier_init(&all_in, NULL, (unsigned)n);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 * 1024);
	for (long i = 0; i < n; i++) {
		c[i].allocs = 5 + (unsigned long)(i % 7);
		if (pthread_create(&th[i], &at, worker, &c[i]))
			return 1;
	}
	for (long i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (long i = 0; i < n; i++)
		e2e_print(&c[i], NULL);
	free(c);
	free(th);
	return 0;
}
