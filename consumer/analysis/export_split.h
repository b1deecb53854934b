/* SPDX-License-Identifier: MIT */
/*
 * A profile's site figures split by allocating thread: one cell per
 * (site, thread) with the same figures as struct ms_site (sites.h), kept
 * from the heap model's sink (heap.h) during ms_profile_build(), so that
 * pprof can have one sample per (site, thread) and speedscope one profile
 * per thread. Summed over threads, a site's cells give the site's figures
 * exactly (the same weights, the same window, the same peak).
 *
 * Memory grows with distinct (site, thread) pairs, never with events.
 */
#ifndef MS_EXPORT_SPLIT_H
#define MS_EXPORT_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "sites.h"

/* Figures as struct ms_site has them: counts are Q16 sums. */
struct ms_split_cell {
	uint32_t site, thread; /* thread: index in ms_profile.threads */
	uint64_t allocs_q16, bytes;
	uint64_t temp_q16;
	uint64_t leaked_q16, leaked;
	uint64_t live_q16, live; /* at the end of the window */
	uint64_t peak_q16, peak; /* live at the window's peak */
	uint32_t epoch;		 /* of the peak its figures are from */
};

struct ms_split;

/* Returns 0 or -ENOMEM. */
int ms_split_create(struct ms_split **out);
void ms_split_destroy(struct ms_split *s);

/* The sink to put in ms_profile_opts.sink; *k must outlive the build. */
void ms_split_sink(struct ms_split *s, struct ms_heap_sink *k);

/*
 * After ms_profile_build(): settles the figures at the peak and sorts the
 * cells by thread, then site. Returns 0, or -ENOMEM when memory ran out
 * during the build (the figures are then incomplete).
 */
int ms_split_finish(struct ms_split *s);

/* The cells, after ms_split_finish(). */
const struct ms_split_cell *ms_split_cells(const struct ms_split *s, size_t *n);

/* A site's own figures as a cell (thread UINT32_MAX: every thread). */
void ms_split_of_site(const struct ms_site *site, uint32_t id,
		      struct ms_split_cell *c);

#endif
