/* SPDX-License-Identifier: MIT */
/*
 * Slices: a profile's figures cut by (site, thread, slice of time), kept
 * from the heap model's sink (heap.h) during the one pass of
 * ms_profile_build(), for a view that picks its time window and thread
 * afterwards (the HTML report, docs/views.md).
 *
 * The window the profile replays (all of it, or --from/--to) is cut into
 * at most MS_SLICES_MAX slices of `width` ns from `origin` (the first
 * block of the window): the width starts at 1 us and doubles, merging
 * slices two by two, whenever the run outgrows them. For each (site,
 * thread) that allocated in a slice, one record holds what happened in it.
 * A window made of whole slices [a, b) then has exact figures:
 *  - allocations and bytes: the sum of `allocs`, `bytes` over [a, b);
 *  - frees: the sum of `frees`, `freed`;
 *  - temporaries: `temp` (allocated and freed in one slice) plus the
 *    temporaries of xtemp[] whose both ends are in [a, b);
 *  - never freed: `kept` (blocks allocated in the slice, live at the end);
 *  - the peak: each slice's highest total (peak[], or a thread's own
 *    thread peak[]), and in the record of the slice holding the window's
 *    highest, what the (site, thread) had live at that moment (`gpk` for
 *    all threads, `tpk` for its own thread's peak). A (site, thread)
 *    without a record in a slice did not change in it: its value there is
 *    its `live` at its last record before (or `live0`).
 * These are the rules of heap.h (a window's peak starts at the level at
 * its start; a temporary is freed before its thread's next call), so a
 * window on slice boundaries equals `memscope report --from --to`.
 *
 * Memory grows with (site, thread, slice) triples that saw an
 * allocation or a free, at most MS_SLICES_MAX per (site, thread).
 */
#ifndef MS_SLICES_H
#define MS_SLICES_H

#include <stddef.h>
#include <stdint.h>

#include "export_map.h"
#include "heap.h"

#define MS_SLICES_MAX 512 /* a power of two */

/* One (site, thread) in one slice. Counts are Q16 sums, bytes sums of
 * weighted sizes (heap.h). */
struct ms_slice_rec {
	uint32_t slice;
	uint64_t allocs_q16, bytes; /* allocated in the slice */
	uint64_t frees_q16, freed;  /* freed in the slice (its blocks) */
	uint64_t temp_q16;	    /* temporaries, both ends in the slice */
	uint64_t kept_q16, kept;    /* allocated in it, never freed */
	uint64_t live;		    /* live at the slice's end */
	uint64_t gpk, tpk;	    /* live at the slice's peak (above) */
};

struct ms_slice_cell {
	uint32_t site, thread; /* thread: index in ms_heap_threads() */
	uint64_t live0;	       /* live when the window began */
	uint64_t live;	       /* live now */
	uint64_t gsnap, tsnap; /* epochs of the last gpk, tpk copied */
	struct ms_slice_rec *v;
	uint32_t n;
	size_t cap;
};

/* A temporary allocated in slice `from` and freed in a later one, `to`
 * (at most one per thread at each slice boundary). */
struct ms_slice_xtemp {
	uint32_t cell, from, to;
	uint64_t q16;
};

struct ms_slice_thread {
	uint64_t live0, live;
	uint64_t epoch;		      /* bumped by each new slice high */
	uint32_t slice;		      /* peak[] is filled up to here */
	uint64_t peak[MS_SLICES_MAX]; /* its highest live in each slice */
};

struct ms_slices {
	int started, err;
	uint64_t origin, width; /* ns, CLOCK_MONOTONIC */
	uint32_t cur;		/* the slice being filled; n = cur + 1 */
	uint64_t live0, live, epoch;
	uint64_t peak[MS_SLICES_MAX]; /* the total's highest in each slice */
	/* allocations by size class (heap.h) in each slice */
	uint64_t size_q16[MS_SLICES_MAX][MS_HEAP_SIZE_CLASSES];
	uint64_t size_bytes[MS_SLICES_MAX][MS_HEAP_SIZE_CLASSES];
	struct ms_slice_cell *cells;
	size_t ncells, cap_cells;
	struct ms_xmap map; /* (site, thread, 0) -> index in cells */
	uint32_t *dirty;    /* cells with a record in the current slice */
	size_t ndirty, cap_dirty;
	struct ms_slice_thread **threads;
	size_t nthreads;
	struct ms_slice_xtemp *xt;
	size_t nxt, cap_xt;
	struct ms_heap_sink sink;
};

/* An empty set; its sink is s->sink. 0 or -ENOMEM. */
int ms_slices_create(struct ms_slices **out);
void ms_slices_destroy(struct ms_slices *s);

/*
 * After the pass: the last slice closed, every thread's peak[] filled.
 * Returns 0, or -ENOMEM when memory ran out during the pass (the figures
 * are then incomplete).
 */
int ms_slices_finish(struct ms_slices *s);

/* Slices in use. */
static inline uint32_t ms_slices_n(const struct ms_slices *s)
{
	return s->started ? s->cur + 1 : 0;
}

/* Merges slices two by two (width doubles), after ms_slices_finish():
 * the same window figures at half the resolution. */
void ms_slices_halve(struct ms_slices *s);

#endif
