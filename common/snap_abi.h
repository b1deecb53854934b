/* SPDX-License-Identifier: MIT */
/*
 * A live-heap snapshot as the consumer sends it to `top` and `snapshot`
 * clients (docs/format.md, "Live snapshots"): one blob, cut into
 * SNAP_PART messages on the session socket (proto_abi.h). Same host on
 * both ends, so host byte order; every struct is fixed-width, its size a
 * multiple of 8 and asserted, and the reader (snap.h) checks every count
 * and length against the blob.
 *
 * Layout:
 *   ms_snap_hdr
 *   per process (hdr.nprocs):
 *     ms_snap_proc
 *     ms_snap_thread x proc.nthreads
 *     per site (proc.nsites): ms_snap_site, then nframes uint64 frames
 *     per module (proc.nmods): ms_snap_mod, then path_len bytes of path,
 *       zero-padded to a multiple of 8
 *
 * Counts and bytes are weighted estimates when the process is sampled
 * (MS_SNAP_SAMPLED), but for a process of weights of 1 (`full`) whose
 * blocks are followed at some addresses only (addr_sample > 1): its
 * allocations, frees and bytes allocated are counted, exact
 * (consumer/daemon/livesnap.c); "alloc" and "free" figures count from the
 * moment the live heap began (hdr.since_ns), "live" ones only blocks allocated
 * since.
 */
#ifndef MS_SNAP_ABI_H
#define MS_SNAP_ABI_H

#include <stddef.h>
#include <stdint.h>

#define MS_SNAP_MAGIC	0x564c534du /* "MSLV" */
#define MS_SNAP_VERSION 1
#define MS_SNAP_HIST	16	    /* live-bytes samples per site */
#define MS_SNAP_MAX	(64u << 20) /* bytes in one snapshot at most */

/* ms_snap_proc.flags */
#define MS_SNAP_SAMPLED	   1u /* weights other than 1: estimates */
#define MS_SNAP_INCOMPLETE 2u /* blocks did not fit: live figures low */
#define MS_SNAP_SITES_CUT  4u /* sites left out (the smallest live) */

struct ms_snap_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;
	uint64_t mono_ns;  /* when it was taken, CLOCK_MONOTONIC */
	uint64_t since_ns; /* when the live heap began, CLOCK_MONOTONIC */
	uint64_t seq;	   /* snapshots taken by this consumer */
	uint32_t nprocs;
	uint32_t hist_period_ms; /* between two history samples */
	uint32_t nhist;		 /* MS_SNAP_HIST */
	uint32_t sampling;	 /* MS_SAMPLING_* of the session */
	uint64_t sampling_param; /* bytes:N mean interval */
	uint64_t reserved[2];
};

struct ms_snap_fig {
	uint64_t live_bytes, live_count;
	uint64_t alloc_bytes, alloc_count;
	uint64_t free_bytes, free_count;
};

struct ms_snap_proc {
	uint32_t pid;
	uint32_t nthreads;
	uint32_t nsites;
	uint32_t nmods;
	uint32_t flags;	      /* MS_SNAP_* */
	uint32_t addr_sample; /* blocks under 2 KiB followed at one address
				 in this many (0 or 1: all; live.h) */
	uint64_t dropped;     /* events the agent lost (LOST records) */
	uint64_t untracked;   /* blocks the live heap could not hold */
	struct ms_snap_fig f;
	char exe[256]; /* NUL-terminated */
};

struct ms_snap_thread {
	uint32_t tid;
	uint32_t ended;
	uint64_t dropped;
	struct ms_snap_fig f;
	char name[72]; /* NUL-terminated */
};

struct ms_snap_site {
	uint32_t id; /* stable while the process lives; 0: no stack */
	uint32_t nframes;
	uint32_t nhist; /* samples of hist taken, oldest first */
	uint32_t reserved0;
	struct ms_snap_fig f;
	uint64_t hist[MS_SNAP_HIST]; /* live bytes, oldest first */
};

struct ms_snap_mod {
	uint64_t base, size;
	uint32_t build_id_len;
	uint32_t path_len;
	uint32_t unloaded;
	uint32_t reserved0;
	uint8_t build_id[64];
};

_Static_assert(sizeof(struct ms_snap_hdr) == 72, "snap hdr");
_Static_assert(sizeof(struct ms_snap_fig) == 48, "snap fig");
_Static_assert(sizeof(struct ms_snap_proc) == 344, "snap proc");
_Static_assert(sizeof(struct ms_snap_thread) == 136, "snap thread");
_Static_assert(sizeof(struct ms_snap_site) == 192, "snap site");
_Static_assert(sizeof(struct ms_snap_mod) == 96, "snap mod");

#endif
