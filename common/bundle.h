/* SPDX-License-Identifier: MIT */
/*
 * Bundles: the segments of short streams, several in one file.
 *
 * A thread whose whole stream is a few records (a short-lived thread, a
 * process that does little) would pay a segment file's fixed parts and a
 * zstd frame of its own for them, more bytes than its records. The
 * consumer puts such a stream's one segment, its records stored as they
 * are, into its process's bundle, and writes the bundle, compressed as
 * one zstd frame, as ARCHIVE/<pid>/bundle-<n>.msbun. Readers list each
 * segment in it as if it were a file <tid>-<seq>.mseg (docs/format.md,
 * "Bundles").
 *
 * File: header (MS_BUNDLE_HDR_SIZE), then the data, one zstd frame whose
 * content is the entries: varint tid, varint seq, varint length, then a
 * whole segment (header, frames, end) of that many bytes.
 */
#ifndef MS_BUNDLE_H
#define MS_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define MS_BUNDLE_MAGIC	   0x4e42534du /* "MSBN" */
#define MS_BUNDLE_VERSION  1
#define MS_BUNDLE_H_MAGIC  0  /* u32 */
#define MS_BUNDLE_H_VER	   4  /* u16 */
#define MS_BUNDLE_H_FLAGS  6  /* u16, 0 */
#define MS_BUNDLE_H_COUNT  8  /* u32, entries */
#define MS_BUNDLE_H_RAW	   12 /* u32, bytes of the entries */
#define MS_BUNDLE_H_DCRC   16 /* u32, CRC-32C of the data */
#define MS_BUNDLE_H_CRC	   20 /* u32, CRC-32C of bytes 0..19 */
#define MS_BUNDLE_HDR_SIZE 24
/* Entries of a bundle, in bytes: a reader refuses more. */
#define MS_BUNDLE_RAW_MAX (4u << 20)
/* A stream goes into a bundle when its only frame holds at most this
 * many bytes of records. */
#define MS_BUNDLE_STREAM_MAX (4u << 10)

/* A bundle being filled (the writer's side). */
struct ms_bundle {
	uint8_t *buf; /* the entries */
	size_t len, cap;
	uint32_t n;
};

/* Appends a segment of `len` bytes; returns the entry's offset in the
 * entries, or -ENOMEM (-E2BIG past MS_BUNDLE_RAW_MAX). */
int64_t ms_bundle_add(struct ms_bundle *b, uint32_t tid, uint32_t seq,
		      const void *seg, size_t len);

/*
 * Writes the bundle as DIR/bundle-<n>.msbun, the first n not taken,
 * compressed at zstd level `level`. Returns 0 with *file_size set, or
 * -errno (nothing is left behind).
 */
int ms_bundle_write(const struct ms_bundle *b, const char *dir, int level,
		    uint64_t *file_size);

/* Empties the bundle and frees its memory. */
void ms_bundle_free(struct ms_bundle *b);

/*
 * The bytes of a bundle file of `file_size` bytes counted for the entry
 * that takes bytes [off, off + len) of `raw_len` bytes of entries: shares
 * of the file in proportion, which add up to it exactly.
 */
uint64_t ms_bundle_share(uint64_t file_size, uint64_t raw_len, uint64_t off,
			 uint64_t len);

/* The reader's side. */
struct ms_bundle_entry {
	uint32_t tid, seq;
	const uint8_t *seg; /* inside the entries */
	size_t len;
	size_t off, span; /* the entry's bytes, its prefix included */
};

/*
 * Checks the `size` bytes of a bundle file and decompresses its entries
 * into *raw (malloc'd, *raw_len bytes). Returns the entry count the header
 * states, or -EBADMSG with `why` set (the file is not a readable bundle),
 * or -ENOMEM.
 */
int64_t ms_bundle_open(const uint8_t *file, size_t size, uint8_t **raw,
		       size_t *raw_len, char *why, size_t why_len);

/*
 * The entry at *pos of the entries: 1 with `e` filled and *pos moved past
 * it, 0 at the end, -EBADMSG for bytes that are not an entry.
 */
int ms_bundle_next(const uint8_t *raw, size_t raw_len, size_t *pos,
		   struct ms_bundle_entry *e);

#endif
