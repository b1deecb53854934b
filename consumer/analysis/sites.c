/* SPDX-License-Identifier: MIT */
#include "sites.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 1024u

static int reserve(struct ms_sites *s, uint32_t n);

int ms_sites_init(struct ms_sites *s)
{
	memset(s, 0, sizeof(*s));
	if (reserve(s, 0) < 0) {
		ms_sites_free(s);
		return -ENOMEM;
	}
	memset(&s->v[0], 0, sizeof(s->v[0]));
	return 0;
}

void ms_sites_free(struct ms_sites *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->v[i].life);
	free(s->v);
	free(s->slots);
	free(s->arena);
	free(s->offs);
	free(s->mods);
	memset(s, 0, sizeof(*s));
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t hash_of(uint32_t pid, const uint64_t *f, uint32_t n)
{
	uint64_t h = mix(0x9e3779b97f4a7c15ull ^ ((uint64_t)pid << 32 | n));

	for (uint32_t i = 0; i < n; i++)
		h = mix(h ^ f[i]) + i;
	return h;
}

static int same(const struct ms_sites *s, const struct ms_site *x, uint64_t h,
		uint32_t pid, const uint64_t *f, uint32_t n)
{
	return x->hash == h && x->pid == pid && x->nframes == n &&
	       (n == 0 || !memcmp(s->arena + x->frames_at, f, n * sizeof(*f)));
}

static int grow_slots(struct ms_sites *s)
{
	uint32_t cap = s->nslots ? s->nslots * 2 : MIN_SLOTS;
	uint32_t *t = calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	for (uint32_t id = 1; id < s->n; id++) {
		uint32_t i = (uint32_t)s->v[id].hash & (cap - 1);

		while (t[i])
			i = (i + 1) & (cap - 1);
		t[i] = id;
	}
	free(s->slots);
	s->slots = t;
	s->nslots = cap;
	return 0;
}

static int grow_arena(struct ms_sites *s, uint32_t n)
{
	size_t cap = s->arena_cap ? s->arena_cap * 2 : 16384;
	uint64_t *a, *o;
	uint32_t *m;

	while (cap < s->arena_used + n)
		cap *= 2;
	a = realloc(s->arena, cap * sizeof(*a));
	if (!a)
		return -1;
	s->arena = a;
	o = realloc(s->offs, cap * sizeof(*o));
	if (!o)
		return -1;
	s->offs = o;
	m = realloc(s->mods, cap * sizeof(*m));
	if (!m)
		return -1;
	s->mods = m;
	s->arena_cap = cap;
	return 0;
}

/* Room for one more site and n more frames. */
static int reserve(struct ms_sites *s, uint32_t n)
{
	if (s->n == 0)
		s->n = 1; /* id 0: no site */
	if (s->n + 1 > s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 1024;
		struct ms_site *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	if (s->arena_used + n > s->arena_cap && grow_arena(s, n) < 0)
		return -1;
	if ((s->n + 1) * 2 > s->nslots && grow_slots(s) < 0)
		return -1;
	return 0;
}

uint32_t ms_sites_intern(struct ms_sites *s, uint32_t pid,
			 const uint64_t *frames, uint32_t n, int *fresh)
{
	uint64_t h = hash_of(pid, frames, n);
	struct ms_site *x;
	uint32_t i, id;

	*fresh = 0;
	if (reserve(s, n) < 0)
		return 0;
	for (i = (uint32_t)h & (s->nslots - 1); s->slots[i];
	     i = (i + 1) & (s->nslots - 1))
		if (same(s, &s->v[s->slots[i]], h, pid, frames, n))
			return s->slots[i];
	id = s->n++;
	x = &s->v[id];
	memset(x, 0, sizeof(*x));
	x->hash = h;
	x->pid = pid;
	x->nframes = n;
	x->frames_at = s->arena_used;
	for (uint32_t k = 0; k < n; k++) {
		s->arena[s->arena_used + k] = frames[k];
		s->offs[s->arena_used + k] = frames[k];
		s->mods[s->arena_used + k] = MS_SITE_NO_MODULE;
	}
	s->arena_used += n;
	s->slots[i] = id;
	*fresh = 1;
	return id;
}
