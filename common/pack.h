/* SPDX-License-Identifier: MIT */
/*
 * Frame packing: a lossless transform of a frame's records into columns
 * that compress far better than the records themselves (docs/format.md,
 * "Packed frames").
 *
 * The records of the hot types (ALLOC, FREE) are split into one column per
 * field, and their addresses are replaced by references to what the frame
 * has already seen: a FREE names its block by the number of allocations
 * made since it ("distance"), an ALLOC whose block is one this thread freed
 * recently at the same size class names its place in that class's LIFO (as
 * glibc's per-thread caches hand blocks back). Every other record is kept
 * verbatim. Unpacking rebuilds the records byte for byte; a frame whose
 * records cannot be rebuilt exactly (non-canonical varints, damage) is
 * refused by ms_pack() and stored as plain records instead.
 *
 * The models start empty at every frame, so each frame unpacks on its own.
 */
#ifndef MS_PACK_H
#define MS_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ms_packer;

struct ms_packer *ms_packer_create(void);
void ms_packer_destroy(struct ms_packer *pk);

/*
 * Packs the records [raw, raw + len), which start with a SYNC record.
 * Returns 0, -EINVAL when the records cannot be packed exactly (store them
 * as they are), or -ENOMEM. The result is read with ms_pack_parts().
 */
int ms_pack(struct ms_packer *pk, const uint8_t *raw, size_t len);

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
