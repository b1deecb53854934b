/* SPDX-License-Identifier: MIT */
/*
 * Calls every interposed allocation function through its edge cases on a
 * worker thread, checks glibc's contracts (results, errno), and prints the
 * exact counts the archive must hold for that thread in full mode:
 * allocs = successful allocating calls (realloc counts one), frees =
 * non-NULL blocks released (realloc(p, n) counts one, realloc(p, 0) one).
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_expect.h"

#define ROUNDS 1000

static void (*cfree_fn)(void *);
static volatile size_t huge = SIZE_MAX; /* defeats size warnings */

/* Every result goes through the volatile sink: compilers may otherwise
 * assume the allocation succeeded, or drop a malloc/free pair. */
static void *got(struct e2e_counts *c, void *p)
{
	e2e_sink = p;
	if (p)
		c->allocs++;
	return p;
}

static void put(struct e2e_counts *c, void *p)
{
	if (p)
		c->frees++;
	free(p);
}

static void plain(struct e2e_counts *c)
{
	void *p;

	for (int i = 0; i < ROUNDS; i++)
		put(c, got(c, malloc((size_t)(i % 300) * 8 + 1)));
	put(c, got(c, malloc(0)));
	free(NULL);
	errno = 0;
	p = got(c, malloc(huge));
	E2E_CHECK(c, p == NULL && errno == ENOMEM);
	put(c, got(c, calloc(10, 10)));
	put(c, got(c, calloc(0, 5)));
	errno = 0;
	p = got(c, calloc(huge, 2));
	E2E_CHECK(c, p == NULL && errno == ENOMEM);
}

static void reallocs(struct e2e_counts *c)
{
	void *p, *q;

	p = got(c, realloc(NULL, 50)); /* an allocation */
	for (int i = 1; i <= ROUNDS; i++) {
		q = realloc(p, (size_t)i * 16);
		e2e_sink = q;
		E2E_CHECK(c, q != NULL);
		c->allocs++; /* one REALLOC: one alloc and one free */
		c->frees++;
		p = q;
	}
	errno = 0;
	q = got(c, realloc(p, huge / 2));
	E2E_CHECK(c, q == NULL && errno == ENOMEM); /* p still valid */
	q = realloc(p, 0);
	e2e_sink = q;
	E2E_CHECK(c, q == NULL); /* glibc frees p */
	c->frees++;
	put(c, got(c, realloc(NULL, 0)));

	p = got(c, reallocarray(NULL, 10, 10));
	errno = 0;
	q = got(c, reallocarray(p, huge, 2));
	E2E_CHECK(c, q == NULL && errno == ENOMEM);
	q = reallocarray(p, 20, 10);
	e2e_sink = q;
	E2E_CHECK(c, q != NULL);
	c->allocs++;
	c->frees++;
	put(c, q);
}

static void aligned(struct e2e_counts *c)
{
	void *p = NULL;
	int err;

	err = posix_memalign(&p, 64, 100);
	E2E_CHECK(c, err == 0 && ((uintptr_t)p & 63) == 0);
	put(c, got(c, p));
	p = (void *)1;
	err = posix_memalign(&p, 3, 100);
	E2E_CHECK(c, err == EINVAL && p == (void *)1);
	err = posix_memalign(&p, 64, huge);
	E2E_CHECK(c, err == ENOMEM && p == (void *)1);
	p = got(c, aligned_alloc(256, 512));
	E2E_CHECK(c, p && ((uintptr_t)p & 255) == 0);
	put(c, p);
	p = got(c, memalign(4096, 100));
	E2E_CHECK(c, p && ((uintptr_t)p & 4095) == 0);
	put(c, p);
	put(c, got(c, valloc(100)));
	put(c, got(c, pvalloc(100)));
	errno = 0;
	p = got(c, memalign(64, huge));
	E2E_CHECK(c, p == NULL && errno == ENOMEM);
	if (cfree_fn) {
		p = got(c, malloc(32));
		cfree_fn(p);
		c->frees++;
	}
}

/* Blocks allocated here and freed by the main thread: counted there. */
static void *handoff[16];

static void *worker(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	plain(c);
	reallocs(c);
	aligned(c);
	for (int i = 0; i < 16; i++)
		handoff[i] = got(c, malloc(64));
	return NULL;
}

int main(void)
{
	struct e2e_counts c = {0};
	pthread_t th;

	/* cfree exists only as a compat symbol in glibc >= 2.26; the agent
	 * provides one. Looked up here: dlsym may allocate. */
	cfree_fn = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
	if (pthread_create(&th, NULL, worker, &c) || pthread_join(th, NULL))
		return 1;
	for (int i = 0; i < 16; i++)
		free(handoff[i]);
	e2e_print(&c, NULL);
	printf("cfree %s\n", cfree_fn ? "present" : "absent");
	return c.failed ? 1 : 0;
}
