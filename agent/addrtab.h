/* SPDX-License-Identifier: MIT */
/*
 * The sampled-address table: which live blocks were recorded as sampled
 * allocations, so that their frees (on any thread) are recorded and all
 * other frees cost one cache-line lookup and write nothing.
 *
 * Fixed capacity, in mmap'd memory (never malloc: it is used from inside
 * malloc), lock-free. A key hashes to one bucket of MS_ADDRTAB_WAYS slots,
 * one cache line; 0 marks a free slot. Inserting claims a free slot with a
 * compare-exchange (several threads may insert into one bucket). Removing
 * is a plain release store of 0: only the thread that frees a block removes
 * its address, and a block is freed once, so no other thread writes that
 * slot until the address is free again. A full bucket refuses the insert;
 * the caller then treats the allocation as not sampled.
 *
 * Memory order: an insert happens before the block's free through the
 * program's own synchronisation (the thread that frees a block got the
 * pointer from the one that allocated it), so lookups load relaxed.
 *
 * In front of the buckets sits a counting filter, small enough to stay in
 * cache: counter f(p) is at least the number of present addresses that map
 * to it (incremented before an insert, decremented after a removal). Most
 * frees are of unsampled blocks; a zero counter answers them without
 * touching the table's random bucket, a cache and TLB miss in an 8 MiB
 * table (77% of the agent's free() in a 150-thread profile). The counters
 * are bytes, so that 128 KiB holds 2^17 of them: with 2,000 sampled blocks
 * live (150 threads, `tiered`) a free of an unsampled block finds a
 * non-zero counter 1.5% of the time instead of 6%. A counter that reaches
 * 255 stays there (never decremented): a false "maybe", never a miss.
 */
#ifndef MS_ADDRTAB_H
#define MS_ADDRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#define MS_ADDRTAB_WAYS	       8
#define MS_ADDRTAB_FILTER_LOG2 17  /* 131072 byte counters, 128 KiB */
#define MS_ADDRTAB_STICKY      255 /* a counter that no longer counts */

struct ms_addrtab {
	uint64_t nbuckets;
	uint64_t nslots;
	size_t map_len;
	_Atomic uint8_t *filter; /* 2^MS_ADDRTAB_FILTER_LOG2 counters */
	uint8_t pad[32];
	_Atomic uintptr_t slot[]; /* bucket b: slot[b * WAYS .. + WAYS) */
};

/* Maps a table of 2^log2_slots slots (>= WAYS). NULL on failure. */
struct ms_addrtab *ms_addrtab_create(unsigned log2_slots);
void ms_addrtab_destroy(struct ms_addrtab *t);
/* Forgets every address (fork child). */
void ms_addrtab_clear(struct ms_addrtab *t);

/* Adds `p`. Returns 0, or -ENOSPC when its bucket is full. */
int ms_addrtab_insert(struct ms_addrtab *t, const void *p);

/* Number of addresses present (a scan; for tests and reports). */
uint64_t ms_addrtab_count(struct ms_addrtab *t);

static inline _Atomic uintptr_t *ms_addrtab_bucket(struct ms_addrtab *t,
						   const void *p)
{
	uint64_t h = ((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;

	/* high half of h * nbuckets: uniform in [0, nbuckets) */
	uint64_t b = (uint64_t)(((unsigned __int128)h * t->nbuckets) >> 64);

	return &t->slot[b * MS_ADDRTAB_WAYS];
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

/* Removes `p` if present. Returns 1 when it was there, else 0. */
static inline int ms_addrtab_remove(struct ms_addrtab *t, const void *p)
{
	_Atomic uint8_t *c = ms_addrtab_counter(t, p);
	_Atomic uintptr_t *b;

	if (MS_LIKELY(ms_load_relaxed(c) == 0))
		return 0;
	b = ms_addrtab_bucket(t, p);
	for (unsigned i = 0; i < MS_ADDRTAB_WAYS; i++) {
		if (ms_load_relaxed(&b[i]) == (uintptr_t)p) {
			/* Pairs with a later insert's CAS (acq_rel). */
			ms_store_release(&b[i], (uintptr_t)0);
			ms_addrtab_count_add(c, -1);
			return 1;
		}
	}
	return 0;
}

static inline int ms_addrtab_contains(struct ms_addrtab *t, const void *p)
{
	_Atomic uintptr_t *b = ms_addrtab_bucket(t, p);

	if (ms_load_relaxed(ms_addrtab_counter(t, p)) == 0)
		return 0;
	for (unsigned i = 0; i < MS_ADDRTAB_WAYS; i++)
		if (ms_load_relaxed(&b[i]) == (uintptr_t)p)
			return 1;
	return 0;
}

#endif
