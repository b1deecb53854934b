/* SPDX-License-Identifier: MIT */
/*
 * A profile: one pass over an archive through the heap model (heap.h),
 * with every allocation's stack turned into a site (sites.h) and each
 * site's frames placed in the module that held them at the time
 * (modmap.h), ready for the report and export writers, which ask for
 * symbols (symbols.h) only for what they print.
 *
 * Times given to and shown by a profile are relative to the archive's
 * first event, in ns.
 */
#ifndef MS_PROFILE_H
#define MS_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "frametab.h"
#include "heap.h"
#include "sites.h"

struct ms_archive;
struct ms_modtab;
struct ms_symbolizer;
struct ms_symstore;

#define MS_PROFILE_END UINT64_MAX

struct ms_profile_opts {
	uint32_t pid, tid;	 /* 0: every process, every thread */
	uint64_t from_ns, to_ns; /* window, relative; to MS_PROFILE_END */
	const char *debug_dirs;	 /* symbols.h; NULL: the defaults */
	int no_symbols;		 /* module+offset only (tests, speed) */
	int sites_only;		 /* the stacks alone, no heap figures */
	const struct ms_heap_sink *sink; /* more figures: heap.h; or NULL */
};

/* A thread as the report shows it. */
struct ms_profile_thread {
	struct ms_heap_thread h;
	char name[65];
};

struct ms_profile {
	struct ms_profile_opts o;
	const char *dir;
	uint64_t start_ns, end_ns; /* first and last event, CLOCK_MONOTONIC */
	uint64_t start_rt_ns;	   /* the session's start, CLOCK_REALTIME; 0 */
	char sampling[32];	   /* "full", "tiered", "bytes:N", "" unknown */
	int estimated;		   /* a sampled block was seen */
	uint32_t stack_depth;	   /* from the manifest; UINT32_MAX unknown */
	uint64_t events;	   /* records read */
	uint32_t processes;	   /* processes that allocated */
	size_t archive_errors;	   /* damage found, at open and reading */
	struct ms_sites sites;
	struct ms_heap *heap;
	struct ms_profile_thread *threads;
	size_t nthreads;
	struct ms_modtab *mods;
	struct ms_symbolizer *sym;
	struct ms_symstore *store;
	struct ms_profile_state *st; /* the pass's own */
};

/*
 * Reads the archive `a` once (its on_progress hook sees the reading).
 * Returns 0 (damage is in a's error list and counted in archive_errors),
 * or -ENOMEM.
 */
int ms_profile_build(struct ms_archive *a, const struct ms_profile_opts *o,
		     struct ms_profile **out);
void ms_profile_free(struct ms_profile *p);

/* One frame of a site, symbolized. */
struct ms_pframe {
	const char *function;  /* never NULL: a name, or "module+0x..." */
	const char *file;      /* NULL when unknown */
	uint32_t line;	       /* 0 when unknown */
	int inlined;	       /* inlined into the next frame */
	const char *module;    /* basename; NULL: no module held the address */
	uint64_t addr, offset; /* the return address, its module offset */
};

/*
 * Calls `cb` for each frame of site `id`, innermost first, inlined frames
 * expanded; stops when `cb` returns nonzero. Returns 0 or -ENOMEM.
 */
int ms_profile_frames(struct ms_profile *p, uint32_t id,
		      int (*cb)(const struct ms_pframe *f, void *arg),
		      void *arg);

/*
 * The site's label: its first frame outside the allocator (libc, libstdc++
 * operator new, Rust's and Python's allocation wrappers, the agent). Fills
 * *f and returns its depth (0-based, inlined frames counted), or -1 when
 * the site has no frame.
 */
int ms_profile_label(struct ms_profile *p, uint32_t id, struct ms_pframe *f);

/*
 * Resolves every frame of every site and writes what gets a name into the
 * archive's symbol store (ARCHIVE/symbols.msym, replaced atomically), so
 * that the archive reports names where the binaries are gone. *keys: the
 * distinct code addresses looked up. Returns 0 or -errno.
 */
int ms_profile_write_symbols(struct ms_profile *p, size_t *keys);

/*
 * A live profile: no archive, no heap model; sites are interned as the
 * snapshots of a running consumer (snap.h) bring them, and the figures
 * stay the caller's. Frames, labels and symbols work as for an archive.
 * ms_profile_live_modules() sets a process's modules as a snapshot lists
 * them (sites interned later are placed by them);
 * ms_profile_live_site() returns the site of (pid, frames), 0 when
 * memory runs out.
 */
struct ms_snap_mod_v;
int ms_profile_live(const struct ms_profile_opts *o, struct ms_profile **out);
int ms_profile_live_modules(struct ms_profile *p, uint32_t pid,
			    const struct ms_snap_mod_v *mods, uint32_t n);
uint32_t ms_profile_live_site(struct ms_profile *p, uint32_t pid,
			      const uint64_t *frames, uint32_t n);

#endif
