/* SPDX-License-Identifier: MIT */
#include "modmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "hash.h"

#define MODTAB_MIN_BITS 6

struct ms_modtab {
	struct ms_module **mods; /* by id */
	uint32_t n;
	size_t cap;
	uint32_t *slots; /* id + 1; 0 is empty */
	unsigned bits;
};

/* One mapped range; `base` is the load it came from. */
struct ms_range {
	uint64_t start, end, base;
	const struct ms_module *mod;
};

struct ms_modmap {
	struct ms_modtab *tab;
	struct ms_range *r; /* sorted, disjoint */
	size_t n, cap;
};

int ms_modtab_create(struct ms_modtab **out)
{
	struct ms_modtab *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->bits = MODTAB_MIN_BITS;
	t->slots = calloc((size_t)1 << t->bits, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void ms_modtab_destroy(struct ms_modtab *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n; i++)
		free(t->mods[i]);
	free(t->mods);
	free(t->slots);
	free(t);
}

/* Build id and path as a key; a build id, when there is one, decides. */
struct modkey {
	const uint8_t *bid;
	size_t bid_len;
	const char *path;
	size_t path_len;
};

static struct modkey make_key(const uint8_t *bid, size_t bid_len,
			      const char *path, size_t path_len)
{
	struct modkey k = {bid, bid_len, path ? path : "", 0};

	if (k.bid_len > MS_BUILD_ID_MAX)
		k.bid_len = MS_BUILD_ID_MAX;
	if (!k.bid_len)
		k.bid = NULL;
	k.path_len = path ? strnlen(path, path_len) : 0;
	return k;
}

static uint64_t key_hash(const struct modkey *k)
{
	if (k->bid_len)
		return ms_hash_bytes(k->bid, k->bid_len, 1);
	return ms_hash_bytes(k->path, k->path_len, 2);
}

static int key_is(const struct modkey *k, const struct ms_module *m)
{
	if (k->bid_len != m->build_id_len)
		return 0;
	if (k->bid_len)
		return !memcmp(k->bid, m->build_id, k->bid_len);
	return !strncmp(m->path, k->path, k->path_len) &&
	       m->path[k->path_len] == 0;
}

/* The slot holding the key's module, or the empty slot where it goes. */
static uint32_t *find_slot(const struct ms_modtab *t, const struct modkey *k)
{
	size_t mask = ((size_t)1 << t->bits) - 1;
	size_t i = ms_hash_slot(key_hash(k), t->bits);

	while (t->slots[i] && !key_is(k, t->mods[t->slots[i] - 1]))
		i = (i + 1) & mask;
	return &t->slots[i];
}

const struct ms_module *ms_modtab_find(const struct ms_modtab *t,
				       const uint8_t *bid, size_t bid_len,
				       const char *path, size_t path_len)
{
	struct modkey k = make_key(bid, bid_len, path, path_len);
	uint32_t *s = find_slot(t, &k);

	return *s ? t->mods[*s - 1] : NULL;
}

/* Doubles the slots when half full, so probes stay short. */
static int grow(struct ms_modtab *t)
{
	unsigned bits = t->bits + 1;
	uint32_t *slots = calloc((size_t)1 << bits, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	free(t->slots);
	t->slots = slots;
	t->bits = bits;
	for (uint32_t id = 0; id < t->n; id++) {
		const struct ms_module *m = t->mods[id];
		struct modkey k = make_key(m->build_id, m->build_id_len,
					   m->path, strlen(m->path));

		*find_slot(t, &k) = id + 1;
	}
	return 0;
}

static struct ms_module *new_module(uint32_t id, const struct modkey *k)
{
	struct ms_module *m = calloc(1, sizeof(*m) + k->path_len + 1);
	const char *slash;
	char *path;

	if (!m)
		return NULL;
	path = (char *)(m + 1);
	m->id = id;
	m->build_id_len = (uint32_t)k->bid_len;
	if (k->bid_len)
		memcpy(m->build_id, k->bid, k->bid_len);
	memcpy(path, k->path, k->path_len);
	m->path = path;
	slash = strrchr(path, '/');
	m->name = slash && slash[1] ? slash + 1 : path;
	if (!m->name[0])
		m->name = "[unnamed]";
	return m;
}

int ms_modtab_get(struct ms_modtab *t, const uint8_t *bid, size_t bid_len,
		  const char *path, size_t path_len,
		  const struct ms_module **out)
{
	struct modkey k = make_key(bid, bid_len, path, path_len);
	uint32_t *s = find_slot(t, &k);
	struct ms_module *m, **mods;

	if (*s) {
		*out = t->mods[*s - 1];
		return 0;
	}
	mods = ms_grow(t->mods, &t->cap, (size_t)t->n + 1, sizeof(*mods));
	if (!mods)
		return -ENOMEM;
	t->mods = mods;
	m = new_module(t->n, &k);
	if (!m)
		return -ENOMEM;
	*s = m->id + 1;
	t->mods[t->n++] = m;
	if (2 * (size_t)t->n > ((size_t)1 << t->bits))
		grow(t); /* on failure the table is only fuller */
	*out = m;
	return 0;
}

uint32_t ms_modtab_count(const struct ms_modtab *t)
{
	return t->n;
}

const struct ms_module *ms_modtab_at(const struct ms_modtab *t, uint32_t id)
{
	return id < t->n ? t->mods[id] : NULL;
}

int ms_modmap_create(struct ms_modtab *t, struct ms_modmap **out)
{
	struct ms_modmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->tab = t;
	*out = m;
	return 0;
}

void ms_modmap_destroy(struct ms_modmap *m)
{
	if (!m)
		return;
	free(m->r);
	free(m);
}

/* The first range that ends after `addr` (ranges are disjoint, so their
 * ends are sorted too). */
static size_t first_after(const struct ms_modmap *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->r[mid].end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void insert_at(struct ms_modmap *m, size_t i, struct ms_range r)
{
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(r));
	m->r[i] = r;
	m->n++;
}

static void remove_at(struct ms_modmap *m, size_t i)
{
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(m->r[0]));
	m->n--;
}

/* Takes [start, end) away from the ranges mapped; room for one more range
 * (a split) is there. */
static void cut(struct ms_modmap *m, uint64_t start, uint64_t end)
{
	size_t i = first_after(m, start);

	while (i < m->n && m->r[i].start < end) {
		struct ms_range *r = &m->r[i];

		if (r->start < start && r->end > end) {
			struct ms_range tail = *r;

			tail.start = end;
			r->end = start;
			insert_at(m, i + 1, tail);
			return;
		}
		if (r->start < start) {
			r->end = start;
			i++;
		} else if (r->end > end) {
			r->start = end;
			return;
		} else {
			remove_at(m, i);
		}
	}
}

int ms_modmap_load(struct ms_modmap *m, uint64_t base, uint64_t size,
		   const uint8_t *bid, size_t bid_len, const char *path,
		   size_t path_len)
{
	const struct ms_module *mod;
	uint64_t end = base + size;
	struct ms_range *r;
	int err;

	if (!size || end <= base)
		return -EINVAL;
	r = ms_grow(m->r, &m->cap, m->n + 2, sizeof(*r)); /* split, new */
	if (!r)
		return -ENOMEM;
	m->r = r;
	err = ms_modtab_get(m->tab, bid, bid_len, path, path_len, &mod);
	if (err)
		return err;
	cut(m, base, end);
	insert_at(m, first_after(m, base),
		  (struct ms_range){base, end, base, mod});
	return 0;
}

int ms_modmap_unload(struct ms_modmap *m, uint64_t base)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->n; i++)
		if (m->r[i].base != base)
			m->r[kept++] = m->r[i];
	if (kept == m->n)
		return -ENOENT;
	m->n = kept;
	return 0;
}

int ms_modmap_apply(struct ms_modmap *m, const struct ms_event *ev)
{
	if (ev->type == MS_REC_MODULE_LOAD)
		return ms_modmap_load(m, ev->addr, ev->size, ev->build_id,
				      ev->build_id_len, (const char *)ev->str,
				      ev->str_len);
	if (ev->type == MS_REC_MODULE_UNLOAD)
		return ms_modmap_unload(m, ev->addr);
	return 0;
}

const struct ms_module *ms_modmap_lookup(const struct ms_modmap *m,
					 uint64_t addr, uint64_t *off)
{
	size_t i = first_after(m, addr);

	if (i == m->n || m->r[i].start > addr)
		return NULL;
	*off = addr - m->r[i].base;
	return m->r[i].mod;
}

size_t ms_modmap_ranges(const struct ms_modmap *m)
{
	return m->n;
}
