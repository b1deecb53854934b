/* SPDX-License-Identifier: MIT */
#include "archive_merge.h"

#include <errno.h>
#include <stdlib.h>

#include "minheap.h"

/* One thread stream in the heap, keyed by its current record. */
struct source {
	struct ms_arc_iter *it;
	const struct ms_arc_event *cur;
	size_t order; /* thread index: ties keep (pid, tid) order */
};

struct ms_arc_merge {
	struct ms_minheap h;
	size_t nthreads;
	int handed_out; /* the top's record was returned: advance it first */
};

int ms_arc_filter_match(const struct ms_arc_filter *f,
			const struct ms_arc_thread *t)
{
	return !f || ((!f->has_pid || t->pid == f->pid) &&
		      (!f->has_tid || t->tid == f->tid));
}

static int before(const void *x, const void *y)
{
	const struct source *a = x, *b = y;

	if (a->cur->ns != b->cur->ns)
		return a->cur->ns < b->cur->ns;
	return a->order < b->order;
}

/* Opens thread `i` and puts it in the heap unless it has no record. */
static int add_source(struct ms_arc_merge *m, struct ms_archive *a, size_t i)
{
	struct source s = {.order = i};
	int rc = ms_arc_iter_open(a, &a->threads[i], &s.it);

	if (rc)
		return rc;
	rc = ms_arc_iter_next(s.it, &s.cur);
	if (rc > 0)
		return ms_minheap_push(&m->h, &s);
	ms_arc_iter_close(s.it);
	return rc;
}

int ms_arc_merge_open(struct ms_archive *a, const struct ms_arc_filter *f,
		      struct ms_arc_merge **out)
{
	struct ms_arc_merge *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	rc = ms_minheap_init(&m->h, sizeof(struct source), a->nthreads, before);
	for (size_t i = 0; !rc && i < a->nthreads; i++) {
		if (!ms_arc_filter_match(f, &a->threads[i]))
			continue;
		m->nthreads++;
		rc = add_source(m, a, i);
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
	struct source *s = ms_minheap_top(&m->h);
	int rc = ms_arc_iter_next(s->it, &s->cur);

	if (rc < 0)
		return rc;
	if (rc == 0) {
		ms_arc_iter_close(s->it);
		ms_minheap_pop(&m->h, NULL);
	} else {
		ms_minheap_fix_top(&m->h);
	}
	return 0;
}

int ms_arc_merge_next(struct ms_arc_merge *m, const struct ms_arc_event **out)
{
	const struct source *s;

	if (m->handed_out) {
		int rc = advance_top(m);

		if (rc)
			return rc;
		m->handed_out = 0;
	}
	s = ms_minheap_top(&m->h);
	if (!s)
		return 0;
	*out = s->cur;
	m->handed_out = 1;
	return 1;
}

size_t ms_arc_merge_nthreads(const struct ms_arc_merge *m)
{
	return m->nthreads;
}

void ms_arc_merge_close(struct ms_arc_merge *m)
{
	struct source s;

	if (!m)
		return;
	while (ms_minheap_len(&m->h)) {
		ms_minheap_pop(&m->h, &s);
		ms_arc_iter_close(s.it);
	}
	ms_minheap_free(&m->h);
	free(m);
}
