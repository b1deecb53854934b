/* SPDX-License-Identifier: MIT */
/*
 * Archive reader on synthetic archives: exact counts for a clean archive,
 * and for truncated, corrupted and incomplete ones exactly the readable
 * part plus at least one error.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "archive.h"
#include "archive_fixture.h"
#include "archive_iter.h"
#include "archive_json.h"
#include "archive_scan.h"
#include "json_writer.h"
#include "text_writer.h"
#include "segment.h"
#include "segment_abi.h"

static const struct fx_spec default_spec = {
	.nproc = 2,
	.nthreads = 3,
	.nsegs = 2,
	.nframes = 3,
	.ops = 50,
	.manifest = 1,
};

static int setup(void **state)
{
	return fx_setup(state, &default_spec);
}

static void open_scan(struct fx *f)
{
	assert_int_equal(ms_archive_open(f->dir, NULL, NULL, &f->arc), 0);
	assert_int_equal(ms_archive_scan(f->arc), 0);
}

static void check_counts(const struct ms_arc_counts *got,
			 const struct fx_counts *want)
{
	assert_int_equal(got->events, want->events);
	assert_int_equal(got->allocs, want->allocs);
	assert_int_equal(got->frees, want->frees);
	assert_int_equal(got->dropped, want->dropped);
	assert_int_equal(got->raw_bytes, want->raw_bytes);
	assert_int_equal(got->frames, want->frames);
	assert_true(got->weighted_size == want->weighted);
}

static const struct ms_arc_thread *find(const struct ms_archive *a,
					uint32_t pid, uint32_t tid)
{
	for (size_t i = 0; i < a->nthreads; i++)
		if (a->threads[i].pid == pid && a->threads[i].tid == tid)
			return &a->threads[i];
	fail_msg("thread %u/%u not found", pid, tid);
	return NULL;
}

/* Every thread as written, except thread `skip` (SIZE_MAX: none). */
static void check_all_but(struct fx *f, size_t skip)
{
	for (size_t i = 0; i < f->a.nthreads; i++) {
		const struct fx_thread *t = &f->a.t[i];
		const struct ms_arc_thread *r;

		if (i == skip)
			continue;
		r = find(f->arc, t->pid, t->tid);
		check_counts(&r->c, &t->c);
		assert_string_equal(r->name, t->name);
		assert_int_equal(r->c.segments, t->nsegs);
	}
}

static void test_clean(void **state)
{
	struct fx *f = *state;
	struct ms_arc_counts tot;

	open_scan(f);
	assert_int_equal(f->arc->nerrors, 0);
	assert_int_equal(f->arc->nprocesses, 2);
	assert_int_equal(f->arc->nthreads, 6);
	check_all_but(f, SIZE_MAX);
	ms_archive_totals(f->arc, &tot);
	check_counts(&tot, &f->a.c);
	assert_int_equal(tot.disk_bytes, f->a.disk_bytes);
	assert_int_equal(tot.segments, 12);
	assert_non_null(ms_archive_manifest(f->arc));
	assert_non_null(ms_arc_manifest_process(f->arc, 1001));
	assert_null(ms_arc_manifest_process(f->arc, 4242));
	/* threads sorted by (pid, tid) */
	for (size_t i = 1; i < f->arc->nthreads; i++)
		assert_true(
			f->arc->threads[i - 1].pid < f->arc->threads[i].pid ||
			f->arc->threads[i - 1].tid < f->arc->threads[i].tid);
}

/* Hand-computed numbers for one thread, one frame, 13 operations (see
 * archive_fixture.c): guards against the fixture and the reader agreeing
 * on a mistake. */
static void test_known_numbers(void **state)
{
	struct fx *f = *state;
	struct ms_arc_counts tot;

	open_scan(f);
	assert_int_equal(f->arc->nerrors, 0);
	ms_archive_totals(f->arc, &tot);
	/* 4 prelude + 4 STACK + 13 ALLOC + 4 FREE + 3 REALLOC + 1 LOST +
	 * 1 THREAD_EXIT */
	assert_int_equal(tot.events, 30);
	assert_int_equal(tot.allocs, 16);
	assert_int_equal(tot.frees, 7);
	assert_int_equal(tot.dropped, 3);
	/* 832 bytes of ALLOC, two of them at weight 10.5 (+836), 3 * 333 */
	assert_int_equal(ms_arc_estimated_bytes(&tot), 2667);
	assert_string_equal(f->arc->threads[0].name, "worker-0");
}

static int setup_small(void **state)
{
	static const struct fx_spec sp = {.nproc = 1,
					  .nthreads = 1,
					  .nsegs = 1,
					  .nframes = 1,
					  .ops = 13,
					  .manifest = 1};

	return fx_setup(state, &sp);
}

static void test_no_manifest(void **state)
{
	struct fx *f = *state;
	char p[512];

	snprintf(p, sizeof(p), "%s/manifest.json", f->dir);
	assert_int_equal(unlink(p), 0);
	open_scan(f);
	assert_int_equal(f->arc->nerrors, 1);
	assert_non_null(strstr(f->arc->errors[0].msg, "missing"));
	assert_null(ms_archive_manifest(f->arc));
	check_all_but(f, SIZE_MAX);
}

static void test_broken_manifest(void **state)
{
	struct fx *f = *state;
	char p[512];
	FILE *m;

	snprintf(p, sizeof(p), "%s/manifest.json", f->dir);
	m = fopen(p, "w");
	assert_non_null(m);
	fputs("{\"session\": \"x\", \"processes\": [1, 2", m);
	fclose(m);
	open_scan(f);
	assert_int_equal(f->arc->nerrors, 1);
	assert_true(f->arc->errors[0].has_offset);
	assert_int_equal(f->arc->errors[0].offset, 35);
	assert_null(ms_archive_manifest(f->arc));
	check_all_but(f, SIZE_MAX);
}

/* Thread 1, segment 0 cut at `cut`: exactly its whole frames remain. */
static void check_cut(struct fx *f, uint64_t cut)
{
	const struct fx_thread *t = &f->a.t[1];
	const struct fx_seg *s = &t->s[0];
	struct fx_counts want = {0};
	const struct ms_arc_thread *r;

	assert_int_equal(fx_truncate(s->path, cut), 0);
	for (uint32_t k = 0; k < s->nframes; k++)
		if (cut >= s->f[0].offset && s->f[k].end <= cut)
			fx_add(&want, &s->f[k].c);
	for (uint32_t g = 1; g < t->nsegs; g++)
		for (uint32_t k = 0; k < t->s[g].nframes; k++)
			fx_add(&want, &t->s[g].f[k].c);
	open_scan(f);
	assert_true(f->arc->nerrors >= 1);
	assert_string_equal(f->arc->errors[0].file, s->path);
	r = find(f->arc, t->pid, t->tid);
	check_counts(&r->c, &want);
	check_all_but(f, 1);
	ms_archive_close(f->arc);
	f->arc = NULL;
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	const struct fx_seg *s = &f->a.t[1].s[0];
	uint64_t cuts[] = {
		s->size - 5,	     /* inside the end record */
		s->f[2].end + 1,     /* inside the end record */
		s->f[2].end,	     /* exactly after the last frame */
		s->f[2].data + 60,   /* inside frame 2's data */
		s->f[1].offset + 10, /* inside frame 1's header */
		s->f[1].offset,	     /* exactly after frame 0 */
		s->f[0].offset,	     /* header only */
		10,		     /* inside the header */
		0,		     /* empty file */
	};

	/* Cut deeper each time, so each case sees a fresh truncation. */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		check_cut(f, cuts[i]);
}

/* Flips one byte of thread 1, segment 0 and checks that exactly frame
 * `lost` (-1: none) is missing. */
static void check_flip(struct fx *f, uint64_t off, int lost)
{
	const struct fx_thread *t = &f->a.t[1];
	struct fx_counts want = {0};
	const struct ms_arc_thread *r;

	assert_int_equal(fx_flip(t->s[0].path, off), 0);
	for (uint32_t g = 0; g < t->nsegs; g++)
		for (uint32_t k = 0; k < t->s[g].nframes; k++)
			if (g != 0 || (int)k != lost)
				fx_add(&want, &t->s[g].f[k].c);
	open_scan(f);
	assert_true(f->arc->nerrors >= 1);
	r = find(f->arc, t->pid, t->tid);
	check_counts(&r->c, &want);
	check_all_but(f, 1);
	assert_int_equal(fx_flip(t->s[0].path, off), 0); /* undo */
	ms_archive_close(f->arc);
	f->arc = NULL;
}

static void test_corrupted(void **state)
{
	struct fx *f = *state;
	const struct fx_seg *s = &f->a.t[1].s[0];

	check_flip(f, s->f[1].data + 7, 1);
	check_flip(f, s->f[1].offset + 5, 1); /* a header field */
	check_flip(f, s->f[0].offset + 1, 0); /* the header's size */
	check_flip(f, s->f[2].end - 1, 2);
	check_flip(f, s->size - 2, -1);	    /* end record's check */
	check_flip(f, s->f[2].end + 1, -1); /* end record's frame count */
}

static void test_bad_header(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t = &f->a.t[1];
	struct fx_counts want = {0};

	assert_int_equal(fx_flip(t->s[0].path, MS_SEG_H_PID), 0);
	for (uint32_t g = 1; g < t->nsegs; g++)
		for (uint32_t k = 0; k < t->s[g].nframes; k++)
			fx_add(&want, &t->s[g].f[k].c);
	open_scan(f);
	assert_int_equal(f->arc->nerrors, 1);
	assert_non_null(strstr(f->arc->errors[0].msg, "not a segment"));
	check_counts(&find(f->arc, t->pid, t->tid)->c, &want);
	check_all_but(f, 1);
}

static void test_missing_segment_and_junk(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t = &f->a.t[3];
	struct fx_counts want = {0};
	char p[512];
	FILE *j;

	assert_int_equal(unlink(t->s[0].path), 0);
	snprintf(p, sizeof(p), "%s/%u/notes.txt", f->dir, t->pid);
	j = fopen(p, "w");
	assert_non_null(j);
	fputs("hello\n", j);
	fclose(j);
	for (uint32_t k = 0; k < t->s[1].nframes; k++)
		fx_add(&want, &t->s[1].f[k].c);
	open_scan(f);
	assert_int_equal(f->arc->nerrors, 2);
	check_counts(&find(f->arc, t->pid, t->tid)->c, &want);
	assert_string_equal(find(f->arc, t->pid, t->tid)->name, "");
	check_all_but(f, 3);
}

/* A segment written by hand with bad frames, then one good frame. */
static void test_bad_records(void **state)
{
	struct fx *f = *state;
	struct ms_seg_info info = {.pid = 1000, .tid = 7, .tick_hz = 0};
	struct ms_rec_state st = {0};
	struct ms_seg_writer *w;
	uint8_t buf[512], *p;
	char path[512];
	const struct ms_arc_thread *r;

	snprintf(path, sizeof(path), "%s/1000/7-0.mseg", f->dir);
	assert_int_equal(ms_seg_create(path, &info, 1, &w), 0);
	/* 1: two ALLOCs, an invalid byte, an ALLOC; header says 3 */
	p = ms_rec_put_sync(&st, buf);
	p = ms_rec_put_alloc(&st, p, 10, 0x1000, 8, 0, 0, MS_WEIGHT_ONE);
	p = ms_rec_put_alloc(&st, p, 20, 0x2000, 8, 0, 0, MS_WEIGHT_ONE);
	*p++ = 0xff;
	p = ms_rec_put_alloc(&st, p, 30, 0x3000, 8, 0, 0, MS_WEIGHT_ONE);
	assert_int_equal(ms_seg_write_frame(w, buf, p - buf, 3, 10, 30), 0);
	/* 2: a valid FREE, but the header claims 2 records */
	p = ms_rec_put_sync(&st, buf);
	p = ms_rec_put_free(&st, p, 40, 0x1000);
	assert_int_equal(ms_seg_write_frame(w, buf, p - buf, 2, 40, 40), 0);
	/* 3: no SYNC first: skipped whole */
	p = ms_rec_put_free(&st, buf, 50, 0x2000);
	assert_int_equal(ms_seg_write_frame(w, buf, p - buf, 1, 50, 50), 0);
	/* 4: good: ALLOC + FREE + LOST 5 */
	p = ms_rec_put_sync(&st, buf);
	p = ms_rec_put_alloc(&st, p, 60, 0x4000, 100, 0, 0, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&st, p, 70, 0x4000);
	p = ms_rec_put_lost(&st, p, 80, 5, 0);
	assert_int_equal(ms_seg_write_frame(w, buf, p - buf, 3, 60, 80), 0);
	assert_int_equal(ms_seg_finish(w), 0);

	open_scan(f);
	assert_int_equal(f->arc->nerrors, 3);
	r = find(f->arc, 1000, 7);
	assert_int_equal(r->c.events, 2 + 1 + 3);
	assert_int_equal(r->c.allocs, 3);
	assert_int_equal(r->c.frees, 2);
	assert_int_equal(r->c.dropped, 5);
	assert_int_equal(r->c.frames, 4);
	assert_int_equal(ms_arc_estimated_bytes(&r->c), 116);
	check_all_but(f, SIZE_MAX);
}

/* The fixture's stack `id`: 3 frames, innermost first. */
static void check_stack(const struct ms_arc_event *e)
{
	const struct ms_arc_stack *s = e->stack;

	assert_non_null(s);
	assert_int_equal(s->id, e->ev->stack_id);
	assert_int_equal(s->nframes, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(s->frames[i],
				 0x401000 + s->id * 0x40 + i * 0x1000);
}

/* The module record of the fixture's prelude, as a module map sees it. */
static void check_module(const struct ms_event *ev)
{
	static const char path[] = "/usr/lib/libfake.so";

	assert_int_equal(ev->addr, 0x7f0000000000ull);
	assert_int_equal(ev->size, 0x21000);
	assert_int_equal(ev->build_id_len, 4);
	assert_memory_equal(ev->build_id, "\xde\xad\xbe\xef", 4);
	assert_int_equal(ev->str_len, sizeof(path) - 1);
	assert_memory_equal(ev->str, path, sizeof(path) - 1);
}

/* The iterator: every event once, whole stacks from STACK records, module
 * records, ns from CLOCK records, time never going backwards within a
 * stream. */
static void test_iter(void **state)
{
	struct fx *f = *state;
	const struct ms_arc_event *ev;
	struct ms_arc_iter *it;
	uint64_t n = 0, last = 0, first_alloc_caller = 0, first_ns = 0;
	unsigned modules = 0;
	int rc;

	assert_int_equal(ms_archive_open(f->dir, NULL, NULL, &f->arc), 0);
	assert_int_equal(ms_arc_iter_open(f->arc, &f->arc->threads[0], &it), 0);
	while ((rc = ms_arc_iter_next(it, &ev)) > 0) {
		uint8_t t = ev->ev->type;

		if (n++ == 0)
			first_ns = ev->ns;
		assert_true(ev->ns >= last);
		last = ev->ns;
		if (t == MS_REC_ALLOC || t == MS_REC_REALLOC)
			check_stack(ev);
		else
			assert_null(ev->stack);
		if (t == MS_REC_ALLOC && !first_alloc_caller)
			first_alloc_caller = ev->stack->frames[0];
		if (t == MS_REC_MODULE_LOAD && ++modules)
			check_module(ev->ev);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(modules, 1);
	assert_int_equal(n, f->a.t[0].c.events);
	assert_int_equal(ms_arc_iter_counts(it)->events, n);
	assert_int_equal(first_alloc_caller, f->a.first_caller);
	/* CLOCK says 5 s at the first tick; 3 GHz: 100 ticks = 33 ns */
	assert_int_equal(first_ns, 5000000000ull);
	assert_int_equal(last - first_ns, (n - 1) * 100 / 3);
	ms_arc_iter_close(it);
	assert_int_equal(f->arc->nerrors, 0);
}

/* The iterator's stream 1000/7: the stack of each ALLOC, in order, as
 * frame count (-1: no stack) and first frame. */
static void stacks_seen(struct fx *f, int *nframes, uint64_t *first, size_t n)
{
	const struct ms_arc_event *ev;
	struct ms_arc_iter *it;
	size_t k = 0;

	assert_int_equal(ms_archive_open(f->dir, NULL, NULL, &f->arc), 0);
	assert_int_equal(
		ms_arc_iter_open(f->arc,
				 (struct ms_arc_thread *)find(f->arc, 1000, 7),
				 &it),
		0);
	while (ms_arc_iter_next(it, &ev) > 0) {
		if (ev->ev->type != MS_REC_ALLOC)
			continue;
		assert_true(k < n);
		nframes[k] = ev->stack ? (int)ev->stack->nframes : -1;
		first[k++] = ev->stack ? ev->stack->frames[0] : 0;
	}
	assert_int_equal(k, n);
	ms_arc_iter_close(it);
}

/* Stack ids belong to a thread generation: THREAD_START forgets them, a
 * later STACK record with the same id is a new stack. */
static void test_stack_generations(void **state)
{
	static const uint64_t a[2] = {0xa1, 0xa2}, b[1] = {0xb1};
	struct fx *f = *state;
	struct ms_seg_info info = {.pid = 1000, .tid = 7, .tick_hz = 0};
	struct ms_rec_state st = {0};
	struct ms_seg_writer *w;
	uint64_t first[3];
	int nframes[3];
	uint8_t buf[512], *p;
	char path[512];

	snprintf(path, sizeof(path), "%s/1000/7-0.mseg", f->dir);
	assert_int_equal(ms_seg_create(path, &info, 1, &w), 0);
	p = ms_rec_put_sync(&st, buf);
	p = ms_rec_put_stack(&st, p, 10, 1, a, 2);
	p = ms_rec_put_alloc(&st, p, 20, 0x1000, 8, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_thread_start(&st, p, 30, 1000, 7);
	p = ms_rec_put_alloc(&st, p, 40, 0x2000, 8, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_stack(&st, p, 50, 1, b, 1);
	p = ms_rec_put_alloc(&st, p, 60, 0x3000, 8, 0, 1, MS_WEIGHT_ONE);
	assert_int_equal(ms_seg_write_frame(w, buf, p - buf, 6, 10, 60), 0);
	assert_int_equal(ms_seg_finish(w), 0);
	stacks_seen(f, nframes, first, 3);
	assert_int_equal(nframes[0], 2);
	assert_int_equal(first[0], 0xa1);
	assert_int_equal(nframes[1], -1);
	assert_int_equal(nframes[2], 1);
	assert_int_equal(first[2], 0xb1);
	assert_int_equal(f->arc->nerrors, 0);
}

static int setup_tsc(void **state)
{
	struct fx_spec sp = default_spec;

	sp.tick_hz = 3000000000ull;
	sp.nproc = 1;
	sp.nthreads = 1;
	return fx_setup(state, &sp);
}

/* A finished manifest's totals: equal, no error; a thread's files gone,
 * the difference is reported. */
static void test_manifest_totals(void **state)
{
	struct fx *f = *state;
	const struct fx_thread *t = &f->a.t[2];

	open_scan(f);
	assert_int_equal(f->arc->nerrors, 0);
	ms_archive_close(f->arc);
	f->arc = NULL;
	for (uint32_t g = 0; g < t->nsegs; g++)
		assert_int_equal(unlink(t->s[g].path), 0);
	open_scan(f);
	assert_int_equal(f->arc->nerrors, 1);
	assert_non_null(strstr(f->arc->errors[0].msg, "finished session"));
	assert_non_null(strstr(f->arc->errors[0].msg, "dropped"));
	check_all_but(f, 2);
}

static int setup_finished(void **state)
{
	struct fx_spec sp = default_spec;

	sp.finished = 1;
	return fx_setup(state, &sp);
}

static void test_not_a_dir(void **state)
{
	struct ms_archive *a;

	(void)state;
	assert_int_equal(
		ms_archive_open("/nonexistent/archive", NULL, NULL, &a),
		-ENOENT);
}

static void test_output_strings(void **state)
{
	static const char in[] = "a\"b\\c\x01\xff\xc3\xa9 \xe0\x80";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	ms_json_put_str(f, in, sizeof(in) - 1);
	fputc('|', f);
	ms_text_put_str(f, in, sizeof(in) - 1);
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u0001\\ufffd\xc3\xa9 "
				 "\\ufffd\\ufffd\"|"
				 "a\"b\\x5cc\\x01\\xff\xc3\xa9\\x20\\xe0\\x80");
	free(buf);
}

static void test_json(void **state)
{
	static const char ok[] =
		" {\"a\": [1, -2.5e3, true, false, null], \"s\": "
		"\"x\\u00e9\\ud83d\\ude00\\n\", \"n\": 18446744073709551615, "
		"\"o\": {}} ";
	static const char *bad[] = {
		"",    "{",	"{\"a\" 1}", "[1,]",	   "01", "\"\\ud800\"",
		"nul", "[1] x", "\"a\nb\"",  "{\"a\":1,}", "-",	 "1.",
		"1e",
	};
	const struct ms_json_node *r;
	struct ms_json *j;
	uint64_t v;
	char deep[200];

	(void)state;
	assert_int_equal(ms_json_parse(ok, strlen(ok), &j, NULL), 0);
	r = ms_json_root(j);
	assert_int_equal(r->type, MS_JSON_OBJECT);
	/* a double: cmocka's integer asserts would convert it to unsigned */
	assert_true(ms_json_get(r, "a")->child->next->number == -2500.0);
	assert_string_equal(ms_json_get(r, "s")->str,
			    "x\xc3\xa9\xf0\x9f\x98\x80\n");
	assert_int_equal(ms_json_u64(ms_json_get(r, "n"), &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(ms_json_u64(ms_json_get(r, "a")->child->next, &v),
			 -EINVAL);
	assert_null(ms_json_get(r, "missing"));
	ms_json_free(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			ms_json_parse(bad[i], strlen(bad[i]), &j, NULL),
			-EBADMSG);
	memset(deep, '[', sizeof(deep));
	assert_int_equal(ms_json_parse(deep, sizeof(deep), &j, NULL), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_known_numbers, setup_small,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_manifest, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_broken_manifest, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_corrupted, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_missing_segment_and_junk,
						setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_iter, setup_tsc,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_stack_generations, setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_manifest_totals,
						setup_finished, fx_teardown),
		cmocka_unit_test(test_not_a_dir),
		cmocka_unit_test(test_output_strings),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
