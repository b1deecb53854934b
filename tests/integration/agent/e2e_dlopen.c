/* SPDX-License-Identifier: MIT */
/*
 * dlopen of a library that allocates: the loader's and the library
 * constructor's allocations happen on the main thread; a worker calls into
 * the library and its counts are exact. argv[1]: the library's path.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "e2e_expect.h"

static void *(*work_fn)(int);

static void *worker(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	free(work_fn(777));
	c->allocs = 777;
	c->frees = 777;
	return NULL;
}

int main(int argc, char **argv)
{
	struct e2e_counts c = {0};
	pthread_t th;
	void *h;

	if (argc < 2)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	*(void **)&work_fn = dlsym(h, "e2e_plugin_work");
	if (!work_fn || pthread_create(&th, NULL, worker, &c) ||
	    pthread_join(th, NULL))
		return 1;
	dlclose(h);
	e2e_print(&c, NULL);
	return 0;
}
