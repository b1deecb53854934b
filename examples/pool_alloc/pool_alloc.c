/* SPDX-License-Identifier: MIT */
/*
 * pool_alloc: a program with its own allocator, reporting its blocks to
 * memscope through the explicit API (memscope.h), built against an
 * installed memscope with pkg-config (Makefile) or CMake (CMakeLists.txt).
 *
 * The pool hands out blocks of three size classes from chunks it maps
 * itself, so malloc never sees them: only memscope_track_alloc() and
 * memscope_track_free() tell memscope about them. Three threads share the
 * pool, and each frees some blocks another thread allocated.
 *
 *   memscope consumer --session pool --sampling full --exit-when-idle &
 *   MEMSCOPE_SESSION=pool ./pool_alloc
 *   memscope stats memscope-archive-*
 *
 * Without a consumer it runs untracked. It prints its exact counts, per
 * thread (the thread that made the call) and in total:
 *   memscope-expect thread index=I tid=T allocs=A frees=F
 *   memscope-expect total threads=3 allocs=A frees=F
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memscope.h>

#define CLASSES 3
#define CHUNK	(64 * 1024)
#define THREADS 3
#define ROUNDS	3000
#define WINDOW	48
#define HANDOFF 16 /* blocks passed to the next thread to free */

static const size_t class_size[CLASSES] = {32, 128, 512};

struct block {
	struct block *next;
};

struct pool {
	pthread_mutex_t lock;
	struct block *free_list[CLASSES];
};

struct worker {
	int index;
	pid_t tid;
	unsigned long allocs, frees;
	void *handoff[HANDOFF]; /* freed by the next worker */
};

static struct pool pool = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct worker workers[THREADS];
static pthread_barrier_t handoff_ready;

static int class_of(size_t size)
{
	for (int c = 0; c < CLASSES; c++)
		if (size <= class_size[c])
			return c;
	return -1;
}

/* Carves a fresh chunk into blocks of class c; the pool's lock is held. */
static int pool_grow(int c)
{
	unsigned char *chunk = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (chunk == MAP_FAILED)
		return -1;
	for (size_t off = 0; off + class_size[c] <= CHUNK;
	     off += class_size[c]) {
		struct block *b = (struct block *)(void *)(chunk + off);

		b->next = pool.free_list[c];
		pool.free_list[c] = b;
	}
	return 0;
}

static void *pool_alloc(struct worker *w, size_t size)
{
	int c = class_of(size);
	struct block *b = NULL;

	if (c < 0)
		return NULL;
	pthread_mutex_lock(&pool.lock);
	if (pool.free_list[c] || pool_grow(c) == 0) {
		b = pool.free_list[c];
		pool.free_list[c] = b->next;
	}
	pthread_mutex_unlock(&pool.lock);
	if (b) {
		/* The size asked for: that is what the program holds. */
		memscope_track_alloc(b, size);
		w->allocs++;
	}
	return b;
}

static void pool_free(struct worker *w, void *p, size_t size)
{
	struct block *b = p;
	int c = class_of(size);

	memscope_track_free(p);
	w->frees++;
	pthread_mutex_lock(&pool.lock);
	b->next = pool.free_list[c];
	pool.free_list[c] = b;
	pthread_mutex_unlock(&pool.lock);
}

static size_t size_for(int i)
{
	return (size_t)(8 + (i * 37) % 500);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	struct worker *prev = &workers[(w->index + THREADS - 1) % THREADS];
	void *held[WINDOW] = {0};
	size_t held_size[WINDOW] = {0};

	w->tid = gettid();
	for (int i = 0; i < ROUNDS; i++) {
		int k = (i * 5 + w->index) % WINDOW;

		if (held[k])
			pool_free(w, held[k], held_size[k]);
		held_size[k] = size_for(i + w->index);
		held[k] = pool_alloc(w, held_size[k]);
	}
	for (int k = 0; k < WINDOW; k++)
		if (held[k])
			pool_free(w, held[k], held_size[k]);
	for (int k = 0; k < HANDOFF; k++)
		w->handoff[k] = pool_alloc(w, 64);
	pthread_barrier_wait(&handoff_ready);
	for (int k = 0; k < HANDOFF; k++)
		if (prev->handoff[k])
			pool_free(w, prev->handoff[k], 64);
	return NULL;
}

int main(void)
{
	pthread_t th[THREADS];
	unsigned long allocs = 0, frees = 0;
	int err = memscope_init(NULL);

	if (err)
		fprintf(stderr,
			"pool_alloc: not tracked (%s); running anyway\n",
			strerror(-err));
	pthread_barrier_init(&handoff_ready, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		workers[i].index = i;
		if (pthread_create(&th[i], NULL, thread_main, &workers[i]))
			return 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		printf("memscope-expect thread index=%d tid=%d allocs=%lu "
		       "frees=%lu\n",
		       i, (int)workers[i].tid, workers[i].allocs,
		       workers[i].frees);
		allocs += workers[i].allocs;
		frees += workers[i].frees;
	}
	printf("memscope-expect total threads=%d allocs=%lu frees=%lu\n",
	       THREADS, allocs, frees);
	memscope_finalize();
	return 0;
}
