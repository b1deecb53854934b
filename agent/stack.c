/* SPDX-License-Identifier: MIT */
#include "stack.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"
#include "record.h"

static struct ms_pool tables = MS_POOL_INIT;

struct ms_stack_table *ms_stack_table_create(uint64_t cap)
{
	size_t len = sizeof(struct ms_stack_table) +
		     cap * sizeof(struct ms_stack_entry);
	struct ms_stack_table *t;

	if (cap < 2 || (cap & (cap - 1)))
		return NULL;
	t = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	t->cap = cap;
	t->next_id = 1;
	t->map_len = len;
	return t;
}

void ms_stack_table_destroy(struct ms_stack_table *t)
{
	if (t)
		munmap(t, t->map_len);
}

struct ms_stack_table *ms_stack_table_first(void)
{
	struct ms_stack_table *t = ms_pool_take(&tables);

	return t ? t : ms_stack_table_create(MS_STACK_TABLE_CAP);
}

void ms_stack_table_retire(struct ms_stack_table *t)
{
	if (!t)
		return;
	/* A table that grew is unmapped: the list holds first-size ones,
	 * emptied now so that the next thread starts with no stack known. */
	if (t->cap == MS_STACK_TABLE_CAP) {
		memset(t->e, 0, t->cap * sizeof(t->e[0]));
		t->count = 0;
		t->next_id = 1;
		if (ms_pool_give(&tables, t) == 0)
			return;
	}
	ms_stack_table_destroy(t);
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

uint64_t ms_stack_hash(const uint64_t *frames, uint32_t n)
{
	uint64_t h = 0x6a09e667f3bcc909ull ^ n;

	for (uint32_t i = 0; i < n; i++)
		h = mix(h ^ frames[i]) + i;
	return h ? h : 1;
}

uint64_t ms_stack_find(const struct ms_stack_table *t, uint64_t h)
{
	uint64_t mask = t->cap - 1;

	for (uint64_t i = h & mask;; i = (i + 1) & mask) {
		if (t->e[i].hash == h)
			return t->e[i].id;
		if (t->e[i].hash == 0)
			return 0;
	}
}

static void put(struct ms_stack_table *t, uint64_t h, uint64_t id)
{
	uint64_t mask = t->cap - 1, i = h & mask;

	while (t->e[i].hash != 0 && t->e[i].hash != h)
		i = (i + 1) & mask;
	if (t->e[i].hash == 0)
		t->count++;
	t->e[i].hash = h;
	t->e[i].id = id;
}

static int grow(struct ms_stack_table **tp)
{
	struct ms_stack_table *old = *tp, *t;

	t = ms_stack_table_create(old->cap * 2);
	if (!t)
		return -ENOMEM;
	t->next_id = old->next_id;
	for (uint64_t i = 0; i < old->cap; i++)
		if (old->e[i].hash)
			put(t, old->e[i].hash, old->e[i].id);
	ms_stack_table_destroy(old);
	*tp = t;
	return 0;
}

int ms_stack_insert(struct ms_stack_table **tp, uint64_t h, uint64_t id)
{
	/* Keep the load under 1/2 so misses end quickly. */
	if (((*tp)->count + 1) * 2 > (*tp)->cap && grow(tp) < 0) {
		if ((*tp)->count + 1 >= (*tp)->cap)
			return -ENOMEM;
	}
	put(*tp, h, id);
	return 0;
}
