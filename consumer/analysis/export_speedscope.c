/* SPDX-License-Identifier: MIT */
/*
 * speedscope's JSON file format (export.h; the schema is
 * https://www.speedscope.app/file-format-schema.json): the frames once,
 * shared, then one "sampled" profile per thread whose samples are the
 * stacks of the sites it allocated at (indexes into the frames, root
 * first) and whose weights are their figures.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "export_map.h"
#include "grow.h"
#include "json_writer.h"
#include "strpool.h"

#define SCHEMA "https://www.speedscope.app/file-format-schema.json"

struct sframe {
	uint32_t fn, file, line;
};

struct speedscope {
	struct ms_profile *p;
	const struct ms_split_cell *cells;
	size_t ncells;
	enum ms_export_weight w;
	struct ms_strpool *names;
	struct ms_xstack st;
	struct ms_xmap map; /* (function, file, line) -> frame */
	struct sframe *frames;
	size_t frames_cap;
	/* per site: its stack, frame ids root first, in ids[at - 1 ...] */
	size_t *at;
	uint32_t *len, *ids;
	size_t nids, ids_cap;
	uint64_t *total; /* per thread */
};

static int64_t frame_id(struct speedscope *s, const struct ms_xframe *x)
{
	int fresh;
	int64_t id = ms_xmap_id(&s->map, x->fn, x->file_idx, x->line, &fresh);
	struct sframe *v;

	if (id < 0 || !fresh)
		return id;
	v = ms_grow(s->frames, &s->frames_cap, (size_t)id + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->frames = v;
	v[id] = (struct sframe){x->fn, x->file_idx, x->line};
	return id;
}

/* The site's stack as frame ids, once. */
static int site_stack(struct speedscope *s, uint32_t site)
{
	uint32_t *ids;
	int r;

	if (s->at[site])
		return 0;
	r = ms_xstack_get(s->p, s->names, site, &s->st);
	if (r < 0)
		return r;
	ids = ms_grow(s->ids, &s->ids_cap, s->nids + s->st.n, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	s->ids = ids;
	s->at[site] = s->nids + 1;
	s->len[site] = (uint32_t)s->st.n;
	for (size_t i = s->st.n; i-- > 0;) {
		int64_t id = frame_id(s, &s->st.v[i]);

		if (id < 0)
			return (int)id;
		s->ids[s->nids++] = (uint32_t)id;
	}
	return 0;
}

/* Pass 1: every stack weighed, and each thread's total. */
static int collect(struct speedscope *s)
{
	int r = 0;

	for (size_t i = 0; i < s->ncells && r == 0; i++) {
		const struct ms_split_cell *c = &s->cells[i];
		uint64_t v = ms_export_weight_of(c, s->w);

		if (!v || c->thread >= s->p->nthreads)
			continue;
		s->total[c->thread] += v;
		r = site_stack(s, c->site);
	}
	return r;
}

static void put_frames(FILE *f, const struct speedscope *s)
{
	fputs("\"shared\": {\"frames\": [", f);
	for (uint32_t i = 0; i < s->map.n; i++) {
		const struct sframe *x = &s->frames[i];

		fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
		ms_json_put_cstr(f, ms_strpool_at(s->names, x->fn, NULL));
		if (x->file != MS_XSTACK_NOFILE) {
			fputs(", \"file\": ", f);
			ms_json_put_cstr(
				f, ms_strpool_at(s->names, x->file, NULL));
		}
		if (x->line)
			fprintf(f, ", \"line\": %" PRIu32, x->line);
		fputc('}', f);
	}
	fputs("]},\n", f);
}

static void put_name(FILE *f, const struct ms_profile_thread *t)
{
	char b[160];

	if (t->name[0])
		snprintf(b, sizeof(b), "%s (pid %" PRIu32 ", tid %" PRIu32 ")",
			 t->name, t->h.pid, t->h.tid);
	else
		snprintf(b, sizeof(b), "tid %" PRIu32 " (pid %" PRIu32 ")",
			 t->h.tid, t->h.pid);
	ms_json_put_cstr(f, b);
}

/* One thread's profile: its cells are consecutive (sorted by thread). */
static void put_profile(FILE *f, const struct speedscope *s, uint32_t t)
{
	int first = 1;

	fputs("  {\"type\": \"sampled\", \"name\": ", f);
	put_name(f, &s->p->threads[t]);
	fprintf(f,
		", \"unit\": \"%s\", \"startValue\": 0, \"endValue\": %" PRIu64
		",\n   \"samples\": [",
		ms_export_weight_is_bytes(s->w) ? "bytes" : "none",
		s->total[t]);
	for (size_t i = 0; i < s->ncells; i++) {
		const struct ms_split_cell *c = &s->cells[i];

		if (c->thread != t || !ms_export_weight_of(c, s->w))
			continue;
		fputs(first ? "[" : ", [", f);
		for (uint32_t k = 0; k < s->len[c->site]; k++)
			fprintf(f, "%s%" PRIu32, k ? "," : "",
				s->ids[s->at[c->site] - 1 + k]);
		fputc(']', f);
		first = 0;
	}
	fputs("],\n   \"weights\": [", f);
	first = 1;
	for (size_t i = 0; i < s->ncells; i++) {
		const struct ms_split_cell *c = &s->cells[i];
		uint64_t v = ms_export_weight_of(c, s->w);

		if (c->thread != t || !v)
			continue;
		fprintf(f, "%s%" PRIu64, first ? "" : ", ", v);
		first = 0;
	}
	fputs("]}", f);
}

static void put_file(FILE *f, const struct speedscope *s)
{
	const struct ms_profile *p = s->p;
	char name[600];
	size_t best = 0;

	for (size_t t = 1; t < p->nthreads; t++)
		if (s->total[t] > s->total[best])
			best = t;
	snprintf(name, sizeof(name), "%s: %s%s", p->dir,
		 ms_export_weight_name(s->w),
		 p->estimated ? " (estimated from sampled allocations)" : "");
	fprintf(f, "{\"$schema\": \"%s\",\n\"exporter\": \"memscope\", ",
		SCHEMA);
	fputs("\"name\": ", f);
	ms_json_put_cstr(f, name);
	fprintf(f, ", \"activeProfileIndex\": %zu,\n", best);
	put_frames(f, s);
	fputs("\"profiles\": [\n", f);
	for (uint32_t t = 0; t < p->nthreads; t++) {
		put_profile(f, s, t);
		fputs(t + 1 < p->nthreads ? ",\n" : "\n", f);
	}
	fputs("]}\n", f);
}

int ms_export_speedscope(FILE *f, struct ms_profile *p,
			 const struct ms_split *split, enum ms_export_weight w)
{
	struct speedscope s = {.p = p, .w = w};
	int r = -ENOMEM;

	s.cells = ms_split_cells(split, &s.ncells);
	s.at = calloc(p->sites.n + 1, sizeof(*s.at));
	s.len = calloc(p->sites.n + 1, sizeof(*s.len));
	s.total = calloc(p->nthreads + 1, sizeof(*s.total));
	if (s.at && s.len && s.total && ms_strpool_create(&s.names) == 0)
		r = collect(&s);
	if (r == 0) {
		put_file(f, &s);
		r = ferror(f) ? -EIO : 0;
	}
	ms_strpool_destroy(s.names);
	ms_xstack_fini(&s.st);
	ms_xmap_fini(&s.map);
	free(s.frames);
	free(s.at);
	free(s.len);
	free(s.ids);
	free(s.total);
	return r;
}
