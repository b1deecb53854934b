/* SPDX-License-Identifier: MIT */
/* Bundles (common/bundle.h): the segments of short streams in one file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "bytes.h"
#include "record.h"
#include "segment.h"
#include "test_files.h"

#define NSEG 60

static char dir[64];

/* Thread t's records: a SYNC, then t % 7 + 1 (ALLOC, FREE) pairs. */
static size_t make_records(uint32_t t, uint8_t *buf, uint32_t *count)
{
	struct ms_rec_state s = {0, 0};
	uint8_t *p = ms_rec_put_sync(&s, buf);
	uint32_t pairs = t % 7 + 1;

	for (uint32_t i = 0; i < pairs; i++) {
		uint64_t a = 0x7f0000010000ull + (uint64_t)t * 4096 + i * 64;

		p = ms_rec_put_alloc(&s, p, 1000 + t * 10 + i, a, 32 + t + i, 0,
				     1, MS_WEIGHT_ONE);
		p = ms_rec_put_free(&s, p, 1001 + t * 10 + i, a);
	}
	*count = 2 * pairs;
	return (size_t)(p - buf);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ms-test-bundle-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* A bundle of NSEG segments written; returns the file's bytes. */
static uint8_t *write_bundle(size_t *file_len, size_t *raw_total,
			     const char *name)
{
	struct ms_bundle b = {0};
	uint8_t raw[1024], seg[1024 + MS_SEG_STORED_EXTRA];
	uint64_t size = 0;
	char path[128];

	*raw_total = 0;
	for (uint32_t t = 0; t < NSEG; t++) {
		struct ms_seg_info info = {.pid = 7,
					   .tid = 100 + t,
					   .tick_hz = 1000000000,
					   .created_ns = 1};
		uint32_t count;
		size_t n = make_records(t, raw, &count);
		size_t k = ms_seg_put_stored(seg, &info, raw, n, count, 1000,
					     1000 + count);

		assert_true(k <= n + MS_SEG_STORED_EXTRA);
		assert_true(ms_bundle_add(&b, info.tid, 0, seg, k) >= 0);
		*raw_total += n;
	}
	assert_int_equal(b.n, NSEG);
	assert_int_equal(ms_bundle_write(&b, dir, 9, &size), 0);
	ms_bundle_free(&b);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	uint8_t *f = ms_test_slurp(path, file_len);
	assert_int_equal(*file_len, size);
	return f;
}

/* Every segment comes back whole, each readable with its records; the
 * shares add up to the file; the file is smaller than the records. */
static void test_round_trip(void **state)
{
	size_t flen, raw_total, raw_len, pos = 0;
	uint8_t *f = write_bundle(&flen, &raw_total, "bundle-0.msbun"), *raw;
	struct ms_bundle_entry e;
	uint64_t shares = 0;
	uint32_t t = 0;
	char why[160];

	(void)state;
	assert_int_equal(
		ms_bundle_open(f, flen, &raw, &raw_len, why, sizeof(why)),
		NSEG);
	while (ms_bundle_next(raw, raw_len, &pos, &e) == 1) {
		struct ms_seg_reader *r;
		struct ms_seg_frame fr;
		uint8_t want[1024];
		uint32_t count;
		size_t n = make_records(t, want, &count);

		assert_int_equal(e.tid, 100 + t);
		assert_int_equal(e.seq, 0);
		shares += ms_bundle_share(flen, raw_len, e.off, e.span);
		assert_int_equal(ms_seg_open_mem(e.seg, e.len, &r), 0);
		assert_int_equal(ms_seg_reader_info(r)->tid, 100 + t);
		assert_int_equal(ms_seg_reader_info(r)->pid, 7);
		assert_int_equal(ms_seg_next(r, &fr), 1);
		assert_int_equal(fr.count, count);
		assert_int_equal(fr.len, n);
		assert_memory_equal(fr.data, want, n);
		assert_int_equal(fr.first_ts, 1000);
		assert_int_equal(ms_seg_next(r, &fr), 0);
		assert_true(ms_seg_finished(r));
		ms_seg_close(r);
		t++;
	}
	assert_int_equal(t, NSEG);
	assert_int_equal(pos, raw_len);
	assert_int_equal(shares, flen);
	/* the point of it: fewer bytes than the records themselves */
	assert_true(flen < raw_total);
	free(raw);
	free(f);
	/* a second bundle of the same directory takes the next name */
	f = write_bundle(&flen, &raw_total, "bundle-1.msbun");
	free(f);
}

/* Any byte changed, or the file cut anywhere: refused, with a reason. */
static void test_damage_refused(void **state)
{
	size_t flen, raw_total, raw_len;
	uint8_t *f = write_bundle(&flen, &raw_total, "bundle-0.msbun"), *raw;
	char why[160];

	(void)state;
	for (size_t i = 0; i < flen; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			f[i] ^= (uint8_t)(1u << bit);
			why[0] = 0;
			assert_int_equal(ms_bundle_open(f, flen, &raw, &raw_len,
							why, sizeof(why)),
					 -EBADMSG);
			assert_null(raw);
			assert_true(strlen(why) > 0);
			f[i] ^= (uint8_t)(1u << bit);
		}
	}
	for (size_t n = 0; n < flen; n++)
		assert_int_equal(
			ms_bundle_open(f, n, &raw, &raw_len, why, sizeof(why)),
			-EBADMSG);
	free(f);
}

/* Entries that run past the end, or malformed varints, are refused. */
static void test_bad_entries(void **state)
{
	uint8_t raw[16];
	size_t pos = 0;
	struct ms_bundle_entry e;

	(void)state;
	raw[0] = 5;   /* tid */
	raw[1] = 0;   /* seq */
	raw[2] = 200; /* length 200 | more */
	raw[3] = 1;
	assert_int_equal(ms_bundle_next(raw, 4, &pos, &e), -EBADMSG);
	raw[2] = 3; /* 3 bytes, only 2 there */
	assert_int_equal(ms_bundle_next(raw, 5, &pos, &e), -EBADMSG);
	assert_int_equal(ms_bundle_next(raw, 6, &pos, &e), 1);
	assert_int_equal(e.len, 3);
	assert_int_equal(pos, 6);
	assert_int_equal(ms_bundle_next(raw, 6, &pos, &e), 0);
	pos = 0;
	memset(raw, 0xff, sizeof(raw)); /* a varint that never ends */
	assert_int_equal(ms_bundle_next(raw, sizeof(raw), &pos, &e), -EBADMSG);
}

/* Shares of any file over any tiling add up to the file exactly. */
static void test_shares_exact(void **state)
{
	uint64_t seed = 12345;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		uint64_t file, raw = 0, off = 0, sum = 0, parts[40];
		unsigned n;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n = (unsigned)(seed >> 59) + 1;
		for (unsigned i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ull + 1;
			parts[i] = (seed >> 40) % 5000 + 1;
			raw += parts[i];
		}
		file = (seed >> 20) % (4 * raw) + 1;
		for (unsigned i = 0; i < n; i++) {
			uint64_t s = ms_bundle_share(file, raw, off, parts[i]);

			assert_true(s <= file);
			sum += s;
			off += parts[i];
		}
		assert_int_equal(sum, file);
	}
	assert_int_equal(ms_bundle_share(100, 10, 5, 6), 0); /* outside */
}

/* Past MS_BUNDLE_RAW_MAX a bundle takes no more. */
static void test_bounded(void **state)
{
	struct ms_bundle b = {0};
	static uint8_t seg[64 << 10];
	int64_t r = 0;
	unsigned n = 0;

	(void)state;
	while ((r = ms_bundle_add(&b, n, 0, seg, sizeof(seg))) >= 0)
		n++;
	assert_int_equal(r, -E2BIG);
	assert_true(b.len <= MS_BUNDLE_RAW_MAX);
	assert_int_equal(b.n, n);
	assert_true(n >= MS_BUNDLE_RAW_MAX / sizeof(seg) - 1);
	ms_bundle_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damage_refused, setup,
						teardown),
		cmocka_unit_test(test_bad_entries),
		cmocka_unit_test(test_shares_exact),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
