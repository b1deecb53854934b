/* SPDX-License-Identifier: MIT */
/*
 * The live heap of one traced process, as the consumer sees it while it
 * drains: its live blocks (address -> size, weight, site, thread), its
 * call sites (distinct stacks) with their figures, and its threads'
 * figures. `memscope top` and `memscope snapshot` are answered from it
 * without reading the archive (docs/architecture.md, "The live heap").
 *
 * Ownership: one poller thread drains every ring, so every ms_live is
 * that thread's alone: no lock and no atomic operation on the drain path.
 * Other threads see only the snapshots the poller writes (snap.h).
 *
 * Order: a process's threads are drained one ring at a time, so a free can
 * reach the table before the allocation it ends (another thread's ring
 * not drained yet), and an address can be handed out again before its
 * free is seen. Every block therefore carries its allocation's timestamp,
 * and a free of an unknown address leaves a tombstone with its own: an
 * allocation older than the tombstone at its address was born dead; a
 * newer one replaces it. Tombstones older than every thread's drained
 * time can match nothing more and are swept.
 *
 * Sites (STACK records) are interned always, so that blocks can be tracked
 * from the moment a client asks (ms_live_enable()) even for stacks
 * recorded earlier; blocks only from then on.
 *
 * Memory: at most MS_LIVE_BLOCKS_MAX blocks and tombstones,
 * MS_LIVE_SITES_MAX sites and MS_LIVE_FRAMES_MAX frames per process; what
 * does not fit is counted (`untracked`) and the figures marked incomplete;
 * as many listed frees (live.c, "Frees at addresses not followed").
 */
#ifndef MS_LIVE_H
#define MS_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "pack.h"
#include "record.h"

#define MS_LIVE_BLOCKS_MAX  (1u << 23) /* table slots per process */
#define MS_LIVE_SITES_MAX   (1u << 20)
#define MS_LIVE_FRAMES_MAX  (1u << 24)
#define MS_LIVE_THREADS_MAX 16384
#define MS_LIVE_HIST	    16		  /* live bytes samples kept per site */
#define MS_LIVE_HIST_NS	    1000000000ull /* one sample a second */
/* Above this many events a second a process's blocks are followed at
 * one address in 2^MS_LIVE_SAMPLE_BITS when small, more of them when
 * larger (pack.h, ms_pack_tap_shift()); above MS_LIVE_FEWER_RATE, at one
 * in 2^MS_LIVE_FEWER_BITS; above MS_LIVE_FEWEST_RATE, at one in
 * 2^MS_LIVE_FEWEST_BITS: each rate four times the one before, each step
 * four times fewer, so that the table sees about as many events a second
 * above the first (docs/architecture.md, "The live heap"). */
#define MS_LIVE_EXACT_RATE  1000000u
#define MS_LIVE_SAMPLE_BITS 4u
#define MS_LIVE_FEWER_RATE  4000000u
#define MS_LIVE_FEWER_BITS  6u
#define MS_LIVE_FEWEST_RATE 16000000u
#define MS_LIVE_FEWEST_BITS 8u
#define MS_LIVE_RATE_EVENTS 100000u    /* the rate measured over */
#define MS_LIVE_UNF_BITS    16u	       /* buckets of blocks not followed */
#define MS_LIVE_PEND_GEN    8192u      /* listed frees per generation */
#define MS_LIVE_PEND_GENS   1024u      /* generations at most (live.c) */
#define MS_LIVE_BIG_BITS    (1u << 17) /* bits of big_new's filter */

/* Figures of a site, a thread or a process; counts in Q16 weights. What
 * is live is what was allocated less what was freed (ms_live_bytes()):
 * each event adds to two figures, not three. */
struct ms_live_fig {
	uint64_t alloc_bytes, alloc_q;
	uint64_t free_bytes, free_q;
};

static inline uint64_t ms_live_bytes(const struct ms_live_fig *f)
{
	return f->alloc_bytes - f->free_bytes;
}

static inline uint64_t ms_live_q(const struct ms_live_fig *f)
{
	return f->alloc_q - f->free_q;
}

struct ms_live_site {
	uint64_t hash;
	uint32_t frame_off, nframes; /* in the process's frame pool */
	uint32_t next;		     /* hash chain, 0: end */
	uint32_t hist_n;	     /* samples taken, up to MS_LIVE_HIST */
	struct ms_live_fig f;
	uint64_t hist[MS_LIVE_HIST]; /* live bytes, a ring at hist_pos */
};

/*
 * The ALLOC, FREE and REALLOC records seen while on, from the streams'
 * counts (stream.c, live_counted()), for a process or a thread: exact
 * where the blocks followed are an estimate
 * (livesnap.c, counted()). A thread's frees are those it made, of
 * anyone's blocks, and only a process's are used, and only when the live
 * heap was on from its first record (`whole`).
 */
struct ms_live_counted {
	uint64_t allocs, frees;
	unsigned __int128 wsize;
	uint64_t freed_pub, nfreed_pub; /* last published: never fewer */
};

struct ms_live_thread {
	uint32_t tid;
	int ended;
	uint64_t last_ts; /* drained up to this time (ticks) */
	uint64_t dropped;
	char name[MS_NAME_MAX + 1];
	struct ms_live_fig f;
	struct ms_live_counted x;
};

struct ms_live_block;
struct ms_live_pend;

struct ms_live {
	uint32_t pid;
	int on;		      /* blocks are tracked (a client asked) */
	uint64_t on_ts;	      /* mono ns when they began to be */
	struct ms_live_fig f; /* blocks of no thread; the process's figures
				 are these and its threads' summed */
	uint64_t dropped;     /* LOST counts */
	uint64_t untracked;   /* blocks that did not fit */
	int sampled;	      /* a weight other than 1 was seen */
	/* Blocks followed: those of ms_pack_tap_alloc(addr, size, sel_bits)
	 * (pack.h); all (sel_bits 0) until the rate of events says
	 * otherwise, or always when `exact`. The smallest blocks are
	 * followed at the addresses of ms_pack_tap_hash(addr) <= sel,
	 * UINT64_MAX >> sel_bits; larger ones at more. */
	uint64_t sel;
	unsigned sel_bits;
	int exact;
	/* The process's counts (all its threads'), the ALLOCs among them of
	 * a weight other than 1, and `whole`: on since its first record. */
	struct ms_live_counted x;
	uint64_t x_weighted;
	int whole;
	uint64_t events;	       /* records seen while on */
	uint64_t rate_ns, rate_events; /* at the last rate check */
	/* blocks: open addressing, linear probing, addr 0 = empty */
	struct ms_live_block *tab;
	uint32_t cap, nblocks, ntombs;
	uint32_t made, sweep_after;  /* tombstones since the last sweep */
	uint64_t passes, pass_slots; /* sweeps and rehashes, slots walked */
	uint32_t tab_room;	     /* slots the table's memory holds */
	struct ms_live_block *spare; /* the table before, kept for reuse */
	uint32_t spare_cap;
	/* Frees at addresses not followed that found no block (live.c,
	 * "Frees at addresses not followed"), and the big blocks at such
	 * addresses inserted since they were last checked against them. */
	struct ms_live_pend *pend;
	uint32_t pend_head, npend, pend_cap; /* listed: [pend_head, npend) */
	struct ms_live_gen {
		uint32_t end;	   /* of its entries in pend */
		uint64_t max_ts;   /* of its newest entry */
	} gens[MS_LIVE_PEND_GENS]; /* closed, oldest first */
	uint32_t ngens;
	uint64_t gen_max;  /* the newest entry of the one that fills */
	uint64_t *big_new; /* a set: open addressing, 0 empty */
	uint32_t nbig_new, big_cap;
	uint64_t big_bits[MS_LIVE_BIG_BITS / 64]; /* a filter of big_new */
	uint64_t check_ns;		     /* mono ns of the last check */
	uint8_t unf[1u << MS_LIVE_UNF_BITS]; /* live.c, unf_count() */
	uint64_t unf_bits[(1u << MS_LIVE_UNF_BITS) / 64]; /* unf[i] != 0 */
	/* sites: index 0 is "no stack known" */
	struct ms_live_site *sites;
	uint32_t nsites, sites_cap;
	uint32_t *site_heads; /* hash buckets, MS_LIVE_SITE_BUCKETS */
	uint64_t *frames;
	uint32_t nframes, frames_cap;
	struct ms_live_thread *thr;
	uint32_t nthr, thr_cap;
	uint32_t hist_pos;
	uint64_t hist_ns;     /* mono ns of the last sample */
	void *owner;	      /* the process (daemon_int.h) */
	struct ms_live *next; /* the poller's list */
};

/* Returns a new, empty, disabled live heap, or NULL. */
struct ms_live *ms_live_create(uint32_t pid);
void ms_live_destroy(struct ms_live *l);

/* Starts tracking blocks (idempotent); `now_ns` is CLOCK_MONOTONIC. */
void ms_live_enable(struct ms_live *l, uint64_t now_ns);

/* A new thread (ring generation); returns its index, or -1 when full. */
int32_t ms_live_thread(struct ms_live *l, uint32_t tid);

/* Thread `thr` has nothing older than `ts` (ticks) still to come: it was
 * drained up to a record of that time, or its ring was empty then (less a
 * grace for a record whose time was taken but not yet committed). */
void ms_live_quiet(struct ms_live *l, int32_t thr, uint64_t ts);

/* Interns a stack; returns its site (0 when it does not fit). */
uint32_t ms_live_site(struct ms_live *l, const uint64_t *frames, uint32_t n);

/* One event of thread `thr` (may be -1: counted for the process only). */
void ms_live_event(struct ms_live *l, int32_t thr, const struct ms_event *ev,
		   uint32_t site);

/*
 * The hot path: the ALLOC and FREE records the packer handed on (pack.h,
 * struct ms_pack_tap, with `sel` from this live heap), in the thread's
 * order. `sites` maps the thread's stack ids to sites. The caller counts
 * the records the packer took with ms_live_seen() and tells the time they
 * reach with ms_live_quiet().
 */
void ms_live_apply(struct ms_live *l, int32_t thr, const uint32_t *sites,
		   size_t nsites, const struct ms_tap_rec *r, size_t n);

/*
 * `n` more records seen. Every MS_LIVE_RATE_EVENTS records the rate is
 * checked: a process above MS_LIVE_EXACT_RATE a second has its small
 * blocks followed at one address in 2^MS_LIVE_SAMPLE_BITS from then on,
 * unless `exact`.
 */
void ms_live_seen(struct ms_live *l, uint64_t n);

/* Samples every site's live bytes once per MS_LIVE_HIST_NS, and ends the
 * big blocks of frees drained before them (live.c, "Frees at addresses
 * not followed") at most MS_LIVE_CHECK_NS after they came. */
void ms_live_tick(struct ms_live *l, uint64_t now_ns);

/* A Q16 count as a whole number, rounded. */
static inline uint64_t ms_live_count(uint64_t q)
{
	return (q + 32768) >> 16;
}

#endif
