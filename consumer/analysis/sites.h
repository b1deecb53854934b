/* SPDX-License-Identifier: MIT */
/*
 * Allocation sites: every distinct (process, call stack) of an archive
 * gets one small integer id, and with it the figures the report shows for
 * that stack. Streams number their stacks each on its own (a STACK record
 * is per thread); this table is where they meet.
 *
 * Memory grows with distinct stacks, never with events: a site is its
 * frames (kept once, in an arena), a hash slot and its figures.
 *
 * Counts are sums of Q16 sampling weights (MS_WEIGHT_ONE per call in
 * `full` mode), bytes are sums of size x weight / 2^16: exact in `full`
 * mode, unbiased estimates under sampling.
 */
#ifndef MS_SITES_H
#define MS_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "lifetime.h"

struct ms_site {
	uint64_t hash;
	uint32_t pid, nframes;
	size_t frames_at; /* index into the arena */
	/* allocations made in the report's window */
	uint64_t allocs_q16, bytes;
	uint64_t temp_q16;	     /* freed before the thread's next call */
	uint64_t frees_q16;	     /* its blocks freed in the window */
	uint64_t leaked_q16, leaked; /* still live at the window's end */
	/* live now (all blocks, also those from before the window) */
	uint64_t live_q16, live;
	/* live at the window's peak (lazily copied, see heap.c) */
	uint64_t peak_q16, peak;
	uint32_t peak_epoch;
	/* lifetimes of its blocks allocated and freed in the window; made
	 * lazily, for the first MAX_LIFETIME sites that need one (heap.c) */
	struct ms_lifetime *life;
};

#define MS_SITE_NO_MODULE UINT32_MAX

struct ms_sites {
	struct ms_site *v; /* v[0]: site 0, "no stack known" */
	uint32_t n, cap;
	uint32_t *slots; /* hash -> id, open addressing */
	uint32_t nslots;
	/* frames of every site, back to back: the address, and where it was
	 * when the site was first seen (module id, offset from its base) */
	uint64_t *arena, *offs;
	uint32_t *mods;
	size_t arena_used, arena_cap;
};

/* An empty table, with site 0 ("no site") in it. 0 or -ENOMEM. */
int ms_sites_init(struct ms_sites *s);
void ms_sites_free(struct ms_sites *s);

/*
 * The id of (pid, frames[0..n)), added if new (n may be 0: a block whose
 * stack is unknown; *fresh set to 1 then, and the caller fills the
 * frames' modules). Returns the id (>= 1), or 0 when memory runs out.
 * The frames' modules start as MS_SITE_NO_MODULE.
 */
uint32_t ms_sites_intern(struct ms_sites *s, uint32_t pid,
			 const uint64_t *frames, uint32_t n, int *fresh);

static inline struct ms_site *ms_sites_get(struct ms_sites *s, uint32_t id)
{
	return &s->v[id];
}

static inline const uint64_t *ms_site_frames(const struct ms_sites *s,
					     const struct ms_site *site)
{
	/* A site of no frames (a stack never seen) may come before any
	 * frame made the arena. */
	return s->arena ? s->arena + site->frames_at : NULL;
}

static inline uint32_t *ms_site_mods(const struct ms_sites *s,
				     const struct ms_site *site)
{
	return s->mods ? s->mods + site->frames_at : NULL;
}

static inline uint64_t *ms_site_offs(const struct ms_sites *s,
				     const struct ms_site *site)
{
	return s->offs ? s->offs + site->frames_at : NULL;
}

#endif
