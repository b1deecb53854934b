/* SPDX-License-Identifier: MIT */
/*
 * The heap model (consumer/analysis/heap.c) on scripted event sequences
 * whose figures are known exactly: frees matched across threads, realloc
 * as free + alloc, temporaries as heaptrack counts them, the peak and the
 * sites holding it, leaks, a time window, a thread filter, sampling
 * weights, unknown and double frees, lost events, address reuse, and a
 * live table that grows and shrinks through many blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "heap.h"
#include "lifetime.h"
#include "record.h"
#include "sites.h"

#define W1 MS_WEIGHT_ONE

struct fx {
	struct ms_sites sites;
	struct ms_heap *h;
	uint32_t a, b, c; /* three sites of pid 1 */
};

static void open_fx(struct fx *f, const struct ms_heap_opts *o)
{
	const uint64_t fa[] = {0x1000, 0x2000}, fb[] = {0x1100, 0x2000},
		       fc[] = {0x1200};

	int fresh;

	assert_int_equal(ms_sites_init(&f->sites), 0);
	f->a = ms_sites_intern(&f->sites, 1, fa, 2, &fresh);
	assert_true(fresh);
	f->b = ms_sites_intern(&f->sites, 1, fb, 2, &fresh);
	f->c = ms_sites_intern(&f->sites, 1, fc, 1, &fresh);
	assert_int_equal(ms_heap_create(o, &f->sites, &f->h), 0);
}

static void close_fx(struct fx *f)
{
	ms_heap_destroy(f->h);
	ms_sites_free(&f->sites);
}

static void ev(struct fx *f, uint8_t type, uint32_t tid, uint64_t ns,
	       uint64_t addr, uint64_t old, uint64_t size, uint32_t site,
	       uint64_t weight)
{
	struct ms_heap_ev e = {type, 1,	   tid,	   ns,	 addr,
			       old,  size, weight, site, 0};

	assert_true(ms_heap_event(f->h, &e) >= 0);
}

static void alloc(struct fx *f, uint32_t tid, uint64_t ns, uint64_t addr,
		  uint64_t size, uint32_t site)
{
	ev(f, MS_REC_ALLOC, tid, ns, addr, 0, size, site, W1);
}

static void release(struct fx *f, uint32_t tid, uint64_t ns, uint64_t addr)
{
	ev(f, MS_REC_FREE, tid, ns, addr, 0, 0, 0, W1);
}

static struct ms_site *site(struct fx *f, uint32_t id)
{
	return ms_sites_get(&f->sites, id);
}

static void test_intern(void **state)
{
	struct fx f;
	const uint64_t fa[] = {0x1000, 0x2000};
	uint32_t none;
	int fresh;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	assert_int_equal(ms_sites_intern(&f.sites, 1, fa, 2, &fresh), f.a);
	assert_false(fresh);
	assert_int_not_equal(ms_sites_intern(&f.sites, 2, fa, 2, &fresh), f.a);
	assert_true(fresh);
	assert_int_not_equal(ms_sites_intern(&f.sites, 1, fa, 1, &fresh), f.a);
	none = ms_sites_intern(&f.sites, 1, NULL, 0, &fresh);
	assert_true(fresh && none > 0);
	assert_int_equal(ms_sites_intern(&f.sites, 1, NULL, 0, &fresh), none);
	assert_false(fresh);
	/* many sites: the table and the arena grow, ids stay */
	for (uint64_t i = 0; i < 5000; i++) {
		uint64_t fr[3] = {i, i + 1, i + 2};

		assert_int_not_equal(
			ms_sites_intern(&f.sites, 7, fr, 3, &fresh), 0);
	}
	for (uint64_t i = 0; i < 5000; i += 499) {
		uint64_t fr[3] = {i, i + 1, i + 2};
		uint32_t id = ms_sites_intern(&f.sites, 7, fr, 3, &fresh);

		assert_false(fresh);
		assert_int_equal(
			ms_site_frames(&f.sites, ms_sites_get(&f.sites, id))[2],
			i + 2);
	}
	assert_int_equal(ms_sites_intern(&f.sites, 1, fa, 2, &fresh), f.a);
	close_fx(&f);
}

/*
 * Thread 10 allocates 100 (a) and 200 (b); thread 11 frees the 100; 300
 * (c) is allocated and freed at once (a temporary); the 200 is realloc'ed
 * to 500, which leaks; thread 11 allocates 250 (a): the peak, 750; and
 * frees it at once.
 */
static void test_basic(void **state)
{
	const struct ms_heap_totals *t;
	const struct ms_heap_thread *th;
	struct fx f;
	size_t n;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	alloc(&f, 10, 1, 0xa0, 100, f.a); /* live 100 */
	alloc(&f, 10, 2, 0xb0, 200, f.b); /* 300 */
	release(&f, 11, 3, 0xa0);	  /* 200, freed elsewhere */
	alloc(&f, 10, 4, 0xc0, 300, f.c); /* 500 */
	release(&f, 10, 5, 0xc0);	  /* 200, temporary */
	ev(&f, MS_REC_REALLOC, 10, 6, 0xd0, 0xb0, 500, f.b, W1); /* 500 */
	alloc(&f, 11, 7, 0xe0, 250, f.a); /* 750: the peak */
	release(&f, 11, 8, 0xe0);	  /* 500: temporary */
	ms_heap_finish(f.h);

	t = ms_heap_totals(f.h);
	assert_int_equal(t->allocs_q16, 5 * W1); /* 4 allocs + realloc */
	assert_int_equal(t->bytes, 100 + 200 + 300 + 500 + 250);
	assert_int_equal(t->frees_q16, 4 * W1); /* 3 frees + realloc's */
	assert_int_equal(t->realloc_q16, W1);
	assert_int_equal(t->temp_q16, 2 * W1);
	assert_int_equal(t->peak, 750);
	assert_int_equal(t->peak_ns, 7);
	assert_int_equal(t->leaked, 500);
	assert_int_equal(t->leaked_q16, W1);
	assert_int_equal(t->live, 500);
	assert_int_equal(t->unknown_frees + t->double_frees, 0);
	/* at the peak: b holds 500, a holds 250 */
	assert_int_equal(site(&f, f.b)->peak, 500);
	assert_int_equal(site(&f, f.a)->peak, 250);
	assert_int_equal(site(&f, f.c)->peak, 0);
	assert_int_equal(site(&f, f.b)->leaked, 500);
	assert_int_equal(site(&f, f.a)->allocs_q16, 2 * W1);
	assert_int_equal(site(&f, f.c)->temp_q16, W1);
	th = ms_heap_threads(f.h, &n);
	assert_int_equal(n, 2);
	assert_int_equal(th[0].tid, 10);
	assert_int_equal(th[0].freed_elsewhere_q16, W1);
	assert_int_equal(th[0].peak, 500);
	assert_int_equal(th[1].tid, 11);
	assert_int_equal(th[1].frees_q16, 2 * W1);
	assert_int_equal(th[1].peak, 250);
	/* lifetimes: a's blocks lived 2 and 1 ns */
	assert_int_equal(site(&f, f.a)->life->total_q16, 2 * W1);
	assert_int_equal(ms_lifetime_percentile(site(&f, f.a)->life, 0.99), 2);
	close_fx(&f);
}

/* The peak's sites are those live at that moment, not at the end. */
static void test_peak_sites(void **state)
{
	struct fx f;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	alloc(&f, 1, 1, 0x10, 1000, f.a);
	alloc(&f, 1, 2, 0x20, 3000, f.b); /* peak 4000 */
	release(&f, 1, 3, 0x20);
	release(&f, 1, 4, 0x10);
	alloc(&f, 1, 5, 0x30, 3500, f.c); /* below the peak */
	alloc(&f, 1, 6, 0x40, 100, f.a);
	ms_heap_finish(f.h);
	assert_int_equal(ms_heap_totals(f.h)->peak, 4000);
	assert_int_equal(ms_heap_totals(f.h)->peak_ns, 2);
	assert_int_equal(site(&f, f.a)->peak, 1000);
	assert_int_equal(site(&f, f.b)->peak, 3000);
	assert_int_equal(site(&f, f.c)->peak, 0);
	assert_int_equal(site(&f, f.a)->leaked, 100);
	assert_int_equal(site(&f, f.c)->leaked, 3500);
	close_fx(&f);
}

/* A window: events before it only build the heap. */
static void test_window(void **state)
{
	const struct ms_heap_totals *t;
	struct fx f;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){.from_ns = 10, .to_ns = 20});
	alloc(&f, 1, 1, 0x10, 1000, f.a); /* before: live, not counted */
	alloc(&f, 1, 2, 0x20, 50, f.a);
	release(&f, 1, 12, 0x10); /* counted free of an older block */
	alloc(&f, 1, 13, 0x30, 70, f.b);
	alloc(&f, 1, 14, 0x40, 30, f.c);
	release(&f, 1, 15, 0x40);  /* temporary */
	release(&f, 1, 16, 0x777); /* unknown */
	assert_int_equal(
		ms_heap_event(f.h, &(struct ms_heap_ev){MS_REC_FREE, 1, 1, 21,
							0x20, 0, 0, W1, 0, 0}),
		1); /* past the window */
	ms_heap_finish(f.h);
	t = ms_heap_totals(f.h);
	assert_int_equal(t->allocs_q16, 2 * W1);
	assert_int_equal(t->bytes, 100);
	assert_int_equal(t->frees_q16, 2 * W1);
	assert_int_equal(t->temp_q16, W1);
	assert_int_equal(t->peak, 1050); /* the heap at the window's start */
	assert_int_equal(t->peak_ns, 12);
	assert_int_equal(t->leaked, 70); /* 0x20 is older than the window */
	assert_int_equal(t->unknown_frees, 1);
	assert_int_equal(site(&f, f.a)->peak, 1050);
	close_fx(&f);
}

/* A thread filter: that thread's blocks, wherever they are freed. */
static void test_thread_filter(void **state)
{
	const struct ms_heap_totals *t;
	struct fx f;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){.tid = 2});
	alloc(&f, 1, 1, 0x10, 1000, f.a);
	alloc(&f, 2, 2, 0x20, 10, f.b);
	release(&f, 1, 3, 0x20); /* thread 2's block, freed by 1 */
	alloc(&f, 2, 4, 0x30, 20, f.b);
	release(&f, 2, 5, 0x10); /* thread 1's block: not counted */
	ms_heap_finish(f.h);
	t = ms_heap_totals(f.h);
	assert_int_equal(t->allocs_q16, 2 * W1);
	assert_int_equal(t->bytes, 30);
	assert_int_equal(t->frees_q16, W1);
	assert_int_equal(t->peak, 20);
	assert_int_equal(t->leaked, 20);
	assert_int_equal(t->unknown_frees, 0);
	close_fx(&f);
}

/* Weights: a block sampled with p = 1/4 stands for 4. */
static void test_weights(void **state)
{
	const struct ms_heap_totals *t;
	struct fx f;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	ev(&f, MS_REC_ALLOC, 1, 1, 0x10, 0, 100, f.a, 4 * W1);
	ev(&f, MS_REC_ALLOC, 1, 2, 0x20, 0, 30000, f.b, W1);
	release(&f, 1, 3, 0x10);
	ms_heap_finish(f.h);
	t = ms_heap_totals(f.h);
	assert_int_equal(t->allocs_q16, 5 * W1);
	assert_int_equal(t->bytes, 400 + 30000);
	assert_int_equal(t->frees_q16, 4 * W1);
	assert_int_equal(t->peak, 30400);
	assert_int_equal(t->leaked, 30000);
	assert_int_equal(t->size_q16[7], 4 * W1); /* 100: [64, 128) */
	close_fx(&f);
}

/* Double frees, unknown frees, a lost free, LOST records. */
static void test_findings(void **state)
{
	const struct ms_heap_finding *fd;
	const struct ms_heap_totals *t;
	struct fx f;
	size_t n;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	alloc(&f, 1, 1, 0x10, 8, f.a);
	release(&f, 1, 2, 0x10);
	release(&f, 3, 3, 0x10); /* double */
	release(&f, 1, 4, 0x99); /* unknown */
	alloc(&f, 1, 5, 0x20, 8, f.a);
	alloc(&f, 1, 6, 0x20, 16, f.b); /* 0x20's free was lost */
	ev(&f, MS_REC_LOST, 1, 7, 0, 0, 0, 0, 0);
	{
		struct ms_heap_ev e = {MS_REC_LOST, 1, 1, 8, 0, 0, 0, 0, 0, 5};

		assert_int_equal(ms_heap_event(f.h, &e), 0);
	}
	ms_heap_finish(f.h);
	t = ms_heap_totals(f.h);
	assert_int_equal(t->double_frees, 1);
	assert_int_equal(t->unknown_frees, 1);
	assert_int_equal(t->lost, 5);
	assert_int_equal(t->live, 16);
	fd = ms_heap_findings(f.h, &n);
	assert_int_equal(n, 2);
	assert_true(fd[0].double_free && fd[0].tid == 3 && fd[0].ns == 3);
	assert_true(!fd[1].double_free && fd[1].addr == 0x99);
	close_fx(&f);
}

/* 200,000 blocks live at once, freed in another order. */
static void test_many(void **state)
{
	const struct ms_heap_totals *t;
	struct fx f;
	uint64_t ns = 1;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	for (uint64_t i = 0; i < 200000; i++)
		alloc(&f, 1, ns++, 0x100000 + i * 48, 32, f.a);
	for (uint64_t i = 0; i < 200000; i++)
		release(&f, 2, ns++, 0x100000 + ((i * 7919) % 200000) * 48);
	ms_heap_finish(f.h);
	t = ms_heap_totals(f.h);
	assert_int_equal(t->peak, 200000 * 32);
	assert_int_equal(t->live, 0);
	assert_int_equal(t->frees_q16, 200000ull * W1);
	assert_int_equal(t->unknown_frees + t->double_frees, 0);
	close_fx(&f);
}

struct seen {
	unsigned allocs, counted, releases, temps, peaks, leaks;
	uint64_t last_peak, leaked, by;
};

static void sk_alloc(void *arg, const struct ms_heap_block *b, int counted)
{
	struct seen *s = arg;

	(void)b;
	s->allocs++;
	s->counted += counted;
}

static void sk_release(void *arg, const struct ms_heap_block *b, uint64_t ns,
		       uint32_t by, int counted, int temporary)
{
	struct seen *s = arg;

	(void)b;
	(void)ns;
	(void)counted;
	s->releases++;
	s->temps += temporary;
	s->by = by;
}

static void sk_peak(void *arg, uint64_t ns)
{
	struct seen *s = arg;

	s->peaks++;
	s->last_peak = ns;
}

static void sk_leak(void *arg, const struct ms_heap_block *b)
{
	struct seen *s = arg;

	s->leaks++;
	s->leaked += b->size;
}

/* The sink sees what the totals count, block by block. */
static void test_sink(void **state)
{
	struct seen seen = {0};
	struct ms_heap_sink sk = {sk_alloc, sk_release, sk_peak, sk_leak,
				  &seen};
	struct fx f;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){.from_ns = 5, .sink = &sk});
	alloc(&f, 1, 1, 0x10, 100, f.a); /* before the window */
	alloc(&f, 1, 6, 0x20, 50, f.b);	 /* window starts: peak 100, then 150 */
	release(&f, 1, 7, 0x20);	 /* temporary */
	release(&f, 2, 8, 0x10);	 /* counted, by thread index 1 */
	alloc(&f, 1, 9, 0x30, 500, f.c); /* new peak 500 */
	ms_heap_finish(f.h);
	assert_int_equal(seen.allocs, 3);
	assert_int_equal(seen.counted, 2);
	assert_int_equal(seen.releases, 2);
	assert_int_equal(seen.temps, 1);
	assert_int_equal(seen.by, 1);
	assert_int_equal(seen.peaks, 2); /* 150 at 6, 500 at 9 */
	assert_int_equal(seen.last_peak, 9);
	assert_int_equal(seen.leaks, 1);
	assert_int_equal(seen.leaked, 500);
	close_fx(&f);
}

static void test_lifetime(void **state)
{
	struct ms_lifetime l;
	uint64_t p50, p99;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ms_lifetime_percentile(&l, 0.5), 0);
	for (uint64_t i = 1; i <= 1000; i++)
		ms_lifetime_add(&l, i * 1000, W1); /* 1 us .. 1 ms */
	p50 = ms_lifetime_percentile(&l, 0.5);
	p99 = ms_lifetime_percentile(&l, 0.99);
	assert_true(p50 > 500000 * 0.8 && p50 < 500000 * 1.2);
	assert_true(p99 > 990000 * 0.8 && p99 < 990000 * 1.2);
	assert_true(ms_lifetime_bucket(UINT64_MAX) == MS_LIFE_BUCKETS - 1);
}

/*
 * Thread 2 allocates at 0x40 and hands each block to thread 1, which frees
 * it at once; thread 2's next allocation gets 0x40 again. Their clocks
 * differ: the reuse is timed a little after the free that follows it. A
 * double free followed by another thread's allocation of the address
 * within MS_HEAP_REORDER_NS is no finding; later, or by the same thread,
 * it is one.
 */
static void test_handoff_reordered(void **state)
{
	const struct ms_heap_finding *fd;
	const struct ms_heap_totals *t;
	struct fx f;
	size_t n;

	(void)state;
	open_fx(&f, &(struct ms_heap_opts){0});
	alloc(&f, 2, 1000, 0x40, 8, f.a);
	release(&f, 1, 1100, 0x40);
	release(&f, 1, 1300, 0x40);	  /* freed the reuse timed below */
	alloc(&f, 2, 1350, 0x40, 8, f.a); /* 50 ns later on its clock */
	alloc(&f, 2, 1700, 0x40, 8, f.a);
	release(&f, 1, 1800, 0x40);
	/* a true double free: nothing allocates 0x40 again in time */
	release(&f, 1, 1900, 0x40);
	alloc(&f, 2, 1900 + MS_HEAP_REORDER_NS + 1, 0x40, 8, f.a);
	release(&f, 1, 2000 + MS_HEAP_REORDER_NS, 0x40);
	/* nor does the same thread's own allocation excuse one */
	release(&f, 1, 3000 + MS_HEAP_REORDER_NS, 0x40);
	alloc(&f, 1, 3100 + MS_HEAP_REORDER_NS, 0x40, 8, f.a);
	ms_heap_finish(f.h);
	t = ms_heap_totals(f.h);
	assert_int_equal(t->double_frees, 2);
	assert_int_equal(t->unknown_frees, 0);
	assert_int_equal(t->live, 8); /* the last allocation */
	assert_int_equal(t->allocs_q16 >> 16, 5);
	assert_int_equal(t->frees_q16 >> 16, 4);
	fd = ms_heap_findings(f.h, &n);
	assert_int_equal(n, 2);
	assert_true(fd[0].double_free && fd[0].ns == 1900 && fd[0].tid == 1);
	assert_true(fd[1].double_free && fd[1].ns == 3000 + MS_HEAP_REORDER_NS);
	close_fx(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern),
		cmocka_unit_test(test_handoff_reordered),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_peak_sites),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_thread_filter),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_findings),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_lifetime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
