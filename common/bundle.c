/* SPDX-License-Identifier: MIT */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "bytes.h"
#include "checksum.h"
#include "fileio.h"

int64_t ms_bundle_add(struct ms_bundle *b, uint32_t tid, uint32_t seq,
		      const void *seg, size_t len)
{
	size_t need = b->len + 3 * MS_VARINT_MAX + len;
	uint8_t *p;
	int64_t off = (int64_t)b->len;

	if (need > MS_BUNDLE_RAW_MAX)
		return -E2BIG;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		uint8_t *n;

		while (cap < need)
			cap *= 2;
		n = realloc(b->buf, cap);
		if (!n)
			return -ENOMEM;
		b->buf = n;
		b->cap = cap;
	}
	p = b->buf + b->len;
	p = ms_put_varint(p, tid);
	p = ms_put_varint(p, seq);
	p = ms_put_varint(p, len);
	memcpy(p, seg, len);
	b->len = (size_t)(p + len - b->buf);
	b->n++;
	return off;
}

void ms_bundle_free(struct ms_bundle *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

int ms_bundle_write(const struct ms_bundle *b, const char *dir, int level,
		    uint64_t *file_size)
{
	size_t bound = ZSTD_compressBound(b->len), n;
	uint8_t *out = malloc(MS_BUNDLE_HDR_SIZE + bound);
	char path[4400];
	int fd = -1, err;

	if (!out)
		return -ENOMEM;
	n = ZSTD_compress(out + MS_BUNDLE_HDR_SIZE, bound, b->buf, b->len,
			  level);
	if (ZSTD_isError(n)) {
		free(out);
		return -EIO;
	}
	ms_put_le32(out + MS_BUNDLE_H_MAGIC, MS_BUNDLE_MAGIC);
	ms_put_le16(out + MS_BUNDLE_H_VER, MS_BUNDLE_VERSION);
	ms_put_le16(out + MS_BUNDLE_H_FLAGS, 0);
	ms_put_le32(out + MS_BUNDLE_H_COUNT, b->n);
	ms_put_le32(out + MS_BUNDLE_H_RAW, (uint32_t)b->len);
	ms_put_le32(out + MS_BUNDLE_H_DCRC,
		    ms_crc32c(0, out + MS_BUNDLE_HDR_SIZE, n));
	ms_put_le32(out + MS_BUNDLE_H_CRC, ms_crc32c(0, out, MS_BUNDLE_H_CRC));
	for (unsigned k = 0; k < 100000; k++) {
		snprintf(path, sizeof(path), "%s/bundle-%u.msbun", dir, k);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		free(out);
		return -errno;
	}
	err = ms_write_iov(fd, &(struct iovec){out, MS_BUNDLE_HDR_SIZE + n}, 1);
	if (close(fd) < 0 && !err)
		err = -errno;
	/* a cut bundle would only be reported as damage */
	if (err)
		unlink(path);
	else
		*file_size = MS_BUNDLE_HDR_SIZE + n;
	free(out);
	return err;
}

uint64_t ms_bundle_share(uint64_t file_size, uint64_t raw_len, uint64_t off,
			 uint64_t len)
{
	unsigned __int128 f = file_size;

	if (raw_len == 0 || off + len > raw_len)
		return 0;
	return (uint64_t)(f * (off + len) / raw_len - f * off / raw_len);
}

static int64_t refuse(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int64_t refuse(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

int64_t ms_bundle_open(const uint8_t *file, size_t size, uint8_t **raw,
		       size_t *raw_len, char *why, size_t why_len)
{
	uint32_t count, rlen;
	unsigned long long fsz;
	size_t got;
	uint8_t *buf;

	*raw = NULL;
	*raw_len = 0;
	if (size < MS_BUNDLE_HDR_SIZE)
		return refuse(why, why_len, "bundle cut off in its header");
	if (ms_get_le32(file + MS_BUNDLE_H_MAGIC) != MS_BUNDLE_MAGIC)
		return refuse(why, why_len, "not a bundle (bad magic)");
	if (ms_get_le32(file + MS_BUNDLE_H_CRC) !=
	    ms_crc32c(0, file, MS_BUNDLE_H_CRC))
		return refuse(why, why_len, "bundle header checksum mismatch");
	if (ms_get_le16(file + MS_BUNDLE_H_VER) != MS_BUNDLE_VERSION)
		return refuse(why, why_len, "bundle version %u not known",
			      ms_get_le16(file + MS_BUNDLE_H_VER));
	count = ms_get_le32(file + MS_BUNDLE_H_COUNT);
	rlen = ms_get_le32(file + MS_BUNDLE_H_RAW);
	if (rlen > MS_BUNDLE_RAW_MAX)
		return refuse(why, why_len, "bundle of %u bytes (at most %u)",
			      rlen, MS_BUNDLE_RAW_MAX);
	if (ms_get_le32(file + MS_BUNDLE_H_DCRC) !=
	    ms_crc32c(0, file + MS_BUNDLE_HDR_SIZE, size - MS_BUNDLE_HDR_SIZE))
		return refuse(why, why_len, "bundle data checksum mismatch");
	fsz = ZSTD_getFrameContentSize(file + MS_BUNDLE_HDR_SIZE,
				       size - MS_BUNDLE_HDR_SIZE);
	if (fsz != rlen)
		return refuse(why, why_len,
			      "bundle data is not one zstd frame of %u bytes",
			      rlen);
	buf = malloc(rlen ? rlen : 1);
	if (!buf)
		return -ENOMEM;
	got = ZSTD_decompress(buf, rlen, file + MS_BUNDLE_HDR_SIZE,
			      size - MS_BUNDLE_HDR_SIZE);
	if (ZSTD_isError(got) || got != rlen) {
		free(buf);
		return refuse(why, why_len, "bundle data does not decompress");
	}
	*raw = buf;
	*raw_len = rlen;
	return count;
}

int ms_bundle_next(const uint8_t *raw, size_t raw_len, size_t *pos,
		   struct ms_bundle_entry *e)
{
	const uint8_t *p = raw + *pos, *end = raw + raw_len;
	uint64_t tid, seq, len;

	if (p == end)
		return 0;
	if (ms_get_varint(&p, end, &tid) || ms_get_varint(&p, end, &seq) ||
	    ms_get_varint(&p, end, &len) || tid > UINT32_MAX ||
	    seq > UINT32_MAX || len > (uint64_t)(end - p))
		return -EBADMSG;
	e->tid = (uint32_t)tid;
	e->seq = (uint32_t)seq;
	e->seg = p;
	e->len = (size_t)len;
	e->off = *pos;
	e->span = (size_t)(p + len - (raw + *pos));
	*pos += e->span;
	return 1;
}
