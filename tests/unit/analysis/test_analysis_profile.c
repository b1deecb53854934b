/* SPDX-License-Identifier: MIT */
/*
 * Profiles (consumer/analysis/profile.c) of scripted archives: real
 * segment files written with the record encoders (tests/fuzz's seed
 * helper), read back through the archive room's merge, with the figures
 * each script makes known exactly. And a known bug of the heap model,
 * as an expected failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive.h"
#include "fuzz.h"
#include "heap.h"
#include "profile.h"
#include "record.h"

#define ONE MS_WEIGHT_ONE

struct script {
	struct ms_rec_state st;
	uint8_t raw[4096], *p;
	uint32_t pid, tid;
};

static void begin(struct script *s, uint32_t pid, uint32_t tid)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->tid = tid;
	s->p = ms_rec_put_sync(&s->st, s->raw);
	s->p = ms_rec_put_clock(&s->st, s->p, 1, 1000, 1000000000u);
	s->p = ms_rec_put_thread_start(&s->st, s->p, 1, pid, tid);
}

/* An allocation whose stack is the one frame `site` (each its own site). */
static void alloc(struct script *s, uint64_t ts, uint64_t addr, uint64_t size,
		  uint64_t site)
{
	s->p = ms_rec_put_stack(&s->st, s->p, ts, site, &site, 1);
	s->p = ms_rec_put_alloc(&s->st, s->p, ts, addr, size, 0, site, ONE);
}

static void release(struct script *s, uint64_t ts, uint64_t addr)
{
	s->p = ms_rec_put_free(&s->st, s->p, ts, addr);
}

/* The script as ARCHIVE/<pid>/<tid>-0.mseg. */
static void put(const char *dir, const struct script *s)
{
	char path[512];
	uint8_t *seg;
	size_t n = ms_fuzz_segment(s->pid, s->tid, s->raw,
				   (size_t)(s->p - s->raw), &seg);
	FILE *f;

	assert_true(n > 0);
	snprintf(path, sizeof(path), "%s/%u", dir, s->pid);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%u/%u-0.mseg", dir, s->pid, s->tid);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(seg, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(seg);
}

static struct ms_profile *build(const char *dir, struct ms_archive **a)
{
	struct ms_profile_opts o = {.to_ns = MS_PROFILE_END, .no_symbols = 1};
	struct ms_profile *p;

	assert_int_equal(ms_archive_open(dir, NULL, NULL, a), 0);
	assert_int_equal(ms_profile_build(*a, &o, &p), 0);
	return p;
}

/* The site whose one frame is `frame`. */
static const struct ms_site *site(const struct ms_profile *p, uint64_t frame)
{
	for (uint32_t i = 1; i < p->sites.n; i++) {
		const struct ms_site *s = &p->sites.v[i];

		if (s->nframes == 1 && ms_site_frames(&p->sites, s)[0] == frame)
			return s;
	}
	fail_msg("no site 0x%llx", (unsigned long long)frame);
	return NULL;
}

static void rmtree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * Events of two threads at one time (their clocks agree to a tick) are
 * ordered to make sense of them across threads, but each thread's own
 * keep their order. Thread 11 at t=20: allocates X, frees A (allocated
 * before), frees X: X is no temporary (A's free came between). At t=30:
 * allocates P, frees P (a temporary), allocates Q. Thread 12 allocates
 * at t=20 and t=30, so that each time is shared by both threads.
 */
static void test_ties_keep_thread_order(void **state)
{
	char dir[] = "/tmp/ms-test-profile-XXXXXX";
	struct script a, b;
	struct ms_archive *arc;
	struct ms_profile *p;

	(void)state;
	assert_non_null(mkdtemp(dir));
	begin(&a, 10, 11);
	alloc(&a, 10, 0xa000, 16, 0x1a);
	alloc(&a, 20, 0xb000, 32, 0x1b); /* X */
	release(&a, 20, 0xa000);
	release(&a, 20, 0xb000);
	alloc(&a, 30, 0xc000, 48, 0x1c); /* P */
	release(&a, 30, 0xc000);
	alloc(&a, 30, 0xd000, 64, 0x1d); /* Q */
	begin(&b, 10, 12);
	alloc(&b, 20, 0xe000, 8, 0x2e);
	alloc(&b, 30, 0xf000, 8, 0x2f);
	put(dir, &a);
	put(dir, &b);
	p = build(dir, &arc);
	assert_int_equal(site(p, 0x1b)->temp_q16, 0);
	assert_int_equal(site(p, 0x1c)->temp_q16, ONE);
	assert_int_equal(ms_heap_totals(p->heap)->temp_q16, ONE);
	assert_int_equal(ms_heap_totals(p->heap)->unknown_frees, 0);
	ms_profile_free(p);
	ms_archive_close(arc);
	rmtree(dir);
}

/*
 * Across threads at one time: thread 22 frees X while thread 21, which
 * comes first in the merge, allocates Y and then X again (glibc handed X
 * back): the free goes first, so no block is found live where a new one
 * starts.
 */
static void test_ties_free_before_reuse(void **state)
{
	char dir[] = "/tmp/ms-test-profile-XXXXXX";
	struct script a, b;
	struct ms_archive *arc;
	struct ms_profile *p;
	const struct ms_heap_totals *t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	begin(&a, 20, 22);
	alloc(&a, 5, 0x100, 100, 0x31);
	release(&a, 40, 0x100);
	begin(&b, 20, 21);
	alloc(&b, 40, 0x200, 10, 0x32); /* Y */
	alloc(&b, 40, 0x100, 30, 0x33); /* X again */
	put(dir, &b);
	put(dir, &a);
	p = build(dir, &arc);
	t = ms_heap_totals(p->heap);
	assert_int_equal(t->frees_q16, ONE);
	assert_int_equal(t->leaked, 40);
	assert_int_equal(t->peak, 100);
	assert_int_equal(site(p, 0x31)->leaked, 0);
	assert_int_equal(site(p, 0x33)->leaked, 30);
	assert_int_equal(t->unknown_frees + t->double_frees, 0);
	ms_profile_free(p);
	ms_archive_close(arc);
	rmtree(dir);
}

/*
 * Only the first 32768 sites that free a block get a lifetime histogram
 * (heap.c, MAX_LIFETIME); every site still counts its frees, which is what
 * the reports print as its "freed" (report_json.c): a program with more
 * stacks than that (a big C++ server) must not be told its late sites
 * never free.
 */
static void test_freed_past_lifetime_cap(void **state)
{
	const uint32_t nsites = 32768 + 2;
	struct ms_sites sites;
	struct ms_heap *h;
	uint32_t last = 0;
	uint64_t freed;

	(void)state;
	assert_int_equal(ms_sites_init(&sites), 0);
	assert_int_equal(ms_heap_create(&(struct ms_heap_opts){0}, &sites, &h),
			 0);
	for (uint32_t i = 0; i < nsites; i++) {
		uint64_t frame = 0x400000 + i;
		int fresh;
		struct ms_heap_ev e = {
			MS_REC_ALLOC, 1,   1, 10 + 2 * i, 0x1000, 0,
			16,	      ONE, 0, 0};

		last = e.site = ms_sites_intern(&sites, 1, &frame, 1, &fresh);
		assert_true(last != 0);
		assert_int_equal(ms_heap_event(h, &e), 0);
		e.type = MS_REC_FREE;
		e.ns++;
		assert_int_equal(ms_heap_event(h, &e), 0);
	}
	ms_heap_finish(h);
	/* what the reports print as the site's "freed" */
	freed = ms_sites_get(&sites, last)->frees_q16;
	assert_int_equal(freed, ONE);
	assert_null(ms_sites_get(&sites, last)->life); /* past the cap */
	ms_heap_destroy(h);
	ms_sites_free(&sites);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ties_keep_thread_order),
		cmocka_unit_test(test_ties_free_before_reuse),
		cmocka_unit_test(test_freed_past_lifetime_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
