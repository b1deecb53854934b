/* SPDX-License-Identifier: MIT */
/* The export writers' three-word map (export_map.h): open addressing. */
#include "export_map.h"

#include <errno.h>
#include <stdlib.h>

#include "hash.h"

#define MIN_BITS 8

static uint64_t key_hash(uint64_t a, uint64_t b, uint64_t c)
{
	return ms_hash_pair(ms_hash_pair(a, b), c);
}

static struct ms_xmap_slot *find(struct ms_xmap_slot *t, unsigned bits,
				 uint64_t a, uint64_t b, uint64_t c)
{
	size_t mask = ((size_t)1 << bits) - 1;

	for (size_t i = ms_hash_slot(key_hash(a, b, c), bits);;
	     i = (i + 1) & mask) {
		struct ms_xmap_slot *s = &t[i];

		if (!s->id || (s->k[0] == a && s->k[1] == b && s->k[2] == c))
			return s;
	}
}

/* Twice the slots, at most half full after the next key. */
static int grow(struct ms_xmap *m)
{
	unsigned bits = m->slots ? m->bits + 1 : MIN_BITS;
	struct ms_xmap_slot *t = calloc((size_t)1 << bits, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; m->slots && i < ((size_t)1 << m->bits); i++) {
		const struct ms_xmap_slot *s = &m->slots[i];

		if (s->id)
			*find(t, bits, s->k[0], s->k[1], s->k[2]) = *s;
	}
	free(m->slots);
	m->slots = t;
	m->bits = bits;
	return 0;
}

void ms_xmap_fini(struct ms_xmap *m)
{
	free(m->slots);
	ms_xmap_init(m);
}

int64_t ms_xmap_id(struct ms_xmap *m, uint64_t a, uint64_t b, uint64_t c,
		   int *fresh)
{
	struct ms_xmap_slot *s;

	*fresh = 0;
	if ((!m->slots || ((size_t)m->n + 1) * 2 > ((size_t)1 << m->bits)) &&
	    grow(m) < 0)
		return -ENOMEM;
	s = find(m->slots, m->bits, a, b, c);
	if (s->id)
		return s->id - 1;
	if (m->n == UINT32_MAX - 1)
		return -ENOMEM;
	*s = (struct ms_xmap_slot){{a, b, c}, ++m->n};
	*fresh = 1;
	return s->id - 1;
}
