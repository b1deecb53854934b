/* SPDX-License-Identifier: MIT */
/*
 * The archive reader (consumer/archive/) on an archive made from the
 * input: ARCHIVE/manifest.json and two segments of one thread,
 * ARCHIVE/1/2-0.mseg and 2-1.mseg. Input layout (all parts may be short):
 *   u16 manifest length (0xffff: no manifest) | manifest |
 *   u32 length of segment 0 | segment 0 | segment 1 (the rest)
 * Everything the reader reports must be consistent, and it must finish;
 * the merge, reading in batches with or without a worker, must see the
 * records and errors that the thread's iterator sees record by record.
 * A second pass reads the input with the segments' checksums made right
 * (ms_fuzz_seal_segment()), so damaged frames reach the decoders.
 */
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "archive_iter.h"
#include "archive_merge.h"
#include "archive_scan.h"
#include "bytes.h"
#include "fuzz.h"

static void check_thread(const struct ms_arc_thread *t)
{
	const struct ms_arc_counts *c = &t->c;

	MS_FUZZ_CHECK(t->pid == 1 && t->tid == 2);
	MS_FUZZ_CHECK(c->allocs <= c->events && c->frees <= c->events);
	MS_FUZZ_CHECK(c->raw_bytes <= c->frames * (8u << 20));
	MS_FUZZ_CHECK(strlen(t->name) <= MS_NAME_MAX);
}

/*
 * What a reader saw, folded into a running hash: each record (time,
 * fields, stack) and each error, in order.
 */
struct seen {
	uint64_t h, records, errors;
};

static void mix(struct seen *s, uint64_t v)
{
	s->h = (s->h ^ v) * 0x100000001b3ull;
}

static void seen_error(const struct ms_arc_error *e, void *arg)
{
	struct seen *s = arg;

	for (const char *m = e->msg; *m; m++)
		mix(s, (uint8_t)*m);
	mix(s, e->offset);
	s->errors++;
}

static void seen_record(struct seen *s, const struct ms_arc_event *e)
{
	const struct ms_event *ev = e->ev;
	const struct ms_arc_stack *st = e->stack;

	MS_FUZZ_CHECK(!st ||
		      (st->id == ev->stack_id && st->nframes <= MS_STACK_MAX));
	mix(s, e->ns);
	mix(s, ev->type);
	mix(s, ev->ts);
	mix(s, ev->addr ^ ev->old_addr ^ ev->size ^ ev->weight ^ ev->align);
	mix(s, ev->count ^ ev->mono_ns ^ ev->nframes ^ ev->str_len);
	/* every frame readable (ASan checks the bounds) */
	for (uint32_t i = 0; st && i < st->nframes; i++)
		mix(s, ((const volatile uint64_t *)st->frames)[i]);
	for (uint32_t i = 0; ev->type == MS_REC_STACK && i < ev->nframes; i++)
		mix(s, ev->frames[i]);
	for (uint32_t i = 0; i < ev->str_len; i++)
		mix(s, ev->str[i]);
	s->records++;
}

/* dump's path for one thread, record by record: every event again. */
static void iterate(struct seen *s)
{
	const struct ms_arc_event *ev;
	struct ms_arc_iter *it;
	struct ms_archive *a;

	if (ms_archive_open(ms_fuzz_dir(), seen_error, s, &a) ||
	    ms_arc_iter_open(a, &a->threads[0], &it))
		abort();
	while (ms_arc_iter_next(it, &ev) > 0)
		seen_record(s, ev);
	ms_arc_iter_close(it);
	ms_archive_close(a);
}

/* The merge, its records decoded in batches, by a worker or not. */
static void merged(struct seen *s, int threads)
{
	const struct ms_arc_event *ev;
	struct ms_arc_merge *m;
	struct ms_archive *a;

	if (ms_archive_open(ms_fuzz_dir(), seen_error, s, &a))
		abort();
	a->read_threads = threads;
	if (ms_arc_merge_open(a, NULL, &m))
		abort();
	while (ms_arc_merge_next(m, &ev) > 0)
		seen_record(s, ev);
	ms_arc_merge_close(m);
	ms_archive_close(a);
}

/* The merge (batches, notes, a worker) sees what the iterator sees. */
static void read_both_ways(uint64_t events)
{
	struct seen want = {0}, got = {0}, ahead = {0};

	iterate(&want);
	MS_FUZZ_CHECK(want.records == events);
	merged(&got, 0);
	merged(&ahead, 1);
	MS_FUZZ_CHECK(got.records == want.records &&
		      got.errors == want.errors && got.h == want.h);
	MS_FUZZ_CHECK(ahead.records == want.records &&
		      ahead.errors == want.errors && ahead.h == want.h);
}

static void read_archive(const uint8_t *data, size_t size)
{
	struct ms_archive *a;

	ms_fuzz_put_archive(data, size, "1/2-0.mseg", "1/2-1.mseg");
	if (ms_archive_open(ms_fuzz_dir(), NULL, NULL, &a))
		abort();
	MS_FUZZ_CHECK(a->nthreads == 1 && a->nprocesses == 1);
	if (ms_archive_scan(a))
		abort();
	check_thread(&a->threads[0]);
	read_both_ways(a->threads[0].c.events);
	ms_archive_close(a);
}

/* Seals both segments of an input (layout above); whether it changed. */
static int seal_archive(uint8_t *d, size_t size)
{
	size_t mlen = size >= 2 ? ms_get_le16(d) : 0xffff, slen = 0, n0;
	int changed;

	ms_fuzz_take((const uint8_t **)&d, &size, 2);
	ms_fuzz_take((const uint8_t **)&d, &size, mlen);
	if (size >= 4)
		slen = ms_get_le32(d);
	ms_fuzz_take((const uint8_t **)&d, &size, 4);
	n0 = slen < size ? slen : size;
	changed = ms_fuzz_seal_segment(d, n0);
	return ms_fuzz_seal_segment(d + n0, size - n0) | changed;
}

/* The input as it is, and again sealed (fuzz.h) when that changes it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ms_fuzz_as_is_and_sealed(data, size, read_archive, seal_archive);
	return 0;
}

static void emit_archive(ms_fuzz_emit emit, void *arg, const char *man,
			 const uint8_t *s0, size_t n0, const uint8_t *s1,
			 size_t n1)
{
	size_t ml = man ? strlen(man) : 0xffff;
	size_t len = 6 + (man ? ml : 0) + n0 + n1;
	uint8_t *b = malloc(len), *p = b;

	if (!b)
		return;
	ms_put_le16(p, (uint16_t)ml);
	p += 2;
	if (man) {
		memcpy(p, man, ml);
		p += ml;
	}
	ms_put_le32(p, (uint32_t)n0);
	memcpy(p + 4, s0, n0);
	if (n1)
		memcpy(p + 4 + n0, s1, n1);
	emit(b, len, arg);
	free(b);
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static const char man[] =
		"{\"format\": 1, \"session\": \"s\", \"processes\": "
		"[{\"pid\": 1, \"exe\": \"/bin/x\"}]}";
	uint8_t *a = NULL, *b = NULL;
	size_t na = ms_fuzz_make_segment(&a, 1);
	size_t nb = ms_fuzz_make_segment(&b, 0);

	if (na && nb) {
		emit_archive(emit, arg, man, a, na, b, nb);
		emit_archive(emit, arg, NULL, a, na, NULL, 0);
		emit_archive(emit, arg, "{", b, nb, a, na);
	}
	free(a);
	free(b);
}
