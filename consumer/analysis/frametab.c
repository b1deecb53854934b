/* SPDX-License-Identifier: MIT */
#include "frametab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define MIN_BITS     10
#define BLOCK_FRAMES 4096

struct ms_ft_slot {
	uint64_t off;
	uint32_t mod;
	uint32_t n; /* 0: empty */
	const struct ms_frame *fr;
};

struct ms_ft_block {
	struct ms_ft_block *next;
	size_t used;
	struct ms_frame fr[BLOCK_FRAMES];
};

int ms_frametab_init(struct ms_frametab *t)
{
	memset(t, 0, sizeof(*t));
	t->bits = MIN_BITS;
	t->slots = calloc((size_t)1 << t->bits, sizeof(*t->slots));
	return t->slots ? 0 : -ENOMEM;
}

void ms_frametab_fini(struct ms_frametab *t)
{
	while (t->blocks) {
		struct ms_ft_block *b = t->blocks;

		t->blocks = b->next;
		free(b);
	}
	free(t->slots);
	t->slots = NULL;
}

static struct ms_ft_slot *slot_of(const struct ms_frametab *t, uint32_t mod,
				  uint64_t off)
{
	size_t mask = ((size_t)1 << t->bits) - 1;
	size_t i = ms_hash_slot(ms_hash_pair(mod, off), t->bits);
	struct ms_ft_slot *s = &t->slots[i];

	while (s->n && (s->off != off || s->mod != mod)) {
		i = (i + 1) & mask;
		s = &t->slots[i];
	}
	return s;
}

unsigned ms_frametab_find(const struct ms_frametab *t, uint32_t mod,
			  uint64_t off, const struct ms_frame **frames)
{
	const struct ms_ft_slot *s = slot_of(t, mod, off);

	*frames = s->fr;
	return s->n;
}

/* Doubles the slots at half full: probes stay short on the hot path. */
static int grow(struct ms_frametab *t)
{
	struct ms_frametab old = *t;

	t->bits++;
	t->slots = calloc((size_t)1 << t->bits, sizeof(*t->slots));
	if (!t->slots) {
		*t = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < ((size_t)1 << old.bits); i++)
		if (old.slots[i].n)
			*slot_of(t, old.slots[i].mod, old.slots[i].off) =
				old.slots[i];
	free(old.slots);
	return 0;
}

/* Room for n frames in one block; a run never spans two. */
static struct ms_frame *room(struct ms_frametab *t, unsigned n)
{
	struct ms_ft_block *b = t->blocks;

	if (!b || BLOCK_FRAMES - b->used < n) {
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
		b->used = 0;
		b->next = t->blocks;
		t->blocks = b;
	}
	b->used += n;
	return &b->fr[b->used - n];
}

int ms_frametab_add(struct ms_frametab *t, uint32_t mod, uint64_t off,
		    const struct ms_frame *fr, unsigned n,
		    const struct ms_frame **frames)
{
	struct ms_ft_slot *s;
	struct ms_frame *copy;

	if (n == 0 || n > MS_FRAMES_MAX)
		return -EINVAL;
	if (2 * (t->used + 1) > ((size_t)1 << t->bits) && grow(t))
		return -ENOMEM;
	s = slot_of(t, mod, off);
	if (s->n)
		return -EINVAL;
	copy = room(t, n);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, fr, n * sizeof(*fr));
	*s = (struct ms_ft_slot){off, mod, n, copy};
	t->used++;
	t->frames += n;
	*frames = copy;
	return 0;
}

size_t ms_frametab_count(const struct ms_frametab *t)
{
	return t->used;
}
