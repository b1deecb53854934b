/* SPDX-License-Identifier: MIT */
/*
 * The slices of slices.h, filled by a heap sink.
 *
 * The live figures at a slice's peak are copied lazily, as heap.c copies
 * a site's figures at the peak: the total (and each thread) has an epoch,
 * bumped when a slice begins and whenever its level passes the slice's
 * highest so far; a (site, thread) about to change copies what it has
 * live into its record's gpk (tpk) if the epoch moved since it last did
 * (its value until then is its value at that moment), and when the slice
 * ends, every record whose epoch moved copies its final value. A new high
 * costs nothing, however many sites and threads there are.
 */
#include "slices.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export_map.h"
#include "grow.h"

#define FIRST_WIDTH 1000 /* ns; doubles as the run grows */

static uint64_t wbytes(uint64_t size, uint64_t weight)
{
	return (uint64_t)(((unsigned __int128)size * weight) >> 16);
}

static unsigned size_class(uint64_t size)
{
	unsigned c = size ? 64u - (unsigned)__builtin_clzll(size) : 0;

	return c < MS_HEAP_SIZE_CLASSES ? c : MS_HEAP_SIZE_CLASSES - 1;
}

/* ---- cells and threads ---- */

/* The cell of (site, thread), made when new; NULL out of memory. */
static struct ms_slice_cell *cell_get(struct ms_slices *s, uint32_t site,
				      uint32_t thread)
{
	/* room first: the map must not number a cell that is not there */
	struct ms_slice_cell *c =
		ms_grow(s->cells, &s->cap_cells, s->ncells + 1, sizeof(*c));
	int fresh;
	int64_t i;

	if (!c)
		return NULL;
	s->cells = c;
	i = ms_xmap_id(&s->map, site, thread, 0, &fresh);
	if (i < 0)
		return NULL;
	c = &s->cells[i];
	if (fresh) {
		assert((size_t)i == s->ncells);
		s->ncells++;
		*c = (struct ms_slice_cell){.site = site,
					    .thread = thread,
					    .gsnap = UINT64_MAX,
					    .tsnap = UINT64_MAX};
	}
	return c;
}

static struct ms_slice_thread *thread_get(struct ms_slices *s, uint32_t t)
{
	if (t >= s->nthreads) {
		size_t n = (size_t)t + 16;
		struct ms_slice_thread **v =
			realloc(s->threads, n * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + s->nthreads, 0, (n - s->nthreads) * sizeof(*v));
		s->threads = v;
		s->nthreads = n;
	}
	if (!s->threads[t]) {
		s->threads[t] = calloc(1, sizeof(*s->threads[t]));
		if (s->threads[t])
			s->threads[t]->slice = s->cur;
	}
	return s->threads[t];
}

/* ---- slices ---- */

/* The thread's peak[] up to the current slice: a slice it did not touch
 * held its level. */
static void thread_catch_up(struct ms_slices *s, struct ms_slice_thread *t)
{
	if (t->slice == s->cur)
		return;
	for (uint32_t k = t->slice + 1; k <= s->cur; k++)
		t->peak[k] = t->live;
	t->slice = s->cur;
	t->epoch++;
}

/* The current slice ends: each record takes its final values. */
static void close_slice(struct ms_slices *s)
{
	for (size_t i = 0; i < s->ndirty; i++) {
		struct ms_slice_cell *c = &s->cells[s->dirty[i]];
		struct ms_slice_rec *r = &c->v[c->n - 1];

		r->live = c->live;
		if (c->gsnap != s->epoch)
			r->gpk = c->live;
		if (c->tsnap != s->threads[c->thread]->epoch)
			r->tpk = c->live;
	}
	s->ndirty = 0;
}

static void begin_slices(struct ms_slices *s, uint32_t to)
{
	for (uint32_t k = s->cur + 1; k <= to; k++)
		s->peak[k] = s->live;
	s->cur = to;
	s->epoch++;
}

/* Merges the two halves' records of one cell; w[k]: whether slice 2k+1
 * holds the higher peak (the thread's, for tpk). */
static void merge_cell(struct ms_slices *s, struct ms_slice_cell *c)
{
	const struct ms_slice_thread *t = s->threads[c->thread];
	uint64_t prev = c->live0;
	uint32_t out = 0;

	for (uint32_t i = 0; i < c->n;) {
		struct ms_slice_rec *a = &c->v[i], m = *a;
		uint32_t k = a->slice / 2;
		const struct ms_slice_rec *r0 = a->slice % 2 ? NULL : a;
		const struct ms_slice_rec *r1 = a->slice % 2 ? a : NULL;
		int gw = s->peak[2 * k + 1] > s->peak[2 * k];
		int tw = t->peak[2 * k + 1] > t->peak[2 * k];

		if (r0 && i + 1 < c->n && c->v[i + 1].slice == 2 * k + 1)
			r1 = &c->v[i + 1];
		m.slice = k;
		if (r0 && r1) {
			m.allocs_q16 += r1->allocs_q16;
			m.bytes += r1->bytes;
			m.frees_q16 += r1->frees_q16;
			m.freed += r1->freed;
			m.temp_q16 += r1->temp_q16;
			m.kept_q16 += r1->kept_q16;
			m.kept += r1->kept;
			m.live = r1->live;
		}
		/* a half without a record: its level did not change in it */
		m.gpk = gw ? (r1 ? r1->gpk : r0->live) : (r0 ? r0->gpk : prev);
		m.tpk = tw ? (r1 ? r1->tpk : r0->live) : (r0 ? r0->tpk : prev);
		prev = m.live;
		i += r0 && r1 ? 2 : 1;
		c->v[out++] = m;
	}
	c->n = out;
}

static struct ms_slice_rec *rec_find(struct ms_slice_cell *c, uint32_t slice)
{
	uint32_t lo = 0, hi = c->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (c->v[mid].slice < slice)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->v[lo].slice == slice ? &c->v[lo] : NULL;
}

static void merge_xtemps(struct ms_slices *s)
{
	size_t out = 0;

	for (size_t i = 0; i < s->nxt; i++) {
		struct ms_slice_xtemp x = s->xt[i];
		struct ms_slice_rec *r;

		x.from /= 2;
		x.to /= 2;
		if (x.from == x.to &&
		    (r = rec_find(&s->cells[x.cell], x.from))) {
			r->temp_q16 += x.q16;
			continue;
		}
		s->xt[out++] = x;
	}
	s->nxt = out;
}

static void merge_peaks(uint64_t *peak, uint32_t n)
{
	for (uint32_t k = 0; k < n / 2; k++)
		peak[k] = peak[2 * k] > peak[2 * k + 1] ? peak[2 * k]
							: peak[2 * k + 1];
	memset(peak + n / 2, 0, (MS_SLICES_MAX - n / 2) * sizeof(*peak));
}

static void merge_sizes(struct ms_slices *s, uint32_t n)
{
	for (uint32_t k = 0; k < n / 2; k++)
		for (unsigned c = 0; c < MS_HEAP_SIZE_CLASSES; c++) {
			s->size_q16[k][c] = s->size_q16[2 * k][c] +
					    s->size_q16[2 * k + 1][c];
			s->size_bytes[k][c] = s->size_bytes[2 * k][c] +
					      s->size_bytes[2 * k + 1][c];
		}
	memset(s->size_q16[n / 2], 0,
	       (MS_SLICES_MAX - n / 2) * sizeof(s->size_q16[0]));
	memset(s->size_bytes[n / 2], 0,
	       (MS_SLICES_MAX - n / 2) * sizeof(s->size_bytes[0]));
}

/* Slices two by two; the current one is closed, every thread caught up. */
static void halve(struct ms_slices *s)
{
	uint32_t n = (s->cur + 2) & ~1u; /* an odd last slice pairs a void */

	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i])
			thread_catch_up(s, s->threads[i]);
	if (n > s->cur + 1) {
		s->peak[n - 1] = 0;
		for (size_t i = 0; i < s->nthreads; i++)
			if (s->threads[i])
				s->threads[i]->peak[n - 1] = 0;
	}
	for (size_t i = 0; i < s->ncells; i++)
		merge_cell(s, &s->cells[i]);
	merge_xtemps(s);
	merge_peaks(s->peak, n);
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i]) {
			merge_peaks(s->threads[i]->peak, n);
			s->threads[i]->slice = s->cur / 2;
		}
	merge_sizes(s, n);
	s->cur /= 2;
	s->width *= 2;
}

/* The window's first block: slices start here; what was live before it
 * is every figure's level at the start. */
static void start(struct ms_slices *s, uint64_t ns)
{
	s->started = 1;
	s->origin = ns;
	s->width = FIRST_WIDTH;
	s->cur = 0;
	s->live0 = s->live;
	s->peak[0] = s->live;
	s->epoch++;
	for (size_t i = 0; i < s->ncells; i++)
		s->cells[i].live0 = s->cells[i].live;
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i]) {
			s->threads[i]->live0 = s->threads[i]->live;
			s->threads[i]->peak[0] = s->threads[i]->live;
			s->threads[i]->slice = 0;
			s->threads[i]->epoch++;
		}
}

/* Moves the current slice to the one holding ns. */
static void advance(struct ms_slices *s, uint64_t ns)
{
	uint64_t k = ns > s->origin ? (ns - s->origin) / s->width : 0;

	if (k <= s->cur)
		return;
	close_slice(s);
	while (k >= MS_SLICES_MAX) {
		halve(s);
		k = (ns - s->origin) / s->width;
	}
	if (k > s->cur)
		begin_slices(s, (uint32_t)k);
}

static struct ms_slice_rec *rec_now(struct ms_slices *s,
				    struct ms_slice_cell *c)
{
	struct ms_slice_rec *r;
	uint32_t *d;

	if (c->n && c->v[c->n - 1].slice == s->cur)
		return &c->v[c->n - 1];
	d = ms_grow(s->dirty, &s->cap_dirty, s->ndirty + 1, sizeof(*d));
	if (!d)
		return NULL;
	s->dirty = d;
	r = ms_grow(c->v, &c->cap, (size_t)c->n + 1, sizeof(*r));
	if (!r)
		return NULL;
	c->v = r;
	s->dirty[s->ndirty++] = (uint32_t)(c - s->cells);
	r = &c->v[c->n++];
	memset(r, 0, sizeof(*r));
	r->slice = s->cur;
	return r;
}

/* Before c's level changes: copies it where the epoch moved on. */
static void snap(struct ms_slices *s, struct ms_slice_cell *c,
		 struct ms_slice_rec *r, const struct ms_slice_thread *t)
{
	if (c->gsnap != s->epoch) {
		r->gpk = c->live;
		c->gsnap = s->epoch;
	}
	if (c->tsnap != t->epoch) {
		r->tpk = c->live;
		c->tsnap = t->epoch;
	}
}

/* After a change: new highs of the slice. */
static void highs(struct ms_slices *s, struct ms_slice_thread *t)
{
	if (s->live > s->peak[s->cur]) {
		s->peak[s->cur] = s->live;
		s->epoch++;
	}
	if (t->live > t->peak[s->cur]) {
		t->peak[s->cur] = t->live;
		t->epoch++;
	}
}

struct change {
	struct ms_slice_cell *c;
	struct ms_slice_thread *t;
	struct ms_slice_rec *r; /* NULL before the window */
};

/* The cell and thread of block b at ns, in the right slice. 0 or -ENOMEM. */
static int change_at(struct ms_slices *s, const struct ms_heap_block *b,
		     uint64_t ns, int counted, struct change *ch)
{
	if (s->err)
		return s->err;
	if (counted && !s->started)
		start(s, ns);
	if (s->started)
		advance(s, ns);
	ch->c = cell_get(s, b->site, b->thread);
	ch->t = ch->c ? thread_get(s, b->thread) : NULL;
	ch->r = NULL;
	if (ch->t && s->started) {
		thread_catch_up(s, ch->t);
		ch->r = rec_now(s, ch->c);
		if (ch->r)
			snap(s, ch->c, ch->r, ch->t);
	}
	if (!ch->t || (s->started && !ch->r))
		return s->err = -ENOMEM;
	return 0;
}

static void on_alloc(void *arg, const struct ms_heap_block *b, int counted)
{
	struct ms_slices *s = arg;
	uint64_t bytes = wbytes(b->size, b->weight);
	unsigned k = size_class(b->size);
	struct change ch;

	if (change_at(s, b, b->ns, counted, &ch) < 0)
		return;
	ch.c->live += bytes;
	ch.t->live += bytes;
	s->live += bytes;
	if (!ch.r)
		return;
	if (counted) {
		ch.r->allocs_q16 += b->weight;
		ch.r->bytes += bytes;
		s->size_q16[s->cur][k] += b->weight;
		s->size_bytes[s->cur][k] += bytes;
	}
	highs(s, ch.t);
}

static int add_xtemp(struct ms_slices *s, uint32_t cell, uint32_t from,
		     uint64_t q16)
{
	struct ms_slice_xtemp *v =
		ms_grow(s->xt, &s->cap_xt, s->nxt + 1, sizeof(*v));

	if (!v)
		return s->err = -ENOMEM;
	s->xt = v;
	s->xt[s->nxt++] = (struct ms_slice_xtemp){cell, from, s->cur, q16};
	return 0;
}

static uint32_t slice_of(const struct ms_slices *s, uint64_t ns)
{
	uint64_t k = ns > s->origin ? (ns - s->origin) / s->width : 0;

	return k < s->cur ? (uint32_t)k : s->cur;
}

static void on_release(void *arg, const struct ms_heap_block *b, uint64_t ns,
		       uint32_t by, int counted, int temporary)
{
	struct ms_slices *s = arg;
	uint64_t bytes = wbytes(b->size, b->weight);
	struct change ch;
	uint32_t from;

	(void)by;
	if (change_at(s, b, ns, counted, &ch) < 0)
		return;
	ch.c->live -= bytes;
	ch.t->live -= bytes;
	s->live -= bytes;
	if (!ch.r || !counted)
		return;
	ch.r->frees_q16 += b->weight;
	ch.r->freed += bytes;
	/* a temporary counts in a window holding both its ends (heap.h) */
	from = slice_of(s, b->ns);
	if (temporary && b->ns >= s->origin && from == s->cur)
		ch.r->temp_q16 += b->weight;
	else if (temporary && b->ns >= s->origin)
		add_xtemp(s, (uint32_t)(ch.c - s->cells), from, b->weight);
}

static void on_leak(void *arg, const struct ms_heap_block *b)
{
	struct ms_slices *s = arg;
	struct ms_slice_cell *c;
	struct ms_slice_rec *r;

	if (s->err || !s->started || b->ns < s->origin)
		return;
	c = cell_get(s, b->site, b->thread);
	r = c ? rec_find(c, slice_of(s, b->ns)) : NULL;
	if (!r) {
		s->err = c ? s->err : -ENOMEM;
		return;
	}
	r->kept_q16 += b->weight;
	r->kept += wbytes(b->size, b->weight);
}

int ms_slices_create(struct ms_slices **out)
{
	struct ms_slices *s = calloc(1, sizeof(*s));

	*out = s;
	if (!s)
		return -ENOMEM;
	s->sink = (struct ms_heap_sink){on_alloc, on_release, NULL, on_leak, s};
	return 0;
}

void ms_slices_destroy(struct ms_slices *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ncells; i++)
		free(s->cells[i].v);
	for (size_t i = 0; i < s->nthreads; i++)
		free(s->threads[i]);
	free(s->threads);
	free(s->cells);
	ms_xmap_fini(&s->map);
	free(s->dirty);
	free(s->xt);
	free(s);
}

int ms_slices_finish(struct ms_slices *s)
{
	if (!s->started)
		return s->err;
	close_slice(s);
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i])
			thread_catch_up(s, s->threads[i]);
	return s->err;
}

void ms_slices_halve(struct ms_slices *s)
{
	if (s->started && s->cur > 0)
		halve(s);
}
