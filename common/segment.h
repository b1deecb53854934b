/* SPDX-License-Identifier: MIT */
/*
 * Segment files: writer (consumer side) and reader (stats, dump, tests).
 * The layout is in segment_abi.h and docs/format.md.
 */
#ifndef MS_SEGMENT_H
#define MS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

struct ms_seg_info {
	uint32_t pid;
	uint32_t tid;
	uint32_t seq;
	uint64_t created_ns;
	uint64_t tick_hz;
	/* read, not written: the zstd level the writer's frames were
	 * compressed at (ms_seg_create()'s), or MS_SEG_LEVEL_UNSAID when the
	 * header does not say (before 2026-12-02, and bundled segments) */
	int level;
};

#define MS_SEG_LEVEL_UNSAID (-1000)

struct ms_seg_frame {
	const uint8_t *data; /* decompressed records, valid until next call */
	size_t len;
	uint32_t count;
	uint64_t first_ts, last_ts;
	uint64_t offset;    /* file offset of the frame header */
	uint32_t hdr_size;  /* bytes of the frame header */
	uint64_t comp_size; /* bytes of data after the frame header */
};

struct ms_seg_writer;
struct ms_seg_reader;

/*
 * Creates `path` (O_EXCL) and writes the header. `level` is a zstd level.
 * Returns 0 or -errno.
 */
int ms_seg_create(const char *path, const struct ms_seg_info *info, int level,
		  struct ms_seg_writer **out);

/*
 * Compresses `len` (<= MS_SEG_FRAME_RAW_MAX) bytes of records, which must
 * start with a SYNC record, and appends them as one frame, packed
 * (common/pack.h) when they can be. Returns 0 or -errno. The writers on
 * one thread share that thread's zstd context and output buffer, kept
 * until the thread ends or calls ms_seg_thread_idle(); a writer may be
 * used from any one thread at a time.
 */
int ms_seg_write_frame(struct ms_seg_writer *w, const void *raw, size_t len,
		       uint32_t count, uint64_t first_ts, uint64_t last_ts);

/*
 * The same for records already packed by `pk` (ms_pack_end() done); `raw`
 * is stored instead when the packed frame would not fit.
 */
struct ms_packer;
int ms_seg_write_packed(struct ms_seg_writer *w, const void *raw, size_t len,
			const struct ms_packer *pk, uint32_t count,
			uint64_t first_ts, uint64_t last_ts);

/*
 * Frees the calling thread's zstd context and output buffer (made again
 * when it next writes): for a thread that writes now and then at a high
 * level, whose context would otherwise hold megabytes while it waits (the
 * consumer's compactor: 8.9 MB at level 15).
 */
void ms_seg_thread_idle(void);

/* Bytes written to the file so far. */
uint64_t ms_seg_file_size(const struct ms_seg_writer *w);

/*
 * Writes the end record (MS_SEG2_END_SIZE bytes), closes and frees.
 * Returns 0 or -errno.
 */
int ms_seg_finish(struct ms_seg_writer *w);

/* DIR/<tid>-<seq>.mseg, the file of segment `seq` of thread `tid`, in
 * `buf` (snprintf()'s return). */
int ms_seg_path(char *buf, size_t len, const char *dir, uint32_t tid,
		uint32_t seq);

/*
 * Writes a whole segment at `out`: its header, one frame of the `len` bytes
 * of records stored as they are (codec 2), and its end; the frame is that of
 * ms_seg_write_frame(). Returns its size, at most len + MS_SEG_STORED_EXTRA.
 * For bundles (bundle.h), which compress it with others.
 */
#define MS_SEG_STORED_EXTRA 136
size_t ms_seg_put_stored(uint8_t *out, const struct ms_seg_info *info,
			 const void *raw, size_t len, uint32_t count,
			 uint64_t first_ts, uint64_t last_ts);

/*
 * Opens a segment for reading. Returns 0, -EBADMSG for a file that is not
 * a readable segment (bad header), or -errno.
 */
int ms_seg_open(const char *path, struct ms_seg_reader **out);
/* The same for the `size` bytes at `buf` (copied). */
int ms_seg_open_mem(const void *buf, size_t size, struct ms_seg_reader **out);
const struct ms_seg_info *ms_seg_reader_info(const struct ms_seg_reader *r);

/*
 * Reads the next frame. Returns 1 with `fr` filled (fr->len > 0: a frame
 * of no records is corrupt), 0 at the end, or a
 * negative error for a damaged part of the file: -ENODATA when the file is
 * cut off (it was not finished), -EBADMSG when bytes are corrupt, -ENOMEM
 * when a frame cannot be buffered. After an
 * error the reader skips past the damage, so calling again yields whatever
 * is still readable. ms_seg_error() describes the last error.
 */
int ms_seg_next(struct ms_seg_reader *r, struct ms_seg_frame *fr);
const char *ms_seg_error(const struct ms_seg_reader *r);

/*
 * Reads only the header of the segment file `path` into *info, and whether
 * it was finished: its end record (major 2), its footer's magic (major 1,
 * whose index is not read, so a damaged index is not seen). Returns 0,
 * -EBADMSG for a file that is not a segment, or -errno.
 */
int ms_seg_read_header(const char *path, struct ms_seg_info *info,
		       int *finished);

/* 1 when the file ended with a valid index and footer. */
int ms_seg_finished(const struct ms_seg_reader *r);

void ms_seg_close(struct ms_seg_reader *r);

#endif
