/* SPDX-License-Identifier: MIT */
/*
 * What `memscope top` shows, computed from the consumer's live-heap
 * snapshots (snap.h): rows of call sites, threads or processes with their
 * live bytes, growth, allocation rate and counts, the sites symbolized
 * (their first frame outside the allocator) through a live profile
 * (profile.h), and the leak suspects.
 */
#ifndef MS_TOP_MODEL_H
#define MS_TOP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cli_live.h"

enum ms_top_view { MS_TOP_SITES, MS_TOP_THREADS, MS_TOP_PROCS };
enum ms_top_sort { MS_SORT_LIVE, MS_SORT_GROWTH, MS_SORT_RATE, MS_SORT_COUNT };

#define MS_TOP_GROWTH_NS 60000000000ull /* growth is over the last minute */
#define MS_TOP_TRACK	 64		/* samples kept per row */

struct ms_top_row {
	uint32_t pid, key; /* key: site id, tid, or pid */
	char label[192];   /* "function (file:line)", thread or command */
	const char *function, *file; /* sites; file may be NULL */
	uint32_t line;
	uint64_t live_bytes, live_count, allocs, alloc_bytes, frees;
	int64_t growth;	   /* live bytes now less GROWTH_NS ago (or less) */
	double growth_s;   /* the span `growth` covers */
	double alloc_rate; /* allocations per second */
	double free_rate;
	int suspect; /* sites: grew in each of the last N seconds */
};

struct ms_top_totals {
	uint64_t live_bytes, live_count, allocs, frees, dropped, untracked;
	double alloc_rate, free_rate;
	uint32_t processes, threads, sites;
	int estimated, incomplete;
	uint32_t addr_sample; /* the largest of the processes' (snap_abi.h) */
};

struct ms_top_opts {
	uint32_t pid;	    /* 0: every process */
	uint32_t suspect_n; /* intervals of growth that make a suspect */
	int no_symbols;	    /* module+offset only */
	const char *debug_dirs;
};

struct ms_top;

int ms_top_create(const struct ms_top_opts *o, struct ms_top **out);
void ms_top_destroy(struct ms_top *t);

/* Takes a snapshot in (the model keeps it until the next). 0 or -errno. */
int ms_top_update(struct ms_top *t, struct ms_cli_snap *snap);

/* The rows of a view, sorted, those whose label contains `filter` (may
 * be NULL); valid until the next update or rows call. */
const struct ms_top_row *ms_top_rows(struct ms_top *t, enum ms_top_view v,
				     enum ms_top_sort s, const char *filter,
				     size_t *n);

const struct ms_top_totals *ms_top_totals(const struct ms_top *t);

/* The snapshot now in the model, and its total live bytes history. */
const struct ms_snap *ms_top_snap(const struct ms_top *t);
size_t ms_top_history(const struct ms_top *t, const uint64_t **live);

/* The live profile behind the sites (for `snapshot`'s pprof). */
struct ms_profile *ms_top_profile(struct ms_top *t);

#endif
