/* SPDX-License-Identifier: MIT */
/*
 * On-disk layout of a per-thread segment file `<pid>/<tid>-<n>.mseg`
 * (docs/format.md, "Segment"). All integers little-endian, written and read
 * through ms_put_le*() / ms_get_le*() at the offsets below.
 *
 *   header (64 bytes) | frame* | index | footer (16 bytes)
 *
 * A frame is a 48-byte frame header followed by zstd data holding a block
 * of records that starts with a SYNC record, either as they are or packed
 * into columns (MS_SEG_F_CODEC). The index and footer are
 * written when the segment is finished; without them the frames are found
 * by walking the frame headers, so a file cut off at any byte is readable up
 * to its last whole frame.
 */
#ifndef MS_SEGMENT_ABI_H
#define MS_SEGMENT_ABI_H

#define MS_SEG_MAGIC	   0x4753534du /* "MSSG" */
#define MS_SEG_FRAME_MAGIC 0x5246534du /* "MSFR" */
#define MS_SEG_INDEX_MAGIC 0x5849534du /* "MSIX" */
#define MS_SEG_END_MAGIC   0x444e534du /* "MSND" */
#define MS_SEG_MAJOR	   1
#define MS_SEG_MINOR	   1 /* 1: frames may be packed (MS_SEG_F_CODEC) */

/* header */
#define MS_SEG_HDR_SIZE	  64
#define MS_SEG_H_MAGIC	  0  /* u32 */
#define MS_SEG_H_MAJOR	  4  /* u16 */
#define MS_SEG_H_MINOR	  6  /* u16 */
#define MS_SEG_H_HDR_SIZE 8  /* u32 */
#define MS_SEG_H_ENDIAN	  12 /* u32, MS_ENDIAN_MARK */
#define MS_SEG_H_PID	  16 /* u32 */
#define MS_SEG_H_TID	  20 /* u32 */
#define MS_SEG_H_SEQ	  24 /* u32, n in <tid>-<n>.mseg */
#define MS_SEG_H_FLAGS	  28 /* u32, 0 */
#define MS_SEG_H_CREATED  32 /* u64, CLOCK_REALTIME ns */
#define MS_SEG_H_TICK_HZ  40 /* u64, the producer's tick rate */
#define MS_SEG_H_CRC	  60 /* u32, CRC-32C of bytes 0..59 */

/* frame header */
#define MS_SEG_FRAME_HDR_SIZE 48
#define MS_SEG_F_MAGIC	      0	 /* u32 */
#define MS_SEG_F_COMP_SIZE    4	 /* u32, bytes of zstd data that follow */
#define MS_SEG_F_RAW_SIZE     8	 /* u32, decompressed bytes */
#define MS_SEG_F_COUNT	      12 /* u32, records in the frame (SYNC excluded) */
#define MS_SEG_F_FIRST_TS     16 /* u64, ticks of the first record */
#define MS_SEG_F_LAST_TS      24 /* u64, ticks of the last record */
#define MS_SEG_F_DATA_CRC     32 /* u32, CRC-32C of the zstd data */
#define MS_SEG_F_CODEC	      36 /* u32, MS_SEG_CODEC_* (minor 0: 0) */
#define MS_SEG_F_PACKED_SIZE  40 /* u32, PACKED: bytes of the packed frame */
#define MS_SEG_F_CRC	      44 /* u32, CRC-32C of bytes 0..43 */
#define MS_SEG_FRAME_RAW_MAX  (8u << 20)

/* zstd data: one zstd frame of records */
#define MS_SEG_CODEC_RECORDS 0
/* zstd data: consecutive zstd frames whose contents, concatenated, are a
 * packed frame (common/pack.h) that unpacks to the records */
#define MS_SEG_CODEC_PACKED 1

/* index: magic u32, nframes u32, then one entry per frame */
#define MS_SEG_INDEX_HDR_SIZE	8
#define MS_SEG_INDEX_ENTRY_SIZE 32
#define MS_SEG_I_OFFSET		0  /* u64, file offset of the frame header */
#define MS_SEG_I_COUNT		8  /* u32 */
#define MS_SEG_I_FIRST_TS	16 /* u64 */
#define MS_SEG_I_LAST_TS	24 /* u64 */

/* footer: the last 16 bytes of a finished segment */
#define MS_SEG_FOOTER_SIZE    16
#define MS_SEG_E_INDEX_OFFSET 0	 /* u64 */
#define MS_SEG_E_INDEX_CRC    8	 /* u32, CRC-32C of the index */
#define MS_SEG_E_MAGIC	      12 /* u32, MS_SEG_END_MAGIC */

#endif
