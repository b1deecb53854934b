/* SPDX-License-Identifier: MIT */
/*
 * Fuzz targets for every decoder of untrusted bytes. Each target file
 * defines the libFuzzer entry point and a few generated seed inputs; the
 * same file links either with libFuzzer (-DMS_FUZZ=ON, clang) or with
 * fuzz_replay.c, a plain main() that replays seeds and corpus files as a
 * short deterministic ctest.
 */
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct ms_rec_state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef void (*ms_fuzz_emit)(const uint8_t *data, size_t size, void *arg);

/* Calls `emit` with each generated seed (valid inputs of the target). */
void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg);

/* Aborts with a message: a property the target checks does not hold. */
#define MS_FUZZ_CHECK(cond)                                                    \
	do {                                                                   \
		if (!(cond))                                                   \
			ms_fuzz_fail(__FILE__, __LINE__, #cond);               \
	} while (0)
void ms_fuzz_fail(const char *file, int line, const char *what)
	__attribute__((noreturn));

/*
 * The hot records' fast path against the general decoder on the record at
 * [p, p + len) with stream state `st` (record.h, ms_rec_decode_hot()):
 * when the fast path takes it, ms_rec_decode() must give the same length
 * and fields, and the encoders the same bytes. Returns the fast path's
 * length (0: not taken).
 */
size_t ms_fuzz_hot_agrees(const struct ms_rec_state *st, const uint8_t *p,
			  size_t len);

/*
 * The readers' fast path against the general decoder on the record at
 * [p, p + len) with stream state `st` (record.h, ms_rec_decode_fast()):
 * whatever it takes, ms_rec_decode() must take with the same length,
 * fields and state; every ALLOC, FREE or REALLOC ms_rec_decode() takes, it
 * must take; what it leaves, it leaves the state unchanged. Returns the
 * fast path's length (0: not taken).
 */
size_t ms_fuzz_fast_agrees(const struct ms_rec_state *st, const uint8_t *p,
			   size_t len);

/*
 * What ms_unpack() gives back of the records raw[0, len) that ms_pack()
 * took: the same bytes, but each FREE the packer packed (not kept
 * verbatim) without its level (pack.h). Written to `out`; returns how
 * many levels that cleared.
 */
size_t ms_fuzz_unpacked_form(const uint8_t *raw, size_t len, uint8_t *out);

/*
 * Seed helper: a segment writer on a temporary file of its own. The seed
 * writes its frames to s->w, then ms_fuzz_tmpseg_end() reads the file
 * into *out (malloc'ed) when `keep`, removes it, and returns its size, or
 * 0. ms_fuzz_tmpseg_open() returns 0, or -1 (no writer).
 */
struct ms_seg_info;
struct ms_fuzz_tmpseg {
	struct ms_seg_writer *w;
	char path[32];
};
int ms_fuzz_tmpseg_open(struct ms_fuzz_tmpseg *s,
			const struct ms_seg_info *info);
size_t ms_fuzz_tmpseg_end(struct ms_fuzz_tmpseg *s, int keep, uint8_t **out);

/*
 * Seed helper: a small valid segment (three frames, a CLOCK, ALLOCs and
 * FREEs) made by the real writer; `finish` 0 cuts its index off. Returns
 * its size with *out malloc'ed, or 0.
 */
size_t ms_fuzz_make_segment(uint8_t **out, int finish);

/*
 * Seed helper: a finished segment of thread (pid, tid), 1 tick = 1 ns,
 * holding the records [raw, raw + len) (a SYNC first) as one frame.
 * Returns its size with *out malloc'ed, or 0 (records that do not decode).
 */
size_t ms_fuzz_segment(uint32_t pid, uint32_t tid, const uint8_t *raw,
		       size_t len, uint8_t **out);

/*
 * The directory a target writes the archive made of its input into
 * (created on first use, removed at exit), and a file in it: ARCHIVE/name
 * with n bytes (directories on the way made), or removed when !present.
 */
const char *ms_fuzz_dir(void);
void ms_fuzz_put(const char *name, const uint8_t *d, size_t n, int present);

/* Cuts the next `want` bytes (fewer at the end) off the input [*d, *d +
 * *size): returns how many, with *d and *size past them. */
size_t ms_fuzz_take(const uint8_t **d, size_t *size, size_t want);

/*
 * The archive an input describes, written into ms_fuzz_dir():
 *   u16 manifest length (0xffff: no manifest) | manifest |
 *   u32 length of segment 0 | segment 0 | segment 1 (the rest)
 * as manifest.json, seg0 and seg1 (left out when empty): names relative
 * to the archive. All parts may be short.
 */
void ms_fuzz_put_archive(const uint8_t *data, size_t size, const char *seg0,
			 const char *seg1);

/*
 * Makes the checksums of a major-2 segment [b, b + n) right: the header's,
 * then each frame header's and its data's, walking the frame headers as
 * far as they hold, and the end record's when the frames stop just before
 * it. A fuzzer cannot forge CRC-32C; sealed, damaged lengths, varints,
 * codecs and frame data reach the decoders behind the checks. Returns
 * whether a byte changed.
 */
int ms_fuzz_seal_segment(uint8_t *b, size_t n);

/* Reads the input as it is, and again sealed by `seal` (a copy) when that
 * changes it: what the segment and archive targets do with each input. */
void ms_fuzz_as_is_and_sealed(const uint8_t *data, size_t size,
			      void (*read_fn)(const uint8_t *, size_t),
			      int (*seal)(uint8_t *, size_t));

#endif
