/* SPDX-License-Identifier: MIT */
/*
 * The symbol store's file layout (docs/format.md, "Symbol store"): a
 * 64-byte header, then the body: strings, modules, keys, all varints and
 * bytes. Integers in the header are little-endian (common/bytes.h).
 */
#ifndef MS_SYMSTORE_ABI_H
#define MS_SYMSTORE_ABI_H

#define MS_SYMSTORE_MAGIC    0x5953534du /* "MSSY" */
#define MS_SYMSTORE_MAJOR    1
#define MS_SYMSTORE_MINOR    0
#define MS_SYMSTORE_HDR_SIZE 64
#define MS_SYMSTORE_ENDIAN   0x01020304u

/* Header fields: byte offsets. */
enum {
	MS_SYMSTORE_H_MAGIC = 0,      /* u32 */
	MS_SYMSTORE_H_MAJOR = 4,      /* u16 */
	MS_SYMSTORE_H_MINOR = 6,      /* u16 */
	MS_SYMSTORE_H_HDR_SIZE = 8,   /* u32: where the body starts, >= 64 */
	MS_SYMSTORE_H_ENDIAN = 12,    /* u32 */
	MS_SYMSTORE_H_STRINGS = 16,   /* u32 */
	MS_SYMSTORE_H_MODULES = 20,   /* u32 */
	MS_SYMSTORE_H_KEYS = 24,      /* u32 */
	MS_SYMSTORE_H_FRAMES = 28,    /* u32 */
	MS_SYMSTORE_H_BODY_SIZE = 32, /* u64 */
	MS_SYMSTORE_H_BODY_CRC = 40,  /* u32: CRC-32C of the body */
	MS_SYMSTORE_H_CRC = 60,	      /* u32: CRC-32C of bytes 0..59 */
};

#endif
