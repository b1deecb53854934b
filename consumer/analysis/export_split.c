/* SPDX-License-Identifier: MIT */
/*
 * Per-thread site figures (export_split.h), kept the way heap.c keeps the
 * sites' own: the same Q16 sums, and the figures at the peak copied
 * lazily. The peak has an epoch, bumped when the sink says the heap
 * reached a new high and when the window begins (the heap model starts
 * its peak there too, without telling the sink: the first counted block
 * is the sign, and no block of the filter changes in between); a cell
 * copies its live figures into its peak ones the first time it changes
 * in a new epoch, and every cell at the end.
 */
#include "export_split.h"

#include <errno.h>
#include <stdlib.h>

#include "export_map.h"
#include "grow.h"

struct ms_split {
	struct ms_xmap map; /* (site, thread) -> index in v */
	struct ms_split_cell *v;
	size_t n, cap;
	uint32_t epoch;
	int in_window; /* a counted block was seen */
	int failed;    /* memory ran out: figures incomplete */
};

int ms_split_create(struct ms_split **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ms_split_destroy(struct ms_split *s)
{
	if (!s)
		return;
	ms_xmap_fini(&s->map);
	free(s->v);
	free(s);
}

static uint64_t wbytes(uint64_t size, uint64_t weight)
{
	return (uint64_t)(((unsigned __int128)size * weight) >> 16);
}

static void touch(const struct ms_split *s, struct ms_split_cell *c)
{
	if (c->epoch != s->epoch) {
		c->peak = c->live;
		c->peak_q16 = c->live_q16;
		c->epoch = s->epoch;
	}
}

/* The cell of the block's (site, thread), touched; NULL out of memory. */
static struct ms_split_cell *cell_of(struct ms_split *s,
				     const struct ms_heap_block *b, int counted)
{
	/* room first: the map must not number a cell that is not there */
	struct ms_split_cell *c = ms_grow(s->v, &s->cap, s->n + 1, sizeof(*c));
	int fresh;
	int64_t i;

	if (counted && !s->in_window) {
		s->in_window = 1;
		s->epoch++; /* the window's start: heap.c's window_begin() */
	}
	if (c)
		s->v = c;
	i = c ? ms_xmap_id(&s->map, b->site, b->thread, 0, &fresh) : -ENOMEM;
	if (i < 0) {
		s->failed = 1;
		return NULL;
	}
	if (fresh) {
		s->n = (size_t)i + 1;
		s->v[i] = (struct ms_split_cell){.site = b->site,
						 .thread = b->thread,
						 .epoch = s->epoch};
	}
	c = &s->v[i];
	touch(s, c);
	return c;
}

static void on_alloc(void *arg, const struct ms_heap_block *b, int counted)
{
	struct ms_split_cell *c = cell_of(arg, b, counted);
	uint64_t bytes = wbytes(b->size, b->weight);

	if (!c)
		return;
	c->live += bytes;
	c->live_q16 += b->weight;
	if (counted) {
		c->allocs_q16 += b->weight;
		c->bytes += bytes;
	}
}

static void on_release(void *arg, const struct ms_heap_block *b, uint64_t ns,
		       uint32_t by, int counted, int temporary)
{
	struct ms_split_cell *c = cell_of(arg, b, counted);

	(void)ns;
	(void)by;
	if (!c)
		return;
	c->live -= wbytes(b->size, b->weight);
	c->live_q16 -= b->weight;
	if (temporary)
		c->temp_q16 += b->weight;
}

static void on_peak(void *arg, uint64_t ns)
{
	struct ms_split *s = arg;

	(void)ns;
	s->epoch++;
}

static void on_leak(void *arg, const struct ms_heap_block *b)
{
	struct ms_split_cell *c = cell_of(arg, b, 1);

	if (!c)
		return;
	c->leaked += wbytes(b->size, b->weight);
	c->leaked_q16 += b->weight;
}

void ms_split_sink(struct ms_split *s, struct ms_heap_sink *k)
{
	*k = (struct ms_heap_sink){on_alloc, on_release, on_peak, on_leak, s};
}

static int by_thread_site(const void *x, const void *y)
{
	const struct ms_split_cell *a = x, *b = y;

	if (a->thread != b->thread)
		return a->thread < b->thread ? -1 : 1;
	return a->site < b->site ? -1 : a->site > b->site;
}

int ms_split_finish(struct ms_split *s)
{
	for (size_t i = 0; i < s->n; i++)
		touch(s, &s->v[i]);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), by_thread_site);
	ms_xmap_fini(&s->map); /* its indexes are stale once sorted */
	return s->failed ? -ENOMEM : 0;
}

const struct ms_split_cell *ms_split_cells(const struct ms_split *s, size_t *n)
{
	*n = s->n;
	return s->v;
}

void ms_split_of_site(const struct ms_site *site, uint32_t id,
		      struct ms_split_cell *c)
{
	*c = (struct ms_split_cell){
		.site = id,
		.thread = UINT32_MAX,
		.allocs_q16 = site->allocs_q16,
		.bytes = site->bytes,
		.temp_q16 = site->temp_q16,
		.leaked_q16 = site->leaked_q16,
		.leaked = site->leaked,
		.live_q16 = site->live_q16,
		.live = site->live,
		.peak_q16 = site->peak_q16,
		.peak = site->peak,
	};
}
