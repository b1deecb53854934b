/* SPDX-License-Identifier: MIT */
/*
 * pprof's profile.proto (export.h), as pprof.proto describes it: the
 * messages are built in memory (memory grows with sites, threads and
 * distinct code addresses), encoded by protobuf-c's generated code and
 * gzipped with zlib on their way to the file.
 *
 * - Sample types alloc_objects/count, alloc_space/bytes (allocations in
 *   the window), inuse_objects/count, inuse_space/bytes (blocks live at
 *   the window's end: for a whole run, the leaks).
 * - One sample per (site, allocating thread), labelled `thread` (its name
 *   and tid) and `pid`.
 * - A location per (module, return address), with its source lines: the
 *   inlined functions first, the function that holds the address last.
 *   A location keeps no line of the allocator's own (export_stack.h).
 * - A mapping per (module, load bias), with the module's path and build
 *   id. Every location carries its lines, with the names the report
 *   shows ("module+0x..." where there is none, and with --no-symbols), and
 *   the mappings say so: pprof then leaves them as they are. (pprof could
 *   name addresses itself from the binaries, but it wants each mapping as
 *   the kernel had it, segment by segment, which an archive does not
 *   record: it knows modules by their load bias.)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "export.h"
#include "export_map.h"
#include "grow.h"
#include "modmap.h"
#include "pprof.pb-c.h"
#include "report.h"
#include "strpool.h"

typedef Perftools__Profiles__Profile PProfile;
typedef Perftools__Profiles__ValueType PValueType;
typedef Perftools__Profiles__Sample PSample;
typedef Perftools__Profiles__Label PLabel;
typedef Perftools__Profiles__Mapping PMapping;
typedef Perftools__Profiles__Location PLocation;
typedef Perftools__Profiles__Line PLine;
typedef Perftools__Profiles__Function PFunction;

#define NVALUES	  4 /* alloc_objects, alloc_space, inuse_objects, inuse_space */
#define NCOMMENTS 8

struct location {
	PLocation m;
	size_t lines_at; /* its lines: lines[lines_at ...], m.n_line of them */
};

struct sample {
	PSample m;
	size_t locs_at; /* its stack: loc_ids[locs_at ...] */
	int64_t v[NVALUES];
	PLabel label[2];
	PLabel *labels[2];
};

struct pprof {
	struct ms_profile *p;
	struct ms_strpool *strs; /* the string table: "" first */
	struct ms_xstack st;
	struct ms_xmap fn_map, loc_map, map_map;
	PFunction *fns;
	struct location *locs;
	PMapping *maps;
	PLine *lines;
	struct sample *samples;
	uint64_t *loc_ids;
	size_t fns_cap, locs_cap, maps_cap, lines_cap, nlines;
	size_t samples_cap, nsamples, loc_ids_cap, nloc_ids;
	size_t *site_at; /* per site: its stack in loc_ids, at + 1; 0 none */
	uint32_t *site_len;
	int64_t *thread_label; /* per thread: its `thread` label string */
	int64_t comments[NCOMMENTS];
	size_t ncomments;
};

/* ---- building ---- */

/* The string's index in the string table; -ENOMEM. */
static int64_t str(struct pprof *b, const char *s)
{
	uint32_t idx;

	if (!ms_strpool_intern(b->strs, s, strlen(s), &idx))
		return -ENOMEM;
	return idx;
}

static int64_t function_id(struct pprof *b, const struct ms_xframe *x)
{
	int fresh;
	int64_t i = ms_xmap_id(&b->fn_map, x->fn, x->file_idx, 0, &fresh);
	PFunction *v;

	if (i < 0 || !fresh)
		return i < 0 ? i : i + 1;
	v = ms_grow(b->fns, &b->fns_cap, (size_t)i + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	b->fns = v;
	perftools__profiles__function__init(&v[i]);
	v[i].id = (uint64_t)i + 1;
	v[i].name = v[i].system_name = x->fn;
	v[i].filename = x->file_idx == MS_XSTACK_NOFILE ? 0 : x->file_idx;
	return i + 1;
}

static int64_t build_id_str(struct pprof *b, const struct ms_module *m)
{
	char hex[2 * MS_BUILD_ID_MAX + 1];

	for (uint32_t i = 0; i < m->build_id_len && i < MS_BUILD_ID_MAX; i++)
		snprintf(hex + 2 * i, 3, "%02x", m->build_id[i]);
	hex[2 * (m->build_id_len < MS_BUILD_ID_MAX ? m->build_id_len
						   : MS_BUILD_ID_MAX)] = 0;
	return str(b, hex);
}

static int new_mapping(struct pprof *b, int64_t i, const struct ms_xframe *x)
{
	const struct ms_module *m = ms_modtab_at(b->p->mods, x->mod);
	int named = !b->p->o.no_symbols;
	PMapping *v = ms_grow(b->maps, &b->maps_cap, (size_t)i + 1, sizeof(*v));
	int64_t file, bid;

	if (!v)
		return -ENOMEM;
	b->maps = v;
	perftools__profiles__mapping__init(&v[i]);
	file = str(b, m->path ? m->path : "");
	bid = build_id_str(b, m);
	if (file < 0 || bid < 0)
		return -ENOMEM;
	v[i].id = (uint64_t)i + 1;
	/* the load bias: an address minus it is the ELF file's own */
	v[i].memory_start = x->addr - x->offset;
	v[i].memory_limit = x->addr + 1;
	v[i].filename = file;
	v[i].build_id = bid;
	v[i].has_functions = 1;
	v[i].has_filenames = v[i].has_line_numbers = named;
	v[i].has_inline_frames = named;
	return 0;
}

/* The mapping of the frame's module at its load bias: id, 0 none. */
static int64_t mapping_id(struct pprof *b, const struct ms_xframe *x)
{
	int fresh;
	int64_t i;

	if (x->mod == MS_SITE_NO_MODULE)
		return 0;
	i = ms_xmap_id(&b->map_map, x->mod, x->addr - x->offset, 0, &fresh);
	if (i < 0 || (fresh && new_mapping(b, i, x) < 0))
		return -ENOMEM;
	if (x->addr >= b->maps[i].memory_limit)
		b->maps[i].memory_limit = x->addr + 1;
	return i + 1;
}

/* The source lines of x[0..n) (one return address), innermost first. */
static int add_lines(struct pprof *b, struct location *l,
		     const struct ms_xframe *x, size_t n)
{
	PLine *v = ms_grow(b->lines, &b->lines_cap, b->nlines + n, sizeof(*v));

	if (!v)
		return -ENOMEM;
	b->lines = v;
	l->lines_at = b->nlines;
	for (size_t k = 0; k < n; k++) {
		int64_t fn = function_id(b, &x[k]);

		if (fn < 0)
			return (int)fn;
		perftools__profiles__line__init(&b->lines[b->nlines]);
		b->lines[b->nlines].function_id = (uint64_t)fn;
		b->lines[b->nlines++].line = x[k].line;
		l->m.n_line++;
	}
	return 0;
}

/* The location of x[0..n), one return address with `skip` frames of the
 * allocator left out. */
static int64_t location_id(struct pprof *b, const struct ms_xframe *x, size_t n,
			   unsigned skip)
{
	int fresh;
	int64_t i = ms_xmap_id(&b->loc_map, x->mod, x->addr, skip, &fresh);
	int64_t map;
	struct location *v;

	if (i < 0 || !fresh)
		return i < 0 ? i : i + 1;
	v = ms_grow(b->locs, &b->locs_cap, (size_t)i + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	b->locs = v;
	memset(&v[i], 0, sizeof(v[i]));
	perftools__profiles__location__init(&v[i].m);
	v[i].m.id = (uint64_t)i + 1;
	v[i].m.address = x->addr;
	map = mapping_id(b, x);
	if (map < 0 || add_lines(b, &b->locs[i], x, n) < 0)
		return -ENOMEM;
	b->locs[i].m.mapping_id = (uint64_t)map;
	return i + 1;
}

/* The site's stack as location ids, leaf first, once. */
static int site_stack(struct pprof *b, uint32_t site)
{
	const struct ms_xstack *st = &b->st;
	size_t start = b->nloc_ids;
	uint64_t *ids;
	int r;

	if (b->site_at[site])
		return 0;
	r = ms_xstack_get(b->p, b->strs, site, &b->st);
	for (size_t i = 0, j; r == 0 && i < st->n; i = j) {
		int64_t loc;

		for (j = i + 1; j < st->n && st->v[j].depth == st->v[i].depth;)
			j++;
		loc = location_id(b, &st->v[i], j - i, i ? 0 : st->skipped);
		ids = ms_grow(b->loc_ids, &b->loc_ids_cap, b->nloc_ids + 1,
			      sizeof(*ids));
		if (loc < 0 || !ids)
			return -ENOMEM;
		b->loc_ids = ids;
		b->loc_ids[b->nloc_ids++] = (uint64_t)loc;
	}
	b->site_at[site] = start + 1;
	b->site_len[site] = (uint32_t)(b->nloc_ids - start);
	return r;
}

static int64_t i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static int add_sample(struct pprof *b, const struct ms_split_cell *c,
		      int64_t key_thread, int64_t key_pid)
{
	const struct ms_profile_thread *t = &b->p->threads[c->thread];
	struct sample *s = ms_grow(b->samples, &b->samples_cap, b->nsamples + 1,
				   sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	b->samples = s;
	s = &b->samples[b->nsamples];
	memset(s, 0, sizeof(*s));
	perftools__profiles__sample__init(&s->m);
	s->v[0] = i64(ms_q16_count(c->allocs_q16));
	s->v[1] = i64(c->bytes);
	s->v[2] = i64(ms_q16_count(c->live_q16));
	s->v[3] = i64(c->live);
	for (int k = 0; k < 2; k++)
		perftools__profiles__label__init(&s->label[k]);
	s->label[0].key = key_thread;
	s->label[0].str = b->thread_label[c->thread];
	s->label[1].key = key_pid;
	s->label[1].num = t->h.pid;
	r = site_stack(b, c->site);
	if (r < 0)
		return r;
	s->locs_at = b->site_at[c->site] - 1;
	s->m.n_location_id = b->site_len[c->site];
	b->nsamples++;
	return 0;
}

static int thread_labels(struct pprof *b)
{
	for (size_t i = 0; i < b->p->nthreads; i++) {
		const struct ms_profile_thread *t = &b->p->threads[i];
		char name[120];

		if (t->name[0])
			snprintf(name, sizeof(name), "%s (%" PRIu32 ")",
				 t->name, t->h.tid);
		else
			snprintf(name, sizeof(name), "%" PRIu32, t->h.tid);
		b->thread_label[i] = str(b, name);
		if (b->thread_label[i] < 0)
			return -ENOMEM;
	}
	return 0;
}

static int add_samples(struct pprof *b, const struct ms_split_cell *c, size_t n)
{
	int64_t key_thread = str(b, "thread"), key_pid = str(b, "pid");
	int r = thread_labels(b);

	if (key_thread < 0 || key_pid < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (c[i].thread >= b->p->nthreads ||
		    !(c[i].allocs_q16 | c[i].bytes | c[i].live_q16 | c[i].live))
			continue;
		r = add_sample(b, &c[i], key_thread, key_pid);
	}
	return r;
}

static int comment(struct pprof *b, const char *text)
{
	int64_t i = str(b, text);

	if (i < 0)
		return -ENOMEM;
	if (b->ncomments < NCOMMENTS)
		b->comments[b->ncomments++] = i;
	return 0;
}

/* What the figures are, where the profile format has room for it. */
static int add_comments(struct pprof *b)
{
	const struct ms_profile *p = b->p;
	char line[600];
	int r;

	if (p->dir)
		snprintf(line, sizeof(line), "memscope export of %s", p->dir);
	else
		snprintf(line, sizeof(line),
			 "memscope snapshot of a running session: figures "
			 "since its live heap began");
	r = comment(b, line);
	if (p->estimated)
		snprintf(line, sizeof(line),
			 "sampling %s: the figures are weighted estimates "
			 "(each sampled allocation counts for 1/p)",
			 p->sampling[0] ? p->sampling : "unknown");
	else
		snprintf(line, sizeof(line),
			 "sampling full: every allocation, exact figures");
	r = r ? r : comment(b, line);
	r = r ? r
	      : comment(b, p->dir ? "inuse_*: blocks live at the end of the "
				    "window (for a whole run, never freed)"
				  : "inuse_*: blocks live now");
	r = r ? r
	      : comment(b, "stacks start at the first frame outside "
			   "the allocator");
	if (p->o.to_ns != MS_PROFILE_END)
		snprintf(line, sizeof(line),
			 "window: %" PRIu64 " ns to %" PRIu64
			 " ns after the first event",
			 p->o.from_ns, p->o.to_ns);
	else if (p->o.from_ns)
		snprintf(line, sizeof(line),
			 "window: %" PRIu64 " ns after the first event to "
			 "the end",
			 p->o.from_ns);
	if (p->o.from_ns || p->o.to_ns != MS_PROFILE_END)
		r = r ? r : comment(b, line);
	return r;
}

/* ---- encoding ---- */

/* protobuf-c's output buffer, gzipped into a FILE. */
struct gz {
	ProtobufCBuffer base; /* first: the callbacks get &base */
	z_stream z;
	FILE *f;
	int err;
	unsigned char out[1 << 14];
};

static void gz_run(struct gz *g, int flush)
{
	int zr;

	do {
		g->z.next_out = g->out;
		g->z.avail_out = sizeof(g->out);
		zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_ERROR) {
			g->err = -EIO;
			return;
		}
		if (fwrite(g->out, 1, sizeof(g->out) - g->z.avail_out, g->f) !=
		    sizeof(g->out) - g->z.avail_out)
			g->err = -EIO;
	} while (g->z.avail_out == 0 ||
		 (flush == Z_FINISH && zr != Z_STREAM_END));
}

static void gz_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
	struct gz *g = (struct gz *)buf;

	while (len && !g->err) {
		uInt n = len > (1u << 30) ? 1u << 30 : (uInt)len;

		g->z.next_in = (Bytef *)(uintptr_t)data;
		g->z.avail_in = n;
		gz_run(g, Z_NO_FLUSH);
		data += n;
		len -= n;
	}
}

/* The message's arrays of pointers, once the messages no longer move. */
struct links {
	PFunction **fns;
	PLocation **locs;
	PMapping **maps;
	PSample **samples;
	PLine **lines;
	char **strs;
};

static void links_free(struct links *l)
{
	free(l->fns);
	free(l->locs);
	free(l->maps);
	free(l->samples);
	free(l->lines);
	free(l->strs);
}

static int links_alloc(const struct pprof *b, struct links *l)
{
	l->fns = calloc(b->fn_map.n + 1, sizeof(*l->fns));
	l->locs = calloc(b->loc_map.n + 1, sizeof(*l->locs));
	l->maps = calloc(b->map_map.n + 1, sizeof(*l->maps));
	l->samples = calloc(b->nsamples + 1, sizeof(*l->samples));
	l->lines = calloc(b->nlines + 1, sizeof(*l->lines));
	l->strs = calloc(ms_strpool_count(b->strs) + 1, sizeof(*l->strs));
	if (l->fns && l->locs && l->maps && l->samples && l->lines && l->strs)
		return 0;
	links_free(l);
	return -ENOMEM;
}

static void link_samples(struct pprof *b, PSample **v)
{
	for (size_t i = 0; i < b->nsamples; i++) {
		struct sample *s = &b->samples[i];

		v[i] = &s->m;
		s->m.location_id = b->loc_ids + s->locs_at;
		s->m.n_value = NVALUES;
		s->m.value = s->v;
		s->labels[0] = &s->label[0];
		s->labels[1] = &s->label[1];
		s->m.n_label = 2;
		s->m.label = s->labels;
	}
}

static void link_profile(struct pprof *b, struct links *l, PProfile *m)
{
	for (uint32_t i = 0; i < b->fn_map.n; i++)
		l->fns[i] = &b->fns[i];
	for (size_t i = 0; i < b->nlines; i++)
		l->lines[i] = &b->lines[i];
	for (uint32_t i = 0; i < b->loc_map.n; i++) {
		l->locs[i] = &b->locs[i].m;
		l->locs[i]->line = l->lines + b->locs[i].lines_at;
	}
	for (uint32_t i = 0; i < b->map_map.n; i++)
		l->maps[i] = &b->maps[i];
	link_samples(b, l->samples);
	for (uint32_t i = 0; i < ms_strpool_count(b->strs); i++)
		l->strs[i] = (char *)(uintptr_t)ms_strpool_at(b->strs, i, NULL);
	m->n_function = b->fn_map.n;
	m->function = l->fns;
	m->n_location = b->loc_map.n;
	m->location = l->locs;
	m->n_mapping = b->map_map.n;
	m->mapping = l->maps;
	m->n_sample = b->nsamples;
	m->sample = l->samples;
	m->n_string_table = ms_strpool_count(b->strs);
	m->string_table = l->strs;
	m->n_comment = b->ncomments;
	m->comment = b->comments;
}

/* The profile's own fields: sample types, period, time, comments. */
static int profile_fields(struct pprof *b, PProfile *m, PValueType *types,
			  PValueType **tp, PValueType *period)
{
	static const char *const names[NVALUES][2] = {
		{"alloc_objects", "count"},
		{"alloc_space", "bytes"},
		{"inuse_objects", "count"},
		{"inuse_space", "bytes"},
	};
	const struct ms_heap_totals *t =
		b->p->heap ? ms_heap_totals(b->p->heap) : NULL;
	unsigned long long every = 0;

	for (int i = 0; i < NVALUES; i++) {
		perftools__profiles__value_type__init(&types[i]);
		types[i].type = str(b, names[i][0]);
		types[i].unit = str(b, names[i][1]);
		tp[i] = &types[i];
	}
	perftools__profiles__value_type__init(period);
	period->type = str(b, "space");
	period->unit = str(b, "bytes");
	m->n_sample_type = NVALUES;
	m->sample_type = tp;
	m->period_type = period;
	/* every allocation (1); bytes:N: one per N bytes; tiered: none */
	if (!strcmp(b->p->sampling, "full"))
		m->period = 1;
	else if (sscanf(b->p->sampling, "bytes:%llu", &every) == 1)
		m->period = i64(every);
	m->default_sample_type = str(b, "alloc_space");
	m->time_nanos = i64(b->p->start_rt_ns);
	m->duration_nanos = t ? i64(t->last_ns - t->first_ns)
			      : i64(b->p->end_ns - b->p->start_ns);
	if (types[NVALUES - 1].unit < 0 || period->unit < 0 ||
	    m->default_sample_type < 0)
		return -ENOMEM;
	return add_comments(b);
}

static int encode(FILE *f, struct pprof *b)
{
	PProfile m = PERFTOOLS__PROFILES__PROFILE__INIT;
	PValueType types[NVALUES], *tp[NVALUES], period;
	struct links l;
	struct gz *g;
	int r = profile_fields(b, &m, types, tp, &period);

	if (r < 0 || links_alloc(b, &l) < 0)
		return -ENOMEM;
	g = calloc(1, sizeof(*g));
	if (!g || deflateInit2(&g->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
			       15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		links_free(&l);
		return -ENOMEM;
	}
	link_profile(b, &l, &m);
	g->base.append = gz_append;
	g->f = f;
	perftools__profiles__profile__pack_to_buffer(&m, &g->base);
	if (!g->err)
		gz_run(g, Z_FINISH);
	r = g->err;
	deflateEnd(&g->z);
	free(g);
	links_free(&l);
	return r ? r : ferror(f) ? -EIO : 0;
}

static void pprof_free(struct pprof *b)
{
	ms_strpool_destroy(b->strs);
	ms_xstack_fini(&b->st);
	ms_xmap_fini(&b->fn_map);
	ms_xmap_fini(&b->loc_map);
	ms_xmap_fini(&b->map_map);
	free(b->fns);
	free(b->locs);
	free(b->maps);
	free(b->lines);
	free(b->samples);
	free(b->loc_ids);
	free(b->site_at);
	free(b->site_len);
	free(b->thread_label);
}

int ms_export_pprof(FILE *f, struct ms_profile *p,
		    const struct ms_split_cell *cells, size_t ncells)
{
	struct pprof b = {.p = p};
	uint32_t empty;
	int r = -ENOMEM;

	b.site_at = calloc(p->sites.n + 1, sizeof(*b.site_at));
	b.site_len = calloc(p->sites.n + 1, sizeof(*b.site_len));
	b.thread_label = calloc(p->nthreads + 1, sizeof(*b.thread_label));
	if (b.site_at && b.site_len && b.thread_label &&
	    ms_strpool_create(&b.strs) == 0 &&
	    ms_strpool_intern(b.strs, "", 0, &empty)) /* index 0: "" */
		r = add_samples(&b, cells, ncells);
	if (r == 0)
		r = encode(f, &b);
	pprof_free(&b);
	return r;
}
