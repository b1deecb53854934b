/* SPDX-License-Identifier: MIT */
/*
 * The merge reads each stream in batches (archive_batch.h): a stream's
 * iterator decodes a run of records at a time, on a worker thread when
 * that pays (archive_ahead.h), and the merge takes them one by one,
 * replaying the notes between them, keeping the stream's stack table from
 * its STACK records and filling one struct ms_event for the record it
 * hands out. Workers read each stream's first record, without the
 * archive's time base, and the merge takes them in (pid, tid) order, so
 * that the first CLOCK record among them sets it, as reading record by
 * record does; then they read ahead, once the time base is set: nothing
 * changes it afterwards, so what a stream's records are depends on that
 * stream alone, however far ahead it is decoded.
 */
#include "archive_merge.h"

#include <errno.h>
#include <stdlib.h>

#include "archive_ahead.h"
#include "archive_batch.h"
#include "minheap.h"

/* Bytes of records a batch holds. */
#define BATCH_BYTES (64u << 10)

/* One thread stream. */
struct source {
	struct ms_arc_iter *it;	       /* the filler's; NULL once read */
	struct ms_arc_batch *b;	       /* the batch being read, the engine's */
	const uint8_t *p, *end;	       /* the batch's items not read yet */
	const struct ms_arc_item *cur; /* the stream's current record */
	const struct ms_arc_stack *stack; /* of `cur` (ALLOC, REALLOC) */
	struct ms_arc_stacks stacks;
	const struct ms_arc_stack *last; /* of stack id `last_id`, when */
	uint64_t last_id;		 /* `cached`: runs of one stack */
	int cached;
	uint32_t pid, tid;
	int started; /* the filler's: its first record was read */
};

/* A stream in the heap, keyed by its current record's time. */
struct key {
	uint64_t ns;
	size_t k; /* index in m->src, in (pid, tid) order: ties */
};

struct ms_arc_merge {
	struct ms_archive *a;
	struct ms_minheap h;
	struct source *src;
	size_t nsrc;
	struct ms_arc_ahead *ah;
	int opened;	/* every stream's first record was read */
	int refilling;	/* the workers read ahead (the time base is set) */
	int handed_out; /* the top's record was returned: advance it first */
	int ev_state;	/* ms_arc_item_event()'s */
	struct ms_arc_event out;
	struct ms_event ev;
};

int ms_arc_filter_match(const struct ms_arc_filter *f,
			const struct ms_arc_thread *t)
{
	return !f || ((!f->has_pid || t->pid == f->pid) &&
		      (!f->has_tid || t->tid == f->tid));
}

static int before(const void *x, const void *y)
{
	const struct key *a = x, *b = y;

	if (a->ns != b->ns)
		return a->ns < b->ns;
	return a->k < b->k;
}

/*
 * Fills the next batch of stream `k` (archive_ahead.h: on any thread).
 * The first holds the stream's first record alone, read without the
 * archive's time base (add_source() applies a CLOCK record in it in
 * (pid, tid) order). Until the time base is set, one record at a time: a
 * CLOCK record read ahead would set it from another stream than reading
 * record by record does. The batch that ends the stream closes its
 * iterator, as its segments' memory is no longer needed.
 */
static void fill_batch(void *arg, size_t k, struct ms_arc_batch *b)
{
	struct ms_arc_merge *m = arg;
	struct source *s = &m->src[k];
	unsigned mode = MS_ARC_FILL_RECORDS;
	size_t max = 1;

	if (!s->started)
		mode |= MS_ARC_FILL_FIRST;
	else if (m->a->tb_set)
		max = SIZE_MAX;
	s->started = 1;
	if (ms_arc_batch_reset(b, BATCH_BYTES)) {
		b->rc = -ENOMEM;
		b->end = 1;
		return;
	}
	ms_arc_iter_fill(s->it, b, mode, max);
	if (b->end && !(mode & MS_ARC_FILL_FIRST)) {
		ms_arc_iter_close(s->it);
		s->it = NULL;
	}
}

/* The stream's next batch: 1, 0 when the stream is over, or -ENOMEM. */
static int next_batch(struct ms_arc_merge *m, struct source *s)
{
	if (s->b && s->b->end)
		return s->b->rc;
	s->b = ms_arc_ahead_next(m->ah, (size_t)(s - m->src));
	s->p = s->b->buf;
	s->end = s->b->buf + s->b->len;
	/* set on this thread, by the first CLOCK record: for good */
	if (m->opened && !m->refilling && m->a->tb_set) {
		ms_arc_ahead_refill(m->ah);
		m->refilling = 1;
	}
	return 1;
}

/* The stream's state with its new current record: its stack table. */
static int take(struct source *s)
{
	const struct ms_arc_item *it = s->cur;
	const uint64_t *fr;
	uint32_t n;
	uint64_t id;

	s->stack = NULL;
	switch (it->type) {
	case MS_REC_ALLOC:
	case MS_REC_REALLOC: /* a heap item */
		id = ((const struct ms_arc_item_heap *)(const void *)it)
			     ->stack_id;
		if (!s->cached || id != s->last_id)
			s->last = ms_arc_stacks_get(&s->stacks, id);
		s->last_id = id;
		s->cached = 1;
		s->stack = s->last;
		return 0;
	case MS_REC_STACK:
		s->cached = 0; /* its node may be another now */
		id = ms_arc_item_stack(it, &fr, &n);
		return ms_arc_stacks_put(&s->stacks, id, fr, n);
	case MS_REC_THREAD_START:
		s->cached = 0;
		ms_arc_stacks_clear(&s->stacks);
		return 0;
	default:
		return 0;
	}
}

/* Moves stream `s` on to its next record, replaying the notes before it:
 * 1, 0 when the stream is over, or -ENOMEM. */
static int advance(struct ms_arc_merge *m, struct source *s)
{
	const struct ms_arc_item *it;
	int rc;

	for (;;) {
		if (s->p == s->end) {
			rc = next_batch(m, s);
			if (rc <= 0)
				return rc;
			continue;
		}
		it = (const struct ms_arc_item *)(const void *)s->p;
		s->p += it->size;
		if (it->kind >= MS_ARC_I_ERROR) {
			ms_arc_note_apply(m->a, it);
			continue;
		}
		s->cur = it;
		return take(s) ? -ENOMEM : 1;
	}
}

/*
 * Puts stream `k` in the heap at its first record, unless it has none. A
 * CLOCK record there is applied now, in (pid, tid) order: the archive's
 * time base is the first CLOCK record's read that way.
 */
static int add_source(struct ms_arc_merge *m, size_t k)
{
	struct source *s = &m->src[k];
	struct key key = {.k = k};
	uint64_t ns;
	int rc = advance(m, s);

	if (rc <= 0)
		return rc;
	/* the batch is the reader's alone: its item may take the time */
	if (ms_arc_iter_apply_clock(s->it, &ns))
		((struct ms_arc_item *)(uintptr_t)s->cur)->ns = ns;
	key.ns = s->cur->ns;
	return ms_minheap_push(&m->h, &key);
}

/* One source per thread `f` selects, in (pid, tid) order; the workers
 * that pay for their segments' size. */
static int open_sources(struct ms_arc_merge *m, const struct ms_arc_filter *f)
{
	struct ms_archive *a = m->a;
	uint64_t bytes = 0;
	unsigned threads;

	m->src = calloc(a->nthreads ? a->nthreads : 1, sizeof(*m->src));
	if (!m->src)
		return -ENOMEM;
	for (size_t i = 0; i < a->nthreads; i++) {
		struct source *s = &m->src[m->nsrc];

		if (!ms_arc_filter_match(f, &a->threads[i]))
			continue;
		s->pid = a->threads[i].pid;
		s->tid = a->threads[i].tid;
		for (size_t k = 0; k < a->threads[i].nsegs; k++)
			bytes += a->threads[i].segs[k].size;
		if (ms_arc_iter_open(a, &a->threads[i], &s->it))
			return -ENOMEM;
		m->nsrc++;
	}
	threads = ms_arc_ahead_threads(a, m->nsrc, bytes, 1);
	if (ms_arc_ahead_create(m->nsrc, 2, fill_batch, m, &m->ah))
		return -ENOMEM;
	if (threads) /* the first records, each stream's first */
		ms_arc_ahead_start(m->ah, threads);
	return 0;
}

int ms_arc_merge_open(struct ms_archive *a, const struct ms_arc_filter *f,
		      struct ms_arc_merge **out)
{
	struct ms_arc_merge *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->a = a;
	rc = open_sources(m, f);
	if (!rc)
		rc = ms_minheap_init(&m->h, sizeof(struct key), m->nsrc,
				     before);
	for (size_t k = 0; !rc && k < m->nsrc; k++)
		rc = add_source(m, k);
	m->opened = 1;
	if (!rc && a->tb_set) { /* else once it is (next_batch()) */
		ms_arc_ahead_refill(m->ah);
		m->refilling = 1;
	}
	if (rc) {
		ms_arc_merge_close(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* Moves the stream whose record was handed out on to its next one. */
static int advance_top(struct ms_arc_merge *m)
{
	struct key *key = ms_minheap_top(&m->h);
	size_t k = key->k;
	struct source *s = &m->src[k];
	int rc = advance(m, s);

	if (rc < 0)
		return rc;
	if (rc == 0) { /* the last record was valid until now */
		ms_minheap_pop(&m->h, NULL);
		ms_arc_ahead_done(m->ah, k);
		ms_arc_stacks_free(&s->stacks);
	} else {
		key->ns = s->cur->ns;
		ms_minheap_fix_top(&m->h);
	}
	return 0;
}

int ms_arc_merge_next(struct ms_arc_merge *m, const struct ms_arc_event **out)
{
	const struct key *key;
	const struct source *s;

	if (m->handed_out) {
		int rc = advance_top(m);

		if (rc)
			return rc;
		m->handed_out = 0;
	}
	key = ms_minheap_top(&m->h);
	if (!key)
		return 0;
	s = &m->src[key->k];
	ms_arc_item_event(s->cur, &m->ev, &m->ev_state);
	m->out = (struct ms_arc_event){.ev = &m->ev,
				       .pid = s->pid,
				       .tid = s->tid,
				       .ns = s->cur->ns,
				       .stack = s->stack};
	*out = &m->out;
	m->handed_out = 1;
	return 1;
}

size_t ms_arc_merge_nthreads(const struct ms_arc_merge *m)
{
	return m->nsrc;
}

void ms_arc_merge_close(struct ms_arc_merge *m)
{
	if (!m)
		return;
	ms_arc_ahead_destroy(m->ah); /* no worker runs after this */
	for (size_t k = 0; k < m->nsrc; k++) {
		ms_arc_iter_close(m->src[k].it);
		ms_arc_stacks_free(&m->src[k].stacks);
	}
	free(m->src);
	ms_minheap_free(&m->h);
	free(m);
}
