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
#include "pack.h"
#include "ring_abi.h"
#include "segment_abi.h"

struct ms_seg_writer {
	int fd;
	uint64_t off;
	ZSTD_CCtx *cctx;
	uint8_t *out;
	size_t out_cap;
	uint8_t *index; /* growing array of index entries */
	uint32_t nframes, index_cap;
};

struct ms_seg_reader {
	struct ms_seg_info info;
	uint8_t *buf;
	uint64_t size;
	uint64_t pos;	   /* next frame header */
	uint64_t data_end; /* where frames end */
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

static int write_all(int fd, const struct iovec *iov, int n)
{
	struct iovec v[4];
	ssize_t w;

	memcpy(v, iov, sizeof(v[0]) * (size_t)n);
	while (n > 0) {
		w = writev(fd, v, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= v[0].iov_len) {
			w -= (ssize_t)v[0].iov_len;
			memmove(v, v + 1, sizeof(v[0]) * (size_t)--n);
		}
		if (n > 0) {
			v[0].iov_base = (uint8_t *)v[0].iov_base + w;
			v[0].iov_len -= (size_t)w;
		}
	}
	return 0;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_header(uint8_t *h, const struct ms_seg_info *info)
{
	memset(h, 0, MS_SEG_HDR_SIZE);
	ms_put_le32(h + MS_SEG_H_MAGIC, MS_SEG_MAGIC);
	ms_put_le16(h + MS_SEG_H_MAJOR, MS_SEG_MAJOR);
	ms_put_le16(h + MS_SEG_H_MINOR, MS_SEG_MINOR);
	ms_put_le32(h + MS_SEG_H_HDR_SIZE, MS_SEG_HDR_SIZE);
	ms_put_le32(h + MS_SEG_H_ENDIAN, MS_ENDIAN_MARK);
	ms_put_le32(h + MS_SEG_H_PID, info->pid);
	ms_put_le32(h + MS_SEG_H_TID, info->tid);
	ms_put_le32(h + MS_SEG_H_SEQ, info->seq);
	ms_put_le64(h + MS_SEG_H_CREATED,
		    info->created_ns ? info->created_ns : realtime_ns());
	ms_put_le64(h + MS_SEG_H_TICK_HZ, info->tick_hz);
	ms_put_le32(h + MS_SEG_H_CRC, ms_crc32c(0, h, MS_SEG_H_CRC));
}

/*
 * Packing needs some memory (columns, models) that writers and readers on
 * one thread can share: each thread gets its packer on first use.
 */
static pthread_key_t packer_key;
static pthread_once_t packer_once = PTHREAD_ONCE_INIT;
static int packer_key_ok;

static void packer_free(void *pk)
{
	ms_packer_destroy(pk);
}

static void packer_key_init(void)
{
	packer_key_ok = pthread_key_create(&packer_key, packer_free) == 0;
}

/* This thread's packer; NULL when out of memory. */
static struct ms_packer *thread_packer(void)
{
	struct ms_packer *pk;

	pthread_once(&packer_once, packer_key_init);
	if (!packer_key_ok)
		return NULL;
	pk = pthread_getspecific(packer_key);
	if (!pk) {
		pk = ms_packer_create();
		if (pk && pthread_setspecific(packer_key, pk)) {
			ms_packer_destroy(pk);
			pk = NULL;
		}
	}
	return pk;
}

int ms_seg_create(const char *path, const struct ms_seg_info *info, int level,
		  struct ms_seg_writer **out)
{
	struct ms_seg_writer *w = calloc(1, sizeof(*w));
	uint8_t hdr[MS_SEG_HDR_SIZE];
	int err = -ENOMEM;

	if (!w)
		return -ENOMEM;
	w->out_cap = ZSTD_compressBound(MS_SEG_FRAME_RAW_MAX);
	w->out = malloc(w->out_cap);
	w->cctx = ZSTD_createCCtx();
	if (!w->out || !w->cctx)
		goto out_free;
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	if (level <= 2) {
		/*
		 * At the fast levels the packed columns' matches are long or
		 * absent: a minimum match of 7 and a small hash table cost
		 * nothing in size and save a sixth of zstd's time (bench_pack,
		 * level 1: 11.8 -> 9.7 ns per record).
		 */
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_minMatch, 7);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_hashLog, 11);
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		err = -errno;
		goto out_free;
	}
	put_header(hdr, info);
	err = write_all(
		w->fd, &(struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)},
		1);
	if (err) {
		close(w->fd);
		unlink(path);
		goto out_free;
	}
	w->off = MS_SEG_HDR_SIZE;
	*out = w;
	return 0;
out_free:
	ZSTD_freeCCtx(w->cctx);
	free(w->out);
	free(w);
	return err;
}

static int add_index(struct ms_seg_writer *w, uint64_t off, uint32_t count,
		     uint64_t first_ts, uint64_t last_ts)
{
	uint8_t *e;

	if (w->nframes == w->index_cap) {
		uint32_t cap = w->index_cap ? w->index_cap * 2 : 64;
		uint8_t *n = realloc(w->index,
				     (size_t)cap * MS_SEG_INDEX_ENTRY_SIZE);
		if (!n)
			return -ENOMEM;
		w->index = n;
		w->index_cap = cap;
	}
	e = w->index + (size_t)w->nframes++ * MS_SEG_INDEX_ENTRY_SIZE;
	memset(e, 0, MS_SEG_INDEX_ENTRY_SIZE);
	ms_put_le64(e + MS_SEG_I_OFFSET, off);
	ms_put_le32(e + MS_SEG_I_COUNT, count);
	ms_put_le64(e + MS_SEG_I_FIRST_TS, first_ts);
	ms_put_le64(e + MS_SEG_I_LAST_TS, last_ts);
	return 0;
}

/*
 * Packs the records and compresses each part as a zstd frame of its own
 * (each column gets its own entropy tables). Returns the compressed size
 * with *packed_size set, or 0 when the frame is to be stored unpacked.
 */
static size_t compress_parts(struct ms_seg_writer *w,
			     const struct ms_packer *pk, uint32_t *packed_size)
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
		k = ZSTD_compress2(w->cctx, w->out + off, w->out_cap - off,
				   part[i], plen[i]);
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

static size_t compress_packed(struct ms_seg_writer *w, const void *raw,
			      size_t len, uint32_t *packed_size)
{
	struct ms_packer *pk = thread_packer();

	if (!pk || ms_pack(pk, raw, len) < 0)
		return 0;
	return compress_parts(w, pk, packed_size);
}

/* Frames of at most this many bytes of records are compressed both ways. */
#define MS_SEG_BOTH_MAX (64u << 10)

static int write_frame(struct ms_seg_writer *w, const void *raw, size_t len,
		       const struct ms_packer *pk, uint32_t count,
		       uint64_t first_ts, uint64_t last_ts)
{
	uint8_t fh[MS_SEG_FRAME_HDR_SIZE] = {0};
	uint32_t packed = 0;
	size_t n, plain = 0;
	int err;

	if (len > MS_SEG_FRAME_RAW_MAX)
		return -EINVAL;
	n = pk ? compress_parts(w, pk, &packed)
	       : compress_packed(w, raw, len, &packed);
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
		size_t room = w->out_cap - n < n ? w->out_cap - n : n - 1;
		size_t m = ZSTD_compress2(w->cctx, w->out + n, room, raw, len);

		if (!ZSTD_isError(m) && m < n) {
			memmove(w->out, w->out + n, m);
			plain = m;
		}
	}
	if (plain) {
		n = plain;
	} else if (n) {
		ms_put_le32(fh + MS_SEG_F_CODEC, MS_SEG_CODEC_PACKED);
		ms_put_le32(fh + MS_SEG_F_PACKED_SIZE, packed);
	} else {
		n = ZSTD_compress2(w->cctx, w->out, w->out_cap, raw, len);
		if (ZSTD_isError(n))
			return -EIO;
	}
	ms_put_le32(fh + MS_SEG_F_MAGIC, MS_SEG_FRAME_MAGIC);
	ms_put_le32(fh + MS_SEG_F_COMP_SIZE, (uint32_t)n);
	ms_put_le32(fh + MS_SEG_F_RAW_SIZE, (uint32_t)len);
	ms_put_le32(fh + MS_SEG_F_COUNT, count);
	ms_put_le64(fh + MS_SEG_F_FIRST_TS, first_ts);
	ms_put_le64(fh + MS_SEG_F_LAST_TS, last_ts);
	ms_put_le32(fh + MS_SEG_F_DATA_CRC, ms_crc32c(0, w->out, n));
	ms_put_le32(fh + MS_SEG_F_CRC, ms_crc32c(0, fh, MS_SEG_F_CRC));
	err = add_index(w, w->off, count, first_ts, last_ts);
	if (err)
		return err;
	err = write_all(w->fd, (struct iovec[]){{fh, sizeof(fh)}, {w->out, n}},
			2);
	if (err) {
		/* Part of the frame may be out (a full disk): cut it off, so
		 * that the next frame follows the last whole one. */
		if (ftruncate(w->fd, (off_t)w->off) == 0)
			lseek(w->fd, (off_t)w->off, SEEK_SET);
		w->nframes--;
		return err;
	}
	w->off += sizeof(fh) + n;
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
	uint8_t ih[MS_SEG_INDEX_HDR_SIZE], foot[MS_SEG_FOOTER_SIZE];
	size_t ilen = (size_t)w->nframes * MS_SEG_INDEX_ENTRY_SIZE;
	uint32_t crc;
	int err;

	ms_put_le32(ih, MS_SEG_INDEX_MAGIC);
	ms_put_le32(ih + 4, w->nframes);
	crc = ms_crc32c(0, ih, sizeof(ih));
	crc = ms_crc32c(crc, w->index, ilen);
	ms_put_le64(foot + MS_SEG_E_INDEX_OFFSET, w->off);
	ms_put_le32(foot + MS_SEG_E_INDEX_CRC, crc);
	ms_put_le32(foot + MS_SEG_E_MAGIC, MS_SEG_END_MAGIC);
	err = write_all(w->fd,
			(struct iovec[]){{ih, sizeof(ih)},
					 {w->index, ilen},
					 {foot, sizeof(foot)}},
			3);
	if (close(w->fd) < 0 && !err)
		err = -errno;
	ZSTD_freeCCtx(w->cctx);
	free(w->out);
	free(w->index);
	free(w);
	return err;
}

/* ---- reader ---- */

static int read_file(const char *path, uint8_t **buf, uint64_t *size)
{
	struct stat st;
	uint64_t got = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (uint64_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shrank while reading: take what we have */
		got += (uint64_t)n;
	}
	*size = got;
out:
	close(fd);
	return err;
}

static int parse_header(struct ms_seg_reader *r)
{
	const uint8_t *h = r->buf;

	if (r->size < MS_SEG_HDR_SIZE ||
	    ms_get_le32(h + MS_SEG_H_MAGIC) != MS_SEG_MAGIC)
		return -EBADMSG;
	if (ms_get_le32(h + MS_SEG_H_CRC) != ms_crc32c(0, h, MS_SEG_H_CRC) ||
	    ms_get_le16(h + MS_SEG_H_MAJOR) != MS_SEG_MAJOR ||
	    ms_get_le32(h + MS_SEG_H_HDR_SIZE) != MS_SEG_HDR_SIZE ||
	    ms_get_le32(h + MS_SEG_H_ENDIAN) != MS_ENDIAN_MARK)
		return -EBADMSG;
	r->info.pid = ms_get_le32(h + MS_SEG_H_PID);
	r->info.tid = ms_get_le32(h + MS_SEG_H_TID);
	r->info.seq = ms_get_le32(h + MS_SEG_H_SEQ);
	r->info.created_ns = ms_get_le64(h + MS_SEG_H_CREATED);
	r->info.tick_hz = ms_get_le64(h + MS_SEG_H_TICK_HZ);
	return 0;
}

/* A valid footer and index mark a finished segment. */
static void parse_footer(struct ms_seg_reader *r)
{
	const uint8_t *f, *ix;
	uint64_t ioff, ilen;

	r->data_end = r->size;
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

int ms_seg_open(const char *path, struct ms_seg_reader **out)
{
	struct ms_seg_reader *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	err = read_file(path, &r->buf, &r->size);
	if (err)
		goto out_free;
	err = parse_header(r);
	if (err)
		goto out_free;
	parse_footer(r);
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		err = -ENOMEM;
		goto out_free;
	}
	r->pos = MS_SEG_HDR_SIZE;
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

static int frame_header_ok(const uint8_t *fh)
{
	return ms_get_le32(fh + MS_SEG_F_MAGIC) == MS_SEG_FRAME_MAGIC &&
	       ms_get_le32(fh + MS_SEG_F_CRC) == ms_crc32c(0, fh, MS_SEG_F_CRC);
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

	if (next == 0) {
		next = r->pos + 1;
		while (next + MS_SEG_FRAME_HDR_SIZE <= r->data_end &&
		       !frame_header_ok(r->buf + next))
			next++;
		if (next + MS_SEG_FRAME_HDR_SIZE > r->data_end)
			next = r->data_end;
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
		 "segment not finished (no index): cut off after %u whole "
		 "frames",
		 r->frames_read);
	return -ENODATA;
}

/*
 * Decompresses the zstd frames of a packed frame and unpacks them into
 * r->out. Returns `raw`, 0 when the bytes are damaged, or (size_t)-ENOMEM.
 */
static size_t unpack_frame(struct ms_seg_reader *r, const uint8_t *fh,
			   uint64_t comp, uint64_t raw)
{
	const uint8_t *src = fh + MS_SEG_FRAME_HDR_SIZE;
	uint64_t packed = ms_get_le32(fh + MS_SEG_F_PACKED_SIZE), got = 0;
	struct ms_packer *pk = thread_packer();

	/* No column is longer than the records it came from. */
	if (packed > 16 * raw + 256)
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

int ms_seg_next(struct ms_seg_reader *r, struct ms_seg_frame *fr)
{
	const uint8_t *fh;
	uint64_t comp, raw, next;
	size_t n;

	if (r->pos >= r->data_end)
		return at_end(r);
	if (r->data_end - r->pos < MS_SEG_FRAME_HDR_SIZE)
		return r->finished ? corrupt(r, "short frame", r->data_end)
				   : truncated(r, "inside a frame header");
	fh = r->buf + r->pos;
	if (!frame_header_ok(fh)) {
		if (!r->finished && ms_get_le32(fh) == MS_SEG_INDEX_MAGIC)
			return truncated(r, "inside the index");
		return corrupt(r, "bad frame header", 0);
	}
	comp = ms_get_le32(fh + MS_SEG_F_COMP_SIZE);
	raw = ms_get_le32(fh + MS_SEG_F_RAW_SIZE);
	next = r->pos + MS_SEG_FRAME_HDR_SIZE + comp;
	if (next > r->data_end)
		return r->finished ? corrupt(r, "frame overruns", r->data_end)
				   : truncated(r, "inside a frame");
	if (raw > MS_SEG_FRAME_RAW_MAX)
		return corrupt(r, "frame too large", next);
	if (ms_crc32c(0, fh + MS_SEG_FRAME_HDR_SIZE, comp) !=
	    ms_get_le32(fh + MS_SEG_F_DATA_CRC))
		return corrupt(r, "frame checksum mismatch", next);
	if (raw > r->out_cap) {
		size_t cap = raw < 65536 ? 65536 : (size_t)raw;
		uint8_t *o = realloc(r->out, cap);

		if (!o) {
			snprintf(r->err, sizeof(r->err),
				 "out of memory for a frame of %llu bytes",
				 (unsigned long long)raw);
			r->pos = next;
			return -ENOMEM;
		}
		r->out = o;
		r->out_cap = cap;
	}
	switch (ms_get_le32(fh + MS_SEG_F_CODEC)) {
	case MS_SEG_CODEC_RECORDS:
		n = ZSTD_decompressDCtx(r->dctx, r->out, r->out_cap,
					fh + MS_SEG_FRAME_HDR_SIZE, comp);
		if (ZSTD_isError(n) || n != raw)
			return corrupt(r, "frame does not decompress", next);
		break;
	case MS_SEG_CODEC_PACKED:
		n = unpack_frame(r, fh, comp, raw);
		if (n == 0)
			return corrupt(r, "packed frame does not unpack", next);
		if (n == (size_t)-ENOMEM) {
			snprintf(r->err, sizeof(r->err),
				 "out of memory unpacking a frame");
			r->pos = next;
			return -ENOMEM;
		}
		break;
	default:
		return corrupt(r, "unknown frame codec", next);
	}
	fr->data = r->out;
	fr->len = n;
	fr->count = ms_get_le32(fh + MS_SEG_F_COUNT);
	fr->first_ts = ms_get_le64(fh + MS_SEG_F_FIRST_TS);
	fr->last_ts = ms_get_le64(fh + MS_SEG_F_LAST_TS);
	fr->offset = r->pos;
	fr->comp_size = comp;
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
