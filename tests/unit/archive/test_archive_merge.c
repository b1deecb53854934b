/* SPDX-License-Identifier: MIT */
/*
 * consumer/archive/archive_merge.c on synthetic archives whose threads
 * share their timestamps (ties everywhere): every record of the selected
 * threads once, by time, ties in (pid, tid) order, and each thread's
 * records exactly as its own iterator gives them. On damaged archives,
 * with and without workers decoding ahead (archive_ahead.c), the merge
 * gives what a merge of iterators read record by record gives, errors
 * between the same records, and the scan what counting the streams one
 * after the other gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "archive_fixture.h"
#include "archive_merge.h"
#include "archive_scan.h"
#include "atomics.h"
#include "record.h"

/* What the tests compare of a record. */
struct rec {
	size_t thread; /* index in the archive */
	uint64_t ns, addr, stack_first;
	uint8_t type;
};

/* Threads tie, and each has a CLOCK record mid-frame (archive_fixture.h). */
static int setup_clocks(void **state)
{
	static const struct fx_spec sp = {
		.nproc = 2,
		.nthreads = 3,
		.nsegs = 2,
		.nframes = 2,
		.ops = 40,
		.manifest = 1,
		.clock_mid = 1,
	};

	return fx_setup(state, &sp);
}

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

/* ---- damage: reported where reading record by record reports it ---- */

/* What a reader saw, in order: records and errors. */
struct seen {
	char **line;
	size_t n, cap;
};

static void seen_add(struct seen *s, char *line)
{
	assert_non_null(line);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->line = realloc(s->line, s->cap * sizeof(*s->line));
		assert_non_null(s->line);
	}
	s->line[s->n++] = line;
}

static void seen_error(const struct ms_arc_error *e, void *arg)
{
	char *l;

	assert_true(asprintf(&l, "error %s %d %llu %s", e->file ? e->file : "-",
			     e->has_offset, (unsigned long long)e->offset,
			     e->msg) > 0);
	seen_add(arg, l);
}

static void seen_record(struct seen *s, const struct ms_arc_event *e)
{
	const struct ms_event *ev = e->ev;
	char *l;

	assert_true(asprintf(&l,
			     "%u %u %llu %s ts %llu addr %llx old %llx size "
			     "%llu id %llu w %llu a %llu n %u stack %u:%llx",
			     e->pid, e->tid, (unsigned long long)e->ns,
			     ms_rec_type_name(ev->type),
			     (unsigned long long)ev->ts,
			     (unsigned long long)ev->addr,
			     (unsigned long long)ev->old_addr,
			     (unsigned long long)ev->size,
			     (unsigned long long)ev->stack_id,
			     (unsigned long long)ev->weight,
			     (unsigned long long)ev->align, ev->nframes,
			     e->stack ? e->stack->nframes : 0,
			     e->stack && e->stack->nframes
				     ? (unsigned long long)e->stack->frames[0]
				     : 0ull) > 0);
	seen_add(s, l);
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->line[i]);
	free(s->line);
}

/*
 * The reference: one iterator per thread, each read one record ahead of
 * the merge, the earliest (ties: thread order) handed out and its iterator
 * moved on -- the merge as it was before batches, errors reported by the
 * iterators as they find them.
 */
static void reference(const char *dir, struct seen *s)
{
	struct ms_archive *a;
	struct ms_arc_iter **it;
	const struct ms_arc_event **cur;
	size_t n;

	assert_int_equal(ms_archive_open(dir, seen_error, s, &a), 0);
	n = a->nthreads;
	it = calloc(n, sizeof(*it));
	cur = calloc(n, sizeof(*cur));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ms_arc_iter_open(a, &a->threads[i], &it[i]),
				 0);
		if (ms_arc_iter_next(it[i], &cur[i]) <= 0)
			cur[i] = NULL;
	}
	for (;;) {
		size_t k = n;

		for (size_t i = 0; i < n; i++)
			if (cur[i] && (k == n || cur[i]->ns < cur[k]->ns))
				k = i;
		if (k == n)
			break;
		seen_record(s, cur[k]);
		if (ms_arc_iter_next(it[k], &cur[k]) <= 0)
			cur[k] = NULL;
	}
	for (size_t i = 0; i < n; i++)
		ms_arc_iter_close(it[i]);
	free(it);
	free(cur);
	ms_archive_close(a);
}

/* The merge with `threads` decoding ahead; `stop_after`: closed early. */
static void merged_seen(const char *dir, struct seen *s, int threads,
			size_t stop_after)
{
	const struct ms_arc_event *e;
	struct ms_arc_merge *m;
	struct ms_archive *a;
	int rc = 0;

	assert_int_equal(ms_archive_open(dir, seen_error, s, &a), 0);
	a->read_threads = threads;
	assert_int_equal(ms_arc_merge_open(a, NULL, &m), 0);
	while (s->n < stop_after && (rc = ms_arc_merge_next(m, &e)) > 0)
		seen_record(s, e);
	assert_true(s->n >= stop_after || rc == 0);
	ms_arc_merge_close(m);
	ms_archive_close(a);
}

static void check_as_reference(const char *dir)
{
	static const int threads[] = {0, 1, 2, 4};
	struct seen want = {0};
	size_t errors = 0;

	reference(dir, &want);
	for (size_t i = 0; i < want.n; i++)
		errors += !strncmp(want.line[i], "error ", 6);
	assert_true(errors > 0);
	for (size_t t = 0; t < MS_ARRAY_SIZE(threads); t++) {
		struct seen got = {0};

		merged_seen(dir, &got, threads[t], SIZE_MAX);
		for (size_t i = 0; i < want.n && i < got.n; i++)
			assert_string_equal(got.line[i], want.line[i]);
		assert_int_equal(got.n, want.n);
		seen_free(&got);
	}
	seen_free(&want);
}

/* Damage in several streams, at their start, in the middle and at the
 * end: the errors come out between the same records as before batches. */
static void test_damage_in_order(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t = f->a.t;

	/* thread 0: a byte of its second frame's data */
	assert_int_equal(fx_flip(t[0].s[0].path, t[0].s[0].f[1].offset + 60),
			 0);
	/* thread 1: its first frame, where its CLOCK record is */
	assert_int_equal(fx_flip(t[1].s[0].path, t[1].s[0].f[0].offset + 60),
			 0);
	/* thread 2: cut inside its last frame; thread 4: a frame header */
	assert_int_equal(
		fx_truncate(t[2].s[1].path, t[2].s[1].f[1].offset + 70), 0);
	assert_int_equal(fx_flip(t[4].s[1].path, t[4].s[1].f[0].offset + 3), 0);
	check_as_reference(f->dir);
}

/* No stream starts with a CLOCK record: the archive's time base comes
 * from whichever CLOCK record is read first, as before batches. */
static void test_damage_no_first_clock(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < f->a.nthreads; i++) {
		const struct fx_seg *s = &f->a.t[i].s[0];

		assert_int_equal(fx_flip(s->path, s->f[0].offset + 60), 0);
	}
	check_as_reference(f->dir);
}

/* Many streams, several batches each, damage in some, read ahead by
 * workers: what comes out is what reading record by record gives. */
static int setup_many(void **state)
{
	static const struct fx_spec sp = {
		.nproc = 3,
		.nthreads = 8,
		.nsegs = 2,
		.nframes = 3,
		.ops = 300,
		.manifest = 1,
		.clock_mid = 1,
	};

	return fx_setup(state, &sp);
}

static void test_many_streams_ahead(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t = f->a.t;

	for (size_t i = 0; i < f->a.nthreads; i += 5) {
		const struct fx_seg *s = &t[i].s[i % 2];

		assert_int_equal(fx_flip(s->path, s->f[i % 3].offset + 60), 0);
	}
	assert_int_equal(
		fx_truncate(t[3].s[1].path, t[3].s[1].f[1].offset + 90), 0);
	assert_int_equal(fx_flip(t[7].s[0].path, t[7].s[0].f[2].offset + 5), 0);
	for (int round = 0; round < 3; round++)
		check_as_reference(f->dir);
}

/* Closing the merge while workers decode ahead stops them cleanly, and
 * what was handed out is what the reference begins with. */
static void test_close_early(void **state)
{
	struct fx *f = *state;
	struct seen want = {0};

	reference(f->dir, &want);
	for (size_t stop = 1; stop < want.n; stop = stop * 3 + 7) {
		struct seen got = {0};

		merged_seen(f->dir, &got, 2, stop);
		assert_int_equal(got.n, stop);
		for (size_t i = 0; i < got.n; i++)
			assert_string_equal(got.line[i], want.line[i]);
		seen_free(&got);
	}
	seen_free(&want);
}

/* The scan with `threads` counting ahead: its errors in order, then each
 * thread's counts and name, then the time base it set. */
static void scanned_seen(const char *dir, struct seen *s, int threads)
{
	struct ms_archive *a;
	char *l;

	assert_int_equal(ms_archive_open(dir, seen_error, s, &a), 0);
	a->read_threads = threads;
	assert_int_equal(ms_archive_scan(a), 0);
	for (size_t i = 0; i < a->nthreads; i++) {
		const struct ms_arc_counts *c = &a->threads[i].c;

		assert_true(asprintf(&l,
				     "%u %u '%s' %llu %llu %llu %llu %llu %llu "
				     "%llu %llu %llu",
				     a->threads[i].pid, a->threads[i].tid,
				     a->threads[i].name,
				     (unsigned long long)c->events,
				     (unsigned long long)c->allocs,
				     (unsigned long long)c->frees,
				     (unsigned long long)c->dropped,
				     (unsigned long long)c->raw_bytes,
				     (unsigned long long)c->frames,
				     (unsigned long long)c->segments,
				     (unsigned long long)c->disk_bytes,
				     (unsigned long long)c->weighted_size) > 0);
		seen_add(s, l);
	}
	assert_true(asprintf(&l, "tb %d %llu %llu %llu", a->tb_set,
			     (unsigned long long)a->tb.ref_ticks,
			     (unsigned long long)a->tb.ref_ns,
			     (unsigned long long)a->tb.hz) > 0);
	seen_add(s, l);
	ms_archive_close(a);
}

/* The scan counts streams on workers and reports as it did alone. */
static void test_scan_ahead(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t = f->a.t;
	struct seen want = {0};

	/* the first streams lose their CLOCK: the time base comes later */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
			fx_flip(t[i].s[0].path, t[i].s[0].f[0].offset + 60), 0);
	assert_int_equal(fx_flip(t[9].s[1].path, t[9].s[1].f[1].offset + 60),
			 0);
	assert_int_equal(
		fx_truncate(t[13].s[1].path, t[13].s[1].f[1].offset + 90), 0);
	scanned_seen(f->dir, &want, 0);
	for (int round = 0; round < 3; round++) {
		for (int threads = 1; threads <= 4; threads++) {
			struct seen got = {0};

			scanned_seen(f->dir, &got, threads);
			assert_int_equal(got.n, want.n);
			for (size_t i = 0; i < got.n; i++)
				assert_string_equal(got.line[i], want.line[i]);
			seen_free(&got);
		}
	}
	seen_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_threads, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_damage_in_order,
						setup_clocks, fx_teardown),
		cmocka_unit_test_setup_teardown(test_damage_no_first_clock,
						setup_clocks, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_streams_ahead,
						setup_many, fx_teardown),
		cmocka_unit_test_setup_teardown(test_close_early, setup_many,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_scan_ahead, setup_many,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
