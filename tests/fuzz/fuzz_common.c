/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "fuzz.h"
#include "record.h"
#include "segment.h"
#include "segment_abi.h"

size_t ms_fuzz_hot_agrees(const struct ms_rec_state *st, const uint8_t *p,
			  size_t len)
{
	static struct ms_event ev;
	struct ms_rec_state s = *st, enc = *st;
	struct ms_rec_hot h;
	uint8_t again[MS_REC_SMALL_MAX], *e;
	size_t n = len ? ms_rec_decode_hot(p, p + len, st->last_ts, &h) : 0;

	if (!n)
		return 0;
	MS_FUZZ_CHECK(ms_rec_decode(&s, p, len, &ev) == (ssize_t)n);
	MS_FUZZ_CHECK(ev.type == (p[0] & 0x0f) && ev.flags == (p[0] & 0xf0));
	MS_FUZZ_CHECK(ev.ts == st->last_ts + h.dt && ev.ts == s.last_ts);
	MS_FUZZ_CHECK(ev.addr == st->last_addr + (uint64_t)ms_unzigzag(h.zz));
	MS_FUZZ_CHECK(ev.size == h.size && ev.stack_id == h.stack);
	MS_FUZZ_CHECK(ev.align == h.align && ev.weight == h.weight);
	/* the form the encoders write: the same bytes again */
	if (ev.type == MS_REC_FREE)
		e = ms_rec_put_free_flags(&enc, again, ev.ts, ev.addr,
					  ev.flags);
	else
		e = ms_rec_put_alloc(&enc, again, ev.ts, ev.addr, ev.size,
				     ev.align, ev.stack_id, ev.weight);
	MS_FUZZ_CHECK((size_t)(e - again) == n && !memcmp(again, p, n));
	return n;
}

size_t ms_fuzz_fast_agrees(const struct ms_rec_state *st, const uint8_t *p,
			   size_t len)
{
	static struct ms_event ev;
	struct ms_rec_state s = *st, g = *st;
	struct ms_rec_fast f;
	size_t n = len ? ms_rec_decode_fast(&s, p, p + len, &f) : 0;
	ssize_t r = ms_rec_decode(&g, p, len, &ev);
	int heap =
		r > 0 && (ev.type == MS_REC_ALLOC || ev.type == MS_REC_FREE ||
			  ev.type == MS_REC_REALLOC);

	MS_FUZZ_CHECK(heap == (n > 0));
	if (!n) {
		MS_FUZZ_CHECK(!memcmp(&s, st, sizeof(s)));
		return 0;
	}
	MS_FUZZ_CHECK(r == (ssize_t)n);
	MS_FUZZ_CHECK(!memcmp(&s, &g, sizeof(s)));
	MS_FUZZ_CHECK(ev.type == f.type && ev.flags == f.flags);
	MS_FUZZ_CHECK(ev.ts == f.ts && ev.addr == f.addr);
	MS_FUZZ_CHECK(ev.old_addr == f.old_addr && ev.size == f.size);
	MS_FUZZ_CHECK(ev.stack_id == f.stack_id && ev.align == f.align);
	MS_FUZZ_CHECK(ev.weight == f.weight);
	return n;
}

size_t ms_fuzz_unpacked_form(const uint8_t *raw, size_t len, uint8_t *out)
{
	static struct ms_event ev;
	struct ms_rec_state st = {0, 0};
	struct ms_rec_hot h;
	size_t pos = 0, cleared = 0;

	memcpy(out, raw, len);
	while (pos < len) {
		int hot = ms_rec_decode_hot(raw + pos, raw + len, st.last_ts,
					    &h) != 0;
		ssize_t n = ms_rec_decode(&st, raw + pos, len - pos, &ev);

		MS_FUZZ_CHECK(n > 0);
		if (ev.type == MS_REC_FREE && ev.flags && hot) {
			out[pos] = MS_REC_FREE;
			cleared++;
		}
		pos += (size_t)n;
	}
	return cleared;
}

void ms_fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

size_t ms_fuzz_make_segment(uint8_t **out, int finish)
{
	struct ms_seg_info info = {.pid = 1, .tid = 2, .tick_hz = 1000};
	static const uint64_t frames[2] = {0x401000, 0x402000};
	struct ms_rec_state st = {0};
	struct ms_fuzz_tmpseg ts;
	uint8_t raw[512], *p;
	size_t n;

	*out = NULL;
	if (ms_fuzz_tmpseg_open(&ts, &info))
		return 0;
	for (uint32_t k = 0; k < 3; k++) {
		p = ms_rec_put_sync(&st, raw);
		if (k == 0) {
			p = ms_rec_put_clock(&st, p, 10, 99, 1000);
			p = ms_rec_put_thread_start(&st, p, 11, 1, 2);
			p = ms_rec_put_thread_name(&st, p, 12, "t\xc3\xa9", 3);
			p = ms_rec_put_stack(&st, p, 13, 1, frames, 2);
		}
		p = ms_rec_put_alloc(&st, p, 20 + k, 0x1000u * k, 8 + k, 0, 1,
				     k == 1 ? 2 * MS_WEIGHT_ONE
					    : MS_WEIGHT_ONE);
		p = ms_rec_put_free(&st, p, 30 + k, 0x1000u * k);
		if (k == 2)
			p = ms_rec_put_lost(&st, p, 31, 4, 0);
		ms_seg_write_frame(ts.w, raw, (size_t)(p - raw),
				   k == 0   ? 6
				   : k == 1 ? 2
					    : 3,
				   10, 31);
	}
	ms_seg_finish(ts.w);
	n = ms_fuzz_tmpseg_end(&ts, 1, out);
	if (!finish && n > 3)
		n -= 3; /* cut inside the end record */
	return n;
}

/* Reads a whole file into *out (malloc'ed). Returns its size, or 0. */
static size_t slurp(const char *path, uint8_t **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	size_t n = 0;

	*out = NULL;
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 &&
	    (*out = malloc((size_t)sb.st_size)) &&
	    read(fd, *out, (size_t)sb.st_size) == sb.st_size)
		n = (size_t)sb.st_size;
	close(fd);
	if (!n) {
		free(*out);
		*out = NULL;
	}
	return n;
}

int ms_fuzz_tmpseg_open(struct ms_fuzz_tmpseg *s,
			const struct ms_seg_info *info)
{
	int fd;

	snprintf(s->path, sizeof(s->path), "/tmp/ms-fuzz-seed-XXXXXX");
	fd = mkstemp(s->path);
	if (fd < 0)
		return -1;
	close(fd);
	unlink(s->path); /* the writer makes it anew */
	return ms_seg_create(s->path, info, 1, &s->w) ? -1 : 0;
}

size_t ms_fuzz_tmpseg_end(struct ms_fuzz_tmpseg *s, int keep, uint8_t **out)
{
	size_t n = keep ? slurp(s->path, out) : 0;

	unlink(s->path);
	return n;
}

size_t ms_fuzz_segment(uint32_t pid, uint32_t tid, const uint8_t *raw,
		       size_t len, uint8_t **out)
{
	struct ms_seg_info info = {
		.pid = pid, .tid = tid, .tick_hz = 1000000000u};
	struct ms_rec_state st = {0};
	struct ms_fuzz_tmpseg ts;
	uint64_t first = 0, last = 0;
	uint32_t count = 0;

	*out = NULL;
	/* the frame header's count and times, as a stream writes them */
	for (size_t at = 0; at < len;) {
		struct ms_event ev;
		ssize_t k = ms_rec_decode(&st, raw + at, len - at, &ev);

		if (k <= 0)
			return 0;
		at += (size_t)k;
		if (ev.type == MS_REC_SYNC)
			continue;
		first = count++ ? first : ev.ts;
		last = ev.ts;
	}
	if (ms_fuzz_tmpseg_open(&ts, &info))
		return 0;
	return ms_fuzz_tmpseg_end(
		&ts,
		ms_seg_write_frame(ts.w, raw, len, count, first, last) == 0 &&
			ms_seg_finish(ts.w) == 0,
		out);
}

static char arc_dir[128];

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void arc_cleanup(void)
{
	nftw(arc_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *ms_fuzz_dir(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (arc_dir[0])
		return arc_dir;
	snprintf(arc_dir, sizeof(arc_dir), "%s/ms-fuzz-arc-XXXXXX", base);
	if (!mkdtemp(arc_dir))
		abort();
	atexit(arc_cleanup);
	return arc_dir;
}

void ms_fuzz_put(const char *name, const uint8_t *d, size_t n, int present)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", ms_fuzz_dir(), name);
	if (!present) {
		unlink(p);
		return;
	}
	for (char *s = strchr(p + strlen(arc_dir) + 1, '/'); s;
	     s = strchr(s + 1, '/')) {
		*s = 0;
		mkdir(p, 0700);
		*s = '/';
	}
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (n && write(fd, d, n) != (ssize_t)n))
		abort();
	close(fd);
}

size_t ms_fuzz_take(const uint8_t **d, size_t *size, size_t want)
{
	size_t n = want < *size ? want : *size;

	*d += n;
	*size -= n;
	return n;
}

void ms_fuzz_put_archive(const uint8_t *data, size_t size, const char *seg0,
			 const char *seg1)
{
	size_t mlen = 0xffff, slen = 0;
	const uint8_t *m, *s0;

	if (size >= 2)
		mlen = ms_get_le16(data);
	ms_fuzz_take(&data, &size, 2);
	m = data;
	ms_fuzz_put("manifest.json", m, ms_fuzz_take(&data, &size, mlen),
		    mlen != 0xffff);
	if (size >= 4)
		slen = ms_get_le32(data);
	ms_fuzz_take(&data, &size, 4);
	s0 = data;
	ms_fuzz_put(seg0, s0, ms_fuzz_take(&data, &size, slen), 1);
	ms_fuzz_put(seg1, data, size, size > 0);
}

/* Stores `v` at p unless it is there; returns whether it was not. */
static int put_crc(uint8_t *p, uint32_t v)
{
	if (ms_get_le32(p) == v)
		return 0;
	ms_put_le32(p, v);
	return 1;
}

/* Seals the frame at b[pos]; returns its size, or 0 where the walk ends. */
static size_t seal_frame(uint8_t *b, size_t n, size_t pos, int *changed)
{
	uint8_t *fh = b + pos;
	const uint8_t *p = fh + MS_SEG2_F_VARINTS;
	uint64_t codec, comp;
	size_t l;

	if (n - pos < MS_SEG2_FRAME_HDR_MIN || fh[0] != MS_SEG2_FRAME_MARK)
		return 0;
	l = fh[MS_SEG2_F_HDR_SIZE];
	if (l < MS_SEG2_FRAME_HDR_MIN || l > MS_SEG2_FRAME_HDR_MAX ||
	    l > n - pos || ms_get_varint(&p, fh + l - 8, &codec) ||
	    ms_get_varint(&p, fh + l - 8, &comp) || comp > n - pos - l)
		return 0;
	*changed |= put_crc(fh + l - 8, ms_crc32c(0, fh + l, (size_t)comp));
	*changed |= put_crc(fh + l - 4, ms_crc32c(0, fh, l - 4));
	return l + (size_t)comp;
}

void ms_fuzz_as_is_and_sealed(const uint8_t *data, size_t size,
			      void (*read_fn)(const uint8_t *, size_t),
			      int (*seal)(uint8_t *, size_t))
{
	uint8_t *sealed;

	read_fn(data, size);
	sealed = malloc(size ? size : 1);
	if (!sealed)
		abort();
	memcpy(sealed, data, size);
	if (seal(sealed, size))
		read_fn(sealed, size);
	free(sealed);
}

int ms_fuzz_seal_segment(uint8_t *b, size_t n)
{
	uint8_t check[12];
	size_t h, pos, f;
	int changed = 0;

	if (n <= MS_SEG2_H_HDR_SIZE || ms_get_le32(b) != MS_SEG_MAGIC ||
	    ms_get_le16(b + 4) != MS_SEG_MAJOR)
		return 0;
	h = b[MS_SEG2_H_HDR_SIZE];
	if (h < MS_SEG2_HDR_MIN || h > MS_SEG2_HDR_MAX || h > n)
		return 0;
	changed |= put_crc(b + h - 4, ms_crc32c(0, b, h - 4));
	for (pos = h; (f = seal_frame(b, n, pos, &changed)) != 0; pos += f)
		;
	if (n - pos == MS_SEG2_END_SIZE) {
		ms_put_le32(check, MS_SEG_END_MAGIC);
		memcpy(check + 4, b + h - 4, 4);
		memcpy(check + 8, b + pos + MS_SEG2_E_NFRAMES, 4);
		changed |= put_crc(b + pos + MS_SEG2_E_CHECK,
				   ms_crc32c(0, check, sizeof(check)));
	}
	return changed;
}
