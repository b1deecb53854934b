/* SPDX-License-Identifier: MIT */
#include "pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "bytes.h"
#include "record.h"

#define PACK_VERSION   3
#define PACK_VERSION_2 2 /* no REALLOC packed: still read */
#define PACK_VERSION_1 1 /* 11 columns, none split: still read */

/* The columns, in the order they are stored. */
enum {
	C_TYPE,	 /* type byte of a packed record; 0: next verbatim */
	C_DT_A,	 /* ALLOC time delta */
	C_DT_F,	 /* FREE time delta */
	C_SIZE,	 /* ALLOC size */
	C_STACK, /* ALLOC stack id */
	C_AMODE, /* new block (ALLOC, REALLOC that moved it): 0 explicit
		  * address, j: j-th of its class's LIFO */
	C_AADDR, /* new block's explicit address (zigzag delta, as in
		  * records: a REALLOC's from its old block) */
	C_FDIST, /* freed block (a FREE's, a REALLOC's old one): allocations
		  * since its block's ALLOC, 0 explicit */
	C_FADDR, /* freed block's explicit address (zigzag delta) */
	C_EXTRA, /* ALLOC alignment and weight, when flagged */
	C_VERB,	 /* every other record, verbatim */
	NCOL_1,	 /* version 1 ends here */
	/*
	 * Version 2: the values of the time, address and distance columns
	 * are split. The first byte of each varint stays in its column
	 * above; the bytes after it, the value >> 7 as a varint of its own,
	 * go to a "high" column, in record order. Low bytes and high bytes
	 * then each get entropy tables of their own: the low bits of an
	 * address or a time delta are near random, the high ones repeat.
	 * Two high columns: times apart from addresses (in one column they
	 * break each other's matches: python3's dict workload 1.03 -> 1.26
	 * bytes/event), but not one per split column, since each column a
	 * stream writes is a page of the consumer's memory (five: 17 MB more
	 * for 1,000 threads, for 0.03 bytes/event less on stress_test).
	 */
	C_TIME_HI = NCOL_1, /* of C_DT_A and C_DT_F */
	C_ADDR_HI,	    /* of C_AADDR, C_FDIST and C_FADDR */
	NCOL_2,		    /* version 2 ends here */
	/*
	 * Version 3: REALLOC records are packed too. Their addresses go to
	 * the columns above, their other fields to a column of their own:
	 * in the ALLOC columns they broke those columns' runs (perl's hash
	 * workload, an in-place REALLOC after every third ALLOC: 1.83 ->
	 * 1.90 bytes/event, against 1.84 with this column).
	 */
	C_REAL = NCOL_2, /* REALLOC: time delta, size, stack id, weight */
	NCOL
};

/*
 * C_TYPE of a packed REALLOC: its type byte, plus this when the block
 * stayed in place (no C_AMODE then), a flag no record carries.
 */
#define PACKF_IN_PLACE 0x40

/* Recently freed blocks per size class, most recent last. */
#define LIFO_DEPTH 8
#define NCLASS	   128

struct lifo {
	uint64_t a[LIFO_DEPTH];
	uint32_t n;
};

/*
 * Encoder's map from a block's address to the allocation that made it:
 * direct-mapped, a slot holds the latest allocation whose address hashes
 * there. A block whose slot was taken by a later one is freed with an
 * explicit address: nothing is lost, and the lookup costs no probing.
 */
#define MAP_BITS_MIN 10 /* a stream's first frames: 16 KiB */
#define MAP_BITS_MAX 14 /* one that allocates more than half that: 256 KiB */
/*
 * ... when more than one free in MAP_CROWDED missed its block because a
 * later one took the slot. A stream whose frees find their blocks in the
 * small map keeps it: under `tiered` a frame holds thousands of sampled
 * allocations but a thread has a few dozen of them live, and 150 streams'
 * large maps missed the cache on every record (docs/benchmarks.md). At
 * one in 32, make's archives were 0.7% larger than with the old rule; at
 * one in 64 they are not.
 */
#define MAP_CROWDED 64

struct map_ent {
	uint64_t addr;
	uint32_t seq; /* 0: empty */
	uint32_t cls;
};

struct ms_packer {
	struct lifo lifo[NCLASS];
	/* encoder */
	struct map_ent *map;
	unsigned map_bits; /* 2^map_bits slots; grows with the frames */
	/* the map of the other size, kept: a recycled packer's next stream
	 * grows into it without faulting 256 KiB in again */
	struct map_ent *other;
	uint8_t *col[NCOL]; /* each col_cap bytes */
	size_t col_cap;
	/* decoder: address and class of every allocation in the frame */
	uint64_t *seq_addr;
	uint8_t *seq_cls;
	size_t seq_cap;
	/* what ms_pack() made: the header, then the columns */
	uint8_t hdr[1 + (NCOL + 1) * MS_VARINT_MAX];
	const uint8_t *part[NCOL + 1];
	size_t part_len[NCOL + 1];
	unsigned nparts;
	/* the frame being packed */
	uint8_t *w[NCOL]; /* where each column goes on */
	uint64_t nrec;
	uint32_t seq; /* allocations so far */
	/* frees so far, and those not found in the map whose slot another
	 * block held (map_fit()) */
	uint64_t frees, crowded;
	size_t raw_cap, raw_len; /* bytes of records room was made for, taken */
	int open;
};

struct ms_packer *ms_packer_create(void)
{
	return calloc(1, sizeof(struct ms_packer));
}

void ms_packer_destroy(struct ms_packer *pk)
{
	if (!pk)
		return;
	free(pk->map);
	free(pk->other);
	for (int i = 0; i < NCOL; i++)
		free(pk->col[i]);
	free(pk->seq_addr);
	free(pk->seq_cls);
	free(pk);
}

/*
 * glibc's size class of a request: its chunk size in 16-byte steps; the
 * large ones share the last class.
 */
static inline uint8_t size_class(uint64_t size)
{
	uint64_t chunk;

	if (size >= 16 * NCLASS)
		return NCLASS - 1;
	chunk = (size + 8 + 15) >> 4;
	if (chunk >= NCLASS)
		return NCLASS - 1;
	return (uint8_t)(chunk < 2 ? 2 : chunk);
}

static inline void lifo_push(struct lifo *l, uint64_t addr)
{
	if (l->n == LIFO_DEPTH) {
		for (uint32_t i = 1; i < LIFO_DEPTH; i++)
			l->a[i - 1] = l->a[i];
		l->n--;
	}
	l->a[l->n++] = addr;
}

/* Removes the j-th most recent entry (1-based) and returns it: the top
 * entry takes its place. */
static inline uint64_t lifo_take(struct lifo *l, uint32_t j)
{
	uint64_t a = l->a[l->n - j];

	l->a[l->n - j] = l->a[l->n - 1];
	l->n--;
	return a;
}

/* 1-based position from the top of the most recent `addr`, or 0. */
static inline uint32_t lifo_find(const struct lifo *l, uint64_t addr)
{
	uint32_t m = 0;

	/* all slots at once, without a branch per slot */
	for (uint32_t i = 0; i < LIFO_DEPTH; i++)
		m |= (uint32_t)(l->a[i] == addr) << i;
	m &= (1u << l->n) - 1;
	return m ? l->n - (31 - (uint32_t)__builtin_clz(m)) : 0;
}

static void models_reset(struct ms_packer *pk)
{
	for (int i = 0; i < NCLASS; i++)
		pk->lifo[i].n = 0;
}

void ms_packer_recycle(struct ms_packer *pk)
{
	if (pk->map_bits > MAP_BITS_MIN) {
		struct map_ent *big = pk->map;

		pk->map = pk->other; /* the small one: map_reset() clears it */
		pk->other = big;
		pk->map_bits = pk->map ? MAP_BITS_MIN : 0;
	}
	pk->seq = 0; /* map_fit() reads the last frame's counts */
	pk->frees = pk->crowded = 0;
	pk->open = 0;
}

/* ---- encoder ---- */

/*
 * The map's size is the packer's own choice (the unpacker numbers
 * allocations without it): a stream starts with a small one, so that the
 * thousands of threads that allocate a little each hold 16 KiB, not
 * 256 KiB, and gets the large one once a frame fills half its slots.
 * A slot is the top bits of the tap's hash (pack.h): one product for both.
 */
static inline uint32_t map_slot(uint64_t addr, unsigned shift)
{
	return (uint32_t)(ms_pack_tap_hash(addr) >> shift);
}

static int seq_reserve(struct ms_packer *pk, size_t n)
{
	uint64_t *a;
	uint8_t *c;

	if (pk->seq_cap >= n)
		return 0;
	a = realloc(pk->seq_addr, n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	pk->seq_addr = a;
	c = realloc(pk->seq_cls, n);
	if (!c)
		return -ENOMEM;
	pk->seq_cls = c;
	pk->seq_cap = n;
	return 0;
}

static inline void seq_put(struct ms_packer *pk, uint32_t seq, uint64_t addr,
			   uint8_t cls)
{
	pk->seq_addr[seq] = addr;
	pk->seq_cls[seq] = cls;
}

/* Once a frame has allocated half as many blocks as the map has slots,
 * and more than one free in MAP_CROWDED found its slot held by another
 * block, the map takes its largest size, its entries kept (0, or -ENOMEM:
 * the small map goes on, which costs only bytes). */
static int map_grow(struct ms_packer *pk)
{
	unsigned shift = 64 - MAP_BITS_MAX;
	struct map_ent *m;

	if (pk->other) {
		m = pk->other;
		memset(m, 0, ((size_t)1 << MAP_BITS_MAX) * sizeof(*m));
	} else {
		m = calloc((size_t)1 << MAP_BITS_MAX, sizeof(*m));
		if (!m)
			return -ENOMEM;
	}
	for (size_t i = 0; i < ((size_t)1 << pk->map_bits); i++)
		if (pk->map[i].seq)
			m[map_slot(pk->map[i].addr, shift)] = pk->map[i];
	pk->other = pk->map;
	pk->map = m;
	pk->map_bits = MAP_BITS_MAX;
	return 0;
}

static inline void map_fit(struct ms_packer *pk)
{
	if (MS_UNLIKELY(pk->map && pk->seq > (1u << pk->map_bits) / 2 &&
			pk->map_bits < MAP_BITS_MAX &&
			pk->crowded * MAP_CROWDED > pk->frees))
		(void)map_grow(pk);
}

static int map_reset(struct ms_packer *pk)
{
	if (!pk->map) {
		pk->map = calloc((size_t)1 << MAP_BITS_MIN, sizeof(*pk->map));
		if (!pk->map)
			return -ENOMEM;
		pk->map_bits = MAP_BITS_MIN;
		return 0;
	}
	map_fit(pk); /* the frame before may have filled half the map */
	memset(pk->map, 0, ((size_t)1 << pk->map_bits) * sizeof(*pk->map));
	return 0;
}

static int cols_reserve(struct ms_packer *pk, size_t raw_len)
{
	size_t cap = raw_len + 16;

	if (pk->col_cap >= cap)
		return 0;
	for (int i = 0; i < NCOL; i++) {
		uint8_t *b = realloc(pk->col[i], cap);

		if (!b)
			return -ENOMEM;
		pk->col[i] = b;
	}
	pk->col_cap = cap;
	return 0;
}

/*
 * Writes `v` at `p` as ms_put_varint() would; returns the end. Columns have
 * a few bytes of slack beyond what they hold.
 */
static inline uint8_t *put_u(uint8_t *p, uint64_t v)
{
	if (v < (1u << 14)) { /* one or two bytes, without a branch on which */
		uint32_t two = v >= 0x80;

		p[0] = (uint8_t)(v | (two << 7));
		p[1] = (uint8_t)(v >> 7);
		return p + 1 + two;
	}
	return ms_put_varint(p, v);
}

/*
 * Writes `v` split (version 2): its varint's first byte at `*lo`, the rest
 * (v >> 7, a varint) at `*hi`. Without a branch on which for the values
 * of one and two bytes (FREE distances are either, at random: a branch
 * cost the drain a tenth), and without touching a high column before a
 * value needs it (a page of memory per stream, see C_TIME_HI): a value
 * of one byte writes its would-be high byte to `sink`.
 */
static inline void put_split(uint8_t **lo, uint8_t **hi, uint8_t *sink,
			     uint64_t v)
{
	if (v < (1u << 14)) {
		uint32_t two = v >= 0x80;
		uint8_t *h = two ? *hi : sink;

		**lo = (uint8_t)(v | (two << 7));
		*lo += 1;
		*h = (uint8_t)(v >> 7);
		*hi += two;
		return;
	}
	**lo = (uint8_t)(v | 0x80);
	*lo += 1;
	*hi = ms_put_varint(*hi, v >> 7);
}

int ms_pack_begin(struct ms_packer *pk, size_t raw_cap)
{
	pk->nparts = 0;
	pk->nrec = 0;
	pk->open = 0;
	if (raw_cap > UINT32_MAX)
		return -EINVAL;
	if (cols_reserve(pk, raw_cap) < 0 || map_reset(pk) < 0)
		return -ENOMEM;
	pk->seq = 0;
	pk->frees = pk->crowded = 0;
	models_reset(pk);
	for (int i = 0; i < NCOL; i++)
		pk->w[i] = pk->col[i];
	pk->raw_cap = raw_cap;
	pk->raw_len = 0;
	pk->open = 1;
	return 0;
}

/* ms_pack_run(), made twice: with a tap, and without one at no cost. */
static inline __attribute__((always_inline)) size_t
pack_run(struct ms_packer *pk, struct ms_rec_state *st, const uint8_t *p,
	 const uint8_t *end, struct ms_pack_counts *n, struct ms_pack_tap *tap)
{
	const uint8_t *const start = p;
	/* before the locals below take the map */
	map_fit(pk);
	/*
	 * Everything the loop keeps is in locals whose address is never
	 * taken: a byte store through a column pointer may alias any memory
	 * that can be reached, which would force reloads after each one.
	 */
	uint8_t *w[NCOL], sink[1];
	uint64_t last_ts = st->last_ts, last_addr = st->last_addr;
	uint64_t nrec = 0, allocs = 0, frees = 0, weighted = 0, first_ts = 0;
	uint64_t crowded = 0;
	unsigned __int128 wsize = 0;
	uint32_t seq = pk->seq;
	struct map_ent *const map = pk->map;
	const unsigned shift = 64 - pk->map_bits;
	struct lifo *const lifo = pk->lifo;
	struct ms_tap_rec *const trec = tap ? tap->rec : NULL;
	const size_t tcap = tap ? tap->cap : SIZE_MAX;
	const uint8_t *stop = end;
	const unsigned bits = tap ? tap->bits : 0;
	size_t tn = tap ? tap->n : 0;
	/* ms_pack_tap_free() and ms_pack_tap_alloc() of a small block, as
	 * limits of the hash computed once a run: calling the functions for
	 * each record costs 13 M more instructions over 3 M events
	 * (bench_drain --live --fewest); fuzz_pack checks the two agree */
	uint64_t flim[MS_REC_LEVEL_TOP + 1];
	const uint64_t alim = UINT64_MAX >> bits;
	const uint32_t akind = bits ? MS_TAP_ALLOC_SEL : MS_TAP_ALLOC;

	for (unsigned c = 0; tap && c <= MS_REC_LEVEL_TOP; c++)
		flim[c] = ms_pack_tap_free_lim(c, bits);

	if (!pk->open || (size_t)(end - p) > pk->raw_cap - pk->raw_len)
		return 0;
	/* No record is shorter than MS_REC_HOT_MIN bytes: the records that
	 * begin before `stop` fit in the tap, with no check of room each */
	if (tap && (size_t)(end - p) / MS_REC_HOT_MIN > tcap - tn)
		stop = p + (tcap - tn) * MS_REC_HOT_MIN;
	memcpy(w, pk->w, sizeof(w));
	while (p < stop) {
		uint8_t t = *p;
		struct ms_rec_hot h;
		size_t len;

		len = ms_rec_decode_hot(p, end, last_ts, &h);
		if (!len)
			break;
		if (nrec == 0)
			first_ts = last_ts + h.dt;
		if (ms_rec_is_free(t)) {
			uint64_t addr = last_addr + (uint64_t)ms_unzigzag(h.zz);
			struct map_ent *e = &map[map_slot(addr, shift)];

			/* the level is for the tap: the archive would only
			 * pay for it (record.h) */
			*w[C_TYPE]++ = MS_REC_FREE;
			put_split(&w[C_DT_F], &w[C_TIME_HI], sink, h.dt);
			if (e->seq && e->addr == addr) {
				put_split(&w[C_FDIST], &w[C_ADDR_HI], sink,
					  seq - e->seq + 1);
				lifo_push(&lifo[e->cls], addr);
				e->seq = 0;
			} else {
				*w[C_FDIST]++ = 0;
				put_split(&w[C_FADDR], &w[C_ADDR_HI], sink,
					  h.zz);
				crowded += e->seq != 0;
			}
			/* handed on, but for a block whose level says it is
			 * not followed here (pack.h) */
			if (trec && ms_pack_tap_hash(addr) <=
					    flim[ms_rec_level_code(t)])
				trec[tn++] = (struct ms_tap_rec){
					last_ts + h.dt, addr, 0, 0, 0,
					MS_TAP_FREE};
			last_ts += h.dt;
			last_addr = addr;
			frees++;
		} else {
			uint64_t addr = last_addr + (uint64_t)ms_unzigzag(h.zz);
			uint8_t cls = size_class(h.size);
			uint32_t j = lifo_find(&lifo[cls], addr);

			*w[C_TYPE]++ = t;
			put_split(&w[C_DT_A], &w[C_TIME_HI], sink, h.dt);
			w[C_SIZE] = put_u(w[C_SIZE], h.size);
			w[C_STACK] = put_u(w[C_STACK], h.stack);
			if (t & MS_RECF_ALIGN)
				w[C_EXTRA] = put_u(w[C_EXTRA], h.align);
			if (t & MS_RECF_WEIGHT) {
				w[C_EXTRA] = put_u(w[C_EXTRA], h.weight);
				weighted++;
			}
			*w[C_AMODE]++ = (uint8_t)j;
			if (j)
				lifo_take(&lifo[cls], j);
			else
				put_split(&w[C_AADDR], &w[C_ADDR_HI], sink,
					  h.zz);
			int kind = -1;

			if (trec && h.size < 2 * MS_TAP_STEP)
				kind = ms_pack_tap_hash(addr) <= alim
					       ? (int)akind
					       : -1;
			else if (trec)
				kind = ms_pack_tap_alloc(addr, h.size, bits);

			if (kind >= 0)
				trec[tn++] = (struct ms_tap_rec){
					last_ts + h.dt,
					addr,
					h.size,
					h.weight,
					h.stack > UINT32_MAX
						? UINT32_MAX
						: (uint32_t)h.stack,
					(uint32_t)kind};
			last_ts += h.dt;
			last_addr = addr;
			map[map_slot(addr, shift)] =
				(struct map_ent){addr, ++seq, cls};
			wsize += (unsigned __int128)h.size * h.weight;
			allocs++;
		}
		p += len;
		nrec++;
	}
	memcpy(pk->w, w, sizeof(w));
	if (tap)
		tap->n = tn;
	pk->seq = seq;
	pk->nrec += nrec;
	pk->frees += frees;
	pk->crowded += crowded;
	pk->raw_len += (size_t)(p - start);
	st->last_ts = last_ts;
	st->last_addr = last_addr;
	if (n) {
		n->records = nrec;
		n->allocs = allocs;
		n->frees = frees;
		n->weighted = weighted;
		n->first_ts = first_ts;
		n->wsize = wsize;
	}
	return (size_t)(p - start);
}

size_t ms_pack_run(struct ms_packer *pk, struct ms_rec_state *st,
		   const uint8_t *p, const uint8_t *end,
		   struct ms_pack_counts *n, struct ms_pack_tap *tap)
{
	if (tap)
		return pack_run(pk, st, p, end, n, tap);
	return pack_run(pk, st, p, end, n, NULL);
}

/* The fields of a REALLOC record as written, and its decoded addresses. */
struct realloc_fields {
	uint64_t dt, zold, znew, size, stack, weight;
	uint64_t old, addr;
};

/*
 * The fields of the REALLOC at [p, p + len) that `ev` decodes, when the
 * encoder would write it again byte for byte from them: minimal varints,
 * the weight flag alone and only with a weight other than 0 and 1.0, no
 * time delta that wraps. 0, or -1 to keep the record verbatim.
 */
static int realloc_fields(const uint8_t *p, size_t len,
			  const struct ms_event *ev, struct realloc_fields *f)
{
	const uint8_t *q = p + 1, *end = p + len;

	f->weight = MS_WEIGHT_ONE;
	if ((p[0] & (uint8_t)~MS_RECF_WEIGHT) != MS_REC_REALLOC ||
	    ms_get_varint_canon(&q, end, &f->dt) < 0 || ev->ts < f->dt ||
	    ms_get_varint_canon(&q, end, &f->zold) < 0 ||
	    ms_get_varint_canon(&q, end, &f->znew) < 0 ||
	    ms_get_varint_canon(&q, end, &f->size) < 0 ||
	    ms_get_varint_canon(&q, end, &f->stack) < 0)
		return -1;
	if ((p[0] & MS_RECF_WEIGHT) &&
	    (ms_get_varint_canon(&q, end, &f->weight) < 0 || f->weight == 0 ||
	     f->weight == MS_WEIGHT_ONE))
		return -1;
	f->old = ev->old_addr;
	f->addr = ev->addr;
	return q == end ? 0 : -1;
}

/*
 * A REALLOC packed (version 3): its old block named as a FREE names its
 * block, its new one flagged in place or named as an ALLOC names its
 * block. A block that moved frees the old one, which then goes on its
 * class's LIFO as a FREE's would (when it was named: its class is known).
 */
static void pack_realloc(struct ms_packer *pk, uint8_t t,
			 const struct realloc_fields *f)
{
	uint8_t **w = pk->w, sink[1], cls = size_class(f->size), ocls = 0;
	struct map_ent *e = &pk->map[map_slot(f->old, 64 - pk->map_bits)];
	int named = e->seq && e->addr == f->old;
	uint32_t j;

	*w[C_TYPE]++ = (uint8_t)(t | (f->addr == f->old ? PACKF_IN_PLACE : 0));
	w[C_REAL] = put_u(w[C_REAL], f->dt);
	w[C_REAL] = put_u(w[C_REAL], f->size);
	w[C_REAL] = put_u(w[C_REAL], f->stack);
	if (t & MS_RECF_WEIGHT)
		w[C_REAL] = put_u(w[C_REAL], f->weight);
	if (named) {
		put_split(&w[C_FDIST], &w[C_ADDR_HI], sink,
			  pk->seq - e->seq + 1);
		ocls = (uint8_t)e->cls;
		e->seq = 0;
	} else {
		*w[C_FDIST]++ = 0;
		put_split(&w[C_FADDR], &w[C_ADDR_HI], sink, f->zold);
		pk->crowded += e->seq != 0;
	}
	pk->frees++;
	if (f->addr == f->old)
		return;
	j = lifo_find(&pk->lifo[cls], f->addr);
	*w[C_AMODE]++ = (uint8_t)j;
	if (j == 0)
		put_split(&w[C_AADDR], &w[C_ADDR_HI], sink, f->znew);
	else
		lifo_take(&pk->lifo[cls], j);
	if (named)
		lifo_push(&pk->lifo[ocls], f->old);
}

int ms_pack_other(struct ms_packer *pk, const uint8_t *p, size_t len,
		  const struct ms_event *ev)
{
	struct realloc_fields f;

	if (!pk->open || len > pk->raw_cap - pk->raw_len) {
		pk->open = 0; /* the frame can no longer be packed */
		return -EINVAL;
	}
	if (ev->type == MS_REC_REALLOC && realloc_fields(p, len, ev, &f) == 0) {
		pack_realloc(pk, p[0], &f);
	} else {
		*pk->w[C_TYPE]++ = 0;
		memcpy(pk->w[C_VERB], p, len);
		pk->w[C_VERB] += len;
	}
	if (ev->type == MS_REC_ALLOC || ev->type == MS_REC_REALLOC) {
		pk->map[map_slot(ev->addr, 64 - pk->map_bits)] =
			(struct map_ent){ev->addr, ++pk->seq,
					 size_class(ev->size)};
	}
	pk->raw_len += len;
	pk->nrec++;
	return 0;
}

int ms_pack_end(struct ms_packer *pk)
{
	uint8_t *o = pk->hdr;

	if (!pk->open)
		return -EINVAL;
	pk->open = 0;
	*o++ = PACK_VERSION;
	o = ms_put_varint(o, pk->nrec);
	for (int i = 0; i < NCOL; i++)
		o = ms_put_varint(o, (uint64_t)(pk->w[i] - pk->col[i]));
	pk->part[0] = pk->hdr;
	pk->part_len[0] = (size_t)(o - pk->hdr);
	for (int i = 0; i < NCOL; i++) {
		pk->part[i + 1] = pk->col[i];
		pk->part_len[i + 1] = (size_t)(pk->w[i] - pk->col[i]);
	}
	pk->nparts = NCOL + 1;
	return 0;
}

int ms_pack(struct ms_packer *pk, const uint8_t *raw, size_t len)
{
	const uint8_t *p = raw, *end = raw + len;
	struct ms_rec_state s = {0, 0};
	struct ms_event ev;
	int err = ms_pack_begin(pk, len);

	if (err)
		return err;
	while (p < end) {
		ssize_t r;

		p += ms_pack_run(pk, &s, p, end, NULL, NULL);
		if (p == end)
			break;
		r = ms_rec_decode(&s, p, (size_t)(end - p), &ev);
		if (r < 0 || ms_pack_other(pk, p, (size_t)r, &ev) < 0) {
			pk->open = 0;
			return -EINVAL;
		}
		p += r;
	}
	return ms_pack_end(pk);
}

unsigned ms_pack_parts(const struct ms_packer *pk, const uint8_t *const **part,
		       const size_t **len)
{
	*part = pk->part;
	*len = pk->part_len;
	return pk->nparts;
}

/* ---- decoder (untrusted input) ---- */

struct rd {
	const uint8_t *p, *end;
};

static inline int rd_u(struct rd *r, uint64_t *v)
{
	return ms_get_varint_fast(&r->p, r->end, v);
}

/* The columns of a packed frame, a cursor each. */
struct cols {
	struct rd c[NCOL];
	int version; /* from 2 on, C_DT_A, ... have high columns */
};

/*
 * A value of column `lo`: split into `lo` and `hi` (version 2, see
 * put_split()), or whole in `lo` (version 1). 0 or -1. A high part of 0
 * (the value would fit the first byte) or of more than 57 bits is not
 * what the packer writes.
 */
static inline int rd_col(struct cols *c, int lo, int hi, uint64_t *v)
{
	struct rd *l = &c->c[lo];
	uint64_t h;
	uint8_t b;

	if (c->version == PACK_VERSION_1)
		return rd_u(l, v);
	if (l->p >= l->end)
		return -1;
	b = *l->p++;
	if (!(b & 0x80)) {
		*v = b;
		return 0;
	}
	if (rd_u(&c->c[hi], &h) < 0 || h == 0 || h >> 57)
		return -1;
	*v = (b & 0x7fu) | h << 7;
	return 0;
}

/* What the unpacking loop keeps from record to record. */
struct unpacking {
	struct ms_packer *pk;
	struct ms_rec_state s;
	uint32_t seq;	/* allocations so far */
	size_t seq_max; /* no more fit in the records' length */
};

/*
 * The block a FREE names, or a REALLOC its old one: by distance to its
 * allocation in the frame (`*cls` its class), else explicitly, from the
 * stream's last address (`*cls` -1). 0, or -1 when damaged.
 */
static inline int unpack_freed(struct unpacking *u, struct cols *c,
			       uint64_t *addr, int *cls)
{
	uint64_t d, zz;

	if (rd_col(c, C_FDIST, C_ADDR_HI, &d) < 0 || d > u->seq)
		return -1;
	if (d) {
		*addr = u->pk->seq_addr[u->seq + 1 - d];
		*cls = u->pk->seq_cls[u->seq + 1 - d];
		return 0;
	}
	if (rd_col(c, C_FADDR, C_ADDR_HI, &zz) < 0)
		return -1;
	*addr = u->s.last_addr + (uint64_t)ms_unzigzag(zz);
	*cls = -1;
	return 0;
}

/* A FREE of the packed stream at `w`; its end, or NULL when damaged. */
static inline uint8_t *unpack_free(struct unpacking *u, struct cols *c,
				   uint8_t t, uint8_t *w)
{
	uint64_t dt, addr;
	int cls;

	if (rd_col(c, C_DT_F, C_TIME_HI, &dt) < 0 ||
	    u->s.last_ts + dt < u->s.last_ts ||
	    unpack_freed(u, c, &addr, &cls) < 0)
		return NULL;
	if (cls >= 0)
		lifo_push(&u->pk->lifo[cls], addr);
	return ms_rec_put_free_flags(&u->s, w, u->s.last_ts + dt, addr,
				     t & MS_RECF_LEVEL);
}

/* The fields of an ALLOC of type byte `t` but its address; 0 or -1. */
static inline int unpack_alloc_fields(struct cols *c, uint8_t t,
				      struct ms_rec_hot *h)
{
	h->align = 0;
	h->weight = MS_WEIGHT_ONE;
	if (rd_col(c, C_DT_A, C_TIME_HI, &h->dt) < 0 ||
	    rd_u(&c->c[C_SIZE], &h->size) < 0 ||
	    rd_u(&c->c[C_STACK], &h->stack) < 0 ||
	    c->c[C_AMODE].p >= c->c[C_AMODE].end)
		return -1;
	if ((t & MS_RECF_ALIGN) &&
	    (rd_u(&c->c[C_EXTRA], &h->align) < 0 || h->align == 0))
		return -1;
	if ((t & MS_RECF_WEIGHT) &&
	    (rd_u(&c->c[C_EXTRA], &h->weight) < 0 || h->weight == 0 ||
	     h->weight == MS_WEIGHT_ONE))
		return -1;
	return 0;
}

/* An ALLOC of the packed stream at `w`; its end, or NULL when damaged. */
static inline uint8_t *unpack_alloc(struct unpacking *u, struct cols *c,
				    uint8_t t, uint8_t *w)
{
	struct ms_rec_hot h;
	struct lifo *lifo;
	uint64_t zz, addr;
	uint8_t cls, j;

	if (unpack_alloc_fields(c, t, &h) < 0 ||
	    u->s.last_ts + h.dt < u->s.last_ts || u->seq >= u->seq_max)
		return NULL;
	cls = size_class(h.size);
	lifo = &u->pk->lifo[cls];
	j = *c->c[C_AMODE].p++;
	if (j) {
		if (j > lifo->n)
			return NULL;
		addr = lifo_take(lifo, j);
	} else {
		if (rd_col(c, C_AADDR, C_ADDR_HI, &zz) < 0)
			return NULL;
		addr = u->s.last_addr + (uint64_t)ms_unzigzag(zz);
	}
	seq_put(u->pk, ++u->seq, addr, cls);
	return ms_rec_put_alloc(&u->s, w, u->s.last_ts + h.dt, addr, h.size,
				h.align, h.stack, h.weight);
}

/* A REALLOC of the packed stream at `w` (version 3, see pack_realloc());
 * its end, or NULL when damaged. */
static inline uint8_t *unpack_realloc(struct unpacking *u, struct cols *c,
				      uint8_t t, uint8_t *w)
{
	struct ms_packer *pk = u->pk;
	struct realloc_fields f = {.weight = MS_WEIGHT_ONE};
	uint64_t zz;
	uint8_t cls, j;
	int ocls;

	if (rd_u(&c->c[C_REAL], &f.dt) < 0 ||
	    u->s.last_ts + f.dt < u->s.last_ts ||
	    rd_u(&c->c[C_REAL], &f.size) < 0 ||
	    rd_u(&c->c[C_REAL], &f.stack) < 0 ||
	    unpack_freed(u, c, &f.old, &ocls) < 0 || u->seq >= u->seq_max)
		return NULL;
	if ((t & MS_RECF_WEIGHT) &&
	    (rd_u(&c->c[C_REAL], &f.weight) < 0 || f.weight == 0 ||
	     f.weight == MS_WEIGHT_ONE))
		return NULL;
	cls = size_class(f.size);
	if (t & PACKF_IN_PLACE) {
		f.addr = f.old;
	} else if (c->c[C_AMODE].p >= c->c[C_AMODE].end) {
		return NULL;
	} else if ((j = *c->c[C_AMODE].p++) != 0) {
		if (j > pk->lifo[cls].n)
			return NULL;
		f.addr = lifo_take(&pk->lifo[cls], j);
	} else {
		if (rd_col(c, C_AADDR, C_ADDR_HI, &zz) < 0)
			return NULL;
		f.addr = f.old + (uint64_t)ms_unzigzag(zz);
	}
	if (ocls >= 0 && !(t & PACKF_IN_PLACE))
		lifo_push(&pk->lifo[ocls], f.old);
	seq_put(pk, ++u->seq, f.addr, cls);
	return ms_rec_put_realloc(&u->s, w, u->s.last_ts + f.dt, f.old, f.addr,
				  f.size, f.stack, f.weight);
}

/* A record kept verbatim, copied to `o`; its end, or NULL. */
static uint8_t *unpack_verbatim(struct unpacking *u, struct cols *c, uint8_t *o,
				const uint8_t *oend)
{
	struct ms_event ev;
	ssize_t r =
		ms_rec_decode(&u->s, c->c[C_VERB].p,
			      (size_t)(c->c[C_VERB].end - c->c[C_VERB].p), &ev);

	if (r < 0 || (size_t)r > (size_t)(oend - o))
		return NULL;
	memcpy(o, c->c[C_VERB].p, (size_t)r);
	c->c[C_VERB].p += r;
	if (ev.type == MS_REC_ALLOC || ev.type == MS_REC_REALLOC) {
		if (u->seq >= u->seq_max)
			return NULL;
		seq_put(u->pk, ++u->seq, ev.addr, size_class(ev.size));
	}
	return o + r;
}

/* `nrec` records from the columns into [out, oend): 0 or -EBADMSG. */
static int unpack_records(struct unpacking *u, struct cols *c, uint64_t nrec,
			  uint8_t *out, uint8_t *oend)
{
	uint8_t *o = out, tmp[MS_REC_SMALL_MAX], *w, *e;

	for (uint64_t k = 0; k < nrec; k++) {
		uint8_t t = *c->c[C_TYPE].p++;

		if (t == 0) {
			o = unpack_verbatim(u, c, o, oend);
			if (!o)
				return -EBADMSG;
			continue;
		}
		/* near the end, through `tmp`: nothing is written past it */
		w = oend - o >= MS_REC_SMALL_MAX ? o : tmp;
		if (ms_rec_is_free(t))
			e = unpack_free(u, c, t, w);
		else if (c->version >= PACK_VERSION &&
			 (t & (uint8_t) ~(MS_RECF_WEIGHT | PACKF_IN_PLACE)) ==
				 MS_REC_REALLOC)
			e = unpack_realloc(u, c, t, w);
		else if (ms_rec_is_hot(t))
			e = unpack_alloc(u, c, t, w);
		else
			e = NULL;
		if (!e)
			return -EBADMSG;
		if (w == tmp) {
			if ((size_t)(e - tmp) > (size_t)(oend - o))
				return -EBADMSG;
			memcpy(o, tmp, (size_t)(e - tmp));
			e = o + (e - tmp);
		}
		o = e;
	}
	return o == oend ? 0 : -EBADMSG;
}

/* The header's column lengths into cursors over `in`; 0 or -EBADMSG.
 * Version 1 has no high columns: theirs stay empty. */
static int read_cols(const uint8_t *in, size_t len, size_t raw_len,
		     uint64_t *nrec, struct cols *c)
{
	struct rd in_rd = {in + 1, in + len}, *col = c->c;
	uint64_t clen[NCOL] = {0};
	const uint8_t *q;
	int ncol;

	if (len < 1 ||
	    (in[0] != PACK_VERSION && in[0] != PACK_VERSION_2 &&
	     in[0] != PACK_VERSION_1) ||
	    ms_get_varint(&in_rd.p, in_rd.end, nrec) < 0 || *nrec > raw_len)
		return -EBADMSG;
	c->version = in[0];
	ncol = c->version == PACK_VERSION     ? NCOL
	       : c->version == PACK_VERSION_2 ? NCOL_2
					      : NCOL_1;
	for (int i = 0; i < ncol; i++)
		if (ms_get_varint(&in_rd.p, in_rd.end, &clen[i]) < 0)
			return -EBADMSG;
	q = in_rd.p;
	for (int i = 0; i < NCOL; i++) {
		if (clen[i] > (uint64_t)(in_rd.end - q))
			return -EBADMSG;
		col[i] = (struct rd){q, q + clen[i]};
		q += clen[i];
	}
	return q == in_rd.end && clen[C_TYPE] == *nrec ? 0 : -EBADMSG;
}

int ms_unpack(struct ms_packer *pk, const uint8_t *in, size_t len, uint8_t *out,
	      size_t raw_len)
{
	/* An ALLOC or REALLOC takes at least 5 bytes of records. */
	struct unpacking u = {.pk = pk, .seq_max = raw_len / 5 + 1};
	struct cols c;
	uint64_t nrec;
	int err;

	if (seq_reserve(pk, u.seq_max + 1) < 0)
		return -ENOMEM;
	err = read_cols(in, len, raw_len, &nrec, &c);
	if (err)
		return err;
	models_reset(pk);
	err = unpack_records(&u, &c, nrec, out, out + raw_len);
	for (int i = 0; !err && i < NCOL; i++)
		if (c.c[i].p != c.c[i].end)
			return -EBADMSG;
	return err;
}
