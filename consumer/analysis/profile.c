/* SPDX-License-Identifier: MIT */
/*
 * The pass of profile.h: the archive's merge (archive_merge.h) fed to the
 * heap model, with a per-process module map and a cache from (stream,
 * stack id) to site, so that an event costs one probe instead of hashing
 * its whole stack.
 */
#include "profile.h"

#include <errno.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "archive_json.h"
#include "archive_merge.h"
#include "atomics.h"
#include "modmap.h"
#include "record.h"
#include "snap.h"
#include "symbols.h"
#include "symstore.h"

#define SYMSTORE_NAME "symbols.msym"

/* (stream, generation, stack id) -> site */
struct scache_ent {
	uint32_t pid, tid, gen, site; /* site 0: empty */
	uint64_t id;
};

/* A stream's generation: THREAD_START renumbers its stacks. */
struct stream_gen {
	uint32_t pid, tid, gen;
	char name[MS_NAME_MAX + 1]; /* the last THREAD_NAME */
};

struct procmap {
	uint32_t pid;
	struct ms_modmap *map;
};

/*
 * Heap events of one timestamp. Threads' clocks agree to the agent's
 * resolution (~30 ns), so two events of different threads at the same
 * time may have happened in either order: a free of X on one thread and
 * the allocation that reuses X on another, or an allocation and its free
 * on another thread. They are applied in the order that makes sense of
 * them, but each thread's own in the order it made them (a temporary is
 * a block its thread frees before its next call): at each step the next
 * event of one of the threads goes, the first that frees a block live
 * now, else the first allocation at a free address, else the first.
 */
struct run {
	size_t at, end; /* the thread's events not applied yet: v[at, end) */
	size_t prev;	/* an earlier run of the same thread; SIZE_MAX */
};

struct group {
	struct ms_heap_ev *v;
	size_t n, cap;
	struct run *runs; /* the merge hands each thread's events in a run */
	size_t nruns, cap_runs;
};

/*
 * Heap events are read this far ahead of the model, and the live-table
 * slot of each is prefetched when it is read: by the time the model looks
 * an address up, its cache line is there (the table of a busy program is
 * tens of MB; one miss per event was a fifth of a report's time).
 */
#define AHEAD 32

struct ahead {
	struct ms_heap_ev v[AHEAD];
	unsigned head, n;
};

struct ms_profile_state {
	struct group g;
	struct ahead ah;
	struct scache_ent *sc;
	size_t sc_cap, sc_n;
	struct stream_gen *gens, *last_gen;
	size_t gen_cap, gen_n;
	uint32_t *gen_slot;
	size_t gen_nslots;
	struct procmap *maps;
	size_t nmaps;
	size_t last_map;
};

/* ---- the site cache ---- */

static uint64_t sc_hash(uint32_t pid, uint32_t tid, uint32_t gen, uint64_t id)
{
	uint64_t h = ((uint64_t)pid << 32 | tid) ^ ((uint64_t)gen << 48) ^ id;

	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static struct scache_ent *sc_slot(struct ms_profile_state *s, uint32_t pid,
				  uint32_t tid, uint32_t gen, uint64_t id)
{
	size_t mask = s->sc_cap - 1;

	for (size_t i = sc_hash(pid, tid, gen, id) & mask;;
	     i = (i + 1) & mask) {
		struct scache_ent *e = &s->sc[i];

		if (!e->site || (e->id == id && e->tid == tid &&
				 e->pid == pid && e->gen == gen))
			return e;
	}
}

static int sc_grow(struct ms_profile_state *s)
{
	size_t cap = s->sc_cap ? s->sc_cap * 2 : 4096;
	struct scache_ent *old = s->sc, *n = calloc(cap, sizeof(*n));
	size_t oldcap = s->sc_cap;

	if (!n)
		return -ENOMEM;
	s->sc = n;
	s->sc_cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].site)
			*sc_slot(s, old[i].pid, old[i].tid, old[i].gen,
				 old[i].id) = old[i];
	free(old);
	return 0;
}

/* Forgets one entry (a STACK record gave its id new frames). */
static void sc_forget(struct ms_profile_state *s, struct scache_ent *e)
{
	size_t mask = s->sc_cap - 1, i = (size_t)(e - s->sc), j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!s->sc[j].site)
			break;
		size_t home = sc_hash(s->sc[j].pid, s->sc[j].tid, s->sc[j].gen,
				      s->sc[j].id) &
			      mask;

		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			s->sc[i] = s->sc[j];
			i = j;
		}
	}
	s->sc[i].site = 0;
	s->sc_n--;
}

/* ---- stream generations and module maps ---- */

static size_t gen_home(uint32_t pid, uint32_t tid, size_t cap)
{
	return (size_t)((((uint64_t)pid << 32 | tid) * 0x9e3779b97f4a7c15ull) >>
			32) &
	       (cap - 1);
}

/* The slots (indexes + 1 into gens) at twice the streams' count. */
static int gen_rehash(struct ms_profile_state *s, size_t cap)
{
	uint32_t *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t k = 0; k < s->gen_n; k++) {
		size_t i = gen_home(s->gens[k].pid, s->gens[k].tid, cap);

		while (slot[i])
			i = (i + 1) & (cap - 1);
		slot[i] = (uint32_t)k + 1;
	}
	free(s->gen_slot);
	s->gen_slot = slot;
	s->gen_nslots = cap;
	return 0;
}

static struct stream_gen *gen_add(struct ms_profile_state *s, uint32_t pid,
				  uint32_t tid)
{
	struct stream_gen *g;

	if (s->gen_n == s->gen_cap) {
		size_t cap = s->gen_cap ? s->gen_cap * 2 : 64;

		g = realloc(s->gens, cap * sizeof(*g));
		if (!g)
			return NULL;
		s->gens = g;
		s->gen_cap = cap;
	}
	g = &s->gens[s->gen_n++];
	memset(g, 0, sizeof(*g));
	g->pid = pid;
	g->tid = tid;
	if (gen_rehash(s, s->gen_cap * 2) < 0)
		return NULL;
	return g;
}

static struct stream_gen *gen_of(struct ms_profile_state *s, uint32_t pid,
				 uint32_t tid)
{
	struct stream_gen *g = s->last_gen;

	if (g && g->tid == tid && g->pid == pid)
		return g;
	for (size_t i = s->gen_nslots ? gen_home(pid, tid, s->gen_nslots) : 0;
	     s->gen_nslots && s->gen_slot[i];
	     i = (i + 1) & (s->gen_nslots - 1)) {
		g = &s->gens[s->gen_slot[i] - 1];
		if (g->tid == tid && g->pid == pid)
			return s->last_gen = g;
	}
	return s->last_gen = gen_add(s, pid, tid);
}

static struct ms_modmap *map_of(struct ms_profile *p, uint32_t pid)
{
	struct ms_profile_state *s = p->st;
	struct procmap *v;

	if (s->last_map < s->nmaps && s->maps[s->last_map].pid == pid)
		return s->maps[s->last_map].map;
	for (size_t i = 0; i < s->nmaps; i++)
		if (s->maps[i].pid == pid) {
			s->last_map = i;
			return s->maps[i].map;
		}
	v = realloc(s->maps, (s->nmaps + 1) * sizeof(*v));
	if (!v)
		return NULL;
	s->maps = v;
	v[s->nmaps].pid = pid;
	if (ms_modmap_create(p->mods, &v[s->nmaps].map) < 0)
		return NULL;
	s->last_map = s->nmaps;
	return v[s->nmaps++].map;
}

/* ---- sites ---- */

/* A new site's frames: which module held each, at which offset. */
static void place_frames(struct ms_profile *p, uint32_t pid, uint32_t id)
{
	struct ms_site *site = ms_sites_get(&p->sites, id);
	const uint64_t *fr = ms_site_frames(&p->sites, site);
	uint32_t *mods = ms_site_mods(&p->sites, site);
	uint64_t *offs = ms_site_offs(&p->sites, site);
	struct ms_modmap *map = map_of(p, pid);

	for (uint32_t k = 0; map && k < site->nframes; k++) {
		const struct ms_module *m =
			ms_modmap_lookup(map, fr[k], &offs[k]);

		mods[k] = m ? m->id : MS_SITE_NO_MODULE;
	}
}

static uint32_t site_of(struct ms_profile *p, const struct ms_arc_event *e)
{
	struct ms_profile_state *s = p->st;
	const struct ms_arc_stack *st = e->stack;
	struct stream_gen *g;
	struct scache_ent *c;
	uint32_t id;
	int fresh;

	if (!st)
		return ms_sites_intern(&p->sites, e->pid, NULL, 0, &fresh);
	g = gen_of(s, e->pid, e->tid);
	if (!g || ((s->sc_n + 1) * 2 > s->sc_cap && sc_grow(s) < 0))
		return 0;
	c = sc_slot(s, e->pid, e->tid, g->gen, st->id);
	if (c->site)
		return c->site;
	id = ms_sites_intern(&p->sites, e->pid, st->frames, st->nframes,
			     &fresh);
	if (!id)
		return 0;
	if (fresh)
		place_frames(p, e->pid, id);
	*c = (struct scache_ent){e->pid, e->tid, g->gen, id, st->id};
	s->sc_n++;
	return id;
}

/* A STACK record: its id holds other frames from now on. */
static void stack_redefined(struct ms_profile *p, const struct ms_arc_event *e)
{
	struct ms_profile_state *s = p->st;
	struct stream_gen *g = gen_of(s, e->pid, e->tid);
	struct scache_ent *c;

	if (!g || !s->sc_cap)
		return;
	c = sc_slot(s, e->pid, e->tid, g->gen, e->ev->stack_id);
	if (c->site)
		sc_forget(s, c);
}

/* ---- the pass ---- */

/* How well applying e now makes sense (see struct group): 0 best. */
static int turn(struct ms_profile *p, const struct ms_heap_ev *e)
{
	switch (e->type) {
	case MS_REC_FREE:
		return ms_heap_is_live(p->heap, e->pid, e->addr) ? 0 : 2;
	case MS_REC_REALLOC:
		return ms_heap_is_live(p->heap, e->pid, e->old_addr) ? 0 : 2;
	case MS_REC_ALLOC:
		return ms_heap_is_live(p->heap, e->pid, e->addr) ? 2 : 1;
	default:
		return 0;
	}
}

static int same_thread(const struct ms_heap_ev *a, const struct ms_heap_ev *b)
{
	return a->tid == b->tid && a->pid == b->pid;
}

/* Cuts the group into runs of one thread's events. 0 or -ENOMEM. */
static int group_runs(struct group *g)
{
	g->nruns = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct run *r;

		if (i && same_thread(&g->v[i], &g->v[i - 1])) {
			g->runs[g->nruns - 1].end = i + 1;
			continue;
		}
		if (g->nruns == g->cap_runs) {
			size_t cap = g->cap_runs ? g->cap_runs * 2 : 16;

			r = realloc(g->runs, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			g->runs = r;
			g->cap_runs = cap;
		}
		r = &g->runs[g->nruns];
		*r = (struct run){i, i + 1, SIZE_MAX};
		for (size_t k = g->nruns; k-- > 0;)
			if (same_thread(&g->v[g->runs[k].at], &g->v[i])) {
				r->prev = k;
				break;
			}
		g->nruns++;
	}
	return 0;
}

/* Whether run r has nothing to apply now: all went, or its thread has
 * events before it in another run. */
static int idle(const struct group *g, const struct run *r)
{
	const struct run *prev = r->prev == SIZE_MAX ? NULL : &g->runs[r->prev];

	return r->at == r->end || (prev && prev->at < prev->end);
}

/* The run whose next event goes now; SIZE_MAX when all went. */
static size_t next_run(struct ms_profile *p, const struct group *g)
{
	size_t best = SIZE_MAX;
	int best_turn = 3;

	for (size_t k = 0; k < g->nruns && best_turn > 0; k++) {
		int t;

		if (idle(g, &g->runs[k]))
			continue;
		t = turn(p, &g->v[g->runs[k].at]);
		if (t < best_turn) {
			best = k;
			best_turn = t;
		}
	}
	return best;
}

static int group_flush(struct ms_profile *p)
{
	struct group *g = &p->st->g;
	int r = 0, past = 0;
	size_t k;

	if (g->n > 1 && group_runs(g) < 0)
		return -ENOMEM;
	if (g->n == 1 || g->nruns == 1)
		for (size_t i = 0; i < g->n && r >= 0; i++)
			past |= (r = ms_heap_event(p->heap, &g->v[i])) == 1;
	else
		while (r >= 0 && (k = next_run(p, g)) != SIZE_MAX)
			past |= (r = ms_heap_event(
					 p->heap, &g->v[g->runs[k].at++])) == 1;
	g->n = 0;
	return r < 0 ? r : past;
}

static int group_add(struct group *g, const struct ms_heap_ev *e)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct ms_heap_ev *v = realloc(g->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = *e;
	return 0;
}

/* An event whose turn has come: into its timestamp's group. */
static int to_group(struct ms_profile *p, const struct ms_heap_ev *h)
{
	struct group *g = &p->st->g;
	int r = 0;

	if (g->n && g->v[0].ns != h->ns)
		r = group_flush(p);
	return r ? r : group_add(g, h);
}

/* Every event still read ahead, then the last group. */
static int drain_ahead(struct ms_profile *p)
{
	struct ahead *a = &p->st->ah;
	int r = 0;

	for (; a->n && r == 0; a->n--, a->head = (a->head + 1) % AHEAD)
		r = to_group(p, &a->v[a->head]);
	return r ? r : group_flush(p);
}

static int heap_event(struct ms_profile *p, const struct ms_arc_event *e)
{
	const struct ms_event *ev = e->ev;
	struct ahead *a = &p->st->ah;
	struct ms_heap_ev h = {ev->type, e->pid,       e->tid,	 e->ns,
			       ev->addr, ev->old_addr, ev->size, ev->weight,
			       0,	 ev->count};
	int r = 0;

	if (ev->type == MS_REC_ALLOC || ev->type == MS_REC_REALLOC) {
		h.site = site_of(p, e); /* 0 (no stack) when memory ran out */
		if (ev->weight != MS_WEIGHT_ONE)
			p->estimated = 1;
	}
	ms_heap_prefetch(p->heap, h.pid,
			 h.type == MS_REC_REALLOC ? h.old_addr : h.addr);
	if (a->n == AHEAD) {
		r = to_group(p, &a->v[a->head]);
		a->head = (a->head + 1) % AHEAD;
		a->n--;
	}
	a->v[(a->head + a->n++) % AHEAD] = h;
	return r;
}

/* 1: past the window, the pass may stop; 0; -ENOMEM. */
static int apply(struct ms_profile *p, const struct ms_arc_event *e)
{
	struct ms_modmap *map;
	struct stream_gen *g;

	switch (e->ev->type) {
	case MS_REC_MODULE_LOAD:
	case MS_REC_MODULE_UNLOAD:
		map = map_of(p, e->pid);
		if (!map)
			return -ENOMEM;
		ms_modmap_apply(map, e->ev); /* a bad range is skipped */
		return 0;
	case MS_REC_STACK:
		stack_redefined(p, e);
		return 0;
	case MS_REC_THREAD_START:
		g = gen_of(p->st, e->pid, e->tid);
		if (!g)
			return -ENOMEM;
		g->gen++;
		return 0;
	case MS_REC_THREAD_NAME:
		g = gen_of(p->st, e->pid, e->tid);
		if (!g)
			return -ENOMEM;
		memcpy(g->name, e->ev->str,
		       e->ev->str_len < MS_NAME_MAX ? e->ev->str_len
						    : MS_NAME_MAX);
		g->name[e->ev->str_len < MS_NAME_MAX ? e->ev->str_len
						     : MS_NAME_MAX] = 0;
		return 0;
	case MS_REC_ALLOC:
	case MS_REC_REALLOC:
		if (p->o.sites_only)
			return site_of(p, e) ? 0 : -ENOMEM;
		return heap_event(p, e);
	case MS_REC_FREE:
	case MS_REC_LOST:
		return p->o.sites_only ? 0 : heap_event(p, e);
	default:
		return 0;
	}
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* The heap model, once the first event gives the time base. */
static int heap_begin(struct ms_profile *p, uint64_t first_ns)
{
	struct ms_heap_opts ho = {
		.from_ns = add_sat(first_ns, p->o.from_ns),
		.to_ns = p->o.to_ns == MS_PROFILE_END
				 ? 0
				 : add_sat(first_ns, p->o.to_ns),
		.pid = p->o.pid,
		.tid = p->o.tid,
		.sink = p->o.sink,
	};

	p->start_ns = first_ns;
	if (ho.to_ns == 0 && p->o.to_ns != MS_PROFILE_END)
		ho.to_ns = 1; /* a window ending at the very start */
	return ms_heap_create(&ho, &p->sites, &p->heap);
}

static int replay(struct ms_profile *p, struct ms_archive *a)
{
	const struct ms_arc_event *e;
	struct ms_arc_merge *m;
	int r, past = 0;

	(void)past;

	r = ms_arc_merge_open(a, NULL, &m);
	if (r < 0)
		return r;
	while ((r = ms_arc_merge_next(m, &e)) == 1) {
		p->events++;
		if (!p->heap && (r = heap_begin(p, e->ns)) < 0)
			break;
		r = apply(p, e);
		if (r < 0 || (past = r == 1))
			break;
		p->end_ns = e->ns;
	}
	ms_arc_merge_close(m);
	if (r == 0 && !p->heap)
		r = heap_begin(p, 0);
	if (r >= 0)
		r = drain_ahead(p);
	return r < 0 ? r : 0;
}

/* ---- session, threads ---- */

/* "2026-11-30T12:18:49.085Z" -> ns since the epoch; 0 when not that. */
static uint64_t parse_time(const struct ms_json_node *n)
{
	struct tm tm = {0};
	unsigned ms = 0;
	time_t t;

	if (!n || n->type != MS_JSON_STRING ||
	    sscanf(n->str, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ", &tm.tm_year,
		   &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
		   &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	return t < 0 ? 0 : (uint64_t)t * 1000000000ull + ms * 1000000ull;
}

static void read_session(struct ms_profile *p, struct ms_archive *a)
{
	const struct ms_json_node *root = ms_archive_manifest(a);
	const struct ms_json_node *set = ms_json_get(root, "settings");
	const struct ms_json_node *samp = ms_json_get(set, "sampling");
	uint64_t depth;

	p->stack_depth = UINT32_MAX;
	p->start_rt_ns = parse_time(ms_json_get(root, "start_time"));
	if (samp && samp->type == MS_JSON_STRING)
		snprintf(p->sampling, sizeof(p->sampling), "%s", samp->str);
	if (ms_json_u64(ms_json_get(set, "stack_depth"), &depth) == 0 &&
	    depth < UINT32_MAX)
		p->stack_depth = (uint32_t)depth;
	if (p->sampling[0] && strcmp(p->sampling, "full") != 0)
		p->estimated = 1;
}

static const char *name_of(const struct ms_profile *p, uint32_t pid,
			   uint32_t tid)
{
	for (size_t i = 0; i < p->st->gen_n; i++)
		if (p->st->gens[i].pid == pid && p->st->gens[i].tid == tid)
			return p->st->gens[i].name;
	return "";
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* Threads come in the order first seen, so one process's threads need
 * not be next to each other (a parent thread started after a child's). */
static int count_processes(struct ms_profile *p)
{
	uint32_t *pid = malloc((p->nthreads + 1) * sizeof(*pid));

	if (!pid)
		return -ENOMEM;
	for (size_t i = 0; i < p->nthreads; i++)
		pid[i] = p->threads[i].h.pid;
	qsort(pid, p->nthreads, sizeof(*pid), cmp_u32);
	for (size_t i = 0; i < p->nthreads; i++)
		p->processes += i == 0 || pid[i] != pid[i - 1];
	free(pid);
	return 0;
}

static int collect_threads(struct ms_profile *p)
{
	size_t n;
	const struct ms_heap_thread *t = ms_heap_threads(p->heap, &n);

	p->threads = calloc(n ? n : 1, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->threads[i].h = t[i];
		snprintf(p->threads[i].name, sizeof(p->threads[i].name), "%s",
			 name_of(p, t[i].pid, t[i].tid));
	}
	p->nthreads = n;
	return count_processes(p);
}

int ms_profile_build(struct ms_archive *a, const struct ms_profile_opts *o,
		     struct ms_profile **out)
{
	struct ms_profile *p = calloc(1, sizeof(*p));
	int r = -ENOMEM;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->o = *o;
	p->dir = a->dir;
	p->st = calloc(1, sizeof(*p->st));
	if (!p->st || ms_sites_init(&p->sites) < 0 ||
	    ms_modtab_create(&p->mods) < 0)
		goto out_free;
	read_session(p, a);
	r = replay(p, a);
	if (r < 0)
		goto out_free;
	ms_heap_finish(p->heap);
	r = collect_threads(p);
	if (r < 0)
		goto out_free;
	/* also what ms_archive_open() found: a manifest missing or damaged
	 * takes the session's settings and the threads' names with it */
	p->archive_errors = a->nerrors + a->errors_dropped;
	*out = p;
	return 0;
out_free:
	ms_profile_free(p);
	return r;
}

void ms_profile_free(struct ms_profile *p)
{
	if (!p)
		return;
	if (p->st) {
		for (size_t i = 0; i < p->st->nmaps; i++)
			ms_modmap_destroy(p->st->maps[i].map);
		free(p->st->maps);
		free(p->st->gens);
		free(p->st->gen_slot);
		free(p->st->sc);
		free(p->st->g.v);
		free(p->st->g.runs);
		free(p->st);
	}
	ms_sym_destroy(p->sym);
	ms_symstore_free(p->store);
	ms_heap_destroy(p->heap);
	ms_sites_free(&p->sites);
	ms_modtab_destroy(p->mods);
	free(p->threads);
	free(p);
}

/* ---- live profiles (snapshots of a running consumer) ---- */

int ms_profile_live(const struct ms_profile_opts *o, struct ms_profile **out)
{
	struct ms_profile *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->o = *o;
	p->o.to_ns = MS_PROFILE_END;
	p->st = calloc(1, sizeof(*p->st));
	if (!p->st || ms_sites_init(&p->sites) < 0 ||
	    ms_modtab_create(&p->mods) < 0) {
		ms_profile_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int ms_profile_live_modules(struct ms_profile *p, uint32_t pid,
			    const struct ms_snap_mod_v *mods, uint32_t n)
{
	struct ms_modmap *map = map_of(p, pid), *fresh;

	if (!map || ms_modmap_create(p->mods, &fresh) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct ms_snap_mod *m = mods[i].m;

		/* a range the map refuses (-EINVAL) is left out */
		if (!m->unloaded &&
		    ms_modmap_load(fresh, m->base, m->size, m->build_id,
				   m->build_id_len, mods[i].path,
				   m->path_len) == -ENOMEM) {
			ms_modmap_destroy(fresh);
			return -ENOMEM;
		}
	}
	/* map_of() just found or made the entry at last_map */
	ms_modmap_destroy(map);
	p->st->maps[p->st->last_map].map = fresh;
	return 0;
}

uint32_t ms_profile_live_site(struct ms_profile *p, uint32_t pid,
			      const uint64_t *frames, uint32_t n)
{
	int fresh;
	uint32_t id = ms_sites_intern(&p->sites, pid, frames, n, &fresh);

	if (id && fresh)
		place_frames(p, pid, id);
	return id;
}

/* ---- frames ---- */

static int symbolizer(struct ms_profile *p)
{
	struct ms_sym_opts so = {.debug_dirs = p->o.debug_dirs};
	char path[4200];

	if (p->sym)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", p->dir, SYMSTORE_NAME);
	/* a live profile has no archive: the binaries alone */
	if (!p->dir || ms_symstore_load(path, &p->store) < 0)
		p->store = NULL; /* none, or damaged: the binaries alone */
	so.store = p->store;
	return ms_sym_create(&so, &p->sym);
}

/*
 * A frame without symbols is named as the symbolizer names one it cannot
 * resolve (symbols.c): by the offset of the call, the return address's
 * minus 1, which addr2line answers with the call's line. So a frame has
 * one name, whether symbols were looked up or not (--no-symbols).
 */
static int bare_frame(const struct ms_module *m, uint64_t addr, uint64_t off,
		      int (*cb)(const struct ms_pframe *f, void *arg),
		      void *arg)
{
	char name[300];
	struct ms_pframe f = {name, NULL, 0, 0, m ? m->name : NULL, addr, off};

	if (m)
		snprintf(name, sizeof(name), "%.256s+0x%llx", m->name,
			 (unsigned long long)(off ? off - 1 : 0));
	else
		snprintf(name, sizeof(name), "0x%llx",
			 (unsigned long long)addr);
	return cb(&f, arg);
}

/* One return address: its frames, inlined ones first. */
static int one_address(struct ms_profile *p, uint32_t mod, uint64_t addr,
		       uint64_t off,
		       int (*cb)(const struct ms_pframe *f, void *arg),
		       void *arg)
{
	const struct ms_module *m =
		mod == MS_SITE_NO_MODULE ? NULL : ms_modtab_at(p->mods, mod);
	const struct ms_frame *fr;
	int n, stop = 0;

	if (!m || p->o.no_symbols)
		return bare_frame(m, addr, off, cb, arg);
	/* a return address: the call is the instruction before it */
	n = ms_sym_resolve(p->sym, m, off ? off - 1 : 0, &fr);
	if (n < 0)
		return n;
	for (int i = 0; i < n && !stop; i++) {
		struct ms_pframe f = {
			fr[i].function, fr[i].file, fr[i].line, fr[i].inlined,
			m->name,	addr,	    off};

		stop = cb(&f, arg);
	}
	return stop;
}

int ms_profile_frames(struct ms_profile *p, uint32_t id,
		      int (*cb)(const struct ms_pframe *f, void *arg),
		      void *arg)
{
	const struct ms_site *s = ms_sites_get(&p->sites, id);
	const uint64_t *fr = ms_site_frames(&p->sites, s);
	const uint32_t *mods = ms_site_mods(&p->sites, s);
	const uint64_t *offs = ms_site_offs(&p->sites, s);
	int r = 0;

	if (!p->o.no_symbols && symbolizer(p) < 0)
		return -ENOMEM;
	for (uint32_t k = 0; k < s->nframes && r == 0; k++)
		r = one_address(p, mods[k], fr[k], offs[k], cb, arg);
	return r < 0 ? r : 0;
}

/* The allocator's own frames, which a site's label skips. */
static int allocator_frame(const struct ms_pframe *f)
{
	static const char *const mods[] = {"libc.so", "libc-", "ld-linux",
					   "libmemscope", "libstdc++.so"};
	static const char *const fns[] = {
		"operator new",	    "operator delete",
		"__rust_alloc",	    "__rust_realloc",
		"__rdl_",	    "__rg_",
		"alloc::alloc::",   "alloc::raw_vec::",
		"PyMem_",	    "_PyMem_",
		"PyObject_Malloc",  "_PyObject_Malloc",
		"PyObject_Realloc", "_PyObject_Realloc",
		"g_malloc",	    "g_realloc",
		"xmalloc",	    "xrealloc",
		"Perl_safesys",
	};

	for (size_t i = 0; f->module && i < MS_ARRAY_SIZE(mods); i++)
		if (!strncmp(f->module, mods[i], strlen(mods[i])))
			return 1;
	for (size_t i = 0; i < MS_ARRAY_SIZE(fns); i++)
		if (!strncmp(f->function, fns[i], strlen(fns[i])))
			return 1;
	return 0;
}

struct label {
	struct ms_pframe first, found;
	char fn[2][512], file[2][512];
	int depth, at;
};

static void keep_frame(struct label *l, int which, const struct ms_pframe *f)
{
	struct ms_pframe *d = which ? &l->found : &l->first;

	*d = *f;
	snprintf(l->fn[which], sizeof(l->fn[which]), "%s", f->function);
	d->function = l->fn[which];
	if (f->file) {
		snprintf(l->file[which], sizeof(l->file[which]), "%s", f->file);
		d->file = l->file[which];
	}
}

static int label_cb(const struct ms_pframe *f, void *arg)
{
	struct label *l = arg;

	if (l->depth == 0)
		keep_frame(l, 0, f);
	if (!allocator_frame(f)) {
		keep_frame(l, 1, f);
		l->at = l->depth;
		return 1;
	}
	l->depth++;
	return 0;
}

int ms_profile_label(struct ms_profile *p, uint32_t id, struct ms_pframe *f)
{
	static __thread struct label l;

	memset(&l, 0, sizeof(l));
	l.at = -1;
	if (ms_profile_frames(p, id, label_cb, &l) < 0 || l.depth + l.at < 0)
		return -1;
	if (l.at < 0) { /* every frame is the allocator's: the first */
		*f = l.first;
		return l.depth ? 0 : -1;
	}
	*f = l.found;
	return l.at;
}

/* ---- the archive's symbol store ---- */

static int cmp_key(const void *x, const void *y)
{
	const struct ms_symkey *a = x, *b = y;

	if (a->mod->id != b->mod->id)
		return a->mod->id < b->mod->id ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

/* Every frame of every site, as (module, offset of the call), once. */
static struct ms_symkey *site_keys(struct ms_profile *p, size_t *n)
{
	struct ms_symkey *k = malloc((p->sites.arena_used + 1) * sizeof(*k));
	size_t m = 0, u = 0;

	*n = 0;
	if (!k)
		return NULL;
	for (size_t i = 0; i < p->sites.arena_used; i++) {
		if (p->sites.mods[i] == MS_SITE_NO_MODULE)
			continue;
		k[m].mod = ms_modtab_at(p->mods, p->sites.mods[i]);
		k[m].off = p->sites.offs[i] ? p->sites.offs[i] - 1 : 0;
		m++;
	}
	qsort(k, m, sizeof(*k), cmp_key);
	for (size_t i = 0; i < m; i++)
		if (u == 0 || cmp_key(&k[u - 1], &k[i]) != 0)
			k[u++] = k[i];
	*n = u;
	return k;
}

int ms_profile_write_symbols(struct ms_profile *p, size_t *keys)
{
	char path[4200];
	struct ms_symkey *k;
	int r;

	*keys = 0;
	if (symbolizer(p) < 0)
		return -ENOMEM;
	k = site_keys(p, keys);
	if (!k)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", p->dir, SYMSTORE_NAME);
	r = ms_sym_write_store(p->sym, k, *keys, path);
	free(k);
	return r;
}
