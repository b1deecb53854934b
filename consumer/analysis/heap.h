/* SPDX-License-Identifier: MIT */
/*
 * The heap model: what was live when, replayed from an archive's events in
 * time order (all threads of all processes merged by timestamp).
 *
 * - Each process has its own address space: a table of its live blocks
 *   (address -> size, weight, site, thread, time). Memory grows with live
 *   blocks, never with events.
 * - A free is matched to the live block at its address, whichever thread
 *   allocated it; `realloc` is the free of the old block and the
 *   allocation of the new one. A free of an address that is not live is a
 *   finding: a double free when the address was freed recently and not
 *   allocated again (unless another thread allocates it within
 *   MS_HEAP_REORDER_NS after: threads' clocks differ by that much), else
 *   an unknown block (allocated before tracking
 *   began, or its allocation was lost). Findings never stop the replay.
 * - Figures are sums of Q16 weights (sites.h): exact in `full` mode,
 *   estimates under sampling.
 * - A window [from, to] cuts the figures: events before `from` only build
 *   the live table (a block allocated earlier still counts towards the
 *   heap, and its free is no finding); allocations, frees and the peak are
 *   counted from `from`, and the replay stops after `to`. Leaks are the
 *   blocks allocated in the window and still live at its end.
 * - A thread filter (`tid`) keeps the figures of the blocks that thread
 *   allocated, wherever they were freed.
 * - Events the agent lost (LOST records) are counted: the report turns the
 *   affected figures into bounds.
 */
#ifndef MS_HEAP_H
#define MS_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "sites.h"

/* One event, as the heap model needs it. */
struct ms_heap_ev {
	uint8_t type; /* MS_REC_ALLOC, _FREE, _REALLOC, _LOST */
	uint32_t pid, tid;
	uint64_t ns;	   /* CLOCK_MONOTONIC */
	uint64_t addr;	   /* ALLOC, FREE, REALLOC: the new block (0: freed) */
	uint64_t old_addr; /* REALLOC */
	uint64_t size;
	uint64_t weight; /* Q16 */
	uint32_t site;	 /* ALLOC, REALLOC: sites.h id (0: unknown) */
	uint64_t count;	 /* LOST: events lost */
};

/* A block as a sink (below) sees it. */
struct ms_heap_block {
	uint64_t addr, size, weight; /* weight: Q16 */
	uint64_t ns;		     /* of its allocation */
	uint32_t site;
	uint32_t thread; /* that allocated it: index in ms_heap_threads() */
};

/*
 * Observers of the blocks that pass the filters, called in event order;
 * each may be NULL. A view that needs more than the per-site figures (per
 * thread, per time slice) keeps its own from these:
 *  alloc:   a block allocated; `counted` 0 before the window
 *  release: a block freed at `ns` by thread index `by`; `counted` 0
 *           before the window; `temporary` as the totals count it
 *  peak:    the heap reached a new high at `ns` (what is live now is
 *           what was live at the peak, until the next call)
 *  leak:    at the end, a block allocated in the window, still live
 */
struct ms_heap_sink {
	void (*alloc)(void *arg, const struct ms_heap_block *b, int counted);
	void (*release)(void *arg, const struct ms_heap_block *b, uint64_t ns,
			uint32_t by, int counted, int temporary);
	void (*peak)(void *arg, uint64_t ns);
	void (*leak)(void *arg, const struct ms_heap_block *b);
	void *arg;
};

struct ms_heap_opts {
	uint64_t from_ns, to_ns;	 /* to_ns 0: to the end */
	uint32_t pid, tid;		 /* 0: every process, every thread */
	const struct ms_heap_sink *sink; /* may be NULL */
};

/* The figures of one thread (its allocations, in the window). */
struct ms_heap_thread {
	uint32_t pid, tid;
	uint64_t allocs_q16, bytes, frees_q16;
	uint64_t live, peak;	      /* bytes of its blocks live, at most */
	uint64_t freed_elsewhere_q16; /* its blocks another thread freed */
	uint64_t lost;		      /* events the agent lost on it */
};

/* A free that matched no live block. */
struct ms_heap_finding {
	int double_free; /* else: a block never seen */
	uint32_t pid, tid;
	uint64_t ns, addr;
};

#define MS_HEAP_FINDINGS_KEPT 20 /* examples kept; all are counted */
/* A double free followed within this time by another thread's allocation
 * of the address is taken as two clocks' disagreement, not a finding. */
#define MS_HEAP_REORDER_NS   5000u
#define MS_HEAP_PARKED	     256 /* double frees held back at once */
#define MS_HEAP_TIMELINE     512
#define MS_HEAP_SIZE_CLASSES 64

/* Live bytes over time: at most MS_HEAP_TIMELINE buckets of `width` ns
 * from `start`; each keeps the highest total seen in it. */
struct ms_heap_timeline {
	uint64_t start, width;
	uint32_t n;
	uint64_t max[MS_HEAP_TIMELINE];
};

struct ms_heap_totals {
	uint64_t allocs_q16, bytes, frees_q16, freed_bytes;
	uint64_t temp_q16;
	uint64_t leaked_q16, leaked;
	uint64_t live; /* now */
	uint64_t peak, peak_ns;
	uint64_t first_ns, last_ns; /* of the events counted */
	uint64_t lost;		    /* events lost, all causes */
	uint64_t unknown_frees, double_frees;
	uint64_t realloc_q16;
	/* allocations by size: class c holds sizes [2^(c-1), 2^c) */
	uint64_t size_q16[MS_HEAP_SIZE_CLASSES];
	uint64_t size_bytes[MS_HEAP_SIZE_CLASSES];
};

struct ms_heap;

/* A model writing its per-site figures into `sites`. 0 or -ENOMEM. */
int ms_heap_create(const struct ms_heap_opts *o, struct ms_sites *sites,
		   struct ms_heap **out);
void ms_heap_destroy(struct ms_heap *h);

/*
 * Applies one event (events in time order). Returns 0, 1 when the event
 * lies past the window's end (the caller may stop), or -ENOMEM (the
 * model is then incomplete: the event was not applied).
 */
int ms_heap_event(struct ms_heap *h, const struct ms_heap_ev *e);

/* Starts loading the live-table slot of addr: a caller that reads events
 * ahead hides the cache miss of each event's lookup. */
void ms_heap_prefetch(const struct ms_heap *h, uint32_t pid, uint64_t addr);

/* Whether process pid has a live block at addr (for ordering ties). */
int ms_heap_is_live(struct ms_heap *h, uint32_t pid, uint64_t addr);

/* The end of the replay: leaks, and the figures at the peak. */
void ms_heap_finish(struct ms_heap *h);

const struct ms_heap_totals *ms_heap_totals(const struct ms_heap *h);
const struct ms_heap_timeline *ms_heap_timeline(const struct ms_heap *h);
/* Threads in the order first seen. */
const struct ms_heap_thread *ms_heap_threads(const struct ms_heap *h,
					     size_t *n);
const struct ms_heap_finding *ms_heap_findings(const struct ms_heap *h,
					       size_t *n);

#endif
