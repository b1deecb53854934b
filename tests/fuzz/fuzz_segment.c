/* SPDX-License-Identifier: MIT */
/*
 * The segment reader (common/segment.c) on an arbitrary file: the input is
 * written to a memfd and opened by path like any segment; every frame the
 * reader returns is decoded from its SYNC record. The reader must always
 * make progress and never return a frame beyond its limits. A second pass
 * reads the input with its checksums made right (ms_fuzz_seal_segment()),
 * so damaged sizes and data reach the decoders. The seeds are
 * segments of the format written now (major 2), stored, packed and zstd
 * frames, finished and cut off; corpus/segment holds major-1 segments.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "record.h"
#include "segment.h"
#include "segment_abi.h"

static void decode_frame(const struct ms_seg_frame *fr)
{
	static struct ms_event ev;
	struct ms_rec_state st = {0};
	size_t pos = 0;

	MS_FUZZ_CHECK(fr->len > 0 && fr->len <= MS_SEG_FRAME_RAW_MAX);
	while (pos < fr->len) {
		ssize_t n =
			ms_rec_decode(&st, fr->data + pos, fr->len - pos, &ev);
		if (n < 0)
			break;
		MS_FUZZ_CHECK((size_t)n <= fr->len - pos);
		pos += (size_t)n;
	}
}

static int mem_file(const uint8_t *data, size_t size, char *path, size_t len)
{
	int fd = memfd_create("fuzz-seg", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);

		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

static void read_segment(const uint8_t *data, size_t size)
{
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	char path[64];
	int fd = mem_file(data, size, path, sizeof(path));
	int rc, steps = 0;

	if (ms_seg_open(path, &r) == 0) {
		while ((rc = ms_seg_next(r, &fr)) != 0) {
			/* Each call consumes at least a byte of the file. */
			MS_FUZZ_CHECK(++steps <= (int)size + 2);
			if (rc == 1) {
				MS_FUZZ_CHECK(fr.offset + fr.hdr_size +
						      fr.comp_size <=
					      size);
				decode_frame(&fr);
			} else {
				MS_FUZZ_CHECK(rc == -ENODATA || rc == -EBADMSG);
				MS_FUZZ_CHECK(ms_seg_error(r)[0] != '\0');
			}
		}
		ms_seg_close(r);
	}
	close(fd);
}

/* The input as it is, and again sealed (fuzz.h) when that changes it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ms_fuzz_as_is_and_sealed(data, size, read_segment,
				 ms_fuzz_seal_segment);
	return 0;
}

/*
 * A finished segment of two frames that compress, one packed and one of
 * records through zstd (the seeds of ms_fuzz_make_segment() are so short
 * that they are stored), or NULL.
 */
static size_t make_compressed(uint8_t **out)
{
	struct ms_seg_info info = {.pid = 1, .tid = 2, .tick_hz = 1000};
	static uint8_t raw[8192];
	struct ms_fuzz_tmpseg ts;

	*out = NULL;
	if (ms_fuzz_tmpseg_open(&ts, &info))
		return 0;
	for (int k = 0; k < 2; k++) {
		struct ms_rec_state st = {0};
		uint8_t *p = ms_rec_put_sync(&st, raw);

		for (uint64_t i = 0; i < 300; i++) {
			uint64_t a = 0x10000 + (k ? i * 7919 % 4096 : i) * 32;

			p = ms_rec_put_alloc(&st, p, i * 3, a, 24 + k * i, 0, 1,
					     MS_WEIGHT_ONE);
			p = ms_rec_put_free(&st, p, i * 3 + 1, a);
		}
		ms_seg_write_frame(ts.w, raw, (size_t)(p - raw), 600, 0, 900);
	}
	ms_seg_finish(ts.w);
	return ms_fuzz_tmpseg_end(&ts, 1, out);
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	uint8_t *buf = NULL;
	size_t n;

	n = make_compressed(&buf);
	if (n)
		emit(buf, n, arg);
	free(buf);
	buf = NULL;

	for (int finish = 1; finish >= 0; finish--) {
		n = ms_fuzz_make_segment(&buf, finish);
		if (n)
			emit(buf, n, arg);
		free(buf);
		buf = NULL;
	}
}
