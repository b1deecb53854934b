/* SPDX-License-Identifier: MIT */
/*
 * consumer/archive/archive_merge.c on synthetic archives whose threads
 * share their timestamps (ties everywhere): every record of the selected
 * threads once, by time, ties in (pid, tid) order, and each thread's
 * records exactly as its own iterator gives them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "archive_fixture.h"
#include "archive_merge.h"

/* What the tests compare of a record. */
struct rec {
	size_t thread; /* index in the archive */
	uint64_t ns, addr, stack_first;
	uint8_t type;
};

static int setup(void **state)
{
	static const struct fx_spec sp = {
		.nproc = 2,
		.nthreads = 3,
		.nsegs = 2,
		.nframes = 2,
		.ops = 40,
		.manifest = 1,
	};
	struct fx *f;

	if (fx_setup(state, &sp))
		return -1;
	f = *state;
	return ms_archive_open(f->dir, NULL, NULL, &f->arc) ? -1 : 0;
}

static struct rec to_rec(const struct ms_archive *a,
			 const struct ms_arc_event *e)
{
	struct rec r = {.ns = e->ns, .addr = e->ev->addr, .type = e->ev->type};

	while (a->threads[r.thread].pid != e->pid ||
	       a->threads[r.thread].tid != e->tid)
		r.thread++;
	r.stack_first = e->stack && e->stack->nframes ? e->stack->frames[0] : 0;
	return r;
}

/* The merge's records into `out` (room for `max`); returns how many. */
static size_t merged(struct fx *f, const struct ms_arc_filter *flt,
		     struct rec *out, size_t max, size_t *nthreads)
{
	const struct ms_arc_event *e;
	struct ms_arc_merge *m;
	size_t n = 0;
	int rc;

	assert_int_equal(ms_arc_merge_open(f->arc, flt, &m), 0);
	while ((rc = ms_arc_merge_next(m, &e)) > 0) {
		assert_true(n < max);
		out[n++] = to_rec(f->arc, e);
	}
	assert_int_equal(rc, 0);
	*nthreads = ms_arc_merge_nthreads(m);
	ms_arc_merge_close(m);
	return n;
}

/* Thread `t`'s records in the merge are those of its own iterator. */
static size_t check_thread(struct fx *f, size_t t, const struct rec *r,
			   size_t n)
{
	const struct ms_arc_event *e;
	struct ms_arc_iter *it;
	size_t k = 0, seen = 0;

	assert_int_equal(ms_arc_iter_open(f->arc, &f->arc->threads[t], &it), 0);
	while (ms_arc_iter_next(it, &e) > 0) {
		struct rec want = to_rec(f->arc, e);

		while (k < n && r[k].thread != t)
			k++;
		assert_true(k < n);
		assert_int_equal(r[k].ns, want.ns);
		assert_int_equal(r[k].type, want.type);
		assert_int_equal(r[k].addr, want.addr);
		assert_int_equal(r[k].stack_first, want.stack_first);
		k++;
		seen++;
	}
	ms_arc_iter_close(it);
	return seen;
}

static void check_order(const struct rec *r, size_t n)
{
	size_t ties = 0;

	for (size_t i = 1; i < n; i++) {
		assert_true(r[i - 1].ns <= r[i].ns);
		if (r[i - 1].ns == r[i].ns && r[i - 1].thread != r[i].thread) {
			assert_true(r[i - 1].thread < r[i].thread);
			ties++;
		}
	}
	assert_true(n < 2 || ties > 0); /* the fixture's threads tie */
}

static void test_all_threads(void **state)
{
	struct fx *f = *state;
	size_t max = f->a.c.events, n, nthreads, sum = 0;
	struct rec *r = calloc(max, sizeof(*r));

	n = merged(f, NULL, r, max, &nthreads);
	assert_int_equal(n, f->a.c.events);
	assert_int_equal(nthreads, 6);
	check_order(r, n);
	for (size_t t = 0; t < f->arc->nthreads; t++)
		sum += check_thread(f, t, r, n);
	assert_int_equal(sum, n);
	assert_int_equal(f->arc->nerrors, 0);
	free(r);
}

static void test_filters(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t4 = &f->a.t[4];
	struct ms_arc_filter pid = {.has_pid = 1, .pid = t4->pid};
	struct ms_arc_filter tid = {.has_tid = 1, .tid = t4->tid};
	struct ms_arc_filter none = {.has_pid = 1,
				     .pid = f->a.t[0].pid,
				     .has_tid = 1,
				     .tid = t4->tid};
	size_t max = f->a.c.events, n, nthreads;
	struct rec *r = calloc(max, sizeof(*r));
	uint64_t want = 0;

	for (size_t i = 0; i < f->a.nthreads; i++)
		want += f->a.t[i].pid == t4->pid ? f->a.t[i].c.events : 0;
	n = merged(f, &pid, r, max, &nthreads);
	assert_int_equal(n, want);
	assert_int_equal(nthreads, 3);
	check_order(r, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->arc->threads[r[i].thread].pid, t4->pid);
	n = merged(f, &tid, r, max, &nthreads);
	assert_int_equal(n, t4->c.events);
	assert_int_equal(nthreads, 1);
	assert_int_equal(check_thread(f, r[0].thread, r, n), n);
	assert_int_equal(merged(f, &none, r, max, &nthreads), 0);
	assert_int_equal(nthreads, 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_threads, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
