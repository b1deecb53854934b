/* SPDX-License-Identifier: MIT */
/*
 * Little-endian fixed-width helpers and LEB128 varints. Everything on disk
 * and in shared memory goes through these, so the formats are defined
 * independently of the host's byte order.
 *
 * The varint readers take untrusted input: they never read past `end`, and
 * they reject encodings longer than 10 bytes or that overflow 64 bits.
 */
#ifndef MS_BYTES_H
#define MS_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MS_VARINT_MAX 10

static inline void ms_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void ms_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void ms_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t ms_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t ms_get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t ms_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Writes `v` as LEB128 at `p` (room for MS_VARINT_MAX bytes); returns the end.
 */
static inline uint8_t *ms_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t ms_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t ms_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/*
 * Reads a LEB128 value from [*pp, end). Returns 0 and advances *pp, or -1
 * when the input ends inside the value or the value is malformed.
 */
static inline int ms_get_varint(const uint8_t **pp, const uint8_t *end,
				uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return -1;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return -1; /* would overflow 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

/*
 * Reads a LEB128 value exactly as ms_get_varint() does, the one- and
 * two-byte forms (most values in records) without a loop and without a
 * branch on which. Returns 0 or -1.
 */
static inline int ms_get_varint_fast(const uint8_t **pp, const uint8_t *end,
				     uint64_t *v)
{
	const uint8_t *p = *pp;

	if (end - p >= 2 && !(p[0] & p[1] & 0x80)) {
		uint32_t b0 = p[0], b1 = p[1], two = b0 >> 7;

		*v = (b0 & 0x7f) | ((b1 << 7) & (0u - two));
		*pp = p + 1 + two;
		return 0;
	}
	return ms_get_varint(pp, end, v);
}

/*
 * Reads a LEB128 value as ms_get_varint() does, but only in the form
 * ms_put_varint() writes (no redundant trailing zero groups), so that
 * writing the value again gives the same bytes. Returns 0 or -1.
 */
static inline int ms_get_varint_canon(const uint8_t **pp, const uint8_t *end,
				      uint64_t *v)
{
	const uint8_t *p = *pp;

	/* as ms_get_varint_fast(), plus the check on the second byte; kept
	 * apart so that the packer's loop compiles as it was measured */
	if (end - p >= 2 && !(p[0] & p[1] & 0x80)) {
		uint32_t b0 = p[0], b1 = p[1], two = b0 >> 7;

		*v = (b0 & 0x7f) | ((b1 << 7) & (0u - two));
		*pp = p + 1 + two;
		return two && b1 == 0 ? -1 : 0;
	}
	if (ms_get_varint(pp, end, v) < 0)
		return -1;
	return *pp - p > 1 && (*pp)[-1] == 0 ? -1 : 0;
}

#endif
