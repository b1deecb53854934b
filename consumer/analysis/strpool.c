/* SPDX-License-Identifier: MIT */
#include "strpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "hash.h"

#define BLOCK_SIZE (64 * 1024)
#define MIN_BITS   8

/* Strings live in blocks that never move; a long string gets its own. */
struct block {
	struct block *next;
	size_t used, cap;
	char data[];
};

struct entry {
	const char *s;
	uint32_t len;
	uint32_t hash; /* low bits of the full hash, to skip most compares */
};

struct ms_strpool {
	struct block *blocks;
	struct entry *e; /* by index */
	uint32_t n;
	size_t cap;
	uint32_t *slots; /* index + 1; 0 is empty */
	unsigned bits;
	size_t bytes;
};

int ms_strpool_create(struct ms_strpool **out)
{
	struct ms_strpool *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return -ENOMEM;
	sp->bits = MIN_BITS;
	sp->slots = calloc((size_t)1 << sp->bits, sizeof(*sp->slots));
	if (!sp->slots) {
		free(sp);
		return -ENOMEM;
	}
	*out = sp;
	return 0;
}

void ms_strpool_destroy(struct ms_strpool *sp)
{
	if (!sp)
		return;
	while (sp->blocks) {
		struct block *b = sp->blocks;

		sp->blocks = b->next;
		free(b);
	}
	free(sp->e);
	free(sp->slots);
	free(sp);
}

static char *store(struct ms_strpool *sp, const char *s, size_t len)
{
	struct block *b = sp->blocks;
	char *p;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > BLOCK_SIZE ? len + 1 : BLOCK_SIZE;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		/* a long string's own block goes behind the current one, so
		 * the current one keeps filling */
		if (sp->blocks && cap > BLOCK_SIZE) {
			b->next = sp->blocks->next;
			sp->blocks->next = b;
		} else {
			b->next = sp->blocks;
			sp->blocks = b;
		}
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = 0;
	b->used += len + 1;
	sp->bytes += len + 1;
	return p;
}

static uint32_t *find_slot(const struct ms_strpool *sp, const char *s,
			   size_t len, uint64_t h)
{
	size_t mask = ((size_t)1 << sp->bits) - 1;
	size_t i = ms_hash_slot(h, sp->bits);

	for (;; i = (i + 1) & mask) {
		const struct entry *e;

		if (!sp->slots[i])
			return &sp->slots[i];
		e = &sp->e[sp->slots[i] - 1];
		if (e->hash == (uint32_t)h && e->len == len &&
		    !memcmp(e->s, s, len))
			return &sp->slots[i];
	}
}

/* Doubles the slots when half full. */
static void grow(struct ms_strpool *sp)
{
	unsigned bits = sp->bits + 1;
	uint32_t *slots = calloc((size_t)1 << bits, sizeof(*slots));
	size_t mask = ((size_t)1 << bits) - 1;

	if (!slots)
		return; /* only fuller */
	for (uint32_t k = 0; k < sp->n; k++) {
		const struct entry *e = &sp->e[k];
		size_t i = ms_hash_slot(ms_hash_bytes(e->s, e->len, 0), bits);

		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = k + 1;
	}
	free(sp->slots);
	sp->slots = slots;
	sp->bits = bits;
}

const char *ms_strpool_intern(struct ms_strpool *sp, const char *s, size_t len,
			      uint32_t *idx)
{
	uint64_t h = ms_hash_bytes(s, len, 0);
	uint32_t *slot = find_slot(sp, s, len, h), k = *slot - 1;
	struct entry *e;

	if (*slot)
		goto out;
	if (len >= UINT32_MAX || sp->n == UINT32_MAX - 1)
		return NULL;
	e = ms_grow(sp->e, &sp->cap, (size_t)sp->n + 1, sizeof(*e));
	if (!e)
		return NULL;
	sp->e = e;
	k = sp->n;
	e = &sp->e[k];
	e->s = store(sp, s, len);
	if (!e->s)
		return NULL;
	e->len = (uint32_t)len;
	e->hash = (uint32_t)h;
	*slot = ++sp->n;
	if (2 * (size_t)sp->n > ((size_t)1 << sp->bits))
		grow(sp);
out:
	if (idx)
		*idx = k;
	return sp->e[k].s;
}

uint32_t ms_strpool_count(const struct ms_strpool *sp)
{
	return sp->n;
}

const char *ms_strpool_at(const struct ms_strpool *sp, uint32_t idx,
			  size_t *len)
{
	if (idx >= sp->n)
		return NULL;
	if (len)
		*len = sp->e[idx].len;
	return sp->e[idx].s;
}

size_t ms_strpool_bytes(const struct ms_strpool *sp)
{
	return sp->bytes;
}
