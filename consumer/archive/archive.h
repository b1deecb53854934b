/* SPDX-License-Identifier: MIT */
/*
 * Archive reader: the library behind `memscope stats` and `memscope dump`.
 *
 * An archive is a directory ARCHIVE/<pid>/<tid>-<n>.mseg (one stream per
 * thread, split into segments n = 0, 1, ...) plus ARCHIVE/manifest.json.
 * Short streams' segments may sit together in ARCHIVE/<pid>/bundle-<k>.msbun
 * (bundle.h); they are listed as if they were files.
 * Everything counted comes from the segments; the manifest only adds
 * session information and may be missing or broken.
 *
 * This header lists and opens an archive. Its streams are read with
 * archive_iter.h (one thread) and archive_merge.h (threads in time order);
 * archive_scan.h counts them. Every byte read is untrusted: damage becomes
 * an ms_arc_error (archive_error.h) and reading goes on with whatever is
 * still readable.
 */
#ifndef MS_ARCHIVE_H
#define MS_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "archive_error.h"
#include "clock.h"
#include "record.h"

struct ms_json;
struct ms_json_node;

struct ms_arc_counts {
	uint64_t events;     /* records in frames, SYNC excluded */
	uint64_t allocs;     /* ALLOC + REALLOC */
	uint64_t frees;	     /* FREE + REALLOC */
	uint64_t dropped;    /* sum of LOST counts */
	uint64_t raw_bytes;  /* decompressed frame bytes */
	uint64_t disk_bytes; /* .mseg file sizes */
	uint64_t frames;
	uint64_t segments;
	unsigned __int128 weighted_size; /* sum of size * Q16 weight */
};

struct ms_arc_seg {
	char *path; /* of a bundled segment: "BUNDLE#<tid>-<n>" */
	uint32_t seq;
	uint64_t size; /* on disk: a bundled segment's share of its bundle */
	/* A segment in a bundle (bundle.h): its bytes, decompressed and held
	 * by the archive; NULL for a file of its own. */
	const uint8_t *mem;
	uint64_t mem_len;
};

/* One thread stream (pid, tid). Counts are filled by ms_archive_scan(). */
struct ms_arc_thread {
	uint32_t pid, tid;
	char name[MS_NAME_MAX + 1]; /* last THREAD_NAME, "" if none */
	struct ms_arc_counts c;
	struct ms_arc_seg *segs; /* in seq order */
	size_t nsegs;
};

/* Read-only for users after ms_archive_open(). */
struct ms_archive {
	char *dir;
	struct ms_arc_thread *threads; /* sorted by (pid, tid) */
	size_t nthreads;
	size_t nprocesses;
	struct ms_arc_error *errors;
	size_t nerrors;
	size_t errors_dropped;	  /* beyond MS_ARC_MAX_ERRORS */
	struct ms_json *manifest; /* NULL when missing or broken */
	uint64_t disk_bytes;	  /* all .mseg and .msbun files */
	uint8_t **bundles;	  /* the bundles' entries, decompressed */
	size_t nbundles;
	uint64_t bytes_read; /* frame bytes read so far (progress) */
	ms_arc_error_fn on_error;
	void *on_error_arg;
	/*
	 * One tick -> ns conversion for every stream of the archive whose
	 * clock runs at its rate: the first CLOCK record any iterator reads.
	 * Each thread's CLOCK record pairs a TSC reading with a
	 * CLOCK_MONOTONIC one taken just after; a preemption between the two
	 * shifts that thread's pair by microseconds, and converted with its
	 * own pair, a thread's events would be misplaced against the others'
	 * by as much (a free seen after the allocation that reused its
	 * block). The TSC itself is one clock for all threads.
	 */
	struct ms_timebase tb;
	int tb_set;
	/* Called after each frame any iterator reads (may be NULL). */
	void (*on_progress)(struct ms_archive *a, void *arg);
	void *on_progress_arg;
	/*
	 * Threads that decode ahead of a merge or a scan, besides the
	 * caller's (archive_merge.h): -1 as many as pay, 0 none, n at most
	 * n. ms_archive_open() takes it from $MEMSCOPE_READ_THREADS, else
	 * -1. Whatever it is, the same records, errors and progress calls
	 * come out in the same order, on the caller's thread.
	 */
	int read_threads;
};

/*
 * Lists the archive in `dir` and reads its manifest. `on_error` (may be
 * NULL) is called for each damage as it is found, before it is stored.
 * Returns 0 (damage is reported through the error list), -ENOMEM, or
 * -errno when `dir` cannot be read at all.
 */
int ms_archive_open(const char *dir, ms_arc_error_fn on_error, void *arg,
		    struct ms_archive **out);
void ms_archive_close(struct ms_archive *a);

/* The index in a->threads of stream (pid, tid), or -1. */
ssize_t ms_archive_find_thread(const struct ms_archive *a, uint64_t pid,
			       uint64_t tid);
/* The index of the first stream of `pid` or of a greater pid
 * (a->nthreads when none): its streams follow each other from there. */
size_t ms_archive_first_thread(const struct ms_archive *a, uint64_t pid);

/* The manifest's root object, or NULL. */
const struct ms_json_node *ms_archive_manifest(const struct ms_archive *a);

/* The manifest's entry for process `pid` ("processes": [{"pid": ...}]),
 * or NULL. */
const struct ms_json_node *ms_arc_manifest_process(const struct ms_archive *a,
						   uint32_t pid);

#endif
