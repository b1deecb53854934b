/* SPDX-License-Identifier: MIT */
/*
 * Frame packing: exact round trips of every kind of record stream, the
 * models doing their work, and damaged packed input refused safely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pack.h"
#include "pack_v1_frame.h"
#include "record.h"
#include "ring_abi.h"

#define FRAME_MAX (1u << 20)

static uint8_t raw[FRAME_MAX], back[FRAME_MAX], want[FRAME_MAX];
static uint8_t packed[16 * FRAME_MAX];

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Concatenates the parts of the last ms_pack(); returns the length. */
static size_t join(struct ms_packer *pk)
{
	const uint8_t *const *part;
	const size_t *len;
	unsigned n = ms_pack_parts(pk, &part, &len);
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		memcpy(packed + off, part[i], len[i]);
		off += len[i];
	}
	return off;
}

/* Length of part `i` (0 = header, 1.. = columns) of the last ms_pack(). */
static size_t part_len(struct ms_packer *pk, unsigned i)
{
	const uint8_t *const *part;
	const size_t *len;

	assert_true(i < ms_pack_parts(pk, &part, &len));
	return len[i];
}

/* What unpacking gives back of raw[0, len) (fuzz_common.c): FREE records
 * without their level. Returns how many had one. */
static size_t unpacked_form(size_t len)
{
	return ms_fuzz_unpacked_form(raw, len, want);
}

static size_t roundtrip(struct ms_packer *pk, size_t len)
{
	size_t n;

	assert_int_equal(ms_pack(pk, raw, len), 0);
	n = join(pk);
	memset(back, 0xa5, len);
	assert_int_equal(ms_unpack(pk, packed, n, back, len), 0);
	unpacked_form(len);
	assert_memory_equal(back, want, len);
	return n;
}

/*
 * A stream like a program's: a window of live blocks, frees of random
 * ones, blocks reused at their size, now and then every other record
 * type, flags, cross-thread frees and odd values.
 */
static size_t make_stream(uint8_t *out, size_t cap, uint64_t *nrec)
{
	struct ms_rec_state s = {1000, 0};
	uint64_t live[64] = {0}, live_size[64] = {0}, ts = 1000;
	uint64_t freed[8][4] = {{0}};
	uint8_t *p = out, *end = out + cap - MS_REC_MAX;
	uint64_t frames[5] = {0x401000, 0x401234, 0x7f0000001000, 7, 0};

	*nrec = 0;
	p = ms_rec_put_sync(&s, p);
	while (p < end) {
		uint64_t r = rnd(), k = r % 64, cls = (r >> 8) % 8;

		ts += (r >> 12) % 300;
		switch ((r >> 20) % 16) {
		case 0: /* something else now and then */
			switch ((r >> 24) % 8) {
			case 0:
				p = ms_rec_put_stack(&s, p, ts, r >> 40, frames,
						     (uint32_t)(r >> 30) % 6);
				break;
			case 1:
				p = ms_rec_put_realloc(&s, p, ts, live[k],
						       r & ~15ull, r >> 50, k,
						       k ? 65536 : 3);
				live[k] = r & ~15ull;
				break;
			case 2:
				p = ms_rec_put_thread_name(&s, p, ts, "worker",
							   6);
				break;
			case 3:
				p = ms_rec_put_lost(&s, p, ts, r >> 40,
						    MS_LOST_FULL);
				break;
			case 4:
				p = ms_rec_put_clock(&s, p, ts, r >> 4,
						     2600000000u);
				break;
			case 5: /* a block freed on another thread */
				p = ms_rec_put_free_flags(
					&s, p, ts, r << 4,
					(uint8_t)(((r >> 30) & 7) << 4));
				break;
			case 6: /* an allocation with alignment and weight */
				p = ms_rec_put_alloc(&s, p, ts, r << 6, r >> 52,
						     64, 3, 123456);
				break;
			default: /* the extremes */
				p = ms_rec_put_alloc(&s, p, ts, UINT64_MAX,
						     UINT64_MAX, 0, UINT64_MAX,
						     MS_WEIGHT_ONE);
				p = ms_rec_put_free(&s, p, ts, 0);
				*nrec += 1;
				break;
			}
			break;
		default: {
			uint64_t size = 16 * cls + 8, a;

			if (live[k]) {
				/* with a level, as agents that can say do */
				p = ms_rec_put_free_flags(
					&s, p, ts, live[k],
					(uint8_t)(((r >> 32) & 7) << 4));
				freed[live_size[k] % 8][r % 4] = live[k];
				*nrec += 1;
			}
			/* mostly a block freed earlier at this size */
			a = (r >> 40) % 4 ? freed[cls][(r >> 44) % 4] : 0;
			if (!a)
				a = 0x7f0000000000ull + ((r >> 16) & 0xffff0);
			p = ms_rec_put_alloc(&s, p, ts, a, size, 0,
					     (r >> 36) % 5, MS_WEIGHT_ONE);
			live[k] = a;
			live_size[k] = cls;
			break;
		}
		}
		*nrec += 1;
	}
	return (size_t)(p - out);
}

static void test_roundtrip_streams(void **state)
{
	struct ms_packer *pk = ms_packer_create();

	(void)state;
	assert_non_null(pk);
	for (int round = 0; round < 40; round++) {
		uint64_t nrec;
		size_t cap = 64 + rnd() % (round < 20 ? 4096 : FRAME_MAX);
		size_t len = make_stream(
			raw, cap < MS_REC_MAX + 64 ? MS_REC_MAX + 64 : cap,
			&nrec);

		roundtrip(pk, len);
		/* frees flagged small were there, and came back without */
		if (round >= 20)
			assert_true(unpacked_form(len) > 0);
	}
	ms_packer_destroy(pk);
}

/* n blocks allocated at scattered addresses, then freed in a random
 * order: more live blocks than a stream's first map holds. */
static size_t make_crowded(uint8_t *out, unsigned n)
{
	struct ms_rec_state s = {0, 0};
	uint64_t a[4096];
	uint8_t *p = out;

	assert_true(n <= 4096);
	p = ms_rec_put_sync(&s, p);
	for (unsigned i = 0; i < n; i++) {
		a[i] = 0x7f0000000000ull + (rnd() & 0xfffff0);
		p = ms_rec_put_alloc(&s, p, 100 + i, a[i], 32, 0, 1,
				     MS_WEIGHT_ONE);
	}
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)(rnd() % i);
		uint64_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
	for (unsigned i = 0; i < n; i++)
		p = ms_rec_put_free(&s, p, 100 + n + i, a[i]);
	return (size_t)(p - out);
}

/*
 * A packer left by a busy stream (its map grown) and recycled for the next
 * one packs as a new packer does, and grows as it did; one not recycled
 * packs differently (ms_packer_recycle(): the consumer's stream spares).
 */
static void test_recycled_packs_as_new(void **state)
{
	static uint8_t fresh[16 * FRAME_MAX], grown[16 * FRAME_MAX];
	struct ms_packer *busy = ms_packer_create();
	struct ms_packer *pk = ms_packer_create();
	size_t len, n_fresh, n_grown, n;

	(void)state;
	assert_non_null(busy);
	assert_non_null(pk);
	/* two crowded frames: the map grows for the second */
	len = make_crowded(raw, 4000);
	roundtrip(busy, len);
	roundtrip(busy, len);
	len = make_crowded(raw, 4000);
	n_fresh = roundtrip(pk, len);
	memcpy(fresh, packed, n_fresh);
	n_grown = roundtrip(busy, len);
	memcpy(grown, packed, n_grown);
	/* the grown map finds more blocks: fewer explicit addresses */
	assert_true(n_grown < n_fresh);
	ms_packer_recycle(busy);
	n = roundtrip(busy, len);
	assert_int_equal(n, n_fresh);
	assert_memory_equal(packed, fresh, n);
	/* and grows again as before, into the large map it kept */
	n = roundtrip(busy, len);
	assert_int_equal(n, n_grown);
	assert_memory_equal(packed, grown, n);
	ms_packer_destroy(busy);
	ms_packer_destroy(pk);
}

static void test_models_name_blocks(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_rec_state s = {0, 0};
	uint8_t *p = raw;

	(void)state;
	assert_non_null(pk);
	p = ms_rec_put_sync(&s, p);
	/* 100 blocks, freed in reverse, then allocated again at the same
	 * sizes: every free names its ALLOC, every reuse its LIFO slot */
	for (uint64_t i = 0; i < 100; i++)
		p = ms_rec_put_alloc(&s, p, i, 0x10000 + i * 0x1000, 24, 0, 1,
				     MS_WEIGHT_ONE);
	for (uint64_t i = 100; i-- > 0;)
		p = ms_rec_put_free(&s, p, 200, 0x10000 + i * 0x1000);
	for (uint64_t i = 0; i < 8; i++)
		p = ms_rec_put_alloc(&s, p, 300, 0x10000 + i * 0x1000, 24, 0, 1,
				     MS_WEIGHT_ONE);
	roundtrip(pk, (size_t)(p - raw));
	assert_int_equal(part_len(pk, 1 + 8), 0); /* no explicit FREE addr */
	/* 100 explicit ALLOC addresses at first, none for the reuses */
	{
		size_t first = part_len(pk, 1 + 6);

		p = raw;
		s = (struct ms_rec_state){0, 0};
		p = ms_rec_put_sync(&s, p);
		for (uint64_t i = 0; i < 100; i++)
			p = ms_rec_put_alloc(&s, p, i, 0x10000 + i * 0x1000, 24,
					     0, 1, MS_WEIGHT_ONE);
		roundtrip(pk, (size_t)(p - raw));
		assert_int_equal(part_len(pk, 1 + 6), first);
	}
	ms_packer_destroy(pk);
}

static void test_noncanonical_kept_verbatim(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_rec_state s = {0, 0};
	uint8_t *p = raw;
	size_t verb;

	(void)state;
	assert_non_null(pk);
	p = ms_rec_put_sync(&s, p);
	p = ms_rec_put_alloc(&s, p, 5, 0x1000, 32, 0, 1, MS_WEIGHT_ONE);
	/* FREE with a two-byte time delta of 1: valid, not canonical */
	*p++ = MS_REC_FREE;
	*p++ = 0x81;
	*p++ = 0x00;
	*p++ = 0; /* same address */
	/* ALLOC flagged with a weight of exactly one: not canonical */
	*p++ = MS_REC_ALLOC | MS_RECF_WEIGHT;
	p = ms_put_varint(p, 1);
	p = ms_put_varint(p, 0);
	p = ms_put_varint(p, 8);
	p = ms_put_varint(p, 1);
	p = ms_put_varint(p, MS_WEIGHT_ONE);
	roundtrip(pk, (size_t)(p - raw));
	verb = part_len(pk, 1 + 10);
	assert_int_equal(verb, 3 /* SYNC */ + 4 + 8);
	/* invalid records are refused, not packed */
	raw[3] = 0xff;
	assert_int_equal(ms_pack(pk, raw, (size_t)(p - raw)), -EINVAL);
	ms_packer_destroy(pk);
}

static void test_damage_refused(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	uint64_t nrec;
	size_t len = make_stream(raw, 6000 + MS_REC_MAX, &nrec), n;

	(void)state;
	assert_non_null(pk);
	n = roundtrip(pk, len);
	/* every cut: refused */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(ms_unpack(pk, packed, k, back, len), -EBADMSG);
	/* the wrong record length: refused */
	assert_int_equal(ms_unpack(pk, packed, n, back, len - 1), -EBADMSG);
	assert_int_equal(ms_unpack(pk, packed, n, back, len + 1), -EBADMSG);
	/* random damage: never a crash, never a write beyond `len` (ASan),
	 * and whatever is accepted is `len` bytes */
	for (int round = 0; round < 20000; round++) {
		uint8_t saved[4];
		size_t at[4];

		for (int i = 0; i < 4; i++) {
			at[i] = rnd() % n;
			saved[i] = packed[at[i]];
			packed[at[i]] ^= (uint8_t)(1 + rnd() % 255);
		}
		int err = ms_unpack(pk, packed, n, back, len);

		assert_true(err == 0 || err == -EBADMSG);
		for (int i = 4; i-- > 0;)
			packed[at[i]] = saved[i];
	}
	assert_int_equal(ms_unpack(pk, packed, n, back, len), 0);
	assert_memory_equal(back, want, len);
	ms_packer_destroy(pk);
}

/* A record whose last byte is a one-byte 0 ending the input is canonical:
 * packed, not kept verbatim. */
static void test_zero_at_the_end_is_packed(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_rec_state s = {0, 0};
	uint8_t *p = raw, *sync_end;

	(void)state;
	assert_non_null(pk);
	sync_end = p = ms_rec_put_sync(&s, p);
	p = ms_rec_put_alloc(&s, p, 5, 0x1000, 32, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&s, p, 6, 0x1000); /* address delta 0, last */
	assert_int_equal(p[-1], 0);
	roundtrip(pk, (size_t)(p - raw));
	assert_int_equal(part_len(pk, 1 + 10), (size_t)(sync_end - raw));
	ms_packer_destroy(pk);
}

/* Parts of a packed frame (0 = header): version 2's split columns. */
enum {
	P_DT_A = 2,
	P_DT_F = 3,
	P_AADDR = 7,
	P_FDIST = 8,
	P_FADDR = 9,
	P_TIME_HI = 12, /* of P_DT_A and P_DT_F */
	P_ADDR_HI,	/* of P_AADDR, P_FDIST and P_FADDR */
};

/*
 * Values at each edge of the split (version 2): the first byte alone
 * (0, 0x7f), one high byte (0x80, 0x3fff), two (0x4000), and the widest
 * (2^63 and more), in every split column: time deltas, ALLOC and FREE
 * addresses and FREE distances.
 */
static const uint64_t edges[] = {
	0,	    1,		0x7f,
	0x80,	    0x81,	0xff,
	0x100,	    0x3fff,	0x4000,
	0x1fffff,   0x200000,	0xfffffffull,
	1ull << 35, 1ull << 56, (1ull << 57) - 1,
	1ull << 62,
};
#define NEDGES (sizeof(edges) / sizeof(edges[0]))

static void test_split_edges(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_rec_state s = {0, 0};
	uint64_t ts = 0, a = 0x10000;
	uint8_t *p = raw;
	size_t n, len;

	(void)state;
	assert_non_null(pk);
	p = ms_rec_put_sync(&s, p);
	for (size_t i = 0; i < NEDGES; i++) {
		/* an ALLOC and a FREE after each time delta; addresses apart
		 * by each delta, up and down (zigzag: both signs) */
		ts += edges[i];
		p = ms_rec_put_alloc(&s, p, ts, a + edges[i], 24, 0, 1,
				     MS_WEIGHT_ONE);
		ts += edges[NEDGES - 1 - i];
		p = ms_rec_put_free(&s, p, ts, a - edges[i] - 16);
		p = ms_rec_put_free(&s, p, ts, a + edges[i]); /* fdist 1 */
	}
	/* the largest time delta and address deltas there are */
	p = ms_rec_put_alloc(&s, p, UINT64_MAX, UINT64_MAX, 24, 0, 1,
			     MS_WEIGHT_ONE);
	p = ms_rec_put_free(&s, p, UINT64_MAX, 0);
	len = (size_t)(p - raw);
	n = roundtrip(pk, len);
	assert_int_equal(packed[0], 3); /* the version written */
	/* one low byte per value; high bytes only for values >= 0x80 */
	assert_int_equal(part_len(pk, P_DT_A), NEDGES + 1);
	assert_int_equal(part_len(pk, P_DT_F), 2 * NEDGES + 1);
	assert_int_equal(part_len(pk, P_AADDR), NEDGES + 1);
	assert_int_equal(part_len(pk, P_FADDR), NEDGES + 1);
	assert_true(part_len(pk, P_TIME_HI) > 0);
	assert_true(part_len(pk, P_ADDR_HI) > 0);
	/* a high part of 0 (the value fits its low byte) or of more than
	 * 57 bits is not what the packer writes: refused */
	for (unsigned bad = 0; bad < 2; bad++) {
		size_t at = 0, k;

		for (unsigned i = 0; i < P_ADDR_HI; i++)
			at += part_len(pk, i);
		/* the first high part: the first ALLOC's address delta */
		k = at;
		memcpy(back, packed + k, 10);
		if (bad == 0) {
			packed[k] = 0;
		} else {
			memset(packed + k, 0xff, 8);
			packed[k + 8] = 0x7f;
		}
		assert_int_equal(ms_unpack(pk, packed, n, back + 64, len),
				 -EBADMSG);
		memcpy(packed + k, back, 10);
	}
	assert_int_equal(ms_unpack(pk, packed, n, back, len), 0);
	assert_memory_equal(back, raw, len);
	ms_packer_destroy(pk);
}

/* FREE distances beyond one low byte: thousands of blocks freed in the
 * order they were made. */
static void test_split_distances(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_rec_state s = {0, 0};
	uint8_t *p = raw;

	(void)state;
	assert_non_null(pk);
	p = ms_rec_put_sync(&s, p);
	for (uint64_t i = 0; i < 20000; i++)
		p = ms_rec_put_alloc(&s, p, i, 0x100000 + 32 * i, 24, 0, 1,
				     MS_WEIGHT_ONE);
	for (uint64_t i = 0; i < 20000; i += 7)
		p = ms_rec_put_free(&s, p, 30000 + i, 0x100000 + 32 * i);
	roundtrip(pk, (size_t)(p - raw));
	/* the packer's map keeps some of the blocks (it has fewer slots):
	 * those are named, at distances of up to 20,000 */
	assert_true(part_len(pk, P_ADDR_HI) > part_len(pk, P_FADDR));
	ms_packer_destroy(pk);
}

/* Bytes of part `i` of the last ms_pack(), into `out`; their count. */
static size_t part_bytes(struct ms_packer *pk, unsigned i, uint8_t *out)
{
	const uint8_t *const *part;
	const size_t *len;

	assert_true(i < ms_pack_parts(pk, &part, &len));
	memcpy(out, part[i], len[i]);
	return len[i];
}

/*
 * REALLOC records packed (version 3): a block grown in place, one moved
 * (its old block named by its allocation, then taken again from its
 * class's LIFO), one moved into a block freed before, one of a block the
 * frame never saw, one with a weight; one not canonical stays verbatim.
 * Version 2, which had no packed REALLOC, is read still and refuses one.
 */
static void test_realloc_packed(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_rec_state s = {0, 0};
	uint8_t *p = raw, col[16], *bad;
	size_t n, len, hdr;

	(void)state;
	assert_non_null(pk);
	p = ms_rec_put_sync(&s, p);
	p = ms_rec_put_alloc(&s, p, 1, 0x1000, 24, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_realloc(&s, p, 2, 0x1000, 0x1000, 40, 2, MS_WEIGHT_ONE);
	p = ms_rec_put_realloc(&s, p, 3, 0x1000, 0x2000, 100, 2, MS_WEIGHT_ONE);
	p = ms_rec_put_alloc(&s, p, 4, 0x1000, 40, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&s, p, 5, 0x2000);
	p = ms_rec_put_realloc(&s, p, 6, 0x9000, 0x2000, 100, 3, MS_WEIGHT_ONE);
	p = ms_rec_put_realloc(&s, p, 7, 0x2000, 0x3000, 5000, 3, 3);
	bad = p;
	/* a REALLOC with a two-byte time delta of 1: valid, not canonical */
	*p++ = MS_REC_REALLOC;
	*p++ = 0x81;
	*p++ = 0x00;
	p = ms_put_varint(p, ms_zigzag(0x100));
	p = ms_put_varint(p, ms_zigzag(0x100));
	p = ms_put_varint(p, 8);
	p = ms_put_varint(p, 4);
	len = (size_t)(p - raw);
	n = roundtrip(pk, len);
	assert_int_equal(packed[0], 3);
	assert_int_equal(part_len(pk, 1 + 10),
			 3 /* SYNC */ + (size_t)(p - bad));
	/* new blocks: explicit, (in place: none), explicit, LIFO, LIFO,
	 * explicit */
	assert_int_equal(part_bytes(pk, 1 + 5, col), 5);
	assert_memory_equal(col, ((uint8_t[]){0, 0, 1, 1, 0}), 5);
	/* the type column: the REALLOC in place flagged so */
	assert_int_equal(part_bytes(pk, 1 + 0, col), 9);
	assert_memory_equal(col,
			    ((uint8_t[]){0, MS_REC_ALLOC, MS_REC_REALLOC | 0x40,
					 MS_REC_REALLOC, MS_REC_ALLOC,
					 MS_REC_FREE, MS_REC_REALLOC,
					 MS_REC_REALLOC | MS_RECF_WEIGHT, 0}),
			    9);
	/* blocks freed, by distance: the REALLOCs' old blocks and the FREE
	 * named, but 0x9000, which the frame never allocated (explicit) */
	assert_int_equal(part_bytes(pk, 1 + 7, col), 5);
	assert_memory_equal(col, ((uint8_t[]){1, 1, 2, 0, 1}), 5);
	/* their time deltas, sizes, stack ids and the one weight in a
	 * column of their own, none in the ALLOC columns' */
	assert_int_equal(part_len(pk, 1 + 13), 4 * 3 + 1 /* 5000 */ + 1);
	assert_int_equal(part_len(pk, 1 + 3), 2);
	assert_int_equal(part_len(pk, 1 + 9), 0);
	/* read as version 2: refused */
	packed[0] = 2;
	assert_int_equal(ms_unpack(pk, packed, n, back, len), -EBADMSG);
	/* a frame without one, as version 2 wrote it (the header without
	 * the REALLOC column's length, 0), is read exactly */
	s = (struct ms_rec_state){0, 0};
	p = ms_rec_put_sync(&s, raw);
	p = ms_rec_put_alloc(&s, p, 1, 0x1000, 24, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&s, p, 9, 0x1000);
	len = (size_t)(p - raw);
	n = roundtrip(pk, len);
	hdr = part_len(pk, 0);
	assert_int_equal(packed[hdr - 1], 0);
	memmove(packed + hdr - 1, packed + hdr, n - hdr);
	n--;
	packed[0] = 2;
	memset(back, 0xa5, len);
	assert_int_equal(ms_unpack(pk, packed, n, back, len), 0);
	assert_memory_equal(back, raw, len);
	ms_packer_destroy(pk);
}

/* Frames packed before version 2 still unpack, exactly; damaged, they
 * are refused. */
static void test_version1_still_read(void **state)
{
	struct ms_packer *pk = ms_packer_create();
	size_t len = sizeof(v1_records), n = sizeof(v1_packed);

	(void)state;
	assert_non_null(pk);
	assert_int_equal(v1_packed[0], 1);
	memcpy(packed, v1_packed, n);
	memset(back, 0xa5, len);
	assert_int_equal(ms_unpack(pk, packed, n, back, len), 0);
	assert_memory_equal(back, v1_records, len);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(ms_unpack(pk, packed, k, back, len), -EBADMSG);
	/* read as version 2 (a high column of length 0 added to the
	 * header): not the same records */
	packed[0] = 2;
	assert_int_equal(ms_unpack(pk, packed, n, back, len), -EBADMSG);
	/* the same records packed now: version 3, the same bytes but for
	 * three more column lengths in the header: version 2's high
	 * columns, and version 3's REALLOC column (0: these hold none) */
	memcpy(raw, v1_records, len);
	assert_true(roundtrip(pk, len) <= n + 2 * 2 + 1);
	assert_int_equal(packed[0], 3);
	ms_packer_destroy(pk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_streams),
		cmocka_unit_test(test_models_name_blocks),
		cmocka_unit_test(test_recycled_packs_as_new),
		cmocka_unit_test(test_noncanonical_kept_verbatim),
		cmocka_unit_test(test_zero_at_the_end_is_packed),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_split_edges),
		cmocka_unit_test(test_split_distances),
		cmocka_unit_test(test_realloc_packed),
		cmocka_unit_test(test_version1_still_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
