/* SPDX-License-Identifier: MIT */
/*
 * Archive reader: the library behind `memscope stats` and `memscope dump`.
 *
 * An archive is a directory ARCHIVE/<pid>/<tid>-<n>.mseg (one stream per
 * thread, split into segments n = 0, 1, ...) plus ARCHIVE/manifest.json.
 * Everything counted comes from the segments; the manifest only adds
 * session information and may be missing or broken.
 *
 * A stream's decoder state, stack ids, module records and thread name
 * belong to that stream (pid, tid) and are read in segment order. Each
 * frame's records are decoded from the SYNC record that opens it.
 *
 * Every byte read is untrusted. Damage (a segment cut off or corrupt, a
 * frame whose record count does not match, a file that is not a segment, a
 * missing or unparsable manifest) becomes an ms_arc_error; reading goes on
 * with whatever is still readable.
 */
#ifndef MS_ARCHIVE_H
#define MS_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record.h"

struct ms_json;
struct ms_json_node;

#define MS_ARC_MAX_ERRORS 1000 /* kept in the list; later ones are counted */

struct ms_arc_error {
	char *file;	 /* path, NULL for the archive as a whole */
	uint64_t offset; /* byte offset in `file` when has_offset */
	int has_offset;
	char *msg;
};

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
	char *path;
	uint32_t seq;
	uint64_t size;
};

/* One thread stream (pid, tid). Counts are filled by ms_archive_scan(). */
struct ms_arc_thread {
	uint32_t pid, tid;
	char name[MS_NAME_MAX + 1]; /* last THREAD_NAME, "" if none */
	struct ms_arc_counts c;
	struct ms_arc_seg *segs; /* in seq order */
	size_t nsegs;
};

typedef void (*ms_arc_error_fn)(const struct ms_arc_error *e, void *arg);

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
	uint64_t disk_bytes;	  /* all .mseg files */
	uint64_t bytes_read;	  /* frame bytes read so far (progress) */
	ms_arc_error_fn on_error;
	void *on_error_arg;
	/* Called after each frame any iterator reads (may be NULL). */
	void (*on_progress)(struct ms_archive *a, void *arg);
	void *on_progress_arg;
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

/* Records one error (printf-style message). */
void ms_archive_error(struct ms_archive *a, const char *file, int has_offset,
		      uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The manifest's root object, or NULL. */
const struct ms_json_node *ms_archive_manifest(const struct ms_archive *a);

/* One decoded record of a stream, with what the stream knows about it. */
struct ms_arc_event {
	const struct ms_event *ev; /* valid until the next call */
	uint32_t pid, tid;
	uint64_t ns;	 /* CLOCK_MONOTONIC ns (from CLOCK records) */
	uint64_t caller; /* first frame of the STACK `ev->stack_id` */
	int has_caller;	 /* 0: no stack id, or a STACK never seen */
};

struct ms_arc_iter;

/* Walks every record of thread `t`. Returns 0 or -ENOMEM. */
int ms_arc_iter_open(struct ms_archive *a, struct ms_arc_thread *t,
		     struct ms_arc_iter **out);
/*
 * The next record (SYNC records are consumed, not returned). Returns 1
 * with *out set, 0 at the end of the stream. Damage is reported to the
 * archive and skipped.
 */
int ms_arc_iter_next(struct ms_arc_iter *it, const struct ms_arc_event **out);
/* Counts and thread name of what the iterator has read so far. */
const struct ms_arc_counts *ms_arc_iter_counts(const struct ms_arc_iter *it);
const char *ms_arc_iter_name(const struct ms_arc_iter *it);
void ms_arc_iter_close(struct ms_arc_iter *it);

/*
 * Reads every stream once and fills each thread's counts and name.
 * Returns 0 or -ENOMEM.
 */
int ms_archive_scan(struct ms_archive *a);

/* Sum of every thread's counts. */
void ms_archive_totals(const struct ms_archive *a, struct ms_arc_counts *out);

/* Estimated bytes allocated: sum of size * weight (Q16 weights divided by
 * MS_WEIGHT_ONE), saturated to UINT64_MAX. */
uint64_t ms_arc_estimated_bytes(const struct ms_arc_counts *c);

/* Output helpers shared by the commands. */
/* A JSON string; invalid UTF-8 becomes U+FFFD. */
void ms_arc_json_string(FILE *f, const void *s, size_t len);
/* Text: printable ASCII and valid UTF-8 as is, other bytes as \xNN. */
void ms_arc_text_string(FILE *f, const void *s, size_t len);
/* An object's scalar members as a JSON object (`nested`: also the scalar
 * members of member objects, one level down). */
void ms_arc_json_scalars(FILE *f, const struct ms_json_node *obj, int nested);
/* The same as " prefixKEY=VALUE" text. */
void ms_arc_text_scalars(FILE *f, const struct ms_json_node *obj,
			 const char *prefix);
/* The manifest's entry for process `pid` ("processes": [{"pid": ...}]),
 * or NULL. */
const struct ms_json_node *ms_arc_manifest_process(const struct ms_archive *a,
						   uint32_t pid);

/* stderr reporting for the commands: errors as they are found and, on a
 * terminal, a progress line for reads that take more than a second. */
struct ms_arc_cli {
	const char *cmd;
	int tty, shown;
	unsigned calls;
	uint64_t start_ns, last_ns;
};
void ms_arc_cli_init(struct ms_arc_cli *c, const char *cmd);
void ms_arc_cli_error(const struct ms_arc_error *e, void *arg); /* arg: cli */
void ms_arc_cli_progress(struct ms_archive *a, void *arg);	/* arg: cli */
void ms_arc_cli_done(struct ms_arc_cli *c);

#endif
