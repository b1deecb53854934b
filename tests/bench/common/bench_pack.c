/* SPDX-License-Identifier: MIT */
/*
 * bench_pack: what frame packing does to the frames of real segments.
 *
 * usage: bench_pack [--level L] SEGMENT...
 *
 * Reads every frame of the given segment files, packs its records, checks
 * that unpacking gives them back byte for byte, and compresses both the
 * records as they are and the packed columns (as the segment writer does:
 * a zstd frame per column) with zstd at level L (default 1). Prints bytes per
 * record of each, the share of each column, and the time packing, unpacking and
 * compressing took (one core).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "bytes.h"
#include "fuzz.h"
#include "pack.h"
#include "segment.h"
#include "segment_abi.h"

static const char *const col_names[] = {
	"type",	 "dt_alloc", "dt_free", "size", "stack",   "amode",   "aaddr",
	"fdist", "faddr",    "extra",	"verb", "time_hi", "addr_hi", "realloc",
};
#define NCOLS (sizeof(col_names) / sizeof(col_names[0]))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct totals {
	uint64_t records, frames, raw, raw_z, packed, packed_z, whole_z,
		col[NCOLS], col_z[NCOLS];
	double t_pack, t_unpack, t_zraw, t_zpacked;
};

static size_t zsize(ZSTD_CCtx *z, void *dst, size_t cap, const void *src,
		    size_t len, double *t)
{
	double t0 = now();
	size_t n = ZSTD_compress2(z, dst, cap, src, len);

	*t += now() - t0;
	if (ZSTD_isError(n)) {
		fprintf(stderr, "bench_pack: zstd: %s\n", ZSTD_getErrorName(n));
		exit(1);
	}
	return n;
}

static int frame(struct totals *t, struct ms_packer *pk, ZSTD_CCtx *z,
		 const struct ms_seg_frame *frame_in)
{
	static uint8_t *packed, *back, *zbuf, *recs;
	struct ms_seg_frame f = *frame_in, *fr = &f;
	size_t cap = 16 * (size_t)MS_SEG_FRAME_RAW_MAX,
	       zcap = ZSTD_compressBound(cap), n = 0;
	const uint8_t *const *part;
	const size_t *plen;
	unsigned nparts;
	double t0;
	int err;

	if (!packed) { /* once, and touched, so page faults are not timed */
		packed = calloc(1, cap);
		back = calloc(1, MS_SEG_FRAME_RAW_MAX);
		zbuf = calloc(1, zcap);
		recs = calloc(1, MS_SEG_FRAME_RAW_MAX);
		if (!packed || !back || !zbuf || !recs)
			return -ENOMEM;
	}
	/* the records as unpacking gives them back: the packed FREEs without
	 * the level that frames kept as records (bundled segments) have */
	ms_fuzz_unpacked_form(frame_in->data, frame_in->len, recs);
	f.data = recs;
	t0 = now();
	err = ms_pack(pk, fr->data, fr->len);
	t->t_pack += now() - t0;
	if (err < 0) {
		fprintf(stderr, "bench_pack: frame not packable (%d)\n", err);
		return 0;
	}
	nparts = ms_pack_parts(pk, &part, &plen);
	if (nparts != NCOLS + 1) {
		fprintf(stderr, "bench_pack: %u parts, %zu columns named\n",
			nparts, NCOLS);
		exit(1);
	}
	/* as the segment writer does: each part its own zstd frame */
	for (unsigned i = 0; i < nparts; i++) {
		memcpy(packed + n, part[i], plen[i]);
		n += plen[i];
		if (i > 0) {
			t->col[i - 1] += plen[i];
			if (plen[i])
				t->col_z[i - 1] +=
					zsize(z, zbuf, zcap, part[i], plen[i],
					      &t->t_zpacked);
		} else {
			t->packed_z += zsize(z, zbuf, zcap, part[i], plen[i],
					     &t->t_zpacked);
		}
	}
	t0 = now();
	err = ms_unpack(pk, packed, n, back, fr->len);
	t->t_unpack += now() - t0;
	if (err || memcmp(back, fr->data, fr->len)) {
		fprintf(stderr, "bench_pack: unpack differs (%d)\n", err);
		exit(1);
	}
	t->frames++;
	t->records += fr->count;
	t->raw += fr->len;
	t->packed += n;
	t->raw_z += zsize(z, zbuf, zcap, fr->data, fr->len, &t->t_zraw);
	{
		double dummy = 0;

		t->whole_z += zsize(z, zbuf, zcap, packed, n, &dummy);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct totals t;
	struct ms_packer *pk = ms_packer_create();
	ZSTD_CCtx *z = ZSTD_createCCtx();
	int level = 1, i = 1;
	double r;

	memset(&t, 0, sizeof(t));
	if (argc > 2 && !strcmp(argv[1], "--level")) {
		level = atoi(argv[2]);
		i = 3;
	}
	if (i >= argc || !pk || !z) {
		fprintf(stderr, "usage: bench_pack [--level L] SEGMENT...\n");
		return 2;
	}
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
	if (level <= 2) { /* as the segment writer compresses columns */
		ZSTD_CCtx_setParameter(z, ZSTD_c_minMatch, 7);
		ZSTD_CCtx_setParameter(z, ZSTD_c_hashLog, 11);
	}
	for (; i < argc; i++) {
		struct ms_seg_reader *rd;
		struct ms_seg_frame fr;
		int err = ms_seg_open(argv[i], &rd);

		if (err) {
			fprintf(stderr, "bench_pack: %s: %s\n", argv[i],
				strerror(-err));
			return 1;
		}
		while ((err = ms_seg_next(rd, &fr)) != 0)
			if (err > 0 && frame(&t, pk, z, &fr) < 0)
				return 1;
		ms_seg_close(rd);
	}
	if (!t.records) {
		fprintf(stderr, "bench_pack: no records\n");
		return 1;
	}
	r = (double)t.records;
	printf("%llu frames, %llu records, zstd level %d\n",
	       (unsigned long long)t.frames, (unsigned long long)t.records,
	       level);
	printf("records: %.2f raw, %.2f compressed bytes/record\n",
	       (double)t.raw / r, (double)t.raw_z / r);
	{
		uint64_t sum = t.packed_z;

		for (size_t c = 0; c < NCOLS; c++)
			sum += t.col_z[c];
		printf("packed:  %.2f raw, %.2f compressed bytes/record as "
		       "stored (one zstd frame per column; %.2f as one)\n",
		       (double)t.packed / r, (double)sum / r,
		       (double)t.whole_z / r);
	}
	for (size_t c = 0; c < NCOLS; c++)
		printf("  %-9s %6.3f raw %6.3f compressed\n", col_names[c],
		       (double)t.col[c] / r, (double)t.col_z[c] / r);
	printf("ns/record: pack %.1f, unpack %.1f, zstd records %.1f, "
	       "zstd packed %.1f\n",
	       t.t_pack * 1e9 / r, t.t_unpack * 1e9 / r, t.t_zraw * 1e9 / r,
	       t.t_zpacked * 1e9 / r);
	ms_packer_destroy(pk);
	ZSTD_freeCCtx(z);
	return 0;
}
