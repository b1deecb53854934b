/* SPDX-License-Identifier: MIT */
/*
 * Frame packing: a transform of a frame's records into columns that
 * compress far better than the records themselves (docs/format.md,
 * "Packed frames"), lossless but for the level of FREE records
 * (record.h), which is the live heap's and is not kept.
 *
 * The heap records (ALLOC, FREE, REALLOC) are split into one column per
 * field, and their addresses are replaced by references to what the frame
 * has already seen: a FREE names its block by the number of allocations
 * made since it ("distance"), an ALLOC whose block is one this thread freed
 * recently at the same size class names its place in that class's LIFO (as
 * glibc's per-thread caches hand blocks back), a REALLOC does both, or
 * says its block stayed in place. Every other record is kept verbatim.
 * Unpacking rebuilds the records byte for byte (each FREE without its
 * level); a frame whose records cannot be rebuilt exactly (non-canonical
 * varints, damage) is refused by ms_pack() and stored as plain records
 * instead.
 *
 * The models start empty at every frame, so each frame unpacks on its own.
 */
#ifndef MS_PACK_H
#define MS_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h"

struct ms_packer;

struct ms_packer *ms_packer_create(void);
void ms_packer_destroy(struct ms_packer *pk);

/*
 * Makes `pk` pack as a new packer would, keeping its memory for the next
 * stream: its map starts small again (a map grown for a busy stream is
 * that stream's choice), the large one kept for when it grows.
 */
void ms_packer_recycle(struct ms_packer *pk);

/*
 * Packs the records [raw, raw + len), which start with a SYNC record.
 * Returns 0, -EINVAL when the records are not valid (store them as they
 * are), or -ENOMEM. The result is read with ms_pack_parts().
 */
int ms_pack(struct ms_packer *pk, const uint8_t *raw, size_t len);

/*
 * The same, a piece at a time, for a caller that checks each record as it
 * arrives (the consumer's streams). A frame is begun with room for
 * `raw_cap` bytes of records; ms_pack_run() packs the ALLOC and FREE
 * records at [p, end) up to the first record it does not take (another
 * type, one that would not rebuild exactly, or one cut off), advancing the
 * stream state `st` over them, and returns the bytes taken, counting them
 * in `n` (may be NULL), handing them on to `tap` (may be NULL, see below).
 * The caller decodes the record it stopped at and
 * hands it to ms_pack_other() once it knows it is whole and valid.
 * ms_pack_end() closes the frame for ms_pack_parts(); it fails when a
 * record did not fit (the frame is then stored as records).
 */
struct ms_pack_counts {
	uint64_t records, allocs, frees;
	uint64_t weighted;	 /* ALLOCs of a weight other than 1 */
	uint64_t first_ts;	 /* of the first record taken */
	unsigned __int128 wsize; /* sum of ALLOC size * Q16 weight */
};

/*
 * What ms_pack_run() hands on as it packs, for the consumer's live heap
 * (consumer/daemon/live.h), which then needs no decoding of its own. The
 * caller follows the blocks of `size` bytes at one address in
 * 2^ms_pack_tap_shift(size, bits): those whose ms_pack_tap_hash() is at
 * most UINT64_MAX >> shift. With `bits` 0 every block is followed; else
 * blocks under 2 * MS_TAP_STEP bytes at one address in 2^bits, and each
 * doubling of the size above that halves the share left out, so that a
 * followed block stands for about as many bytes whatever its size (those
 * of 2^bits * MS_TAP_STEP bytes and more are all followed). Handed on are:
 * - the ALLOCs of followed blocks: MS_TAP_ALLOC_SEL when the shift is not
 *   0 (its weight then counts 2^shift times), else MS_TAP_ALLOC;
 * - every FREE (MS_TAP_FREE) but those whose level (record.h,
 *   MS_RECF_LEVEL) says their block is not followed at that address
 *   (ms_pack_tap_free()): the live heap holds nothing for those. (Not
 *   dropped for that alone: the free of a block this thread allocated in
 *   this frame without handing the ALLOC on. Another thread may have
 *   freed that block, and the address gone to a block followed there:
 *   until 2026-12-01 such frees were dropped, and with cross-thread frees
 *   and sizes mixed at one address, blocks stayed live for ever.)
 * The run stops early when `rec` is full (n == cap), at a record boundary.
 */
#define MS_TAP_STEP 1024u
_Static_assert(MS_REC_SMALL_BYTES == 2 * MS_TAP_STEP,
	       "a FREE's level 0 (record.h) is the tap's");

enum {
	MS_TAP_ALLOC,	  /* weight as recorded */
	MS_TAP_ALLOC_SEL, /* weight times 2^ms_pack_tap_shift() */
	MS_TAP_FREE,
};

struct ms_tap_rec {
	uint64_t ts, addr, size, weight;
	uint32_t stack;
	uint32_t kind; /* MS_TAP_* */
};

struct ms_pack_tap {
	unsigned bits; /* see above; 0: every block followed */
	struct ms_tap_rec *rec;
	size_t n, cap;
};

/*
 * Spreads the address bits that malloc varies (above the 16 bytes of its
 * alignment) over the upper bits of the word: Fibonacci hashing, whose
 * top bits are the best mixed. Bit k depends on the address's bits 4 to
 * k + 4 alone, so the uses below take no bit under 16. The packer's
 * address map takes its slot from the same product (pack.c), which the
 * compiler then computes once for both.
 */
static inline uint64_t ms_pack_tap_hash(uint64_t addr)
{
	return (addr >> 4) * 0x9e3779b97f4a7c15ull;
}

/* Blocks of `size` bytes are followed at one address in 2^shift. */
static inline unsigned ms_pack_tap_shift(uint64_t size, unsigned bits)
{
	unsigned level =
		size < 2 * MS_TAP_STEP
			? 0
			: 63u - (unsigned)__builtin_clzll(size / MS_TAP_STEP);

	return level < bits ? bits - level : 0;
}

/* What the tap makes of an ALLOC of `size` bytes at `addr`: MS_TAP_ALLOC,
 * MS_TAP_ALLOC_SEL, or -1 (not handed on). The packer asks for every
 * ALLOC: most are small, whose shift is `bits` itself. */
static inline int ms_pack_tap_alloc(uint64_t addr, uint64_t size, unsigned bits)
{
	unsigned shift;
	uint64_t h;

	if (bits == 0)
		return MS_TAP_ALLOC;
	h = ms_pack_tap_hash(addr);
	if (size < 2 * MS_TAP_STEP)
		return h <= UINT64_MAX >> bits ? MS_TAP_ALLOC_SEL : -1;
	shift = ms_pack_tap_shift(size, bits);
	if (shift == 0)
		return MS_TAP_ALLOC;
	return h <= UINT64_MAX >> shift ? MS_TAP_ALLOC_SEL : -1;
}

/* The largest hash (ms_pack_tap_hash()) of a FREE of level code `code`
 * (record.h) that the tap hands on: not one whose level says that a block
 * of that level is not followed there, nor a smaller one (the level is at
 * least that of the size the block was asked for). */
static inline uint64_t ms_pack_tap_free_lim(unsigned code, unsigned bits)
{
	if (code == 0 || code == MS_REC_LEVEL_TOP || code - 1 >= bits)
		return UINT64_MAX;
	return UINT64_MAX >> (bits - (code - 1));
}

/* Whether the tap hands on a FREE with flags `flags` (the type byte's high
 * nibble) at `addr`. */
static inline int ms_pack_tap_free(uint64_t addr, uint8_t flags, unsigned bits)
{
	return ms_pack_tap_hash(addr) <=
	       ms_pack_tap_free_lim(ms_rec_level_code(flags), bits);
}

int ms_pack_begin(struct ms_packer *pk, size_t raw_cap);
size_t ms_pack_run(struct ms_packer *pk, struct ms_rec_state *st,
		   const uint8_t *p, const uint8_t *end,
		   struct ms_pack_counts *n, struct ms_pack_tap *tap);
int ms_pack_other(struct ms_packer *pk, const uint8_t *p, size_t len,
		  const struct ms_event *ev);
int ms_pack_end(struct ms_packer *pk);

/*
 * The packed frame as consecutive parts (a header, then one part per
 * column), valid until the packer is used again; their concatenation is
 * what ms_unpack() takes. Returns the number of parts.
 */
unsigned ms_pack_parts(const struct ms_packer *pk, const uint8_t *const **part,
		       const size_t **len);

/*
 * Rebuilds exactly `raw_len` bytes of records from packed bytes (untrusted)
 * into `out`. Returns 0, -EBADMSG when the packed bytes are damaged or do
 * not rebuild to `raw_len` bytes, or -ENOMEM.
 */
int ms_unpack(struct ms_packer *pk, const uint8_t *in, size_t len, uint8_t *out,
	      size_t raw_len);

#endif
