/* SPDX-License-Identifier: MIT */
/*
 * Ring microbenchmark: nanoseconds per record for the producer side
 * (reserve + encode an ALLOC record + commit), with
 *   a) "solo": one thread writes until the ring is full, then releases it
 *      all (no cache-line traffic: the producer's own cost), and
 *   b) "pair": a consumer thread polls every 20 us and releases what it
 *      finds (the real arrangement: another core, cache lines moving).
 * Median of the runs. Usage: bench_ring [records-per-run] [runs]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "record.h"
#include "ring.h"

struct run {
	struct ms_ring p, c;
	uint64_t n;
	_Atomic int done;
	uint64_t bytes;
};

static inline uint64_t write_one(struct ms_ring *r, struct ms_rec_state *s,
				 uint64_t i, int spin)
{
	uint8_t *w, *e;

	while (!(w = ms_ring_reserve(r, MS_REC_SMALL_MAX))) {
		if (!spin)
			return 0;
		ms_cpu_relax();
	}
	/* a typical small allocation: nearby address, small size, hot stack */
	e = ms_rec_put_alloc(s, w, i * 250, 0x7f1234560000 + (i % 300) * 48,
			     16 + (i * 7) % 500, 0, 1 + i % 50, MS_WEIGHT_ONE);
	ms_ring_commit(r, (uint64_t)(e - w));
	return (uint64_t)(e - w);
}

static double run_solo(struct run *x)
{
	struct ms_rec_state s = {0, 0};
	uint64_t t0 = ms_mono_ns(), i = 0;

	while (i < x->n) {
		uint64_t k = write_one(&x->p, &s, i, 0);

		if (!k) { /* full: the consumer takes everything at once */
			const uint8_t *q;
			ssize_t a = ms_ring_peek(&x->c, &q);

			ms_ring_release(&x->c, (uint64_t)a);
			continue;
		}
		x->bytes += k;
		i++;
	}
	return (double)(ms_mono_ns() - t0) / (double)x->n;
}

static void *drain(void *arg)
{
	struct run *x = arg;
	const uint8_t *q;

	while (!x->done) {
		ssize_t a = ms_ring_peek(&x->c, &q);

		if (a > 0)
			ms_ring_release(&x->c, (uint64_t)a);
		/* poll like the consumer does, not in a tight loop that
		 * would steal the head's cache line on every commit */
		usleep(20);
	}
	return NULL;
}

static double run_pair(struct run *x)
{
	struct ms_rec_state s = {0, 0};
	pthread_t t;
	uint64_t t0;

	pthread_create(&t, NULL, drain, x);
	t0 = ms_mono_ns();
	for (uint64_t i = 0; i < x->n; i++)
		x->bytes += write_one(&x->p, &s, i, 1);
	double ns = (double)(ms_mono_ns() - t0) / (double)x->n;
	x->done = 1;
	pthread_join(t, NULL);
	return ns;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	double solo[32], pair[32];
	uint64_t bytes = 0;

	if (runs < 1 || runs > 32)
		runs = 5;
	for (int r = 0; r < runs; r++) {
		for (int mode = 0; mode < 2; mode++) {
			struct run x = {.n = n};

			if (ms_ring_create(1 << 20, 1, 1, &x.p) ||
			    ms_ring_attach(dup(x.p.fd), &x.c)) {
				fprintf(stderr,
					"bench_ring: ring setup failed\n");
				return 1;
			}
			if (mode == 0)
				solo[r] = run_solo(&x);
			else
				pair[r] = run_pair(&x);
			bytes = x.bytes;
			ms_ring_unmap(&x.c);
			ms_ring_unmap(&x.p);
		}
	}
	qsort(solo, (size_t)runs, sizeof(double), cmp);
	qsort(pair, (size_t)runs, sizeof(double), cmp);
	printf("ring: %llu records/run, %.2f bytes/record, 1 MiB ring, %d "
	       "runs\n",
	       (unsigned long long)n, (double)bytes / (double)n, runs);
	printf("solo (producer cost):           median %.2f ns/record (min "
	       "%.2f)\n",
	       solo[runs / 2], solo[0]);
	printf("pair (consumer on another core): median %.2f ns/record (min "
	       "%.2f)\n",
	       pair[runs / 2], pair[0]);
	return 0;
}
