/* SPDX-License-Identifier: MIT */
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
#include <zstd.h>

#include "record.h"
#include "segment.h"
#include "segment_abi.h"
#include "test_files.h"

#define NFRAMES	  5
#define PER_FRAME 40

static char dir[64];
static char path[128];
static uint8_t *file; /* the finished segment */
static size_t file_len;
static uint64_t frame_end[NFRAMES]; /* offset just past each frame */

/* Frame f holds a SYNC and PER_FRAME allocations with sizes f*1000+i. */
static size_t make_frame(struct ms_rec_state *s, uint8_t *buf, int f)
{
	uint8_t *p = ms_rec_put_sync(s, buf);

	for (int i = 0; i < PER_FRAME; i++)
		p = ms_rec_put_alloc(s, p, (uint64_t)(f * 100 + i),
				     0x10000 + (uint64_t)i * 32,
				     (uint64_t)(f * 1000 + i), 0, 1,
				     MS_WEIGHT_ONE);
	return (size_t)(p - buf);
}

static void spit(const char *p, const uint8_t *b, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	struct ms_seg_info info = {
		.pid = 10, .tid = 11, .seq = 2, .tick_hz = 1000000000};
	struct ms_seg_writer *w;
	struct ms_rec_state s = {0, 0};
	uint8_t buf[4096];

	(void)state;
	strcpy(dir, "/tmp/ms-test-seg-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/seg.mseg", dir);
	assert_int_equal(ms_seg_create(path, &info, 3, &w), 0);
	for (int f = 0; f < NFRAMES; f++) {
		size_t n = make_frame(&s, buf, f);

		assert_int_equal(ms_seg_write_frame(w, buf, n, PER_FRAME,
						    (uint64_t)f * 100,
						    (uint64_t)f * 100 + 39),
				 0);
		frame_end[f] = ms_seg_file_size(w);
	}
	assert_int_equal(ms_seg_finish(w), 0);
	file = ms_test_slurp(path, &file_len);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(file);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Reads every frame; checks each record against what was written.
 * Returns whole frames read; *errors counts negative returns. */
static int read_all(const char *p, int *errors, int check_content)
{
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	struct ms_event *ev = malloc(sizeof(*ev));
	int frames = 0, rc;

	*errors = 0;
	rc = ms_seg_open(p, &r);
	if (rc < 0) {
		free(ev);
		*errors = 1;
		return -1;
	}
	for (int guard = 0; guard < 10000; guard++) {
		rc = ms_seg_next(r, &fr);
		if (rc == 0)
			break;
		if (rc < 0) {
			assert_true(rc == -ENODATA || rc == -EBADMSG);
			assert_true(strlen(ms_seg_error(r)) > 0);
			(*errors)++;
			continue;
		}
		struct ms_rec_state s = {0, 0};
		size_t off = 0;
		uint32_t n = 0;
		int f = (int)(fr.first_ts / 100);

		while (off < fr.len) {
			ssize_t k = ms_rec_decode(&s, fr.data + off,
						  fr.len - off, ev);
			assert_true(k > 0);
			off += (size_t)k;
			if (ev->type == MS_REC_SYNC)
				continue;
			if (check_content) {
				assert_int_equal(ev->size, f * 1000 + (int)n);
				assert_int_equal(ev->ts, f * 100 + (int)n);
			}
			n++;
		}
		assert_int_equal(n, fr.count);
		frames++;
	}
	ms_seg_close(r);
	free(ev);
	return frames;
}

static void test_round_trip(void **state)
{
	struct ms_seg_reader *r;
	int errors;

	(void)state;
	assert_int_equal(read_all(path, &errors, 1), NFRAMES);
	assert_int_equal(errors, 0);
	assert_int_equal(ms_seg_open(path, &r), 0);
	assert_int_equal(ms_seg_reader_info(r)->pid, 10);
	assert_int_equal(ms_seg_reader_info(r)->tid, 11);
	assert_int_equal(ms_seg_reader_info(r)->seq, 2);
	assert_int_equal(ms_seg_reader_info(r)->tick_hz, 1000000000);
	assert_int_equal(ms_seg_reader_info(r)->level, 3);
	assert_int_equal(ms_seg_finished(r), 1);
	ms_seg_close(r);
}

/*
 * Writers on one thread share its zstd context and output buffer: two at
 * different levels, their frames interleaved, the thread's context freed
 * between some of them (ms_seg_thread_idle()), both read back exactly.
 */
static void test_writers_share_thread(void **state)
{
	struct ms_seg_info info = {
		.pid = 10, .tid = 12, .seq = 0, .tick_hz = 1000000000};
	struct ms_seg_writer *w[2];
	struct ms_rec_state s[2] = {{0, 0}, {0, 0}};
	char p[2][160];
	uint8_t buf[4096];
	int errors;

	(void)state;
	for (int i = 0; i < 2; i++) {
		snprintf(p[i], sizeof(p[i]), "%s/share-%d.mseg", dir, i);
		assert_int_equal(ms_seg_create(p[i], &info, i ? 19 : 1, &w[i]),
				 0);
	}
	for (int f = 0; f < NFRAMES; f++) {
		for (int i = 0; i < 2; i++) {
			size_t n = make_frame(&s[i], buf, f);

			assert_int_equal(
				ms_seg_write_frame(w[i], buf, n, PER_FRAME,
						   (uint64_t)f * 100,
						   (uint64_t)f * 100 + 39),
				0);
		}
		if (f % 2)
			ms_seg_thread_idle();
	}
	for (int i = 0; i < 2; i++) {
		struct ms_seg_reader *r;

		assert_int_equal(ms_seg_finish(w[i]), 0);
		assert_int_equal(read_all(p[i], &errors, 1), NFRAMES);
		assert_int_equal(errors, 0);
		assert_int_equal(ms_seg_open(p[i], &r), 0);
		assert_int_equal(ms_seg_reader_info(r)->level, i ? 19 : 1);
		ms_seg_close(r);
	}
	ms_seg_thread_idle();
	ms_seg_thread_idle(); /* nothing left to free */
}

static void test_create_refuses_existing(void **state)
{
	struct ms_seg_info info = {0};
	struct ms_seg_writer *w;

	(void)state;
	assert_int_equal(ms_seg_create(path, &info, 1, &w), -EEXIST);
}

/* Cut at every byte: exactly the whole frames before the cut, one error. */
static void test_truncated_everywhere(void **state)
{
	char cut[160];

	(void)state;
	snprintf(cut, sizeof(cut), "%s/cut.mseg", dir);
	for (size_t k = 0; k <= file_len; k++) {
		int want = 0, errors, got;

		for (int f = 0; f < NFRAMES; f++)
			if (frame_end[f] <= k)
				want++;
		spit(cut, file, k);
		got = read_all(cut, &errors, 1);
		if (k < file[MS_SEG2_H_HDR_SIZE]) {
			assert_int_equal(got, -1); /* no header: open fails */
			continue;
		}
		if (got != want || errors != (k == file_len ? 0 : 1))
			fail_msg("cut at %zu: %d frames (want %d), %d errors",
				 k, got, want, errors);
	}
}

/* Flip random bytes: errors, never a crash, never a wrong record. */
static void test_random_corruption(void **state)
{
	char bad[160];
	uint8_t *copy = malloc(file_len);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int saw_error = 0;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/bad.mseg", dir);
	for (int round = 0; round < 3000; round++) {
		int errors, got, flips = 1 + round % 8;

		memcpy(copy, file, file_len);
		for (int i = 0; i < flips; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			copy[x % file_len] ^= (uint8_t)(1 + (x >> 32) % 255);
		}
		spit(bad, copy, file_len);
		got = read_all(bad, &errors, 1);
		assert_true(got <= NFRAMES);
		if (errors)
			saw_error = 1;
	}
	assert_true(saw_error);
	free(copy);
}

/* A corrupt middle frame is skipped; the frames after it are still read. */
static void test_skips_corrupt_frame(void **state)
{
	char bad[160];
	uint8_t *copy = malloc(file_len);
	int errors;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/mid.mseg", dir);
	memcpy(copy, file, file_len);
	/* data: past the frame header, whose size is its second byte */
	copy[frame_end[1] + file[frame_end[1] + 1] + 3] ^= 0xff;
	spit(bad, copy, file_len);
	assert_int_equal(read_all(bad, &errors, 1), NFRAMES - 1);
	assert_int_equal(errors, 1);
	memcpy(copy, file, file_len);
	copy[frame_end[2] + 5] ^= 0xff; /* frame header */
	spit(bad, copy, file_len);
	assert_int_equal(read_all(bad, &errors, 1), NFRAMES - 1);
	assert_int_equal(errors, 1);
	free(copy);
}

/* The data bytes of the first frame of the segment at `p`. */
static uint64_t frame_data_size(const char *p)
{
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	uint64_t n;

	assert_int_equal(ms_seg_open(p, &r), 0);
	assert_int_equal(ms_seg_next(r, &fr), 1);
	n = fr.comp_size;
	ms_seg_close(r);
	return n;
}

/*
 * A frame is never larger than its records through zstd at the same level:
 * packing wins on busy streams, but on a small frame or a program's varied
 * records the columns' own zstd frames cost more than they save.
 */
static void test_never_bigger_than_zstd(void **state)
{
	static const int counts[] = {1, 3, 10, 40, 200, 2000};
	uint8_t *buf = malloc(1 << 20),
		*z = malloc(ZSTD_compressBound(1 << 20));
	uint64_t seed = 7;

	(void)state;
	for (int shape = 0; shape < 2; shape++) {
		for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
			struct ms_seg_info info = {.pid = 1, .tid = 2};
			struct ms_rec_state s = {0, 0};
			struct ms_seg_writer *w;
			uint8_t *p = ms_rec_put_sync(&s, buf);
			uint64_t data;
			size_t len, plain;
			uint32_t nrec = 0;
			int errors;

			for (int i = 0; i < counts[c]; i++) {
				seed = seed * 6364136223846793005ull + 1;
				/* 0: a stream's regular pattern; 1: varied */
				uint64_t a =
					shape ? 0x7f0000000000ull + (seed >> 20)
					      : 0x10000 + (uint64_t)i * 32;
				uint64_t sz = shape ? (seed >> 50) : 24;

				p = ms_rec_put_alloc(&s, p, (uint64_t)i * 7, a,
						     sz, 0, 1, MS_WEIGHT_ONE);
				nrec++;
				if (i % 2) {
					p = ms_rec_put_free(
						&s, p, (uint64_t)i * 7 + 3, a);
					nrec++;
				}
			}
			len = (size_t)(p - buf);
			plain = ZSTD_compress(z, ZSTD_compressBound(len), buf,
					      len, 3);
			assert_false(ZSTD_isError(plain));
			unlink(path);
			assert_int_equal(ms_seg_create(path, &info, 3, &w), 0);
			assert_int_equal(
				ms_seg_write_frame(w, buf, len, nrec, 0, 1), 0);
			assert_int_equal(ms_seg_finish(w), 0);
			data = frame_data_size(path);
			if (data > plain)
				fail_msg("shape %d, %d allocations: a frame of "
					 "%zu bytes of records takes %llu, "
					 "zstd alone %zu",
					 shape, counts[c], len,
					 (unsigned long long)data, plain);
			assert_int_equal(read_all(path, &errors, 0), 1);
			assert_int_equal(errors, 0);
		}
	}
	unlink(path);
	free(buf);
	free(z);
}

/*
 * A short stream's segment (one frame of a few records, issue 12): the
 * fixed parts (header, frame header, end record) take at most 70 bytes,
 * and a frame that zstd does not make smaller is stored as it is.
 */
static void test_short_stream_small(void **state)
{
	static const uint64_t frames[3] = {0x560a9892445e, 0x7f904cabe1f5,
					   0x7f904cb3e8ec};
	struct ms_seg_info info = {.pid = 18249,
				   .tid = 18256,
				   .tick_hz = 32745409,
				   .created_ns = 1764558917257000000ull};
	struct ms_rec_state s = {0, 0};
	uint8_t buf[512], *p, hdr[2];
	struct ms_seg_writer *w;
	size_t len, file_size;
	int errors, fd;

	(void)state;
	p = ms_rec_put_sync(&s, buf);
	p = ms_rec_put_clock(&s, p, 1ull << 40, 56569240095595ull, 32745409);
	p = ms_rec_put_thread_start(&s, p, (1ull << 40) + 9, 18249, 18256);
	p = ms_rec_put_stack(&s, p, (1ull << 40) + 20, 1, frames, 3);
	for (int i = 0; i < 10; i++) {
		uint64_t a = 0x7f9044000c40ull + (uint64_t)(i / 2) * 48;

		p = ms_rec_put_alloc(&s, p, (1ull << 40) + 30 + 9 * i, a,
				     16 + 8 * (uint64_t)i, 1, 1, MS_WEIGHT_ONE);
		p = ms_rec_put_free(&s, p, (1ull << 40) + 34 + 9 * i, a);
	}
	p = ms_rec_put_thread_exit(&s, p, (1ull << 40) + 200);
	len = (size_t)(p - buf);
	unlink(path);
	assert_int_equal(ms_seg_create(path, &info, 1, &w), 0);
	assert_int_equal(ms_seg_write_frame(w, buf, len, 24, 1ull << 40,
					    (1ull << 40) + 200),
			 0);
	assert_int_equal(ms_seg_finish(w), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	file_size = (size_t)lseek(fd, 0, SEEK_END);
	close(fd);
	if (file_size > len + 70)
		fail_msg("%zu bytes of records take %zu on disk", len,
			 file_size);
	assert_true(frame_data_size(path) <= len);
	assert_int_equal(read_all(path, &errors, 0), 1);
	assert_int_equal(errors, 0);
	/* the header's size byte, then the frame header's own */
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, hdr, 1, MS_SEG2_H_HDR_SIZE), 1);
	assert_int_equal(pread(fd, hdr + 1, 1, hdr[0] + 1), 1);
	close(fd);
	assert_true(hdr[0] <= 40 && hdr[1] <= 30);
	unlink(path);
}

/*
 * The header says the zstd level the frames were written at, negative
 * levels too; a segment made whole at once (bundles) does not say, and
 * its header is a byte shorter.
 */
static void test_header_level(void **state)
{
	static const int levels[] = {-7, -1, 0, 1, 15, 19};
	struct ms_seg_info info = {.pid = 1, .tid = 2, .tick_hz = 1000};
	struct ms_rec_state s = {0, 0};
	uint8_t buf[256], seg[256 + MS_SEG_STORED_EXTRA];
	uint8_t *p = ms_rec_put_sync(&s, buf);
	struct ms_seg_writer *w;
	struct ms_seg_reader *r;
	size_t len, n;

	(void)state;
	p = ms_rec_put_alloc(&s, p, 5, 0x1000, 64, 0, 1, MS_WEIGHT_ONE);
	len = (size_t)(p - buf);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		unlink(path);
		assert_int_equal(ms_seg_create(path, &info, levels[i], &w), 0);
		assert_int_equal(ms_seg_write_frame(w, buf, len, 1, 5, 5), 0);
		assert_int_equal(ms_seg_finish(w), 0);
		assert_int_equal(ms_seg_open(path, &r), 0);
		assert_int_equal(ms_seg_reader_info(r)->level, levels[i]);
		assert_int_equal(ms_seg_reader_info(r)->pid, 1);
		assert_int_equal(ms_seg_reader_info(r)->tick_hz, 1000);
		ms_seg_close(r);
	}
	unlink(path);
	n = ms_seg_put_stored(seg, &info, buf, len, 1, 5, 5);
	assert_int_equal(ms_seg_open_mem(seg, n, &r), 0);
	assert_int_equal(ms_seg_reader_info(r)->level, MS_SEG_LEVEL_UNSAID);
	assert_int_equal(ms_seg_reader_info(r)->tick_hz, 1000);
	assert_int_equal(ms_seg_finished(r), 1);
	ms_seg_close(r);
}

/* ms_seg_read_header(): the header's level and whether the file was
 * finished, without the frames; a file cut off is not finished. */
static void test_read_header(void **state)
{
	struct ms_seg_info info = {.pid = 7, .tid = 8, .tick_hz = 1000}, got;
	struct ms_rec_state s = {0, 0};
	uint8_t buf[256], *p = ms_rec_put_sync(&s, buf);
	struct ms_seg_writer *w;
	struct stat st;
	size_t len;
	int finished, fd;

	(void)state;
	p = ms_rec_put_alloc(&s, p, 5, 0x1000, 64, 0, 1, MS_WEIGHT_ONE);
	len = (size_t)(p - buf);
	unlink(path);
	assert_int_equal(ms_seg_create(path, &info, 15, &w), 0);
	assert_int_equal(ms_seg_write_frame(w, buf, len, 1, 5, 5), 0);
	finished = -1;
	assert_int_equal(ms_seg_read_header(path, &got, &finished), 0);
	assert_int_equal(got.level, 15);
	assert_int_equal(got.pid, 7);
	assert_int_equal(got.tid, 8);
	assert_int_equal(finished, 0);
	assert_int_equal(ms_seg_finish(w), 0);
	assert_int_equal(ms_seg_read_header(path, &got, &finished), 0);
	assert_int_equal(got.level, 15);
	assert_int_equal(finished, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 1), 0);
	assert_int_equal(ms_seg_read_header(path, &got, &finished), 0);
	assert_int_equal(finished, 0);
	/* not a segment, none, not a file */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "MSSGxx", 6), 6);
	close(fd);
	assert_int_equal(ms_seg_read_header(path, &got, &finished), -EBADMSG);
	unlink(path);
	assert_int_equal(ms_seg_read_header(path, &got, &finished), -ENOENT);
	assert_int_equal(ms_seg_read_header("/", &got, &finished), -EINVAL);
	assert_int_equal(finished, 0);
}

/* Records that do not compress are stored, and read back byte for byte. */
static void test_stored_frame(void **state)
{
	struct ms_seg_info info = {.pid = 1, .tid = 2};
	struct ms_rec_state s = {0, 0};
	uint8_t buf[1024], *p = ms_rec_put_sync(&s, buf), codec[3];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct ms_seg_writer *w;
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	size_t len;
	int fd;

	(void)state;
	for (int i = 0; i < 6; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p = ms_rec_put_alloc(&s, p, x >> 20, x, x >> 40, 0, 1,
				     MS_WEIGHT_ONE);
	}
	len = (size_t)(p - buf);
	unlink(path);
	assert_int_equal(ms_seg_create(path, &info, 1, &w), 0);
	assert_int_equal(ms_seg_write_frame(w, buf, len, 6, 0, 0), 0);
	assert_int_equal(ms_seg_finish(w), 0);
	assert_int_equal(ms_seg_open(path, &r), 0);
	assert_int_equal(ms_seg_next(r, &fr), 1);
	assert_int_equal(fr.len, len);
	assert_int_equal(fr.comp_size, len);
	assert_memory_equal(fr.data, buf, len);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, codec, 3, (off_t)fr.offset), 3);
	close(fd);
	assert_int_equal(codec[MS_SEG2_F_VARINTS], MS_SEG_CODEC_STORED);
	assert_int_equal(ms_seg_next(r, &fr), 0);
	ms_seg_close(r);
	unlink(path);
}

/*
 * A major-1 segment as the writer of before issue 12 made it (the fuzz
 * corpus' segment/seed-0): 3 frames of 6, 2 and 3 records, finished. Read
 * whole, then cut at every byte: the whole frames before the cut, one
 * error.
 */
static const uint8_t v1_segment[] = {
	0x4d, 0x53, 0x53, 0x47, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
	0x04, 0x03, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2d, 0x81, 0x23, 0x30,
	0x09, 0x7f, 0xeb, 0x18, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xf9, 0xd9, 0x97, 0xf1, 0x4d, 0x53, 0x46, 0x52, 0x2d, 0x00, 0x00, 0x00,
	0x24, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xc0, 0xcd, 0xd5, 0x97, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xc6, 0x23, 0xd4, 0x83, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x24, 0x21, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x02, 0x0a, 0x63, 0xe8, 0x07, 0x09, 0x01, 0x01,
	0x02, 0x0b, 0x01, 0x03, 0x74, 0xc3, 0xa9, 0x06, 0x01, 0x01, 0x02, 0x80,
	0xc0, 0x80, 0x04, 0x80, 0x40, 0x03, 0x07, 0x00, 0x08, 0x01, 0x04, 0x0a,
	0x00, 0x4d, 0x53, 0x46, 0x52, 0x18, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x63, 0xcb, 0x7a,
	0x54, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa5, 0x70, 0x97,
	0xbf, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x0f, 0x79, 0x00, 0x00, 0x01, 0x1e,
	0x00, 0x23, 0x00, 0x80, 0x40, 0x09, 0x01, 0x80, 0x80, 0x08, 0x04, 0x01,
	0x00, 0x4d, 0x53, 0x46, 0x52, 0x1a, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00,
	0x00, 0x03, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd4, 0xad, 0x98,
	0x51, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0xa9, 0x58,
	0x1c, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x11, 0x89, 0x00, 0x00, 0x01, 0x1f,
	0x80, 0x20, 0x03, 0x00, 0x80, 0x40, 0x0a, 0x01, 0x04, 0x01, 0x00, 0x0c,
	0x00, 0x04, 0x00, 0x4d, 0x53, 0x49, 0x58, 0x03, 0x00, 0x00, 0x00, 0x40,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9d, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2f,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2d, 0x7e, 0x5e, 0x18, 0x4d,
	0x53, 0x4e, 0x44,
};

static void test_reads_major1(void **state)
{
	static const uint32_t counts[3] = {6, 2, 3};
	uint64_t end[3];
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	struct ms_seg_info info;
	int errors, finished;

	(void)state;
	spit(path, v1_segment, sizeof(v1_segment));
	assert_int_equal(ms_seg_open(path, &r), 0);
	assert_int_equal(ms_seg_reader_info(r)->pid, 1);
	assert_int_equal(ms_seg_reader_info(r)->tid, 2);
	assert_int_equal(ms_seg_reader_info(r)->tick_hz, 1000);
	assert_int_equal(ms_seg_reader_info(r)->level, MS_SEG_LEVEL_UNSAID);
	assert_int_equal(ms_seg_finished(r), 1);
	for (int f = 0; f < 3; f++) {
		assert_int_equal(ms_seg_next(r, &fr), 1);
		assert_int_equal(fr.count, counts[f]);
		assert_int_equal(fr.hdr_size, MS_SEG_FRAME_HDR_SIZE);
		end[f] = fr.offset + fr.hdr_size + fr.comp_size;
	}
	assert_int_equal(ms_seg_next(r, &fr), 0);
	ms_seg_close(r);
	/* its header alone: no level said, finished by its footer */
	info.level = 0;
	assert_int_equal(ms_seg_read_header(path, &info, &finished), 0);
	assert_int_equal(info.level, MS_SEG_LEVEL_UNSAID);
	assert_int_equal(info.tid, 2);
	assert_int_equal(finished, 1);
	spit(path, v1_segment, sizeof(v1_segment) - 1);
	assert_int_equal(ms_seg_read_header(path, &info, &finished), 0);
	assert_int_equal(finished, 0);
	for (size_t k = MS_SEG_HDR_SIZE; k <= sizeof(v1_segment); k++) {
		int want = 0, got;

		for (int f = 0; f < 3; f++)
			want += end[f] <= k;
		spit(path, v1_segment, k);
		got = read_all(path, &errors, 0);
		if (got != want || errors != (k == sizeof(v1_segment) ? 0 : 1))
			fail_msg("major 1 cut at %zu: %d frames (want %d), "
				 "%d errors",
				 k, got, want, errors);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_create_refuses_existing),
		cmocka_unit_test(test_writers_share_thread),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_random_corruption),
		cmocka_unit_test(test_skips_corrupt_frame),
		cmocka_unit_test(test_never_bigger_than_zstd),
		cmocka_unit_test(test_short_stream_small),
		cmocka_unit_test(test_stored_frame),
		cmocka_unit_test(test_header_level),
		cmocka_unit_test(test_read_header),
		cmocka_unit_test(test_reads_major1),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
