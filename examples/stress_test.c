/* SPDX-License-Identifier: MIT */
/*
 * stress_test: many threads hammering malloc and free, for memscope's
 * stress tests, benchmarks and demo.
 *
 * Each of T threads does N (free, malloc) pairs over a live window of W
 * blocks: sizes mostly under 1 KiB, some medium, rare large (each "call
 * site" has its own size, as in real programs); a share of the blocks is
 * handed to another thread, which frees it. At the end every block is
 * freed. The exact counts of what each thread did are printed as
 *
 *   memscope-expect thread index=I tid=T allocs=A frees=F
 *   memscope-expect total threads=N allocs=A frees=F
 *
 * With --peak 1 it also counts the bytes its own calls hold (one atomic
 * add per call, shared by all threads: slower, so off by default) and
 * prints the highest total, the truth a report's peak is checked against
 * in the same run (the peak of this workload differs from run to run):
 *
 *   memscope-expect peak bytes=B
 *
 * usage: stress_test [--threads T] [--ops N] [--window W] [--cross PCT]
 *                    [--seed S] [--peak 0|1]
 *                    (defaults: 150, 20000, 256, 5, 1, 0)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INBOX_CAP 4096

struct inbox {
	pthread_mutex_t lock;
	void *blocks[INBOX_CAP];
	int n;
};

struct worker {
	int index;
	pid_t tid;
	uint64_t seed;
	uint64_t allocs, frees;
	struct inbox in;
};

static int n_threads = 150, window = 256, cross_pct = 5, count_peak;
static long n_ops = 20000;
static struct worker *workers;
static pthread_barrier_t done_barrier;
/* --peak: bytes held now and at most. Every update is a read-modify-write
 * of the one counter, so the maximum is taken over its exact history. */
static _Atomic uint64_t live_bytes, peak_bytes;

static void held(uint64_t n)
{
	uint64_t now, peak;

	if (!count_peak)
		return;
	now = atomic_fetch_add_explicit(&live_bytes, n, memory_order_relaxed) +
	      n;
	peak = atomic_load_explicit(&peak_bytes, memory_order_relaxed);
	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&peak_bytes, &peak, now,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static void released(uint64_t n)
{
	if (count_peak)
		atomic_fetch_sub_explicit(&live_bytes, n, memory_order_relaxed);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One function per size class, so the call sites differ in reports. */
static __attribute__((noinline)) void *alloc_small(size_t n)
{
	return malloc(n);
}

static __attribute__((noinline)) void *alloc_medium(size_t n)
{
	return malloc(n);
}

static __attribute__((noinline)) void *alloc_large(size_t n)
{
	return malloc(n);
}

/* 90% small (< 1 KiB), 9.5% medium, 0.5% large; a size per site. */
static void *alloc_one(uint64_t r)
{
	static const size_t small[] = {16,  24,	 32,  48,  64,	80,  96,  128,
				       160, 192, 256, 320, 384, 512, 768, 1000};
	static const size_t medium[] = {1536, 2048, 4096, 8192, 16384};
	static const size_t large[] = {65536, 131072, 262144, 1048576};
	unsigned k = (unsigned)(r % 1000);
	size_t n;
	char *p;

	if (k < 900)
		p = alloc_small(n = small[(r >> 10) % 16]);
	else if (k < 995)
		p = alloc_medium(n = medium[(r >> 10) % 5]);
	else
		p = alloc_large(n = large[(r >> 10) % 4]);
	if (p && count_peak) {
		held(n);
		memcpy(p, &n, sizeof(n)); /* for release() */
	} else if (p) {
		((volatile char *)p)[0] = (char)r; /* keep the call */
	}
	return p;
}

static void release(struct worker *w, void *p)
{
	size_t n;

	if (count_peak) {
		memcpy(&n, p, sizeof(n));
		released(n);
	}
	free(p);
	w->frees++;
}

/* Hands `p` to another thread; returns 0 when its inbox is full. */
static int hand_off(struct worker *w, void *p, uint64_t r)
{
	struct worker *to =
		&workers[(w->index + 1 + r % (n_threads - 1)) % n_threads];
	int ok = 0;

	pthread_mutex_lock(&to->in.lock);
	if (to->in.n < INBOX_CAP) {
		to->in.blocks[to->in.n++] = p;
		ok = 1;
	}
	pthread_mutex_unlock(&to->in.lock);
	return ok;
}

static void drain_inbox(struct worker *w)
{
	void *local[256];
	int n;

	do {
		pthread_mutex_lock(&w->in.lock);
		n = w->in.n < 256 ? w->in.n : 256;
		w->in.n -= n;
		memcpy(local, w->in.blocks + w->in.n,
		       (size_t)n * sizeof(void *));
		pthread_mutex_unlock(&w->in.lock);
		for (int i = 0; i < n; i++)
			release(w, local[i]);
	} while (n);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	void **live = calloc((size_t)window, sizeof(void *));
	uint64_t s = w->seed;

	w->tid = gettid();
	if (live) {
		w->allocs++; /* the window itself */
		held((size_t)window * sizeof(void *));
	}
	for (long i = 0; live && i < n_ops; i++) {
		uint64_t r = rnd(&s);
		int k = (int)(r % (uint64_t)window);

		if (live[k]) {
			if (n_threads < 2 ||
			    (r >> 20) % 100 >= (uint64_t)cross_pct ||
			    !hand_off(w, live[k], r >> 32))
				release(w, live[k]);
		}
		live[k] = alloc_one(r >> 8);
		if (live[k])
			w->allocs++;
		if ((i & 255) == 0)
			drain_inbox(w);
	}
	for (int k = 0; live && k < window; k++)
		if (live[k])
			release(w, live[k]);
	pthread_barrier_wait(&done_barrier); /* no more hand-offs */
	drain_inbox(w);
	if (live) {
		released((size_t)window * sizeof(void *));
		free(live);
		w->frees++;
	}
	return NULL;
}

static int parse(int argc, char **argv, uint64_t *seed)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		long v = atol(argv[i + 1]);

		if (!strcmp(argv[i], "--threads") && v > 0 && v <= 4096)
			n_threads = (int)v;
		else if (!strcmp(argv[i], "--ops") && v >= 0)
			n_ops = v;
		else if (!strcmp(argv[i], "--window") && v > 0)
			window = (int)v;
		else if (!strcmp(argv[i], "--cross") && v >= 0 && v <= 100)
			cross_pct = (int)v;
		else if (!strcmp(argv[i], "--seed"))
			*seed = (uint64_t)v;
		else if (!strcmp(argv[i], "--peak") && (v == 0 || v == 1))
			count_peak = (int)v;
		else
			return -1;
	}
	return argc % 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, allocs = 0, frees = 0;
	pthread_t *th;

	if (parse(argc, argv, &seed) < 0) {
		fprintf(stderr, "usage: stress_test [--threads T] [--ops N] "
				"[--window W] [--cross PCT] [--seed S] "
				"[--peak 0|1]\n");
		return 2;
	}
	workers = calloc((size_t)n_threads, sizeof(*workers));
	th = calloc((size_t)n_threads, sizeof(*th));
	if (!workers || !th)
		return 1;
	held((uint64_t)n_threads * (sizeof(*workers) + sizeof(*th)));
	pthread_barrier_init(&done_barrier, NULL, (unsigned)n_threads);
	for (int i = 0; i < n_threads; i++) {
		workers[i].index = i;
		workers[i].seed =
			seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1;
		pthread_mutex_init(&workers[i].in.lock, NULL);
	}
	for (int i = 0; i < n_threads; i++)
		if (pthread_create(&th[i], NULL, thread_main, &workers[i])) {
			fprintf(stderr, "stress_test: cannot start thread %d\n",
				i);
			return 1;
		}
	for (int i = 0; i < n_threads; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < n_threads; i++) {
		printf("memscope-expect thread index=%d tid=%d allocs=%llu "
		       "frees=%llu\n",
		       i, (int)workers[i].tid,
		       (unsigned long long)workers[i].allocs,
		       (unsigned long long)workers[i].frees);
		allocs += workers[i].allocs;
		frees += workers[i].frees;
	}
	printf("memscope-expect total threads=%d allocs=%llu frees=%llu\n",
	       n_threads, (unsigned long long)allocs,
	       (unsigned long long)frees);
	if (count_peak)
		printf("memscope-expect peak bytes=%llu\n",
		       (unsigned long long)atomic_load(&peak_bytes));
	printf("stress_test: %d threads x %ld ops: %llu mallocs, %llu frees\n",
	       n_threads, n_ops, (unsigned long long)allocs,
	       (unsigned long long)frees);
	free(th);
	free(workers);
	return 0;
}
