/* SPDX-License-Identifier: MIT */
/*
 * A free list of a thread's mmap'd state (stack table, walker state) that
 * ended threads leave for later ones instead of unmapping it: in a process
 * of many threads every munmap() interrupts each CPU that runs one of them
 * to flush its TLB, and 2000 threads ending together spent a third of
 * their time there (docs/agent.md, "Threads by the thousand").
 *
 * Only trylock is used: a thread that finds the list busy (another thread
 * in it, or a fork child whose parent held it) maps or unmaps as before,
 * so no caller ever waits, a signal handler included. An object in the
 * list keeps its link in its first member.
 */
#ifndef MS_POOL_H
#define MS_POOL_H

#include <pthread.h>
#include <stdint.h>

/* At most this many objects wait in a list; the rest are unmapped. */
#define MS_POOL_MAX 4096u

struct ms_pool {
	pthread_mutex_t mu;
	void *head;
	uint32_t n;
};

#define MS_POOL_INIT                                                           \
	{                                                                      \
		PTHREAD_MUTEX_INITIALIZER, NULL, 0                             \
	}

/* An object from the list, or NULL (empty or busy). */
static inline void *ms_pool_take(struct ms_pool *p)
{
	void *o;

	if (pthread_mutex_trylock(&p->mu))
		return NULL;
	o = p->head;
	if (o) {
		p->head = *(void **)o;
		p->n--;
	}
	pthread_mutex_unlock(&p->mu);
	return o;
}

/* 0 when `o` went into the list; -1: the caller unmaps it. */
static inline int ms_pool_give(struct ms_pool *p, void *o)
{
	int rc = -1;

	if (pthread_mutex_trylock(&p->mu))
		return -1;
	if (p->n < MS_POOL_MAX) {
		*(void **)o = p->head;
		p->head = o;
		p->n++;
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

#endif
