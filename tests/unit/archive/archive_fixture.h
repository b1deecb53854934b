/* SPDX-License-Identifier: MIT */
/*
 * Synthetic archives for the archive reader tests: real segment files
 * written with common/segment.h and the record encoders, with every count
 * known exactly, per thread and per frame, so a test can damage a file
 * and compute what must still be readable.
 */
#ifndef MS_ARCHIVE_FIXTURE_H
#define MS_ARCHIVE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

struct ms_archive;

#define FX_MAX_SEGS   8
#define FX_MAX_FRAMES 16

struct fx_spec {
	uint32_t nproc;	   /* processes: pids 1000, 1001, ... */
	uint32_t nthreads; /* per process: tids pid * 10 + 1, ... */
	uint32_t nsegs;	   /* segments per thread (<= FX_MAX_SEGS) */
	uint32_t nframes;  /* frames per segment (<= FX_MAX_FRAMES) */
	uint32_t ops;	   /* allocation operations per frame */
	int manifest;	   /* write manifest.json */
	int finished;	   /* ... saying "state": "finished" with totals */
	uint64_t tick_hz;  /* 0: 1e9 (monotonic ns) */
	/* a CLOCK record in the middle of every frame but the first, each
	 * thread's at another time and with its own small offset, as real
	 * threads' readings differ: which one sets the archive's time base
	 * shows in every time */
	int clock_mid;
};

struct fx_counts {
	uint64_t events, allocs, frees, dropped, raw_bytes, frames;
	unsigned __int128 weighted;
};

struct fx_frame {
	uint64_t offset, end; /* file offsets of the frame header, its end */
	uint64_t data;	      /* file offset of the frame's data */
	struct fx_counts c;
};

struct fx_seg {
	char path[512];
	uint64_t size;
	uint32_t nframes;
	struct fx_frame f[FX_MAX_FRAMES];
};

struct fx_thread {
	uint32_t pid, tid;
	char name[32]; /* "" when the thread never names itself */
	struct fx_counts c;
	uint32_t nsegs;
	struct fx_seg s[FX_MAX_SEGS];
};

struct fx_archive {
	struct fx_thread *t;
	size_t nthreads;
	struct fx_counts c;
	uint64_t disk_bytes;
	uint64_t first_caller; /* caller of the first ALLOC of thread 0 */
};

/* Writes the archive into `dir` (must exist, empty). Returns 0 or -errno. */
int fx_write(const char *dir, const struct fx_spec *spec,
	     struct fx_archive *out);
void fx_free(struct fx_archive *a);

/* Adds `b` into `a`. */
void fx_add(struct fx_counts *a, const struct fx_counts *b);

/* A cmocka test's state: a fixture archive in a fresh directory, and the
 * reader's view of it once the test opens it (closed by fx_teardown). */
struct fx {
	char dir[256];
	struct fx_archive a;
	struct ms_archive *arc;
};

/* cmocka setup and teardown: *state gets a struct fx written from `sp`.
 * Return 0, or -1 (the test fails). */
int fx_setup(void **state, const struct fx_spec *sp);
int fx_teardown(void **state);

/* A fresh directory under $TMPDIR or /tmp; `buf` gets its path. */
int fx_tempdir(char *buf, size_t len);
/* rm -r of a fixture directory (two levels deep). */
void fx_rmtree(const char *dir);

/* Damage helpers. */
int fx_truncate(const char *path, uint64_t size);
int fx_flip(const char *path, uint64_t offset);

#endif
