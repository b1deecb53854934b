/* SPDX-License-Identifier: MIT */
/*
 * Hashes for the analysis room's tables (modules, strings, frames). The
 * tables are open-addressed with a power-of-two size and take the top bits
 * of a hash, so the hashes mix into the high bits.
 */
#ifndef MS_HASH_H
#define MS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over the bytes, then a multiply to spread into the top bits. */
static inline uint64_t ms_hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return (h ^ (h >> 29)) * 0x9e3779b97f4a7c15ull;
}

/* Two words: a module id and an offset. */
static inline uint64_t ms_hash_pair(uint64_t a, uint64_t b)
{
	uint64_t h = (b ^ (a << 48) ^ (a >> 16)) * 0xff51afd7ed558ccdull;

	return (h ^ (h >> 32)) * 0x9e3779b97f4a7c15ull;
}

/* The slot of `h` in a table of 2^bits slots. */
static inline size_t ms_hash_slot(uint64_t h, unsigned bits)
{
	return (size_t)(h >> (64 - bits));
}

#endif
