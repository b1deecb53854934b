/* SPDX-License-Identifier: MIT */
/*
 * Threads that are named: one names itself with pthread_setname_np after
 * it started allocating, one is named by the main thread. Both names must
 * reach the archive (per_thread name).
 */
#include <pthread.h>
#include <stdlib.h>

#include "e2e_expect.h"

static pthread_barrier_t named;

static void *self_named(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	e2e_pair(10); /* the ring exists before the name is set */
	pthread_setname_np(pthread_self(), "ms-self-named");
	for (int i = 0; i < 99; i++)
		e2e_pair(100);
	c->allocs = c->frees = 100;
	return NULL;
}

static void *other_named(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	e2e_pair(10);
	pthread_barrier_wait(&named); /* main names us here */
	pthread_barrier_wait(&named);
	e2e_pair(10);
	c->allocs = c->frees = 2;
	return NULL;
}

int main(void)
{
	struct e2e_counts a = {0}, b = {0};
	pthread_t ta, tb;

	pthread_barrier_init(&named, NULL, 2);
	if (pthread_create(&ta, NULL, self_named, &a) ||
	    pthread_create(&tb, NULL, other_named, &b))
		return 1;
	pthread_barrier_wait(&named);
	pthread_setname_np(tb, "ms-other-named");
	pthread_barrier_wait(&named);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	e2e_print(&a, "ms-self-named");
	e2e_print(&b, "ms-other-named");
	return 0;
}
