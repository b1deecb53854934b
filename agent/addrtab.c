/* SPDX-License-Identifier: MIT */
#include "addrtab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

_Static_assert(sizeof(struct ms_addrtab) == 64, "slots start on a line");

struct ms_addrtab *ms_addrtab_create(unsigned log2_first, unsigned log2_slots)
{
	uint64_t nslots;
	size_t len, filter = (size_t)1 << MS_ADDRTAB_FILTER_LOG2;
	struct ms_addrtab *t;

	if (log2_first < 3 || log2_slots < 3 || log2_first > 30 ||
	    log2_slots > 30)
		return NULL;
	nslots = (1ull << log2_first) + (1ull << log2_slots);
	len = sizeof(*t) + nslots * sizeof(uintptr_t) + filter;
	/* Untouched pages stay unallocated: the table costs what it holds. */
	t = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	t->nfirst = (1ull << log2_first) / MS_ADDRTAB_WAYS;
	t->nsecond = (1ull << log2_slots) / MS_ADDRTAB_WAYS;
	t->nslots = nslots;
	t->filter = (_Atomic uint8_t *)(void *)(t->slot + nslots);
	t->map_len = len;
	return t;
}

void ms_addrtab_destroy(struct ms_addrtab *t)
{
	if (t)
		munmap(t, t->map_len);
}

void ms_addrtab_clear(struct ms_addrtab *t)
{
	for (uint64_t i = 0; i < t->nslots; i++)
		if (ms_load_relaxed(&t->slot[i]))
			ms_store_relaxed(&t->slot[i], (uintptr_t)0);
	for (uint64_t i = 0; i < (1u << MS_ADDRTAB_FILTER_LOG2); i++)
		if (ms_load_relaxed(&t->filter[i]))
			ms_store_relaxed(&t->filter[i], 0);
}

/* Claims a free slot among the first `ways` of bucket `b` for `p`.
 * Returns 0, or -ENOSPC. */
static int claim(_Atomic uintptr_t *b, unsigned ways, const void *p)
{
	for (unsigned i = 0; i < ways; i++) {
		uintptr_t expect = 0;

		if (ms_load_relaxed(&b[i]) != 0)
			continue;
		/* Another inserter may claim the same free slot first. */
		if (ms_cas_acq_rel(&b[i], &expect, (uintptr_t)p))
			return 0;
	}
	return -ENOSPC;
}

/* `p`'s slot among the first `ways` of bucket `b`, or NULL. */
static _Atomic uintptr_t *slot_of(_Atomic uintptr_t *b, unsigned ways,
				  const void *p)
{
	for (unsigned i = 0; i < ways; i++)
		if (ms_load_relaxed(&b[i]) == (uintptr_t)p)
			return &b[i];
	return NULL;
}

/* `p`'s slot in either table, or NULL; *first: its first bucket. */
static _Atomic uintptr_t *find(struct ms_addrtab *t, const void *p,
			       _Atomic uintptr_t **first)
{
	_Atomic uintptr_t *b = ms_addrtab_bucket(t, p, 0), *s;

	*first = b;
	s = slot_of(b, MS_ADDRTAB_FIRST_WAYS, p);
	if (s || ms_load_relaxed(ms_addrtab_overflow(b)) == 0)
		return s;
	return slot_of(ms_addrtab_bucket(t, p, 1), MS_ADDRTAB_WAYS, p);
}

int ms_addrtab_remove_counted(struct ms_addrtab *t, const void *p,
			      _Atomic uint8_t *c)
{
	_Atomic uintptr_t *b, *s = find(t, p, &b);

	if (!s)
		return 0;
	/* Pairs with a later insert's CAS (acq_rel). */
	ms_store_release(s, (uintptr_t)0);
	if (s >= b + MS_ADDRTAB_FIRST_WAYS) /* it was in the large table */
		ms_fetch_sub_relaxed(ms_addrtab_overflow(b), 1);
	ms_addrtab_count_add(c, -1);
	return 1;
}

int ms_addrtab_contains(struct ms_addrtab *t, const void *p)
{
	_Atomic uintptr_t *b;

	return ms_load_relaxed(ms_addrtab_counter(t, p)) != 0 &&
	       find(t, p, &b) != NULL;
}

int ms_addrtab_insert(struct ms_addrtab *t, const void *p)
{
	_Atomic uintptr_t *b = ms_addrtab_bucket(t, p, 0);
	_Atomic uint8_t *c = ms_addrtab_counter(t, p);

	/* Counted first: the counts never say 0 while `p` is present. */
	ms_addrtab_count_add(c, 1);
	if (claim(b, MS_ADDRTAB_FIRST_WAYS, p) == 0)
		return 0;
	ms_fetch_add_relaxed(ms_addrtab_overflow(b), 1);
	if (claim(ms_addrtab_bucket(t, p, 1), MS_ADDRTAB_WAYS, p) == 0)
		return 0;
	ms_fetch_sub_relaxed(ms_addrtab_overflow(b), 1);
	ms_addrtab_count_add(c, -1);
	return -ENOSPC;
}

uint64_t ms_addrtab_count(struct ms_addrtab *t)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < t->nslots; i++) {
		/* a first bucket's last word is its count, not an address */
		if (i < t->nfirst * MS_ADDRTAB_WAYS &&
		    i % MS_ADDRTAB_WAYS == MS_ADDRTAB_FIRST_WAYS)
			continue;
		n += ms_load_relaxed(&t->slot[i]) != 0;
	}
	return n;
}
