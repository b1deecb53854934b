/* SPDX-License-Identifier: MIT */
/*
 * On-disk layout of a per-thread segment file `<pid>/<tid>-<n>.mseg`
 * (docs/format.md, "Segment"). All integers little-endian, written and read
 * through ms_put_le*() / ms_get_le*() and ms_put_varint() at the offsets
 * below.
 *
 * Major 2 (written since issue 12), sized for short streams as well as
 * long ones:
 *
 *   header (14..64 bytes) | frame* | end (8 bytes)
 *
 * A frame is a frame header of 16..64 bytes (its size is its second byte)
 * followed by the frame's data: zstd data holding a block of records that
 * starts with a SYNC record, either as they are or packed into columns
 * (MS_SEG_CODEC_*), or the records stored as they are. The end record is
 * written when the segment is finished; without it the file was cut off.
 * Frames are always found by walking the frame headers, so a file cut off
 * at any byte is readable up to its last whole frame.
 *
 * Major 1 (still read):
 *
 *   header (64 bytes) | frame* | index | footer (16 bytes)
 *
 * with a 48-byte frame header and an index of the frames.
 */
#ifndef MS_SEGMENT_ABI_H
#define MS_SEGMENT_ABI_H

#define MS_SEG_MAGIC	   0x4753534du /* "MSSG" */
#define MS_SEG_FRAME_MAGIC 0x5246534du /* "MSFR" */
#define MS_SEG_INDEX_MAGIC 0x5849534du /* "MSIX" */
#define MS_SEG_END_MAGIC   0x444e534du /* "MSND" */
#define MS_SEG_MAJOR	   2	       /* written; major 1 is still read */
/* 1: packed frames of version 2 (pack.c); 2: FREE records may carry a
 * level (record.h, MS_RECF_LEVEL), which readers of minor 1 refuse;
 * 3: packed frames of version 3 (REALLOC packed), which readers of
 * minor 2 refuse */
#define MS_SEG_MINOR 3

/* ---- major 2 ---- */

/*
 * header: magic u32, major u16, minor u16, header size H u8, then varints
 * pid, tid, seq (n in <tid>-<n>.mseg), flags (0), created (CLOCK_REALTIME
 * ns), tick_hz, and since 2026-12-02 (minor 3 still) the zstd level its
 * frames were written at plus MS_SEG2_LEVEL_BIAS (absent, or 0: not said;
 * readers of before ignore it); bytes a reader does not know up to H - 4
 * (later minors); CRC-32C u32 of bytes 0..H-5.
 */
#define MS_SEG2_LEVEL_BIAS 8 /* zstd's levels -7..19 are 1..27 */
#define MS_SEG2_H_HDR_SIZE 8 /* u8 */
#define MS_SEG2_H_VARINTS  9
#define MS_SEG2_HDR_MIN	   (MS_SEG2_H_VARINTS + 6 + 4)
#define MS_SEG2_HDR_MAX	   64

/*
 * frame header: mark u8, header size L u8, then varints codec, data size
 * C, raw size, record count (SYNC excluded), first ticks, last - first
 * ticks, and for MS_SEG_CODEC_PACKED the packed size; bytes a reader does
 * not know up to L - 8; CRC-32C u32 of the C bytes of data at L - 8;
 * CRC-32C u32 of bytes 0..L-5 at L - 4.
 */
#define MS_SEG2_FRAME_MARK    0xf5u
#define MS_SEG2_F_HDR_SIZE    1 /* u8 */
#define MS_SEG2_F_VARINTS     2
#define MS_SEG2_FRAME_HDR_MIN (MS_SEG2_F_VARINTS + 6 + 8)
#define MS_SEG2_FRAME_HDR_MAX 64

/*
 * end: the last 8 bytes of a finished segment: frame count u32, then
 * CRC-32C u32 of "MSND" (MS_SEG_END_MAGIC, little-endian), the header's
 * CRC field and the frame count, which ties the end to its file.
 */
#define MS_SEG2_END_SIZE  8
#define MS_SEG2_E_NFRAMES 0 /* u32 */
#define MS_SEG2_E_CHECK	  4 /* u32 */

/* ---- major 1 ---- */

#define MS_SEG1_MAJOR 1
#define MS_SEG1_MINOR 1 /* 1: frames may be packed (MS_SEG_F_CODEC) */

/* header (major 1) */
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

/* frame header (major 1) */
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

/* codecs, both majors (major 1 writes 0 and 1 only) */
/* zstd data: one zstd frame of records */
#define MS_SEG_CODEC_RECORDS 0
/* zstd data: consecutive zstd frames whose contents, concatenated, are a
 * packed frame (common/pack.h) that unpacks to the records */
#define MS_SEG_CODEC_PACKED 1
/* the records themselves, when compressing them would not make them
 * smaller (major 2) */
#define MS_SEG_CODEC_STORED 2

/* index (major 1): magic u32, nframes u32, then one entry per frame */
#define MS_SEG_INDEX_HDR_SIZE	8
#define MS_SEG_INDEX_ENTRY_SIZE 32
#define MS_SEG_I_OFFSET		0  /* u64, file offset of the frame header */
#define MS_SEG_I_COUNT		8  /* u32 */
#define MS_SEG_I_FIRST_TS	16 /* u64 */
#define MS_SEG_I_LAST_TS	24 /* u64 */

/* footer (major 1): the last 16 bytes of a finished segment */
#define MS_SEG_FOOTER_SIZE    16
#define MS_SEG_E_INDEX_OFFSET 0	 /* u64 */
#define MS_SEG_E_INDEX_CRC    8	 /* u32, CRC-32C of the index */
#define MS_SEG_E_MAGIC	      12 /* u32, MS_SEG_END_MAGIC */

#endif
