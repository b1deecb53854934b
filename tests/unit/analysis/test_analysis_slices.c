/* SPDX-License-Identifier: MIT */
/*
 * Slices (consumer/analysis/slices.c) against the heap model itself: a
 * scripted run of three threads over more than 512 first slices (so the
 * slices merge two by two while it runs, and once more after), then for
 * windows of whole slices and a thread or all, the sums the HTML page
 * makes of the records must equal the figures of a second heap model
 * run with that window (from/to) and thread filter: allocations, bytes,
 * temporaries, the peak, and for windows that run to the end, leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "heap.h"
#include "record.h"
#include "sites.h"
#include "slices.h"

#define NEV   30000
#define NLIVE 64

static struct ms_heap_ev evs[NEV];
static size_t nev;
static uint32_t tids[3]; /* of the heap's thread indexes */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Threads 1-3 allocate at sites 1-3 and free their own blocks, some at
 * once (temporaries), some another thread's; quiet stretches between. */
static void script(void)
{
	uint64_t live[3][NLIVE] = {{0}}, s = 88172645463325252ull, ns = 1000;
	uint64_t next = 0x10000;

	nev = 0;
	while (nev + 2 < NEV) {
		uint32_t t = (uint32_t)(rnd(&s) % 3), k = rnd(&s) % NLIVE;
		uint32_t who = rnd(&s) % 10 == 0 ? (t + 1) % 3 : t;

		ns += rnd(&s) % 400 + (rnd(&s) % 500 == 0 ? 200000 : 0);
		if (live[who][k]) {
			evs[nev++] = (struct ms_heap_ev){
				MS_REC_FREE, 1, t + 1,	       ns, live[who][k],
				0,	     0, MS_WEIGHT_ONE, 0,  0};
			live[who][k] = 0;
			continue;
		}
		live[t][k] = next;
		evs[nev++] = (struct ms_heap_ev){MS_REC_ALLOC,
						 1,
						 t + 1,
						 ns,
						 next,
						 0,
						 16 + rnd(&s) % 2000,
						 MS_WEIGHT_ONE,
						 1 + t % 3 + (k % 2),
						 0};
		if (rnd(&s) % 8 == 0) { /* a temporary */
			ns += rnd(&s) % 300;
			evs[nev++] = (struct ms_heap_ev){
				MS_REC_FREE, 1, t + 1,	       ns, next,
				0,	     0, MS_WEIGHT_ONE, 0,  0};
			live[t][k] = 0;
		}
		next += 0x40;
	}
}

struct run {
	struct ms_sites sites;
	struct ms_heap *h;
};

static void replay(struct run *r, const struct ms_heap_opts *o)
{
	const uint64_t fr[4][1] = {{0x1}, {0x2}, {0x3}, {0x4}};
	int fresh;

	assert_int_equal(ms_sites_init(&r->sites), 0);
	for (int i = 0; i < 4; i++)
		ms_sites_intern(&r->sites, 1, fr[i], 1, &fresh);
	assert_int_equal(ms_heap_create(o, &r->sites, &r->h), 0);
	for (size_t i = 0; i < nev; i++)
		if (ms_heap_event(r->h, &evs[i]) == 1)
			break;
	ms_heap_finish(r->h);
}

static void done(struct run *r)
{
	ms_heap_destroy(r->h);
	ms_sites_free(&r->sites);
}

struct sums {
	uint64_t allocs, bytes, temp, peak, leaked;
};

/* What web/report.js makes of the records for [a, b) and thread index t
 * (-1: all). */
static struct sums window_sums(const struct ms_slices *s, uint32_t a,
			       uint32_t b, int t)
{
	const uint64_t *pk = t < 0 ? s->peak : s->threads[t]->peak;
	struct sums m = {0};
	uint32_t sp = a;

	for (uint32_t k = a + 1; k < b; k++)
		if (pk[k] > pk[sp])
			sp = k;
	for (size_t i = 0; i < s->ncells; i++) {
		const struct ms_slice_cell *c = &s->cells[i];
		uint64_t level = c->live0, at = UINT64_MAX;

		if (t >= 0 && c->thread != (uint32_t)t)
			continue;
		for (uint32_t k = 0; k < c->n && c->v[k].slice < b; k++) {
			const struct ms_slice_rec *r = &c->v[k];

			if (r->slice < sp)
				level = r->live;
			else if (r->slice == sp)
				at = t < 0 ? r->gpk : r->tpk;
			if (r->slice < a)
				continue;
			m.allocs += r->allocs_q16 >> 16;
			m.bytes += r->bytes;
			m.temp += r->temp_q16 >> 16;
			m.leaked += r->kept;
		}
		m.peak += at != UINT64_MAX ? at : level;
	}
	for (size_t i = 0; i < s->nxt; i++)
		if (s->xt[i].from >= a && s->xt[i].to < b &&
		    (t < 0 || s->cells[s->xt[i].cell].thread == (uint32_t)t))
			m.temp += s->xt[i].q16 >> 16;
	return m;
}

static void check_window(struct ms_slices *s, uint32_t a, uint32_t b, int t)
{
	struct ms_heap_opts o = {
		.from_ns = s->origin + a * s->width,
		.to_ns = b < ms_slices_n(s) ? s->origin + b * s->width - 1 : 0,
		.tid = t < 0 ? 0 : tids[t],
	};
	struct sums m = window_sums(s, a, b, t);
	const struct ms_heap_totals *tot;
	struct run r;

	replay(&r, &o);
	tot = ms_heap_totals(r.h);
	assert_int_equal(m.allocs, tot->allocs_q16 >> 16);
	assert_int_equal(m.bytes, tot->bytes);
	assert_int_equal(m.temp, tot->temp_q16 >> 16);
	if (tot->allocs_q16 || tot->frees_q16) /* else: no window began */
		assert_int_equal(m.peak, tot->peak);
	if (b == ms_slices_n(s))
		assert_int_equal(m.leaked, tot->leaked);
	done(&r);
}

static void check_windows(struct ms_slices *s)
{
	uint32_t n = ms_slices_n(s);
	uint64_t x = 12345;

	check_window(s, 0, n, -1);
	for (int t = 0; t < 3; t++)
		check_window(s, 0, n, t);
	for (int i = 0; i < 40; i++) {
		uint32_t a = (uint32_t)(rnd(&x) % n);
		uint32_t b =
			i % 4 == 0 ? n : a + 1 + (uint32_t)(rnd(&x) % (n - a));

		check_window(s, a, b, (int)(rnd(&x) % 4) - 1);
	}
}

static void test_windows_equal_heap(void **state)
{
	struct ms_heap_opts o = {0};
	struct ms_slices *s;
	struct run r;

	(void)state;
	script();
	assert_int_equal(ms_slices_create(&s), 0);
	o.sink = &s->sink;
	replay(&r, &o);
	assert_int_equal(ms_slices_finish(s), 0);
	{
		size_t n;
		const struct ms_heap_thread *th = ms_heap_threads(r.h, &n);

		assert_int_equal(n, 3);
		for (size_t i = 0; i < n; i++)
			tids[i] = th[i].tid;
	}
	assert_true(s->width > 1000); /* merged while it ran */
	assert_true(s->nxt > 0);      /* temporaries across a boundary */
	check_windows(s);
	ms_slices_halve(s);
	check_windows(s);
	done(&r);
	ms_slices_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows_equal_heap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
