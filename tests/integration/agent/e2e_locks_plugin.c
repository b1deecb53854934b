/* SPDX-License-Identifier: MIT */
/*
 * The library `e2e_locks dlopen` loads and unloads: its constructor and
 * destructor run with the dynamic linker's lock held, and allocate, ask
 * pthread_getattr_np() about their thread and start a thread of their own.
 */
#include <pthread.h>
#include <stdlib.h>

static void *blocks[3];
static __thread void *volatile sink; /* per thread: see e2e_locks.c */

static void *helper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		sink = malloc((size_t)i + 8);
		free(sink);
	}
	return NULL;
}

static void use_locks(void)
{
	pthread_attr_t a;
	pthread_t th;

	if (pthread_getattr_np(pthread_self(), &a) == 0)
		pthread_attr_destroy(&a);
	if (pthread_create(&th, NULL, helper, NULL) == 0)
		pthread_join(th, NULL);
}

__attribute__((constructor)) static void plugin_init(void)
{
	for (int i = 0; i < 3; i++)
		blocks[i] = malloc(100 + (size_t)i);
	use_locks();
}

__attribute__((destructor)) static void plugin_fini(void)
{
	for (int i = 0; i < 3; i++)
		free(blocks[i]);
	use_locks();
}

int e2e_locks_plugin_blocks(void);

int e2e_locks_plugin_blocks(void)
{
	int n = 0;

	for (int i = 0; i < 3; i++)
		n += blocks[i] != NULL;
	return n;
}
