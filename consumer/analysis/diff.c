/* SPDX-License-Identifier: MIT */
/* Matching the sites of two profiles (diff.h), and the folded diff. */
#include "diff.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "strpool.h"

struct matcher {
	struct ms_diff *d;
	struct ms_xstack st;
	char *key;
	size_t key_len, key_cap;
};

static int key_put(struct matcher *m, uint32_t fn, uint32_t file)
{
	char part[24];
	int n = snprintf(part, sizeof(part), "%" PRIx32 ":%" PRIx32 ";", fn,
			 file);
	char *k = ms_grow(m->key, &m->key_cap, m->key_len + (size_t)n + 1, 1);

	if (!k)
		return -ENOMEM;
	m->key = k;
	memcpy(k + m->key_len, part, (size_t)n + 1);
	m->key_len += (size_t)n;
	return 0;
}

/* The file's name without its directories, as an index; or none. */
static int64_t file_name(struct ms_strpool *sp, const char *file)
{
	const char *slash;
	uint32_t idx;

	if (!file)
		return MS_XSTACK_NOFILE;
	slash = strrchr(file, '/');
	file = slash ? slash + 1 : file;
	if (!ms_strpool_intern(sp, file, strlen(file), &idx))
		return -ENOMEM;
	return idx;
}

/* The stack in m->st as a key: (function, file name) per frame. */
static int make_key(struct matcher *m)
{
	m->key_len = 0;
	for (size_t i = 0; i < m->st.n; i++) {
		int64_t file = file_name(m->d->names, m->st.v[i].file);

		if (file < 0 || key_put(m, m->st.v[i].fn, (uint32_t)file) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int new_entry(struct ms_diff *d, size_t i, const struct ms_xstack *st,
		     int side)
{
	struct ms_diff_entry *v = ms_grow(d->v, &d->cap, i + 1, sizeof(*v));
	struct ms_xframe *fr;

	if (!v)
		return -ENOMEM;
	d->v = v;
	fr = ms_grow(d->frames, &d->frames_cap, d->nframes + st->n,
		     sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	d->frames = fr;
	memcpy(fr + d->nframes, st->v, st->n * sizeof(*fr));
	memset(&v[i], 0, sizeof(v[i]));
	v[i].frames_at = d->nframes;
	v[i].nframes = (uint32_t)st->n;
	v[i].shown = side;
	d->nframes += st->n;
	d->n = i + 1;
	return 0;
}

static void add_cell(struct ms_split_cell *to, const struct ms_split_cell *c)
{
	to->allocs_q16 += c->allocs_q16;
	to->bytes += c->bytes;
	to->temp_q16 += c->temp_q16;
	to->leaked_q16 += c->leaked_q16;
	to->leaked += c->leaked;
	to->live_q16 += c->live_q16;
	to->live += c->live;
	to->peak_q16 += c->peak_q16;
	to->peak += c->peak;
}

static int one_site(struct matcher *m, int side, uint32_t id)
{
	struct ms_diff *d = m->d;
	struct ms_profile *p = d->side[side];
	struct ms_split_cell c;
	uint32_t idx;

	ms_split_of_site(ms_sites_get(&p->sites, id), id, &c);
	if (!(c.allocs_q16 | c.live_q16 | c.peak_q16 | c.leaked_q16))
		return 0; /* nothing in the window */
	if (ms_xstack_get(p, d->names, id, &m->st) < 0 || make_key(m) < 0 ||
	    !ms_strpool_intern(d->keys, m->key, m->key_len, &idx))
		return -ENOMEM;
	if (idx >= d->n && new_entry(d, idx, &m->st, side) < 0)
		return -ENOMEM;
	add_cell(&d->v[idx].v[side], &c);
	d->v[idx].sites[side]++;
	return 0;
}

int ms_diff_build(struct ms_profile *base, struct ms_profile *new,
		  struct ms_diff **out)
{
	struct ms_diff *d = calloc(1, sizeof(*d));
	struct matcher m = {.d = d};
	int r = -ENOMEM;

	*out = NULL;
	if (!d || ms_strpool_create(&d->names) < 0 ||
	    ms_strpool_create(&d->keys) < 0)
		goto out;
	d->side[MS_DIFF_BASE] = base;
	d->side[MS_DIFF_NEW] = new;
	r = 0;
	/* the new side first: an entry shows the newer frames and lines */
	for (int s = MS_DIFF_NEW; s >= MS_DIFF_BASE && r == 0; s--)
		for (uint32_t id = 0; id < d->side[s]->sites.n && r == 0; id++)
			r = one_site(&m, s, id);
out:
	ms_xstack_fini(&m.st);
	free(m.key);
	if (r < 0) {
		ms_diff_free(d);
		return r;
	}
	*out = d;
	return 0;
}

void ms_diff_free(struct ms_diff *d)
{
	if (!d)
		return;
	ms_strpool_destroy(d->names);
	ms_strpool_destroy(d->keys);
	free(d->v);
	free(d->frames);
	free(d);
}

int64_t ms_diff_delta(const struct ms_diff_entry *e, enum ms_export_weight w)
{
	uint64_t a = ms_export_weight_of(&e->v[MS_DIFF_BASE], w);
	uint64_t b = ms_export_weight_of(&e->v[MS_DIFF_NEW], w);

	return b >= a ? (int64_t)(b - a) : -(int64_t)(a - b);
}

struct rank_arg {
	const struct ms_diff *d;
	enum ms_export_weight w;
	int sign;
};

static int by_change(const void *x, const void *y, void *arg)
{
	const struct rank_arg *a = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	int64_t di = ms_diff_delta(&a->d->v[i], a->w) * a->sign;
	int64_t dj = ms_diff_delta(&a->d->v[j], a->w) * a->sign;

	if (di != dj)
		return di > dj ? -1 : 1;
	return i < j ? -1 : i > j;
}

size_t ms_diff_rank(const struct ms_diff *d, enum ms_export_weight w, int sign,
		    size_t *ids, size_t max)
{
	struct rank_arg a = {d, w, sign < 0 ? -1 : 1};
	size_t *all = malloc((d->n + 1) * sizeof(*all)), n = 0;

	if (!all)
		return 0;
	for (size_t i = 0; i < d->n; i++)
		if (ms_diff_delta(&d->v[i], w) * a.sign > 0)
			all[n++] = i;
	qsort_r(all, n, sizeof(*all), by_change, &a);
	n = n < max ? n : max;
	memcpy(ids, all, n * sizeof(*ids));
	free(all);
	return n;
}

int ms_diff_folded(FILE *f, const struct ms_diff *d,
		   const struct ms_diff_opts *o)
{
	struct ms_folded *t;
	int r = ms_folded_create(&t);

	for (size_t i = 0; i < d->n && r == 0; i++) {
		const struct ms_diff_entry *e = &d->v[i];

		r = ms_folded_add(
			t, d->frames + e->frames_at, e->nframes,
			ms_export_weight_of(&e->v[MS_DIFF_BASE], o->w),
			ms_export_weight_of(&e->v[MS_DIFF_NEW], o->w));
	}
	if (r == 0)
		r = ms_folded_write(f, t, 2);
	ms_folded_destroy(t);
	return r;
}
