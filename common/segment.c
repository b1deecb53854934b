/* SPDX-License-Identifier: MIT */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "bytes.h"
#include "checksum.h"
#include "fileio.h"
#include "pack.h"
#include "ring_abi.h"
#include "segment_abi.h"

struct ms_seg_writer {
	int fd;
	uint64_t off;
	int level; /* the level asked for */
	uint32_t nframes;
	uint32_t hdr_crc; /* the header's CRC, which the end record repeats */
};

struct ms_seg_reader {
	struct ms_seg_info info;
	uint8_t *buf;
	uint64_t size;
	uint64_t pos;	   /* next frame header */
	uint64_t data_end; /* where frames end */
	uint32_t hdr_size; /* where frames begin */
	uint32_t hdr_crc;
	int major;
	int finished;
	int end_reported;
	uint32_t frames_read;
	ZSTD_DCtx *dctx;
	uint8_t *out; /* grows to the largest frame read so far */
	size_t out_cap;
	uint8_t *packed; /* the same, for packed frames */
	size_t packed_cap;
	char err[160];
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Writes the header at `h` (room for MS_SEG2_HDR_MAX) for frames written
 * at zstd level `level` (MS_SEG_LEVEL_UNSAID: not said); returns its
 * size. */
static size_t put_header(uint8_t *h, const struct ms_seg_info *info, int level)
{
	uint8_t *p = h + MS_SEG2_H_VARINTS;
	size_t n;

	ms_put_le32(h + MS_SEG_H_MAGIC, MS_SEG_MAGIC);
	ms_put_le16(h + MS_SEG_H_MAJOR, MS_SEG_MAJOR);
	ms_put_le16(h + MS_SEG_H_MINOR, MS_SEG_MINOR);
	p = ms_put_varint(p, info->pid);
	p = ms_put_varint(p, info->tid);
	p = ms_put_varint(p, info->seq);
	p = ms_put_varint(p, 0); /* flags */
	p = ms_put_varint(p,
			  info->created_ns ? info->created_ns : realtime_ns());
	p = ms_put_varint(p, info->tick_hz);
	if (level != MS_SEG_LEVEL_UNSAID)
		p = ms_put_varint(p, (uint64_t)(level + MS_SEG2_LEVEL_BIAS));
	n = (size_t)(p - h) + 4;
	h[MS_SEG2_H_HDR_SIZE] = (uint8_t)n;
	ms_put_le32(p, ms_crc32c(0, h, n - 4));
	return n;
}

/*
 * What the writers and readers on one thread share, each part made on
 * first use. Packing needs memory (columns, models). A frame is compressed
 * and written in one call, so one zstd context and output buffer serve
 * every writer: 150 threads' streams had 150 contexts, each's workspace
 * (513 KiB at level 1) cold in the cache at every frame, and each
 * writer's 8 MiB buffer mapped, faulted in and unmapped again with its
 * segment (docs/benchmarks.md).
 */
struct zc {
	struct ms_packer *pk;
	ZSTD_CCtx *cctx;
	int level; /* the level cctx is set to */
	uint8_t *out;
	size_t cap;
};

static pthread_key_t zc_key;
static pthread_once_t zc_once = PTHREAD_ONCE_INIT;
static int zc_key_ok;

/* Frees the compressor's part (made again on the next write). */
static void zc_drop(struct zc *z)
{
	ZSTD_freeCCtx(z->cctx);
	free(z->out);
	z->cctx = NULL;
	z->out = NULL;
}

static void zc_free(void *p)
{
	struct zc *z = p;

	ms_packer_destroy(z->pk);
	zc_drop(z);
	free(z);
}

static void zc_key_init(void)
{
	zc_key_ok = pthread_key_create(&zc_key, zc_free) == 0;
}

/* This thread's share; NULL when out of memory. */
static struct zc *thread_state(void)
{
	struct zc *z;

	pthread_once(&zc_once, zc_key_init);
	if (!zc_key_ok)
		return NULL;
	z = pthread_getspecific(zc_key);
	if (z)
		return z;
	z = calloc(1, sizeof(*z));
	if (z && pthread_setspecific(zc_key, z)) {
		free(z);
		z = NULL;
	}
	return z;
}

/* This thread's packer; NULL when out of memory. */
static struct ms_packer *thread_packer(void)
{
	struct zc *z = thread_state();

	if (z && !z->pk)
		z->pk = ms_packer_create();
	return z ? z->pk : NULL;
}

/* This thread's compressor; NULL when out of memory. */
static struct zc *thread_zc(void)
{
	struct zc *z = thread_state();

	if (!z || z->cctx)
		return z;
	z->cap = ZSTD_compressBound(MS_SEG_FRAME_RAW_MAX);
	z->out = malloc(z->cap);
	z->cctx = ZSTD_createCCtx();
	z->level = INT32_MIN;
	if (!z->out || !z->cctx) {
		zc_drop(z);
		return NULL;
	}
	return z;
}

void ms_seg_thread_idle(void)
{
	struct zc *z;

	pthread_once(&zc_once, zc_key_init);
	if (zc_key_ok && (z = pthread_getspecific(zc_key)))
		zc_drop(z);
}

/*
 * Frames of at most this many bytes of records (a short thread's only
 * frame, an idle stream's) are compressed at MS_SEG_SMALL_LEVEL at least:
 * at level 1 zstd leaves a few hundred bytes of records almost as they
 * are, at level 9 it takes a tenth off them (543 bytes of /bin/true's
 * records: 482 -> 457) in some 15 us.
 */
#define MS_SEG_SMALL_MAX   (4u << 10)
#define MS_SEG_SMALL_LEVEL 9

/* Sets the compression parameters for `level` unless they are set. */
static void set_level(struct zc *z, int level)
{
	if (level == z->level)
		return;
	ZSTD_CCtx_reset(z->cctx, ZSTD_reset_parameters);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	/* The frame header has the raw size: zstd need not repeat it. */
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 0);
	if (level <= 2) {
		/*
		 * At the fast levels the packed columns' matches are long or
		 * absent: a minimum match of 7 and a small hash table cost
		 * nothing in size and save a sixth of zstd's time (bench_pack,
		 * level 1: 11.8 -> 9.7 ns per record).
		 */
		ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_minMatch, 7);
		ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_hashLog, 11);
	}
	z->level = level;
}

static int write_header(struct ms_seg_writer *w, const char *path,
			const struct ms_seg_info *info)
{
	uint8_t hdr[MS_SEG2_HDR_MAX];
	size_t n = put_header(hdr, info, w->level);
	int err;

	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return -errno;
	err = ms_write_iov(w->fd,
			   &(struct iovec){.iov_base = hdr, .iov_len = n}, 1);
	if (err) {
		close(w->fd);
		unlink(path);
		return err;
	}
	w->hdr_crc = ms_get_le32(hdr + n - 4);
	w->off = n;
	return 0;
}

int ms_seg_create(const char *path, const struct ms_seg_info *info, int level,
		  struct ms_seg_writer **out)
{
	struct ms_seg_writer *w = calloc(1, sizeof(*w));
	int err = -ENOMEM;

	if (!w)
		return -ENOMEM;
	w->level = level;
	err = write_header(w, path, info);
	if (err) {
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

/*
 * Packs the records and compresses each part as a zstd frame of its own
 * (each column gets its own entropy tables). Returns the compressed size
 * with *packed_size set, or 0 when the frame is to be stored unpacked.
 */
static size_t compress_parts(struct zc *z, const struct ms_packer *pk,
			     uint32_t *packed_size)
{
	const uint8_t *const *part;
	const size_t *plen;
	size_t off = 0, total = 0;
	unsigned n;

	n = ms_pack_parts(pk, &part, &plen);
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		size_t k;

		if (plen[i] == 0)
			continue;
		k = ZSTD_compress2(z->cctx, z->out + off, z->cap - off, part[i],
				   plen[i]);
		if (ZSTD_isError(k))
			return 0; /* bigger than the records would be */
		off += k;
		total += plen[i];
	}
	if (total > UINT32_MAX)
		return 0;
	*packed_size = (uint32_t)total;
	return off;
}

static size_t compress_packed(struct zc *z, const void *raw, size_t len,
			      uint32_t *packed_size)
{
	struct ms_packer *pk = thread_packer();

	if (!pk || ms_pack(pk, raw, len) < 0)
		return 0;
	return compress_parts(z, pk, packed_size);
}

/* Frames of at most this many bytes of records are compressed both ways. */
#define MS_SEG_BOTH_MAX (64u << 10)

/*
 * Compresses the frame into z->out, the smaller of its packed columns and
 * its records through zstd. Returns the size with *codec (and *packed for
 * MS_SEG_CODEC_PACKED) set, or -EIO.
 */
static ssize_t compress_frame(struct zc *z, const void *raw, size_t len,
			      const struct ms_packer *pk, uint32_t *codec,
			      uint32_t *packed)
{
	size_t n, plain = 0;

	n = pk ? compress_parts(z, pk, packed)
	       : compress_packed(z, raw, len, packed);
	*codec = MS_SEG_CODEC_PACKED;
	if (n && (n > len / 2 || len <= MS_SEG_BOTH_MAX)) {
		/*
		 * Packing pays on busy streams; on a small frame, or one of
		 * a real program's varied records, the records compressed as
		 * they are can be smaller (the columns' zstd frames each
		 * have their own header). Whichever is smaller is kept, so a
		 * frame is never larger than its records through zstd. The
		 * records go after the columns; a result that would not be
		 * smaller does not fit there.
		 */
		size_t room = z->cap - n < n ? z->cap - n : n - 1;
		size_t m = ZSTD_compress2(z->cctx, z->out + n, room, raw, len);

		if (!ZSTD_isError(m) && m < n) {
			memmove(z->out, z->out + n, m);
			plain = m;
		}
	}
	if (plain || !n) {
		*codec = MS_SEG_CODEC_RECORDS;
		n = plain ? plain
			  : ZSTD_compress2(z->cctx, z->out, z->cap, raw, len);
		if (ZSTD_isError(n))
			return -EIO;
	}
	return (ssize_t)n;
}

/* Writes the header of a frame of `n` bytes of data at `fh` (room for
 * MS_SEG2_FRAME_HDR_MAX); returns its size. */
static size_t put_frame_header(uint8_t *fh, uint32_t codec, size_t n,
			       size_t len, uint32_t packed, uint32_t count,
			       uint64_t first_ts, uint64_t last_ts,
			       const uint8_t *data)
{
	uint8_t *p = fh + MS_SEG2_F_VARINTS;
	size_t hlen;

	fh[0] = MS_SEG2_FRAME_MARK;
	p = ms_put_varint(p, codec);
	p = ms_put_varint(p, n);
	p = ms_put_varint(p, len);
	p = ms_put_varint(p, count);
	p = ms_put_varint(p, first_ts);
	/* the producer clamps a backwards clock: last >= first */
	p = ms_put_varint(p, last_ts >= first_ts ? last_ts - first_ts : 0);
	if (codec == MS_SEG_CODEC_PACKED)
		p = ms_put_varint(p, packed);
	ms_put_le32(p, ms_crc32c(0, data, n));
	hlen = (size_t)(p - fh) + 8;
	fh[MS_SEG2_F_HDR_SIZE] = (uint8_t)hlen;
	ms_put_le32(p + 4, ms_crc32c(0, fh, hlen - 4));
	return hlen;
}

static int write_frame(struct ms_seg_writer *w, const void *raw, size_t len,
		       const struct ms_packer *pk, uint32_t count,
		       uint64_t first_ts, uint64_t last_ts)
{
	uint8_t fh[MS_SEG2_FRAME_HDR_MAX];
	struct zc *z = thread_zc();
	const uint8_t *data;
	uint32_t codec, packed = 0;
	size_t hlen;
	ssize_t n;
	int err;

	if (len > MS_SEG_FRAME_RAW_MAX)
		return -EINVAL;
	if (!z)
		return -ENOMEM;
	data = z->out;
	set_level(z, len <= MS_SEG_SMALL_MAX && w->level < MS_SEG_SMALL_LEVEL
			     ? MS_SEG_SMALL_LEVEL
			     : w->level);
	n = compress_frame(z, raw, len, pk, &codec, &packed);
	if (n < 0)
		return (int)n;
	if ((size_t)n >= len) {
		/* Compression does not pay (a few records): store them. */
		codec = MS_SEG_CODEC_STORED;
		data = raw;
		n = (ssize_t)len;
	}
	hlen = put_frame_header(fh, codec, (size_t)n, len, packed, count,
				first_ts, last_ts, data);
	err = ms_write_iov(
		w->fd, (struct iovec[]){{fh, hlen}, {(void *)data, (size_t)n}},
		2);
	if (err) {
		/* Part of the frame may be out (a full disk): cut it off, so
		 * that the next frame follows the last whole one. */
		if (ftruncate(w->fd, (off_t)w->off) == 0)
			lseek(w->fd, (off_t)w->off, SEEK_SET);
		return err;
	}
	w->off += hlen + (size_t)n;
	w->nframes++;
	return 0;
}

int ms_seg_write_frame(struct ms_seg_writer *w, const void *raw, size_t len,
		       uint32_t count, uint64_t first_ts, uint64_t last_ts)
{
	return write_frame(w, raw, len, NULL, count, first_ts, last_ts);
}

int ms_seg_write_packed(struct ms_seg_writer *w, const void *raw, size_t len,
			const struct ms_packer *pk, uint32_t count,
			uint64_t first_ts, uint64_t last_ts)
{
	return write_frame(w, raw, len, pk, count, first_ts, last_ts);
}

uint64_t ms_seg_file_size(const struct ms_seg_writer *w)
{
	return w->off;
}

int ms_seg_finish(struct ms_seg_writer *w)
{
	uint8_t end[MS_SEG2_END_SIZE], check[12];
	int err;

	ms_put_le32(end + MS_SEG2_E_NFRAMES, w->nframes);
	ms_put_le32(check, MS_SEG_END_MAGIC);
	ms_put_le32(check + 4, w->hdr_crc);
	ms_put_le32(check + 8, w->nframes);
	ms_put_le32(end + MS_SEG2_E_CHECK, ms_crc32c(0, check, sizeof(check)));
	err = ms_write_iov(w->fd, &(struct iovec){end, sizeof(end)}, 1);
	if (close(w->fd) < 0 && !err)
		err = -errno;
	free(w);
	return err;
}

int ms_seg_path(char *buf, size_t len, const char *dir, uint32_t tid,
		uint32_t seq)
{
	return snprintf(buf, len, "%s/%u-%u.mseg", dir, tid, seq);
}

_Static_assert(MS_SEG_STORED_EXTRA == MS_SEG2_HDR_MAX + MS_SEG2_FRAME_HDR_MAX +
					      MS_SEG2_END_SIZE,
	       "what a stored segment adds to its records");

size_t ms_seg_put_stored(uint8_t *out, const struct ms_seg_info *info,
			 const void *raw, size_t len, uint32_t count,
			 uint64_t first_ts, uint64_t last_ts)
{
	uint8_t *p = out, check[12];
	uint32_t hdr_crc;
	size_t n = put_header(p, info, MS_SEG_LEVEL_UNSAID);

	hdr_crc = ms_get_le32(p + n - 4);
	p += n;
	p += put_frame_header(p, MS_SEG_CODEC_STORED, len, len, 0, count,
			      first_ts, last_ts, raw);
	memcpy(p, raw, len);
	p += len;
	ms_put_le32(p + MS_SEG2_E_NFRAMES, 1);
	ms_put_le32(check, MS_SEG_END_MAGIC);
	ms_put_le32(check + 4, hdr_crc);
	ms_put_le32(check + 8, 1);
	ms_put_le32(p + MS_SEG2_E_CHECK, ms_crc32c(0, check, sizeof(check)));
	return (size_t)(p + MS_SEG2_END_SIZE - out);
}

/* ---- reader ---- */

static int parse_header_v1(struct ms_seg_reader *r)
{
	const uint8_t *h = r->buf;

	if (r->size < MS_SEG_HDR_SIZE ||
	    ms_get_le32(h + MS_SEG_H_CRC) != ms_crc32c(0, h, MS_SEG_H_CRC) ||
	    ms_get_le32(h + MS_SEG_H_HDR_SIZE) != MS_SEG_HDR_SIZE ||
	    ms_get_le32(h + MS_SEG_H_ENDIAN) != MS_ENDIAN_MARK)
		return -EBADMSG;
	r->info.pid = ms_get_le32(h + MS_SEG_H_PID);
	r->info.tid = ms_get_le32(h + MS_SEG_H_TID);
	r->info.seq = ms_get_le32(h + MS_SEG_H_SEQ);
	r->info.created_ns = ms_get_le64(h + MS_SEG_H_CREATED);
	r->info.tick_hz = ms_get_le64(h + MS_SEG_H_TICK_HZ);
	r->info.level = MS_SEG_LEVEL_UNSAID;
	r->hdr_size = MS_SEG_HDR_SIZE;
	r->hdr_crc = ms_get_le32(h + MS_SEG_H_CRC);
	return 0;
}

/* Reads a varint of at most `max` from [*p, end); -1 when it is not one. */
static int get_u(const uint8_t **p, const uint8_t *end, uint64_t max,
		 uint64_t *v)
{
	return ms_get_varint(p, end, v) || *v > max ? -1 : 0;
}

static int parse_header_v2(struct ms_seg_reader *r)
{
	const uint8_t *h = r->buf, *p = h + MS_SEG2_H_VARINTS, *end;
	uint64_t pid, tid, seq, flags, level = 0;
	size_t n;

	if (r->size <= MS_SEG2_H_HDR_SIZE)
		return -EBADMSG;
	n = h[MS_SEG2_H_HDR_SIZE];
	if (n < MS_SEG2_HDR_MIN || n > MS_SEG2_HDR_MAX || n > r->size ||
	    ms_get_le32(h + n - 4) != ms_crc32c(0, h, n - 4))
		return -EBADMSG;
	end = h + n - 4;
	if (get_u(&p, end, UINT32_MAX, &pid) ||
	    get_u(&p, end, UINT32_MAX, &tid) ||
	    get_u(&p, end, UINT32_MAX, &seq) || get_u(&p, end, 0, &flags) ||
	    get_u(&p, end, UINT64_MAX, &r->info.created_ns) ||
	    get_u(&p, end, UINT64_MAX, &r->info.tick_hz) ||
	    (p < end && get_u(&p, end, UINT64_MAX, &level)))
		return -EBADMSG;
	/* 0, or a level zstd does not have: not said */
	r->info.level = level >= 1 && level <= (uint64_t)(ZSTD_maxCLevel() +
							  MS_SEG2_LEVEL_BIAS)
				? (int)level - MS_SEG2_LEVEL_BIAS
				: MS_SEG_LEVEL_UNSAID;
	r->info.pid = (uint32_t)pid;
	r->info.tid = (uint32_t)tid;
	r->info.seq = (uint32_t)seq;
	r->hdr_size = n;
	r->hdr_crc = ms_get_le32(h + n - 4);
	return 0;
}

static int parse_header(struct ms_seg_reader *r)
{
	if (r->size < MS_SEG_H_HDR_SIZE ||
	    ms_get_le32(r->buf + MS_SEG_H_MAGIC) != MS_SEG_MAGIC)
		return -EBADMSG;
	r->major = ms_get_le16(r->buf + MS_SEG_H_MAJOR);
	switch (r->major) {
	case MS_SEG1_MAJOR:
		return parse_header_v1(r);
	case MS_SEG_MAJOR:
		return parse_header_v2(r);
	default:
		return -EBADMSG;
	}
}

/* A valid footer and index mark a finished segment (major 1). */
static void parse_footer_v1(struct ms_seg_reader *r)
{
	const uint8_t *f, *ix;
	uint64_t ioff, ilen;

	if (r->size <
	    MS_SEG_HDR_SIZE + MS_SEG_INDEX_HDR_SIZE + MS_SEG_FOOTER_SIZE)
		return;
	f = r->buf + r->size - MS_SEG_FOOTER_SIZE;
	if (ms_get_le32(f + MS_SEG_E_MAGIC) != MS_SEG_END_MAGIC)
		return;
	ioff = ms_get_le64(f + MS_SEG_E_INDEX_OFFSET);
	if (ioff < MS_SEG_HDR_SIZE ||
	    ioff > r->size - MS_SEG_FOOTER_SIZE - MS_SEG_INDEX_HDR_SIZE)
		return;
	ix = r->buf + ioff;
	ilen = r->size - MS_SEG_FOOTER_SIZE - ioff;
	if (ms_get_le32(ix) != MS_SEG_INDEX_MAGIC ||
	    (uint64_t)ms_get_le32(ix + 4) * MS_SEG_INDEX_ENTRY_SIZE +
			    MS_SEG_INDEX_HDR_SIZE !=
		    ilen ||
	    ms_crc32c(0, ix, ilen) != ms_get_le32(f + MS_SEG_E_INDEX_CRC))
		return;
	r->finished = 1;
	r->data_end = ioff;
}

/* Whether the MS_SEG2_END_SIZE bytes at `e` are the end record of the
 * segment whose header's CRC is `hdr_crc` (major 2). */
static int end_ok_v2(const uint8_t *e, uint32_t hdr_crc)
{
	uint8_t check[12];

	ms_put_le32(check, MS_SEG_END_MAGIC);
	ms_put_le32(check + 4, hdr_crc);
	memcpy(check + 8, e + MS_SEG2_E_NFRAMES, 4);
	return ms_get_le32(e + MS_SEG2_E_CHECK) ==
	       ms_crc32c(0, check, sizeof(check));
}

/* A valid end record marks a finished segment (major 2). */
static void parse_end_v2(struct ms_seg_reader *r)
{
	if (r->size < r->hdr_size + MS_SEG2_END_SIZE ||
	    !end_ok_v2(r->buf + r->size - MS_SEG2_END_SIZE, r->hdr_crc))
		return;
	r->finished = 1;
	r->data_end = r->size - MS_SEG2_END_SIZE;
}

int ms_seg_read_header(const char *path, struct ms_seg_info *info,
		       int *finished)
{
	uint8_t hdr[MS_SEG_HDR_SIZE > MS_SEG2_HDR_MAX ? MS_SEG_HDR_SIZE
						      : MS_SEG2_HDR_MAX];
	uint8_t end[MS_SEG_FOOTER_SIZE];
	struct ms_seg_reader r = {.buf = hdr};
	struct stat st;
	ssize_t n;
	int fd, err;

	*finished = 0;
	fd = ms_open_regular(path);
	if (fd < 0)
		return fd;
	n = fstat(fd, &st) < 0 ? -1 : pread(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	r.size = (uint64_t)n;
	err = parse_header(&r);
	if (!err && r.major == MS_SEG_MAJOR &&
	    (uint64_t)st.st_size >= r.hdr_size + MS_SEG2_END_SIZE &&
	    pread(fd, end, MS_SEG2_END_SIZE, st.st_size - MS_SEG2_END_SIZE) ==
		    MS_SEG2_END_SIZE)
		*finished = end_ok_v2(end, r.hdr_crc);
	/* major 1: the footer's magic (its index is not read) */
	if (!err && r.major == MS_SEG1_MAJOR &&
	    (uint64_t)st.st_size >= r.hdr_size + MS_SEG_FOOTER_SIZE &&
	    pread(fd, end, MS_SEG_FOOTER_SIZE,
		  st.st_size - MS_SEG_FOOTER_SIZE) == MS_SEG_FOOTER_SIZE)
		*finished =
			ms_get_le32(end + MS_SEG_E_MAGIC) == MS_SEG_END_MAGIC;
	close(fd);
	if (!err)
		*info = r.info;
	return err;
}

static int open_buf(struct ms_seg_reader *r, struct ms_seg_reader **out);

int ms_seg_open(const char *path, struct ms_seg_reader **out)
{
	struct ms_seg_reader *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	err = ms_read_regular(path, UINT64_MAX, &r->buf, &r->size);
	if (err) {
		ms_seg_close(r);
		return err;
	}
	return open_buf(r, out);
}

int ms_seg_open_mem(const void *buf, size_t size, struct ms_seg_reader **out)
{
	struct ms_seg_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->buf = malloc(size + 1);
	if (!r->buf) {
		free(r);
		return -ENOMEM;
	}
	memcpy(r->buf, buf, size);
	r->size = size;
	return open_buf(r, out);
}

static int open_buf(struct ms_seg_reader *r, struct ms_seg_reader **out)
{
	int err = parse_header(r);

	if (err)
		goto out_free;
	r->data_end = r->size;
	if (r->major == MS_SEG1_MAJOR)
		parse_footer_v1(r);
	else
		parse_end_v2(r);
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		err = -ENOMEM;
		goto out_free;
	}
	r->pos = r->hdr_size;
	*out = r;
	return 0;
out_free:
	ms_seg_close(r);
	return err;
}

const struct ms_seg_info *ms_seg_reader_info(const struct ms_seg_reader *r)
{
	return &r->info;
}

const char *ms_seg_error(const struct ms_seg_reader *r)
{
	return r->err;
}

int ms_seg_finished(const struct ms_seg_reader *r)
{
	return r->finished;
}

/* A frame header as read, whichever the major. */
struct frame_hdr {
	uint32_t size; /* of the header */
	uint32_t codec, count, data_crc;
	uint64_t comp, raw, packed;
	uint64_t first_ts, last_ts;
};

static int frame_header_v1(const uint8_t *fh, uint64_t avail,
			   struct frame_hdr *h)
{
	if (avail < MS_SEG_FRAME_HDR_SIZE)
		return -ENODATA;
	if (ms_get_le32(fh + MS_SEG_F_MAGIC) != MS_SEG_FRAME_MAGIC ||
	    ms_get_le32(fh + MS_SEG_F_CRC) != ms_crc32c(0, fh, MS_SEG_F_CRC))
		return -EBADMSG;
	h->size = MS_SEG_FRAME_HDR_SIZE;
	h->comp = ms_get_le32(fh + MS_SEG_F_COMP_SIZE);
	h->raw = ms_get_le32(fh + MS_SEG_F_RAW_SIZE);
	h->count = ms_get_le32(fh + MS_SEG_F_COUNT);
	h->first_ts = ms_get_le64(fh + MS_SEG_F_FIRST_TS);
	h->last_ts = ms_get_le64(fh + MS_SEG_F_LAST_TS);
	h->data_crc = ms_get_le32(fh + MS_SEG_F_DATA_CRC);
	h->codec = ms_get_le32(fh + MS_SEG_F_CODEC);
	h->packed = ms_get_le32(fh + MS_SEG_F_PACKED_SIZE);
	return 0;
}

static int frame_header_v2(const uint8_t *fh, uint64_t avail,
			   struct frame_hdr *h)
{
	const uint8_t *p = fh + MS_SEG2_F_VARINTS, *end;
	uint64_t codec, count, dt, n;

	if (avail < MS_SEG2_FRAME_HDR_MIN)
		return -ENODATA; /* no frame header is this short */
	n = fh[MS_SEG2_F_HDR_SIZE];
	if (fh[0] != MS_SEG2_FRAME_MARK || n < MS_SEG2_FRAME_HDR_MIN ||
	    n > MS_SEG2_FRAME_HDR_MAX)
		return -EBADMSG;
	if (avail < n)
		return -ENODATA;
	if (ms_get_le32(fh + n - 4) != ms_crc32c(0, fh, n - 4))
		return -EBADMSG;
	end = fh + n - 8;
	h->packed = 0;
	if (get_u(&p, end, UINT32_MAX, &codec) ||
	    get_u(&p, end, UINT32_MAX, &h->comp) ||
	    get_u(&p, end, UINT32_MAX, &h->raw) ||
	    get_u(&p, end, UINT32_MAX, &count) ||
	    get_u(&p, end, UINT64_MAX, &h->first_ts) ||
	    get_u(&p, end, UINT64_MAX - h->first_ts, &dt) ||
	    (codec == MS_SEG_CODEC_PACKED &&
	     get_u(&p, end, UINT32_MAX, &h->packed)))
		return -EBADMSG;
	h->size = (uint32_t)n;
	h->codec = (uint32_t)codec;
	h->count = (uint32_t)count;
	h->last_ts = h->first_ts + dt;
	h->data_crc = ms_get_le32(end);
	return 0;
}

/*
 * Reads the frame header at `pos`. Returns 0, -ENODATA when the bytes up
 * to the end of the frames are too few to hold it, -EBADMSG when it is not
 * a valid frame header.
 */
static int frame_header(const struct ms_seg_reader *r, uint64_t pos,
			struct frame_hdr *h)
{
	const uint8_t *fh = r->buf + pos;
	uint64_t avail = r->data_end - pos;

	if (r->major == MS_SEG1_MAJOR)
		return frame_header_v1(fh, avail, h);
	return frame_header_v2(fh, avail, h);
}

/* Cut off: nothing after this point is readable. */
static int truncated(struct ms_seg_reader *r, const char *where)
{
	snprintf(r->err, sizeof(r->err),
		 "segment cut off %s at offset %llu (%u whole frames read)",
		 where, (unsigned long long)r->pos, r->frames_read);
	r->pos = r->data_end;
	r->end_reported = 1;
	return -ENODATA;
}

/* Corrupt bytes at r->pos: resume at the next valid frame header. */
static int corrupt(struct ms_seg_reader *r, const char *what, uint64_t next)
{
	uint64_t bad = r->pos;
	struct frame_hdr h;

	if (next == 0) {
		next = r->pos + 1;
		while (next < r->data_end && frame_header(r, next, &h) != 0)
			next++;
	}
	snprintf(r->err, sizeof(r->err),
		 "corrupt segment: %s at offset %llu; skipped %llu bytes", what,
		 (unsigned long long)bad, (unsigned long long)(next - bad));
	r->pos = next;
	return -EBADMSG;
}

static int at_end(struct ms_seg_reader *r)
{
	if (r->finished || r->end_reported)
		return 0;
	r->end_reported = 1;
	snprintf(r->err, sizeof(r->err),
		 "segment not finished (no %s): cut off after %u whole "
		 "frames",
		 r->major == MS_SEG1_MAJOR ? "index" : "end record",
		 r->frames_read);
	return -ENODATA;
}

/*
 * Decompresses the zstd frames of a packed frame and unpacks them into
 * r->out. Returns `raw`, 0 when the bytes are damaged, or (size_t)-ENOMEM.
 */
static size_t unpack_frame(struct ms_seg_reader *r, const uint8_t *src,
			   const struct frame_hdr *h)
{
	uint64_t packed = h->packed, comp = h->comp, raw = h->raw, got = 0;
	struct ms_packer *pk = thread_packer();

	/*
	 * A packed frame starts with its version byte (ms_unpack() would
	 * get no buffer at all), and no column is longer than the records
	 * it came from.
	 */
	if (packed == 0 || packed > 16 * raw + 256)
		return 0;
	if (!pk)
		return (size_t)-ENOMEM;
	if (packed > r->packed_cap) {
		uint8_t *b = realloc(r->packed, (size_t)packed);

		if (!b)
			return (size_t)-ENOMEM;
		r->packed = b;
		r->packed_cap = (size_t)packed;
	}
	while (comp > 0) {
		size_t f = ZSTD_findFrameCompressedSize(src, (size_t)comp), k;

		if (ZSTD_isError(f) || got >= packed)
			return 0;
		k = ZSTD_decompressDCtx(r->dctx, r->packed + got,
					(size_t)(packed - got), src, f);
		if (ZSTD_isError(k))
			return 0;
		got += k;
		src += f;
		comp -= f;
	}
	if (got != packed)
		return 0;
	switch (ms_unpack(pk, r->packed, (size_t)packed, r->out, (size_t)raw)) {
	case 0:
		return (size_t)raw;
	case -ENOMEM:
		return (size_t)-ENOMEM;
	default:
		return 0;
	}
}

static int out_of_memory(struct ms_seg_reader *r, uint64_t next,
			 const char *what)
{
	snprintf(r->err, sizeof(r->err), "out of memory %s", what);
	r->pos = next;
	return -ENOMEM;
}

/* Makes r->out hold `raw` bytes; 0 or -ENOMEM. */
static int out_room(struct ms_seg_reader *r, uint64_t raw)
{
	size_t cap = raw < 65536 ? 65536 : (size_t)raw;
	uint8_t *o;

	if (raw <= r->out_cap)
		return 0;
	o = realloc(r->out, cap);
	if (!o)
		return -ENOMEM;
	r->out = o;
	r->out_cap = cap;
	return 0;
}

/* Decodes the data of the frame at r->pos into fr->data and fr->len. */
static int decode_data(struct ms_seg_reader *r, const struct frame_hdr *h,
		       uint64_t next, struct ms_seg_frame *fr)
{
	const uint8_t *src = r->buf + r->pos + h->size;
	size_t n;

	if (h->codec == MS_SEG_CODEC_STORED) {
		if (h->comp != h->raw)
			return corrupt(r, "stored frame of the wrong size",
				       next);
		fr->data = src; /* valid as long as the reader */
		fr->len = (size_t)h->raw;
		return 0;
	}
	if (out_room(r, h->raw) < 0)
		return out_of_memory(r, next, "for a frame");
	switch (h->codec) {
	case MS_SEG_CODEC_RECORDS:
		n = ZSTD_decompressDCtx(r->dctx, r->out, r->out_cap, src,
					(size_t)h->comp);
		if (ZSTD_isError(n) || n != h->raw)
			return corrupt(r, "frame does not decompress", next);
		break;
	case MS_SEG_CODEC_PACKED:
		n = unpack_frame(r, src, h);
		if (n == 0)
			return corrupt(r, "packed frame does not unpack", next);
		if (n == (size_t)-ENOMEM)
			return out_of_memory(r, next, "unpacking a frame");
		break;
	default:
		return corrupt(r, "unknown frame codec", next);
	}
	fr->data = r->out;
	fr->len = n;
	return 0;
}

/* The frame header at r->pos is not valid: cut off, or corrupt. */
static int bad_header(struct ms_seg_reader *r, int rc)
{
	const uint8_t *p = r->buf + r->pos;

	if (rc == -ENODATA)
		return r->finished ? corrupt(r, "short frame", r->data_end)
				   : truncated(r, "inside a frame header");
	if (!r->finished && r->major == MS_SEG1_MAJOR &&
	    r->data_end - r->pos >= 4 && ms_get_le32(p) == MS_SEG_INDEX_MAGIC)
		return truncated(r, "inside the index");
	return corrupt(r, "bad frame header", 0);
}

int ms_seg_next(struct ms_seg_reader *r, struct ms_seg_frame *fr)
{
	struct frame_hdr h;
	uint64_t next;
	int rc;

	if (r->pos >= r->data_end)
		return at_end(r);
	rc = frame_header(r, r->pos, &h);
	if (rc)
		return bad_header(r, rc);
	if (h.comp > r->data_end - r->pos - h.size)
		return r->finished ? corrupt(r, "frame overruns", r->data_end)
				   : truncated(r, "inside a frame");
	next = r->pos + h.size + h.comp;
	if (h.raw > MS_SEG_FRAME_RAW_MAX)
		return corrupt(r, "frame too large", next);
	/* A frame holds its SYNC at least; callers decode from fr->data. */
	if (h.raw == 0)
		return corrupt(r, "empty frame", next);
	if (ms_crc32c(0, r->buf + r->pos + h.size, h.comp) != h.data_crc)
		return corrupt(r, "frame checksum mismatch", next);
	rc = decode_data(r, &h, next, fr);
	if (rc)
		return rc;
	fr->count = h.count;
	fr->first_ts = h.first_ts;
	fr->last_ts = h.last_ts;
	fr->offset = r->pos;
	fr->hdr_size = h.size;
	fr->comp_size = h.comp;
	r->pos = next;
	r->frames_read++;
	return 1;
}

void ms_seg_close(struct ms_seg_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDCtx(r->dctx);
	free(r->out);
	free(r->packed);
	free(r->buf);
	free(r);
}
