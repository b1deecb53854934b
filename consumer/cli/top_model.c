/* SPDX-License-Identifier: MIT */
#include "top_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "profile.h"

#define TRACK_GAP_NS (MS_TOP_GROWTH_NS / (MS_TOP_TRACK - 4))

/* A row's past: samples at least TRACK_GAP_NS apart, and the last one. */
struct track {
	uint64_t key; /* 0: empty slot */
	uint32_t n, pos;
	uint64_t t[MS_TOP_TRACK], live[MS_TOP_TRACK];
	uint64_t prev_t, prev_allocs, prev_frees;
};

struct label {
	char *function, *file;
	uint32_t line;
	int done;
};

struct rows {
	struct ms_top_row *v;
	size_t n, cap;
};

struct ms_top {
	struct ms_top_opts o;
	struct ms_profile *prof;
	struct ms_cli_snap snap;
	struct track *tracks;
	size_t ntracks, tracks_cap;
	struct label *labels; /* by profile site id */
	size_t labels_cap;
	struct rows rows[3], out;
	struct ms_top_totals tot;
	uint64_t hist[MS_TOP_TRACK * 4];
	size_t nhist;
};

int ms_top_create(const struct ms_top_opts *o, struct ms_top **out)
{
	struct ms_profile_opts po = {.no_symbols = o->no_symbols,
				     .debug_dirs = o->debug_dirs};
	struct ms_top *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t || ms_profile_live(&po, &t->prof) < 0) {
		free(t);
		return -ENOMEM;
	}
	t->o = *o;
	if (t->o.suspect_n == 0)
		t->o.suspect_n = 5;
	*out = t;
	return 0;
}

void ms_top_destroy(struct ms_top *t)
{
	if (!t)
		return;
	ms_cli_snap_free(&t->snap);
	ms_profile_free(t->prof);
	for (size_t i = 0; i < t->labels_cap; i++) {
		free(t->labels[i].function);
		free(t->labels[i].file);
	}
	free(t->labels);
	free(t->tracks);
	for (int i = 0; i < 3; i++)
		free(t->rows[i].v);
	free(t->out.v);
	free(t);
}

/* ---- tracks ---- */

static uint64_t mix(uint64_t k)
{
	k *= 0x9e3779b97f4a7c15ull;
	return k ^ (k >> 31);
}

static struct track *slot(struct track *v, size_t cap, uint64_t key)
{
	for (size_t i = mix(key) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (v[i].key == key || v[i].key == 0)
			return &v[i];
}

static struct track *track_of(struct ms_top *t, uint64_t key)
{
	struct track *e;

	if ((t->ntracks + 1) * 2 > t->tracks_cap) {
		size_t cap = t->tracks_cap ? t->tracks_cap * 2 : 256;
		struct track *v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t i = 0; i < t->tracks_cap; i++)
			if (t->tracks[i].key)
				*slot(v, cap, t->tracks[i].key) = t->tracks[i];
		free(t->tracks);
		t->tracks = v;
		t->tracks_cap = cap;
	}
	e = slot(t->tracks, t->tracks_cap, key);
	if (!e->key) {
		e->key = key;
		t->ntracks++;
	}
	return e;
}

/* Fills a row's growth and rates from its past, then adds the present. */
static void follow(struct ms_top *t, struct ms_top_row *r, uint64_t key,
		   uint64_t now, uint64_t since)
{
	struct track *k = track_of(t, key);
	uint32_t oldest;

	if (!k)
		return;
	if (k->prev_t && now > k->prev_t) {
		double dt = (double)(now - k->prev_t) / 1e9;

		r->alloc_rate = (double)(r->allocs - k->prev_allocs) / dt;
		r->free_rate = (double)(r->frees - k->prev_frees) / dt;
	} else if (now > since) {
		/* first sight: the average since the live heap began */
		r->alloc_rate =
			(double)r->allocs / ((double)(now - since) / 1e9);
		r->free_rate = (double)r->frees / ((double)(now - since) / 1e9);
	}
	k->prev_t = now;
	k->prev_allocs = r->allocs;
	k->prev_frees = r->frees;
	/* the oldest sample within the last minute */
	oldest = k->n ? (k->pos + MS_TOP_TRACK - k->n) % MS_TOP_TRACK : 0;
	for (uint32_t i = 0; i < k->n; i++) {
		uint32_t j = (oldest + i) % MS_TOP_TRACK;

		if (now - k->t[j] <= MS_TOP_GROWTH_NS) {
			r->growth = (int64_t)(r->live_bytes - k->live[j]);
			r->growth_s = (double)(now - k->t[j]) / 1e9;
			break;
		}
	}
	if (k->n == 0 ||
	    now - k->t[(k->pos + MS_TOP_TRACK - 1) % MS_TOP_TRACK] >=
		    TRACK_GAP_NS) {
		k->t[k->pos] = now;
		k->live[k->pos] = r->live_bytes;
		k->pos = (k->pos + 1) % MS_TOP_TRACK;
		if (k->n < MS_TOP_TRACK)
			k->n++;
	}
}

/* ---- rows ---- */

static struct ms_top_row *add_row(struct rows *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct ms_top_row *v = realloc(rs->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		rs->v = v;
		rs->cap = cap;
	}
	memset(&rs->v[rs->n], 0, sizeof(rs->v[0]));
	return &rs->v[rs->n++];
}

static void fig_row(struct ms_top_row *r, const struct ms_snap_fig *f)
{
	r->live_bytes = f->live_bytes;
	r->live_count = f->live_count;
	r->allocs = f->alloc_count;
	r->alloc_bytes = f->alloc_bytes;
	r->frees = f->free_count;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static struct label *label_of(struct ms_top *t, uint32_t id)
{
	struct ms_pframe f;
	struct label *l;

	if (id >= t->labels_cap) {
		size_t cap = t->labels_cap ? t->labels_cap : 256;
		struct label *v;

		while (cap <= id)
			cap *= 2;
		v = realloc(t->labels, cap * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + t->labels_cap, 0,
		       (cap - t->labels_cap) * sizeof(*v));
		t->labels = v;
		t->labels_cap = cap;
	}
	l = &t->labels[id];
	if (l->done)
		return l;
	l->done = 1;
	if (id && ms_profile_label(t->prof, id, &f) >= 0) {
		l->function = strdup(f.function);
		l->file = f.file ? strdup(f.file) : NULL;
		l->line = f.line;
	} else {
		l->function = strdup("(no stack)");
	}
	return l;
}

/* Grew in each of the last N one-second samples, and since the last. */
static int suspect(const struct ms_snap_site *s, uint32_t n)
{
	if (s->nhist < n + 1 || s->f.live_bytes < s->hist[s->nhist - 1])
		return 0;
	for (uint32_t k = s->nhist - n; k < s->nhist; k++)
		if (s->hist[k] <= s->hist[k - 1])
			return 0;
	return 1;
}

static int site_rows(struct ms_top *t, const struct ms_snap_proc_v *pv,
		     uint64_t now, uint64_t since)
{
	uint32_t pid = pv->p->pid;

	for (uint32_t i = 0; i < pv->p->nsites; i++) {
		const struct ms_snap_site *s = pv->sites[i].s;
		struct ms_top_row *r = add_row(&t->rows[MS_TOP_SITES]);
		uint32_t id = ms_profile_live_site(
			t->prof, pid, pv->sites[i].frames, s->nframes);
		struct label *l = id ? label_of(t, id) : NULL;

		if (!r)
			return -ENOMEM;
		r->pid = pid;
		r->key = s->id;
		fig_row(r, &s->f);
		r->function = l && l->function ? l->function : "(no stack)";
		r->file = l ? l->file : NULL;
		r->line = l ? l->line : 0;
		if (r->file)
			snprintf(r->label, sizeof(r->label), "%s (%s:%u)",
				 r->function, base_name(r->file), r->line);
		else
			snprintf(r->label, sizeof(r->label), "%s", r->function);
		r->suspect = suspect(s, t->o.suspect_n);
		follow(t, r, (1ull << 62) | (uint64_t)pid << 32 | s->id, now,
		       since);
		if (r->growth_s == 0 && s->nhist) {
			/* no past of our own yet: the consumer's samples */
			r->growth = (int64_t)(r->live_bytes - s->hist[0]);
			r->growth_s = s->nhist * 1.0;
		}
		t->tot.sites++;
	}
	return 0;
}

static int thread_rows(struct ms_top *t, const struct ms_snap_proc_v *pv,
		       uint64_t now, uint64_t since)
{
	for (uint32_t i = 0; i < pv->p->nthreads; i++) {
		const struct ms_snap_thread *th = &pv->threads[i];
		struct ms_top_row *r;

		if (th->ended && th->f.live_count == 0)
			continue; /* gone, and holds nothing */
		r = add_row(&t->rows[MS_TOP_THREADS]);
		if (!r)
			return -ENOMEM;
		r->pid = pv->p->pid;
		r->key = th->tid;
		fig_row(r, &th->f);
		snprintf(r->label, sizeof(r->label), "%s%s",
			 th->name[0] ? th->name : "-",
			 th->ended ? " (ended)" : "");
		follow(t, r, (2ull << 62) | (uint64_t)r->pid << 32 | i, now,
		       since);
		t->tot.threads++;
	}
	return 0;
}

static int proc_rows(struct ms_top *t, const struct ms_snap_proc_v *pv,
		     uint64_t now, uint64_t since)
{
	struct ms_top_row *r = add_row(&t->rows[MS_TOP_PROCS]);

	if (!r)
		return -ENOMEM;
	r->pid = r->key = pv->p->pid;
	fig_row(r, &pv->p->f);
	snprintf(r->label, sizeof(r->label), "%.191s", pv->p->exe);
	follow(t, r, (3ull << 62) | r->pid, now, since);
	t->tot.processes++;
	t->tot.live_bytes += r->live_bytes;
	t->tot.live_count += r->live_count;
	t->tot.allocs += r->allocs;
	t->tot.frees += r->frees;
	t->tot.alloc_rate += r->alloc_rate;
	t->tot.free_rate += r->free_rate;
	t->tot.dropped += pv->p->dropped;
	t->tot.untracked += pv->p->untracked;
	t->tot.estimated |= !!(pv->p->flags & MS_SNAP_SAMPLED);
	if (pv->p->addr_sample > t->tot.addr_sample)
		t->tot.addr_sample = pv->p->addr_sample;
	t->tot.incomplete |= !!(pv->p->flags & MS_SNAP_INCOMPLETE);
	return 0;
}

static int one_proc(struct ms_top *t, const struct ms_snap_proc_v *pv,
		    uint64_t now, uint64_t since)
{
	int err = ms_profile_live_modules(t->prof, pv->p->pid, pv->mods,
					  pv->p->nmods);

	if (!err)
		err = proc_rows(t, pv, now, since);
	if (!err)
		err = thread_rows(t, pv, now, since);
	return err ? err : site_rows(t, pv, now, since);
}

int ms_top_update(struct ms_top *t, struct ms_cli_snap *snap)
{
	const struct ms_snap *s = &snap->s;
	int err = 0;

	ms_cli_snap_free(&t->snap);
	t->snap = *snap;
	memset(snap, 0, sizeof(*snap));
	memset(&t->tot, 0, sizeof(t->tot));
	for (int i = 0; i < 3; i++)
		t->rows[i].n = 0;
	s = &t->snap.s;
	for (uint32_t i = 0; i < s->h->nprocs && !err; i++) {
		if (t->o.pid && s->procs[i].p->pid != t->o.pid)
			continue;
		err = one_proc(t, &s->procs[i], s->h->mono_ns, s->h->since_ns);
	}
	if (t->nhist == MS_ARRAY_SIZE(t->hist)) {
		memmove(t->hist, t->hist + 1,
			(t->nhist - 1) * sizeof(*t->hist));
		t->nhist--;
	}
	t->hist[t->nhist++] = t->tot.live_bytes;
	return err;
}

/* ---- views ---- */

static enum ms_top_sort sort_key;

static int cmp_rows(const void *x, const void *y)
{
	const struct ms_top_row *a = x, *b = y;
	double u, v;

	switch (sort_key) {
	case MS_SORT_GROWTH:
		u = (double)a->growth, v = (double)b->growth;
		break;
	case MS_SORT_RATE:
		u = a->alloc_rate, v = b->alloc_rate;
		break;
	case MS_SORT_COUNT:
		u = (double)a->live_count, v = (double)b->live_count;
		break;
	default:
		u = (double)a->live_bytes, v = (double)b->live_bytes;
	}
	if (u != v)
		return u < v ? 1 : -1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return (a->key > b->key) - (a->key < b->key);
}

const struct ms_top_row *ms_top_rows(struct ms_top *t, enum ms_top_view v,
				     enum ms_top_sort s, const char *filter,
				     size_t *n)
{
	struct rows *in = &t->rows[v];

	t->out.n = 0;
	for (size_t i = 0; i < in->n; i++) {
		struct ms_top_row *r;

		if (filter && filter[0] && !strstr(in->v[i].label, filter))
			continue;
		r = add_row(&t->out);
		if (!r)
			break;
		*r = in->v[i];
	}
	sort_key = s;
	if (t->out.n)
		qsort(t->out.v, t->out.n, sizeof(*t->out.v), cmp_rows);
	*n = t->out.n;
	return t->out.v;
}

const struct ms_top_totals *ms_top_totals(const struct ms_top *t)
{
	return &t->tot;
}

const struct ms_snap *ms_top_snap(const struct ms_top *t)
{
	return t->snap.buf ? &t->snap.s : NULL;
}

size_t ms_top_history(const struct ms_top *t, const uint64_t **live)
{
	*live = t->hist;
	return t->nhist;
}

struct ms_profile *ms_top_profile(struct ms_top *t)
{
	return t->prof;
}
