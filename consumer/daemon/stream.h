/* SPDX-License-Identifier: MIT */
/*
 * One record stream: the events of one ring generation (one thread), from
 * untrusted ring bytes to zstd frames in `<dir>/<tid>-<n>.mseg` files.
 *
 * The stream copies ring bytes into its frame buffer, decodes every record
 * from that private copy (so the producer cannot change a byte between the
 * check and the use), keeps the whole records and leaves a partial one for
 * the next call. Each frame starts with a SYNC record of the decoder state
 * before its first record (docs/format.md). Segments are rotated by size.
 *
 * A stream is owned by one thread (the poller); it takes no lock.
 */
#ifndef MS_STREAM_H
#define MS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto_abi.h"
#include "record.h"

struct ms_seg_writer;
struct ms_packer;
struct ms_live;

/* Called for every decoded event while a live view listens. */
typedef void ms_stream_tap_fn(void *ctx, const struct ms_tail_event *ev);

struct ms_stream_cfg {
	const char *dir; /* ARCHIVE/<pid>, must exist */
	uint32_t pid;
	uint32_t tid;
	uint64_t tick_hz;    /* session tick rate, for segment headers */
	int level;	     /* zstd level */
	size_t frame_target; /* raw bytes per frame */
	uint64_t seg_max;    /* rotate segments beyond this size */
	/* Called with each MODULE_LOAD / MODULE_UNLOAD accepted; may be
	 * NULL. */
	void (*on_module)(void *ctx, const struct ms_event *ev);
	void *ctx;
	/* The process's live heap (live.h), fed as records are checked;
	 * may be NULL. Owned by the thread that feeds the stream. */
	struct ms_live *live;
	/*
	 * Takes a segment of one small frame (at most MS_BUNDLE_STREAM_MAX
	 * bytes, bundle.h) of a stream that has written no file, instead of
	 * a file: the whole stream as it ends, or a part of it the age bound
	 * closed (MS_STREAM_PARTS_MAX). Returns 0 when it did; the frame's
	 * own counts are s->n - s->f0 then. May be NULL.
	 */
	int (*put_small)(void *ctx, uint32_t seq, const uint8_t *seg,
			 size_t len);
	void *small_ctx; /* and on_finished's */
	/* The first segment number to try: those below are another
	 * stream's of the same thread id. */
	uint32_t first_seq;
	/* Called with the number of each segment file finished (rotated,
	 * or at the stream's end); may be NULL. */
	void (*on_finished)(void *ctx, uint32_t seq);
	/* Memory of ended streams to start with, and to leave to the next
	 * ones (below); may be NULL. Owned by the thread that owns the
	 * streams. */
	struct ms_stream_spares *spares;
};

/* Counts of what a stream has written; all only grow. */
/*
 * A 128-bit sum kept at 8-byte alignment: at 16, every structure holding
 * the counts would be too, and the rings' list walks compute a ring from
 * the list's head (container_of), which then sits misaligned (UBSan).
 */
typedef unsigned __int128 ms_u128_a8 __attribute__((aligned(8)));

struct ms_stream_counts {
	uint64_t records; /* records archived (SYNCs excluded) */
	uint64_t allocs;  /* ALLOC + REALLOC */
	uint64_t frees;	  /* FREE + REALLOC */
	uint64_t dropped; /* sum of LOST counts */
	uint64_t raw_bytes;
	uint64_t disk_bytes; /* segment bytes, headers included */
	uint64_t frames;
	uint64_t segments;
	uint64_t reallocs; /* REALLOC, also in allocs and frees */
	uint64_t weighted; /* of allocs, those of a weight other than 1 */
	ms_u128_a8 wsize;  /* sum of ALLOC and REALLOC size * Q16 weight */
	/* Set at the end: events a full disk kept out of every LOST record
	 * (the manifest's word only). */
	uint64_t unwritten;
};

struct ms_stack_cache;

struct ms_stream {
	struct ms_stream_cfg cfg;
	char dir[4200];
	struct ms_rec_state dec;
	uint8_t *buf;
	size_t len, cap;
	uint32_t count; /* records in the open frame */
	uint64_t first_ts, last_ts;
	uint64_t frame_open_ns; /* monotonic time the open frame began */
	struct ms_seg_writer *w;
	struct ms_packer *pk; /* packs the open frame; NULL: packed at flush */
	uint32_t seq;	      /* n of the next segment file */
	uint32_t w_seq;	      /* n of `w`'s */
	uint64_t clk_ticks, clk_ns, clk_hz; /* latest CLOCK record */
	struct ms_stack_cache *stacks;
	int32_t live_thr; /* this thread in cfg.live, -1: none */
	struct ms_stream_counts n;
	char name[MS_NAME_MAX + 1]; /* THREAD_NAME, "" if none */
	int err; /* sticky: the stream stopped at a bad record */
	/*
	 * The archive could not be written (a full disk): frames are
	 * discarded, their events counted in disk_lost until a LOST record
	 * (cause DISK) that says so is written; writing is tried again once
	 * a second, and always at the end.
	 */
	int disk_err;		    /* last write error, 0 once one succeeds */
	uint64_t disk_lost;	    /* events discarded, not yet in a LOST */
	uint64_t disk_retry_ns;	    /* no write before this monotonic time */
	uint64_t disk_discarded;    /* events ever discarded (only grows) */
	struct ms_stream_counts f0; /* n when the open frame began */
	uint32_t parts; /* segments handed to cfg.put_small, the stream on */
};

/*
 * A stream that has written no file hands each small frame the age bound
 * closes to cfg.put_small, as a segment of its own, up to this many; then
 * its frames go to a file, as a longer stream's do (a bundle is written
 * each second it has entries: a thread writing a little every second
 * would otherwise make one a second for as long as it lives).
 */
#define MS_STREAM_PARTS_MAX 8

/* out = n - f, field by field (out may be n); and to += d. */
void ms_stream_counts_sub(struct ms_stream_counts *out,
			  const struct ms_stream_counts *n,
			  const struct ms_stream_counts *f);
void ms_stream_counts_add(struct ms_stream_counts *to,
			  const struct ms_stream_counts *d);

/*
 * The frame buffers and packers of ended streams, kept for the streams
 * that start next: a stream's are a dozen blocks of 512 KiB, which glibc
 * maps, the stream faults in and ending it unmaps again. At 150 threads
 * a run that was 2,400 munmap calls of the consumer's and a sixth of its
 * CPU (docs/benchmarks.md). At most MS_STREAM_SPARES are kept, the oldest
 * freed first.
 */
#define MS_STREAM_SPARES 256
struct ms_stream_spares;
struct ms_stream_spares *ms_stream_spares_create(void);
/* Frees the spares kept since before now_ns - max_age_ns; returns how
 * many it freed. */
size_t ms_stream_spares_expire(struct ms_stream_spares *sp, uint64_t now_ns,
			       uint64_t max_age_ns);
void ms_stream_spares_destroy(struct ms_stream_spares *sp);

/* Sets up `s`; returns 0 or -ENOMEM. */
int ms_stream_init(struct ms_stream *s, const struct ms_stream_cfg *cfg);

/*
 * Takes ring bytes [p, p + len): copies and decodes as many whole records
 * as are there, archiving them. Returns the bytes consumed (the caller
 * releases that much of the ring), -EBADMSG when the bytes are not valid
 * records (the stream is then dead: abandon the ring), or -errno from the
 * segment writer. `tap` may be NULL.
 */
ssize_t ms_stream_feed(struct ms_stream *s, const uint8_t *p, size_t len,
		       ms_stream_tap_fn *tap, void *tap_ctx);

/* Closes the open frame when it is older than `max_age_ns`. */
int ms_stream_tick(struct ms_stream *s, uint64_t now_ns, uint64_t max_age_ns);

/* The ring was found empty at `now_ns` (CLOCK_MONOTONIC): the live heap
 * learns that this thread has nothing older on its way. */
void ms_stream_quiet(struct ms_stream *s, uint64_t now_ns);

/* Writes the open frame, if any. Returns 0 or -errno. */
int ms_stream_flush(struct ms_stream *s);

/*
 * Ends the stream: appends LOST{lost_pending} when non-zero, writes the
 * last frame and finishes the segment. Frees everything; `s` may be
 * initialised again. Returns 0 or the first error seen.
 */
int ms_stream_finish(struct ms_stream *s, uint64_t lost_pending);

#endif
