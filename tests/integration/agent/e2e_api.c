/* SPDX-License-Identifier: MIT */
/*
 * The explicit API without LD_PRELOAD: linked with -lmemscope, started
 * with no MEMSCOPE_* variable set, attached by memscope_init() to the
 * session named on the command line. A worker reports a custom pool's
 * blocks; the archive must hold exactly those.
 */
#include <pthread.h>
#include <string.h>

#include "e2e_expect.h"
#include "memscope.h"

#define CHUNK  48
#define CHUNKS 64

static char pool[CHUNKS][CHUNK];

static void *worker(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	if (memscope_thread_init() != 0)
		c->failed = 1;
	for (int i = 0; i < 5000; i++) {
		memscope_track_alloc(pool[i % CHUNKS], CHUNK);
		if (i % CHUNKS == CHUNKS - 1)
			for (int k = 0; k < CHUNKS; k++)
				memscope_track_free(pool[k]);
	}
	for (int k = 0; k < 5000 % CHUNKS; k++)
		memscope_track_free(pool[k]);
	memscope_track_free(NULL); /* nothing */
	c->allocs = c->frees = 5000;
	return NULL;
}

int main(int argc, char **argv)
{
	struct memscope_options opt = {.version = MEMSCOPE_API_VERSION,
				       .session = argc > 1 ? argv[1] : NULL,
				       .sampling = "full",
				       .stack_depth = 4};
	struct e2e_counts c = {0};
	pthread_t th;
	int err = memscope_init(&opt);

	if (err) {
		fprintf(stderr, "memscope_init: %s\n", strerror(-err));
		return 1;
	}
	if (memscope_init(NULL) != 0) /* idempotent */
		return 1;
	if (pthread_create(&th, NULL, worker, &c) || pthread_join(th, NULL))
		return 1;
	e2e_print(&c, NULL);
	memscope_finalize();
	memscope_track_alloc(pool[0], CHUNK); /* ignored after finalize */
	return c.failed;
}
