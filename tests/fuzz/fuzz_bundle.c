/* SPDX-License-Identifier: MIT */
/*
 * The bundle reader (common/bundle.c) on an arbitrary file, then the
 * segment reader on every segment it lists: the entries must tile the
 * decompressed bytes, lie inside them, and the shares of the file counted
 * for them add up to the file exactly. Read three ways: as it is; with its
 * checksums made right, so damaged sizes reach the decompressor; and the
 * input taken as the entries themselves, made into a valid bundle, so
 * that damaged entries and segments reach the entry and segment readers.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "bundle.h"
#include "bytes.h"
#include "checksum.h"
#include "fuzz.h"
#include "record.h"
#include "segment.h"
#include "segment_abi.h"

static void read_entry(const struct ms_bundle_entry *e)
{
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	int rc, rounds = 0;

	if (ms_seg_open_mem(e->seg, e->len, &r))
		return;
	while ((rc = ms_seg_next(r, &fr)) != 0) {
		if (rc == 1)
			MS_FUZZ_CHECK(fr.len > 0 &&
				      fr.len <= MS_SEG_FRAME_RAW_MAX);
		MS_FUZZ_CHECK(++rounds < 100000); /* it always moves on */
	}
	ms_seg_close(r);
}

static void read_bundle(const uint8_t *data, size_t size)
{
	uint8_t *raw;
	size_t raw_len, pos = 0, next = 0;
	struct ms_bundle_entry e;
	uint64_t shares = 0;
	char why[160];
	int64_t count;
	int rc;

	count = ms_bundle_open(data, size, &raw, &raw_len, why, sizeof(why));
	if (count < 0) {
		MS_FUZZ_CHECK(raw == NULL && why[0]);
		return;
	}
	MS_FUZZ_CHECK(raw_len <= MS_BUNDLE_RAW_MAX);
	while ((rc = ms_bundle_next(raw, raw_len, &pos, &e)) == 1) {
		MS_FUZZ_CHECK(e.off == next && e.span > 0 &&
			      e.off + e.span == pos && pos <= raw_len);
		MS_FUZZ_CHECK(e.seg >= raw + e.off &&
			      e.seg + e.len == raw + pos);
		shares += ms_bundle_share(size, raw_len, e.off, e.span);
		next = pos;
		read_entry(&e);
	}
	if (rc == 0 && raw_len)
		MS_FUZZ_CHECK(shares == size && pos == raw_len);
	free(raw);
}

/* Makes the header's checksums right; returns whether a byte changed. */
static int seal(uint8_t *b, size_t n)
{
	uint32_t d, h;
	int changed;

	if (n < MS_BUNDLE_HDR_SIZE)
		return 0;
	d = ms_crc32c(0, b + MS_BUNDLE_HDR_SIZE, n - MS_BUNDLE_HDR_SIZE);
	changed = ms_get_le32(b + MS_BUNDLE_H_DCRC) != d;
	ms_put_le32(b + MS_BUNDLE_H_DCRC, d);
	h = ms_crc32c(0, b, MS_BUNDLE_H_CRC);
	changed |= ms_get_le32(b + MS_BUNDLE_H_CRC) != h;
	ms_put_le32(b + MS_BUNDLE_H_CRC, h);
	return changed;
}

/* The input as a bundle's entries, in a valid bundle. */
static void read_as_entries(const uint8_t *data, size_t size)
{
	size_t bound = ZSTD_compressBound(size), n;
	uint8_t *b;

	if (size > MS_BUNDLE_RAW_MAX)
		return;
	b = malloc(MS_BUNDLE_HDR_SIZE + bound);
	if (!b)
		abort();
	n = ZSTD_compress(b + MS_BUNDLE_HDR_SIZE, bound, data, size, 1);
	if (!ZSTD_isError(n)) {
		memset(b, 0, MS_BUNDLE_HDR_SIZE);
		ms_put_le32(b + MS_BUNDLE_H_MAGIC, MS_BUNDLE_MAGIC);
		ms_put_le16(b + MS_BUNDLE_H_VER, MS_BUNDLE_VERSION);
		ms_put_le32(b + MS_BUNDLE_H_COUNT, 1);
		ms_put_le32(b + MS_BUNDLE_H_RAW, (uint32_t)size);
		seal(b, MS_BUNDLE_HDR_SIZE + n);
		read_bundle(b, MS_BUNDLE_HDR_SIZE + n);
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ms_fuzz_as_is_and_sealed(data, size, read_bundle, seal);
	read_as_entries(data, size);
	return 0;
}

/* A bundle of three short streams' segments, as the consumer makes it. */
void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	struct ms_bundle b = {0};
	uint8_t raw[512], seg[512 + MS_SEG_STORED_EXTRA];

	for (uint32_t t = 0; t < 3; t++) {
		struct ms_seg_info info = {
			.pid = 1, .tid = 2 + t, .tick_hz = 1000};
		struct ms_rec_state st = {0};
		uint8_t *p = ms_rec_put_sync(&st, raw);

		for (uint64_t i = 0; i < 4 + t; i++) {
			uint64_t a = 0x10000 + i * 48;

			p = ms_rec_put_alloc(&st, p, i * 3, a, 24 + i, 0, 1,
					     MS_WEIGHT_ONE);
			p = ms_rec_put_free(&st, p, i * 3 + 1, a);
		}
		size_t n = ms_seg_put_stored(seg, &info, raw, (size_t)(p - raw),
					     2 * (4 + t), 0, (4 + t) * 3);
		if (ms_bundle_add(&b, info.tid, 0, seg, n) < 0)
			abort();
	}
	/* the file as ms_bundle_write() makes it, and the entries alone
	 * (what read_as_entries() takes) */
	{
		size_t bound = ZSTD_compressBound(b.len), n;
		uint8_t *f = malloc(MS_BUNDLE_HDR_SIZE + bound);

		if (!f)
			abort();
		n = ZSTD_compress(f + MS_BUNDLE_HDR_SIZE, bound, b.buf, b.len,
				  9);
		if (!ZSTD_isError(n)) {
			memset(f, 0, MS_BUNDLE_HDR_SIZE);
			ms_put_le32(f + MS_BUNDLE_H_MAGIC, MS_BUNDLE_MAGIC);
			ms_put_le16(f + MS_BUNDLE_H_VER, MS_BUNDLE_VERSION);
			ms_put_le32(f + MS_BUNDLE_H_COUNT, b.n);
			ms_put_le32(f + MS_BUNDLE_H_RAW, (uint32_t)b.len);
			seal(f, MS_BUNDLE_HDR_SIZE + n);
			emit(f, MS_BUNDLE_HDR_SIZE + n, arg);
		}
		free(f);
	}
	emit(b.buf, b.len, arg);
	ms_bundle_free(&b);
}
