/* SPDX-License-Identifier: MIT */
/*
 * Event records: the byte encoding shared by the ring and the segment
 * frames (docs/format.md, "Records").
 *
 * A record is one type byte (low nibble: type, high nibble: flags) followed
 * by LEB128 varints. Timestamps are deltas from the previous record of the
 * same stream; addresses are zigzag deltas from the stream's last address.
 * Streams therefore carry state: a decoder starts at a SYNC record (or at
 * zero state at the very beginning of a ring).
 *
 * Decoders treat their input as untrusted: every length is checked against
 * the bytes present and against the limits below.
 */
#ifndef MS_RECORD_H
#define MS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bytes.h"

enum ms_rec_type {
	MS_REC_SYNC = 1,
	MS_REC_CLOCK = 2,
	MS_REC_ALLOC = 3,
	MS_REC_FREE = 4,
	MS_REC_REALLOC = 5,
	MS_REC_STACK = 6,
	MS_REC_MODULE_LOAD = 7,
	MS_REC_MODULE_UNLOAD = 8,
	MS_REC_THREAD_START = 9,
	MS_REC_THREAD_EXIT = 10,
	MS_REC_THREAD_NAME = 11,
	MS_REC_LOST = 12,
	MS_REC_NTYPES = 13,
};

#define MS_RECF_ALIGN  0x10 /* ALLOC: an alignment follows */
#define MS_RECF_WEIGHT 0x20 /* ALLOC/REALLOC: a Q16 weight follows */
/*
 * FREE, bits 4-6: the block's size level plus one, as its allocator told
 * (at least the level of the size asked for): 1 (MS_RECF_SMALL) under
 * MS_REC_SMALL_BYTES, k + 1 under 2^(k+1) KiB, MS_REC_LEVEL_TOP from 64 KiB
 * up; 0 when not said. Nothing follows; readers may ignore it. The
 * consumer's live heap uses it to pass over frees of blocks it does not
 * follow, and packed frames do not keep it (pack.h). The agent writes it
 * only for a consumer that asked (MS_SET_FREE_LEVEL).
 */
#define MS_RECF_SMALL	   0x10
#define MS_RECF_LEVEL	   0x70
#define MS_REC_LEVEL_TOP   7
#define MS_REC_SMALL_BYTES 2048u

#define MS_WEIGHT_ONE	 65536u /* Q16 fixed point: weight 1.0 */
#define MS_STACK_MAX	 128	/* frames in one STACK record */
#define MS_BUILD_ID_MAX	 64
#define MS_PATH_MAX	 4096
#define MS_NAME_MAX	 64
#define MS_REC_SMALL_MAX 64 /* room an ALLOC/FREE/REALLOC/LOST may need */
#define MS_REC_HOT_MIN	 3  /* no ALLOC or FREE is shorter: type, dt, addr */
#define MS_REC_STACK_MAX (4 * MS_VARINT_MAX + MS_STACK_MAX * MS_VARINT_MAX)
#define MS_REC_MAX	 8192 /* no record is longer */

/* Delta state of one record stream (the same on both sides). */
struct ms_rec_state {
	uint64_t last_ts;
	uint64_t last_addr;
};

/* One decoded record. Strings point into the decoder's input. */
struct ms_event {
	uint8_t type;
	uint8_t flags;
	uint64_t ts;	   /* ticks; see CLOCK */
	uint64_t addr;	   /* ALLOC, FREE, REALLOC (new), SYNC, MODULE */
	uint64_t old_addr; /* REALLOC */
	uint64_t size;	   /* ALLOC, REALLOC, MODULE_LOAD */
	uint64_t align;	   /* ALLOC with MS_RECF_ALIGN, else 0 */
	uint64_t weight;   /* Q16; MS_WEIGHT_ONE unless MS_RECF_WEIGHT */
	uint64_t stack_id; /* ALLOC, REALLOC, STACK */
	uint64_t count;	   /* LOST: events lost */
	uint64_t cause;	   /* LOST: MS_LOST_* */
	uint64_t mono_ns;  /* CLOCK */
	uint64_t tick_hz;  /* CLOCK */
	uint64_t pid, tid; /* THREAD_START */
	uint32_t nframes;  /* STACK */
	uint32_t build_id_len, str_len;
	const uint8_t *build_id; /* MODULE_LOAD */
	const uint8_t *str;	 /* MODULE_LOAD path, THREAD_NAME name */
	uint64_t frames[MS_STACK_MAX];
};

static inline uint64_t ms_rec_dt(struct ms_rec_state *s, uint64_t ts)
{
	uint64_t dt = ts > s->last_ts ? ts - s->last_ts : 0;

	s->last_ts += dt;
	return dt;
}

static inline uint8_t *ms_rec_put_addr(struct ms_rec_state *s, uint8_t *p,
				       uint64_t addr)
{
	p = ms_put_varint(p, ms_zigzag((int64_t)(addr - s->last_addr)));
	s->last_addr = addr;
	return p;
}

/*
 * Encoders write one record at `p` (room for the record's maximum size) and
 * return its end. They never fail.
 */
static inline uint8_t *ms_rec_put_alloc(struct ms_rec_state *s, uint8_t *p,
					uint64_t ts, uint64_t addr,
					uint64_t size, uint64_t align,
					uint64_t stack_id, uint64_t weight)
{
	uint8_t *t = p++;

	*t = MS_REC_ALLOC;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_rec_put_addr(s, p, addr);
	p = ms_put_varint(p, size);
	p = ms_put_varint(p, stack_id);
	if (align) {
		*t |= MS_RECF_ALIGN;
		p = ms_put_varint(p, align);
	}
	if (weight != MS_WEIGHT_ONE) {
		*t |= MS_RECF_WEIGHT;
		p = ms_put_varint(p, weight);
	}
	return p;
}

/* The level code (0: not said, else the level plus one) of FREE flags. */
static inline unsigned ms_rec_level_code(uint8_t flags)
{
	return (unsigned)(flags & MS_RECF_LEVEL) >> 4;
}

/* The FREE flags that give the level of a block of `bytes` bytes. */
static inline uint8_t ms_rec_free_level(uint64_t bytes)
{
	unsigned level;

	if (bytes < MS_REC_SMALL_BYTES)
		return MS_RECF_SMALL;
	level = 63u -
		(unsigned)__builtin_clzll(bytes / (MS_REC_SMALL_BYTES / 2));
	return (uint8_t)((level + 1 < MS_REC_LEVEL_TOP ? level + 1
						       : MS_REC_LEVEL_TOP)
			 << 4);
}

/* `flags`: 0, or a level (MS_RECF_LEVEL). */
static inline uint8_t *ms_rec_put_free_flags(struct ms_rec_state *s, uint8_t *p,
					     uint64_t ts, uint64_t addr,
					     uint8_t flags)
{
	*p++ = (uint8_t)(MS_REC_FREE | flags);
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	return ms_rec_put_addr(s, p, addr);
}

static inline uint8_t *ms_rec_put_free(struct ms_rec_state *s, uint8_t *p,
				       uint64_t ts, uint64_t addr)
{
	return ms_rec_put_free_flags(s, p, ts, addr, 0);
}

static inline uint8_t *ms_rec_put_realloc(struct ms_rec_state *s, uint8_t *p,
					  uint64_t ts, uint64_t old_addr,
					  uint64_t addr, uint64_t size,
					  uint64_t stack_id, uint64_t weight)
{
	uint8_t *t = p++;

	*t = MS_REC_REALLOC;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_rec_put_addr(s, p, old_addr);
	p = ms_rec_put_addr(s, p, addr);
	p = ms_put_varint(p, size);
	p = ms_put_varint(p, stack_id);
	if (weight != MS_WEIGHT_ONE) {
		*t |= MS_RECF_WEIGHT;
		p = ms_put_varint(p, weight);
	}
	return p;
}

uint8_t *ms_rec_put_sync(struct ms_rec_state *s, uint8_t *p);
uint8_t *ms_rec_put_clock(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
			  uint64_t mono_ns, uint64_t tick_hz);
/* `frames` holds `n` <= MS_STACK_MAX return addresses. */
uint8_t *ms_rec_put_stack(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
			  uint64_t id, const uint64_t *frames, uint32_t n);
/* Lengths beyond MS_BUILD_ID_MAX / MS_PATH_MAX are cut to the limit. */
uint8_t *ms_rec_put_module_load(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
				uint64_t base, uint64_t size,
				const uint8_t *build_id, uint32_t build_id_len,
				const char *path, uint32_t path_len);
uint8_t *ms_rec_put_module_unload(struct ms_rec_state *s, uint8_t *p,
				  uint64_t ts, uint64_t base);
uint8_t *ms_rec_put_thread_start(struct ms_rec_state *s, uint8_t *p,
				 uint64_t ts, uint64_t pid, uint64_t tid);
uint8_t *ms_rec_put_thread_exit(struct ms_rec_state *s, uint8_t *p,
				uint64_t ts);
/* Names longer than MS_NAME_MAX are cut. */
uint8_t *ms_rec_put_thread_name(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
				const char *name, uint32_t len);
uint8_t *ms_rec_put_lost(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
			 uint64_t count, uint64_t cause);

/*
 * Decodes one record from [p, p + len) with stream state `s`. Returns the
 * bytes consumed (> 0), -ENODATA when the input ends inside the record, or
 * -EBADMSG when the bytes are not a valid record. `s` changes only on
 * success.
 */
ssize_t ms_rec_decode(struct ms_rec_state *s, const uint8_t *p, size_t len,
		      struct ms_event *ev);

/*
 * The hot records' fast path, a specialisation of ms_rec_decode() for the
 * consumer's packer (common/pack.c), which checks and packs every ALLOC
 * and FREE in one pass and needs, for each, the fields exactly as written.
 *
 * ms_rec_decode_hot() takes an ALLOC or FREE at [p, end) (p < end) only in
 * the form the encoders write: minimal varints, the align flag only with
 * an alignment > 0, the weight flag only with a weight other than 1.0 and
 * 0, no time delta that wraps `last_ts`. It returns the record's length,
 * or 0 to leave the record to ms_rec_decode(), the authority: every
 * record it takes, ms_rec_decode() takes too, with the same length and
 * fields, and the encoders write it again byte for byte (checked by
 * tests/unit/common/test_record.c and the record and pack fuzz targets).
 */
struct ms_rec_hot {
	uint64_t dt; /* time delta */
	uint64_t zz; /* address delta, zigzag, as in the record */
	/* ALLOC only; align 0 and weight MS_WEIGHT_ONE when not flagged */
	uint64_t size, stack, align, weight;
};

/* A FREE type byte (with its allowed flags). */
static inline int ms_rec_is_free(uint8_t t)
{
	return (t & (uint8_t)~MS_RECF_LEVEL) == MS_REC_FREE;
}

/* An ALLOC type byte (with allowed flags) or a FREE one. */
static inline int ms_rec_is_hot(uint8_t t)
{
	return ms_rec_is_free(t) ||
	       ((t & 0x0f) == MS_REC_ALLOC &&
		!(t & 0xf0 & ~(MS_RECF_ALIGN | MS_RECF_WEIGHT)));
}

static inline size_t ms_rec_decode_hot(const uint8_t *p, const uint8_t *end,
				       uint64_t last_ts, struct ms_rec_hot *h)
{
	const uint8_t *q = p + 1;
	uint8_t t = p[0];

	*h = (struct ms_rec_hot){.weight = MS_WEIGHT_ONE};
	if (!ms_rec_is_hot(t) || ms_get_varint_canon(&q, end, &h->dt) < 0 ||
	    last_ts + h->dt < last_ts ||
	    ms_get_varint_canon(&q, end, &h->zz) < 0)
		return 0;
	if (ms_rec_is_free(t))
		return (size_t)(q - p);
	if (ms_get_varint_canon(&q, end, &h->size) < 0 ||
	    ms_get_varint_canon(&q, end, &h->stack) < 0)
		return 0;
	if ((t & MS_RECF_ALIGN) &&
	    (ms_get_varint_canon(&q, end, &h->align) < 0 || h->align == 0))
		return 0;
	if ((t & MS_RECF_WEIGHT) &&
	    (ms_get_varint_canon(&q, end, &h->weight) < 0 || h->weight == 0 ||
	     h->weight == MS_WEIGHT_ONE))
		return 0;
	return (size_t)(q - p);
}

/*
 * The heap records' fast path for readers, a specialisation of
 * ms_rec_decode() for the archive's iterator (consumer/archive/), which
 * spends most of its time on the three records every heap event is.
 *
 * ms_rec_decode_fast() decodes an ALLOC, FREE or REALLOC at [p, end)
 * (p < end) with stream state `s`, in any form ms_rec_decode() accepts,
 * into `f` (the fields ms_rec_decode() sets for it, with the same values:
 * old_addr, size, stack_id and align 0 and weight MS_WEIGHT_ONE where the
 * record has none), advances `s` and returns the record's length. It
 * returns 0, `s` unchanged, for anything else: other types, flags the type
 * may not carry, a weight of 0, a cut or malformed varint, all left to
 * ms_rec_decode(), the authority, to decode or to refuse. So every
 * record of those three types that ms_rec_decode() takes, it takes too,
 * with the same length, fields and state (checked by
 * tests/unit/common/test_record.c and the record fuzz target).
 */
struct ms_rec_fast {
	uint8_t type, flags;
	uint64_t ts, addr, old_addr, size, stack_id, align, weight;
};

/* The flags an ALLOC, FREE or REALLOC may carry; 0xff: another type. */
static inline uint8_t ms_rec_fast_flags(uint8_t type)
{
	switch (type) {
	case MS_REC_ALLOC:
		return MS_RECF_ALIGN | MS_RECF_WEIGHT;
	case MS_REC_REALLOC:
		return MS_RECF_WEIGHT;
	case MS_REC_FREE:
		return MS_RECF_LEVEL;
	default:
		return 0xff;
	}
}

/* The ALLOC or REALLOC fields after the addresses. 0 or -1. */
static inline int ms_rec_fast_tail(const uint8_t **q, const uint8_t *end,
				   struct ms_rec_fast *f)
{
	if (ms_get_varint_fast(q, end, &f->size) < 0 ||
	    ms_get_varint_fast(q, end, &f->stack_id) < 0)
		return -1;
	if ((f->flags & MS_RECF_ALIGN) &&
	    ms_get_varint_fast(q, end, &f->align) < 0)
		return -1;
	if ((f->flags & MS_RECF_WEIGHT) &&
	    (ms_get_varint_fast(q, end, &f->weight) < 0 || f->weight == 0))
		return -1;
	return 0;
}

static inline size_t ms_rec_decode_fast(struct ms_rec_state *s,
					const uint8_t *p, const uint8_t *end,
					struct ms_rec_fast *f)
{
	const uint8_t *q = p + 1;
	uint8_t type = p[0] & 0x0f, flags = p[0] & 0xf0;
	uint8_t may = ms_rec_fast_flags(type);
	uint64_t dt, zz, a;

	if (may == 0xff || (flags & ~may))
		return 0;
	if (ms_get_varint_fast(&q, end, &dt) < 0 ||
	    ms_get_varint_fast(&q, end, &zz) < 0)
		return 0;
	*f = (struct ms_rec_fast){.type = type,
				  .flags = flags,
				  .ts = s->last_ts + dt,
				  .weight = MS_WEIGHT_ONE};
	a = s->last_addr + (uint64_t)ms_unzigzag(zz);
	if (type == MS_REC_REALLOC) {
		f->old_addr = a;
		if (ms_get_varint_fast(&q, end, &zz) < 0)
			return 0;
		a += (uint64_t)ms_unzigzag(zz);
	}
	f->addr = a;
	if (type != MS_REC_FREE && ms_rec_fast_tail(&q, end, f) < 0)
		return 0;
	s->last_ts = f->ts;
	s->last_addr = a;
	return (size_t)(q - p);
}

/* A short lower-case name for a record type ("alloc"), or "unknown". */
const char *ms_rec_type_name(unsigned type);

#endif
