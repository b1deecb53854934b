/* SPDX-License-Identifier: MIT */
/*
 * The sampled-address table: which live blocks were recorded as sampled
 * allocations, so that their frees (on any thread) are recorded and all
 * other frees cost one cache-line lookup and write nothing.
 *
 * Fixed capacity, in mmap'd memory (never malloc: it is used from inside
 * malloc), lock-free. A key hashes to one bucket, one cache line; 0 marks
 * a free slot. Inserting claims a free slot with a compare-exchange
 * (several threads may insert into one bucket). Removing is a plain
 * release store of 0: only the thread that frees a block removes its
 * address, and a block is freed once, so no other thread writes that slot
 * until the address is free again. An insert that finds its buckets full
 * is refused; the caller then treats the allocation as not sampled.
 *
 * Two tables, each address in one of them: a small first one (2^14 slots,
 * 128 KiB), and a large one (2^20 slots, 8 MiB) for the addresses whose
 * bucket in the first one is full. A first bucket has
 * MS_ADDRTAB_FIRST_WAYS slots and, in its last word, how many of its
 * addresses went to the large table: incremented before such an insert,
 * decremented after the removal. A lookup goes on to the large table only
 * when that count is not zero: while the first table holds every sampled
 * block, the large one is never touched.
 *
 * Why two: pages are faulted in as they are first touched, and a page
 * fault costs as much as a few hundred frees. One table of 8 MiB, its
 * buckets touched at random, made a short process (one `cc1` of a build)
 * fault in some 1,300 of its pages, where the first table is 32.
 *
 * In front of the buckets sits a counting filter, small enough to stay in
 * cache: counter f(p) is at least the number of present addresses that map
 * to it (incremented before an insert, decremented after a removal). Most
 * frees are of unsampled blocks; a zero counter answers them with one byte,
 * where a bucket costs a scan of its slots (about 25 instructions) and,
 * in a table that does not stay in cache, a miss. The counters are bytes:
 * 128 KiB holds 2^17 of them, and with 2,000 sampled blocks live (150
 * threads, `tiered`) a free of an unsampled block finds a non-zero counter
 * 1.5% of the time (3% with half as many, and 150 threads ran 1.7%
 * longer in 10 alternated runs). A counter that reaches 255
 * stays there (never decremented): a false "maybe", never a miss.
 *
 * Memory order: an insert happens before the block's free through the
 * program's own synchronisation (the thread that frees a block got the
 * pointer from the one that allocated it), so lookups load relaxed.
 */
#ifndef MS_ADDRTAB_H
#define MS_ADDRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#define MS_ADDRTAB_WAYS	       8		     /* slots of a bucket */
#define MS_ADDRTAB_FIRST_WAYS  (MS_ADDRTAB_WAYS - 1) /* then the count */
#define MS_ADDRTAB_FILTER_LOG2 17  /* 131072 byte counters, 128 KiB */
#define MS_ADDRTAB_STICKY      255 /* a counter that no longer counts */

struct ms_addrtab {
	uint64_t nfirst;  /* buckets of the first table */
	uint64_t nsecond; /* buckets of the large table */
	uint64_t nslots;  /* of both */
	size_t map_len;
	_Atomic uint8_t *filter; /* 2^MS_ADDRTAB_FILTER_LOG2 counters */
	uint8_t pad[24];
	/* bucket b: slot[b * WAYS .. + WAYS); the first table's buckets
	 * come first, then the large table's */
	_Atomic uintptr_t slot[];
};

/*
 * Maps a first table of 2^log2_first slots and a large one of
 * 2^log2_slots (each >= WAYS). NULL on failure.
 */
struct ms_addrtab *ms_addrtab_create(unsigned log2_first, unsigned log2_slots);
void ms_addrtab_destroy(struct ms_addrtab *t);
/* Forgets every address (for tests: a fork child unmaps the table). */
void ms_addrtab_clear(struct ms_addrtab *t);

/* Adds `p`. Returns 0, or -ENOSPC when its buckets are full. */
int ms_addrtab_insert(struct ms_addrtab *t, const void *p);

/* Number of addresses present (a scan; for tests and reports). */
uint64_t ms_addrtab_count(struct ms_addrtab *t);

/* `p`'s bucket in the first table (second = 0) or the large one. */
static inline _Atomic uintptr_t *ms_addrtab_bucket(struct ms_addrtab *t,
						   const void *p, int second)
{
	uint64_t h = ((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
	uint64_t n = second ? t->nsecond : t->nfirst;
	/* high half of h * n: uniform in [0, n) */
	uint64_t b = (uint64_t)(((unsigned __int128)h * n) >> 64);

	return &t->slot[(second ? t->nfirst + b : b) * MS_ADDRTAB_WAYS];
}

static inline _Atomic uint8_t *ms_addrtab_counter(struct ms_addrtab *t,
						  const void *p)
{
	/* other bits than the bucket's, so one hot bucket is not one counter */
	uint64_t h = ((uint64_t)(uintptr_t)p >> 4) * 0xbf58476d1ce4e5b9ull;

	return &t->filter[h >> (64 - MS_ADDRTAB_FILTER_LOG2)];
}

/* Counts one address more or less at `c`, unless it is sticky. */
static inline void ms_addrtab_count_add(_Atomic uint8_t *c, int d)
{
	uint8_t v = ms_load_relaxed(c);

	while (v != MS_ADDRTAB_STICKY &&
	       !atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v + d),
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* The count of a first bucket's addresses in the large table. */
static inline _Atomic uintptr_t *ms_addrtab_overflow(_Atomic uintptr_t *b)
{
	return &b[MS_ADDRTAB_FIRST_WAYS];
}

/* ms_addrtab_remove() past a counter that is not zero. */
int ms_addrtab_remove_counted(struct ms_addrtab *t, const void *p,
			      _Atomic uint8_t *c);

/*
 * Removes `p` if present. Returns 1 when it was there, else 0. Only the
 * filter's look is inline: it answers most frees, and the buckets' scans
 * made the whole an out-of-line call on every free.
 */
static inline int ms_addrtab_remove(struct ms_addrtab *t, const void *p)
{
	_Atomic uint8_t *c = ms_addrtab_counter(t, p);

	if (MS_LIKELY(ms_load_relaxed(c) == 0))
		return 0;
	return ms_addrtab_remove_counted(t, p, c);
}

/* Whether `p` is present (a lookup that changes nothing; for tests). */
int ms_addrtab_contains(struct ms_addrtab *t, const void *p);

#endif
