/* SPDX-License-Identifier: MIT */
/*
 * The HTML report of report_html.h: the figures as one JSON object
 * (one function per member, as report_json.c writes its own), gzipped
 * and in base64, in the page web/report.html with the assets inlined.
 *
 * The JSON is columnar (one array per field, not one object per row):
 * a 150-thread run has some 10^5 (site, thread, slice) records, and
 * columns of similar numbers are what gzip packs best and what the page
 * reads fastest.
 */
#include "report_html.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "atomics.h"
#include "export_map.h"
#include "grow.h"
#include "json_writer.h"
#include "report.h"
#include "strpool.h"

const char *const ms_html_assets[] = {
	"report.html", "vendor.css",   "report.css", "vendor.js",
	"report.js",   "LICENSES.txt", NULL,
};

#define OTHER UINT32_MAX /* a site kept with the "other sites" */

/* One (site, thread) as the page gets it. */
struct ocell {
	uint32_t site, thread; /* site: index in the page's sites */
	uint64_t live0;
	const struct ms_slice_rec *v;
	uint32_t n;
};

#define NONE UINT32_MAX /* a frame without a file or a module */

/* A frame as the page names it, once: its strings as pool indexes. */
struct oframe {
	uint32_t function, file, module; /* file, module: or NONE */
	uint32_t line;
};

struct hout {
	FILE *f;
	struct ms_profile *p;
	struct ms_slices *s;
	uint32_t *site_out; /* profile site id -> page index, or OTHER */
	uint32_t *kept;	    /* page index -> profile site id */
	uint32_t nkept;
	int has_other;
	struct ocell *cells;
	size_t ncells;
	uint32_t *cell_out;	     /* slices' cell index -> page cell index */
	struct ms_slice_rec *merged; /* the "other sites" records */
	struct ms_strpool *names;    /* the frames' strings */
	struct ms_xmap fmap;	     /* a frame's strings and line -> index */
	struct oframe *frames;
	size_t nframes, cap_frames;
	uint32_t *sframes; /* the frames of the site being written */
	size_t nsframes, cap_sframes;
	int err;
};

/* ---- numbers ---- */

/* Counts as the page adds them: whole calls in `full` mode, else Q16. */
static uint64_t cnt(const struct hout *w, uint64_t q16)
{
	return w->p->estimated ? q16 : q16 >> 16;
}

static uint64_t rel(const struct ms_profile *p, uint64_t ns)
{
	return ns > p->start_ns ? ns - p->start_ns : 0;
}

/* ---- what the page gets ---- */

static int cmp_rank(const void *x, const void *y)
{
	const uint64_t *a = x, *b = y;

	return *a < *b ? -1 : *a > *b;
}

/*
 * The sites kept apart, best first: every site when keep covers them,
 * else those ranking best in any table (peak, leaks, calls, bytes,
 * temporaries), up to keep.
 */
static int choose_sites(struct hout *w, uint32_t keep)
{
	static const ms_site_key keys[] = {ms_key_peak, ms_key_leaked,
					   ms_key_calls, ms_key_bytes,
					   ms_key_temporary};
	uint32_t n = w->p->sites.n, *ids = malloc((n + 1) * sizeof(*ids));
	uint64_t *best = malloc((n + 1) * sizeof(*best));

	if (!ids || !best) {
		free(ids);
		free(best);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		best[i] = (uint64_t)UINT32_MAX << 32 | i;
	for (size_t k = 0; keep < n && k < MS_ARRAY_SIZE(keys); k++) {
		size_t got = ms_report_top(w->p, keys[k], ids, keep);

		for (size_t r = 0; r < got; r++)
			if (best[ids[r]] >> 32 > r)
				best[ids[r]] = (uint64_t)r << 32 | ids[r];
	}
	qsort(best, n, sizeof(*best), cmp_rank);
	w->nkept = 0;
	for (uint32_t i = 0; i < n; i++)
		w->site_out[i] = OTHER;
	for (uint32_t i = 0; i < n && w->nkept < keep; i++) {
		uint32_t id = (uint32_t)best[i];

		w->site_out[id] = w->nkept;
		w->kept[w->nkept++] = id;
	}
	free(ids);
	free(best);
	return 0;
}

/* The "other sites" cell of one thread: its members' records summed
 * slice by slice; a member without a record in a slice adds its level. */
static uint32_t merge_others(struct hout *w, const uint32_t *members, size_t n,
			     struct ms_slice_rec *out, uint64_t *live0)
{
	uint32_t ns = ms_slices_n(w->s), m = 0;
	uint8_t *present = calloc(ns ? ns : 1, 1);

	*live0 = 0;
	if (!present)
		return w->err = -ENOMEM, 0;
	memset(out, 0, ns * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct ms_slice_cell *c = &w->s->cells[members[i]];

		*live0 += c->live0;
		for (uint32_t k = 0; k < c->n; k++)
			present[c->v[k].slice] = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ms_slice_cell *c = &w->s->cells[members[i]];
		uint64_t level = c->live0;
		uint32_t k = 0;

		for (uint32_t sl = 0; sl < ns; sl++) {
			struct ms_slice_rec *o = &out[sl];
			const struct ms_slice_rec *r =
				k < c->n && c->v[k].slice == sl ? &c->v[k++]
								: NULL;

			if (!present[sl])
				continue;
			if (!r) {
				o->live += level;
				o->gpk += level;
				o->tpk += level;
				continue;
			}
			o->allocs_q16 += r->allocs_q16;
			o->bytes += r->bytes;
			o->frees_q16 += r->frees_q16;
			o->freed += r->freed;
			o->temp_q16 += r->temp_q16;
			o->kept_q16 += r->kept_q16;
			o->kept += r->kept;
			o->live += r->live;
			o->gpk += r->gpk;
			o->tpk += r->tpk;
			level = r->live;
		}
	}
	for (uint32_t sl = 0; sl < ns; sl++)
		if (present[sl]) {
			out[m] = out[sl];
			out[m++].slice = sl;
		}
	free(present);
	return m;
}

static int cmp_cell_thread(const void *x, const void *y, void *arg)
{
	const struct ms_slices *s = arg;
	uint32_t a = s->cells[*(const uint32_t *)x].thread;
	uint32_t b = s->cells[*(const uint32_t *)y].thread;

	return a < b ? -1 : a > b;
}

/* The page's cells: each kept site's own, one "other sites" per thread. */
static int build_cells(struct hout *w)
{
	const struct ms_slices *s = w->s;
	uint32_t ns = ms_slices_n(s), *others;
	size_t no = 0, nm = 0;

	w->cells = calloc(s->ncells + 1, sizeof(*w->cells));
	w->cell_out = malloc((s->ncells + 1) * sizeof(*w->cell_out));
	others = malloc((s->ncells + 1) * sizeof(*others));
	if (!w->cells || !w->cell_out || !others) {
		free(others);
		return -ENOMEM;
	}
	w->ncells = 0;
	for (size_t i = 0; i < s->ncells; i++) {
		const struct ms_slice_cell *c = &s->cells[i];
		uint32_t site =
			c->site < w->p->sites.n ? w->site_out[c->site] : OTHER;

		if (site == OTHER) {
			others[no++] = (uint32_t)i;
			continue;
		}
		w->cell_out[i] = (uint32_t)w->ncells;
		w->cells[w->ncells++] =
			(struct ocell){site, c->thread, c->live0, c->v, c->n};
	}
	qsort_r(others, no, sizeof(*others), cmp_cell_thread, (void *)s);
	w->has_other = no > 0;
	w->merged = calloc(no * (size_t)(ns ? ns : 1) + 1, sizeof(*w->merged));
	if (!w->merged) {
		free(others);
		return -ENOMEM;
	}
	for (size_t i = 0; i < no;) {
		size_t j = i;
		struct ocell *o = &w->cells[w->ncells++];

		while (j < no &&
		       s->cells[others[j]].thread == s->cells[others[i]].thread)
			w->cell_out[others[j++]] = (uint32_t)(o - w->cells);
		o->site = w->nkept;
		o->thread = s->cells[others[i]].thread;
		o->v = w->merged + nm;
		o->n = merge_others(w, others + i, j - i, w->merged + nm,
				    &o->live0);
		nm += o->n;
		i = j;
	}
	free(others);
	return w->err;
}

/* ---- frames ---- */

/* The pool index of s (NONE for NULL), or -ENOMEM. */
static int64_t name_of(struct hout *w, const char *s)
{
	uint32_t i;

	if (!s)
		return NONE;
	if (!ms_strpool_intern(w->names, s, strlen(s), &i))
		return -ENOMEM;
	return i;
}

/* The index of frame f, added if new; -1 when out of memory. */
static long frame_index(struct hout *w, const struct ms_pframe *f)
{
	/* room first: the map must not number a frame that is not there */
	struct oframe *v =
		ms_grow(w->frames, &w->cap_frames, w->nframes + 1, sizeof(*v));
	int64_t fn = name_of(w, f->function), file = name_of(w, f->file);
	int64_t mod = name_of(w, f->module), i;
	int fresh;

	if (!v || fn < 0 || file < 0 || mod < 0)
		return -1;
	w->frames = v;
	i = ms_xmap_id(&w->fmap, (uint64_t)fn,
		       (uint64_t)file << 32 | (uint64_t)mod, f->line, &fresh);
	if (i < 0)
		return -1;
	if (fresh)
		w->frames[w->nframes++] = (struct oframe){
			(uint32_t)fn, (uint32_t)file, (uint32_t)mod, f->line};
	return (long)i;
}

static int site_frame_cb(const struct ms_pframe *f, void *arg)
{
	struct hout *w = arg;
	long k = frame_index(w, f);

	if (k < 0)
		return w->err = -ENOMEM;
	uint32_t *v = ms_grow(w->sframes, &w->cap_sframes, w->nsframes + 1,
			      sizeof(*v));

	if (!v)
		return w->err = -ENOMEM;
	w->sframes = v;
	w->sframes[w->nsframes++] = (uint32_t)k;
	return 0;
}

/* ---- the JSON ---- */

static void data_session(struct hout *w)
{
	const struct ms_profile *p = w->p;

	fprintf(w->f, "{\"version\": 1, \"count_unit\": %u, ",
		p->estimated ? 65536u : 1u);
	ms_report_json_session(w->f, p);
	fputs(",\n", w->f);
}

/* The report's totals, and its findings' counts. */
static void data_totals(struct hout *w)
{
	const struct ms_heap_totals *t = ms_heap_totals(w->p->heap);

	fputs("\"totals\": {", w->f);
	ms_report_json_totals(w->f, w->p);
	fprintf(w->f,
		", \"double_frees\": %" PRIu64 ", \"unknown_frees\": %" PRIu64
		"},\n",
		t->double_frees, t->unknown_frees);
}

static void put_array(FILE *f, const char *key, const uint64_t *v, size_t n,
		      int comma)
{
	fprintf(f, "\"%s\": [", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", v[i]);
	fprintf(f, "]%s", comma ? ", " : "");
}

static void data_slices(struct hout *w)
{
	const struct ms_slices *s = w->s;
	uint32_t n = ms_slices_n(s);
	FILE *f = w->f;
	int first = 1;

	fprintf(f, "\"slices\": {\"n\": %" PRIu32 ", ", n);
	ms_report_json_u(f, "origin_ns", s->started ? rel(w->p, s->origin) : 0,
			 1);
	ms_report_json_u(f, "width_ns", s->width, 1);
	ms_report_json_u(f, "live0", s->live0, 1);
	put_array(f, "peak", s->peak, n, 1);
	/* allocations by size class: [slice, class, count, bytes] */
	fputs("\"sizes\": [", f);
	for (uint32_t k = 0; k < n; k++)
		for (unsigned c = 0; c < MS_HEAP_SIZE_CLASSES; c++) {
			if (!s->size_q16[k][c])
				continue;
			fprintf(f, "%s%" PRIu32 ",%u,%" PRIu64 ",%" PRIu64,
				first ? "" : ",", k, c,
				cnt(w, s->size_q16[k][c]), s->size_bytes[k][c]);
			first = 0;
		}
	fputs("]},\n", f);
}

/* One string member of every frame (at `off` in struct oframe). */
static void frame_strings(struct hout *w, const char *key, size_t off)
{
	fprintf(w->f, "\"%s\": [", key);
	for (size_t i = 0; i < w->nframes; i++) {
		uint32_t v;

		memcpy(&v, (const char *)&w->frames[i] + off, sizeof(v));
		fputs(i ? "," : "", w->f);
		if (v != NONE)
			ms_json_put_cstr(w->f,
					 ms_strpool_at(w->names, v, NULL));
		else
			fputs("null", w->f);
	}
	fputs("], ", w->f);
}

static void data_frames(struct hout *w)
{
	fputs("\"frames\": {", w->f);
	frame_strings(w, "function", offsetof(struct oframe, function));
	frame_strings(w, "file", offsetof(struct oframe, file));
	frame_strings(w, "module", offsetof(struct oframe, module));
	fputs("\"line\": [", w->f);
	for (size_t i = 0; i < w->nframes; i++)
		fprintf(w->f, "%s%" PRIu32, i ? "," : "", w->frames[i].line);
	fputs("]},\n", w->f);
}

static void data_site(struct hout *w, uint32_t id)
{
	struct ms_pframe label;
	FILE *f = w->f;
	int at;

	w->nsframes = 0;
	ms_profile_frames(w->p, id, site_frame_cb, w);
	at = ms_profile_label(w->p, id, &label);
	fputs("\n{", f);
	ms_report_json_site(f, w->p, id);
	fprintf(f, ", \"label\": %d, \"frames\": [", at);
	for (size_t i = 0; i < w->nsframes; i++)
		fprintf(f, "%s%" PRIu32, i ? "," : "", w->sframes[i]);
	fputs("]}", f);
}

static void data_sites(struct hout *w)
{
	fputs("\"sites\": [", w->f);
	for (uint32_t i = 0; i < w->nkept && !w->err; i++) {
		data_site(w, w->kept[i]);
		fputs(i + 1 < w->nkept || w->has_other ? "," : "", w->f);
	}
	if (w->has_other)
		fputs("\n{\"id\": null, \"other\": true, \"frames\": [], "
		      "\"label\": -1}",
		      w->f);
	fputs("],\n", w->f);
}

static void data_threads(struct hout *w)
{
	uint32_t n = ms_slices_n(w->s);
	FILE *f = w->f;

	fputs("\"threads\": [", f);
	for (size_t i = 0; i < w->p->nthreads; i++) {
		const struct ms_profile_thread *t = &w->p->threads[i];
		const struct ms_slice_thread *st =
			i < w->s->nthreads ? w->s->threads[i] : NULL;
		static const uint64_t none[MS_SLICES_MAX];

		fprintf(f, "%s\n{", i ? "," : "");
		ms_report_json_thread(f, t);
		fputs(", ", f);
		ms_report_json_u(f, "live0", st ? st->live0 : 0, 1);
		put_array(f, "peak", st ? st->peak : none, n, 0);
		fputc('}', f);
	}
	fputs("],\n", f);
}

/* One column of every record, cell after cell. */
static void rec_column(struct hout *w, const char *key, size_t off, int q16)
{
	FILE *f = w->f;
	int first = 1;

	fprintf(f, "\"%s\": [", key);
	for (size_t i = 0; i < w->ncells; i++)
		for (uint32_t k = 0; k < w->cells[i].n; k++) {
			uint64_t v;

			memcpy(&v, (const char *)&w->cells[i].v[k] + off,
			       sizeof(v));
			fprintf(f, "%s%" PRIu64, first ? "" : ",",
				q16 ? cnt(w, v) : v);
			first = 0;
		}
	fputs("]", f);
}

/* One member of every page cell: 0 site, 1 thread, 2 live0, 3 nrec;
 * after a comma unless it is the first. */
static void cell_column(struct hout *w, const char *key, int which)
{
	fprintf(w->f, "%s\"%s\": [", which ? ", " : "", key);
	for (size_t i = 0; i < w->ncells; i++) {
		const struct ocell *c = &w->cells[i];
		uint64_t v = which == 0	  ? c->site
			     : which == 1 ? c->thread
			     : which == 2 ? c->live0
					  : c->n;

		fprintf(w->f, "%s%" PRIu64, i ? "," : "", v);
	}
	fputs("]", w->f);
}

static void data_cells(struct hout *w)
{
	static const struct {
		const char *key;
		size_t off;
		int q16;
	} cols[] = {
		{"allocs", offsetof(struct ms_slice_rec, allocs_q16), 1},
		{"bytes", offsetof(struct ms_slice_rec, bytes), 0},
		{"frees", offsetof(struct ms_slice_rec, frees_q16), 1},
		{"freed", offsetof(struct ms_slice_rec, freed), 0},
		{"temp", offsetof(struct ms_slice_rec, temp_q16), 1},
		{"kept_n", offsetof(struct ms_slice_rec, kept_q16), 1},
		{"kept", offsetof(struct ms_slice_rec, kept), 0},
		{"live", offsetof(struct ms_slice_rec, live), 0},
		{"gpk", offsetof(struct ms_slice_rec, gpk), 0},
		{"tpk", offsetof(struct ms_slice_rec, tpk), 0},
	};
	FILE *f = w->f;
	int first = 1;

	fputs("\"cells\": {", f);
	cell_column(w, "site", 0);
	cell_column(w, "thread", 1);
	cell_column(w, "live0", 2);
	cell_column(w, "nrec", 3);
	fputs("},\n\"recs\": {\"slice\": [", f);
	for (size_t i = 0; i < w->ncells; i++)
		for (uint32_t k = 0; k < w->cells[i].n; k++) {
			fprintf(f, "%s%" PRIu32, first ? "" : ",",
				w->cells[i].v[k].slice);
			first = 0;
		}
	fputs("]", f);
	for (size_t c = 0; c < MS_ARRAY_SIZE(cols); c++) {
		fputs(", ", f);
		rec_column(w, cols[c].key, cols[c].off, cols[c].q16);
	}
	fputs("},\n", f);
}

/* Temporaries across slices: [cell, from, to, count] */
static void data_xtemps(struct hout *w)
{
	FILE *f = w->f;

	fputs("\"xtemps\": [", f);
	for (size_t i = 0; i < w->s->nxt; i++) {
		const struct ms_slice_xtemp *x = &w->s->xt[i];

		fprintf(f, "%s%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu64,
			i ? "," : "", w->cell_out[x->cell], x->from, x->to,
			cnt(w, x->q16));
	}
	fputs("]}\n", f);
}

static void hout_reset(struct hout *w)
{
	free(w->cells);
	free(w->merged);
	free(w->cell_out);
	w->cell_out = NULL;
	w->cells = NULL;
	w->merged = NULL;
	w->ncells = 0;
}

static void hout_free(struct hout *w)
{
	hout_reset(w);
	ms_strpool_destroy(w->names);
	ms_xmap_fini(&w->fmap);
	free(w->frames);
	free(w->sframes);
	free(w->site_out);
	free(w->kept);
}

/* The figures as JSON into *buf. 0 or -errno. */
static int write_data(struct hout *w, uint32_t keep, char **buf, size_t *len)
{
	int r;

	*buf = NULL;
	hout_reset(w);
	r = choose_sites(w, keep);
	if (!r)
		r = build_cells(w);
	if (r)
		return r;
	w->f = open_memstream(buf, len);
	if (!w->f)
		return -errno;
	data_session(w);
	data_totals(w);
	data_slices(w);
	data_threads(w);
	data_sites(w);
	data_frames(w);
	data_cells(w);
	data_xtemps(w);
	r = ferror(w->f) ? -EIO : w->err;
	if (fclose(w->f) != 0 && !r)
		r = -errno;
	w->f = NULL;
	return r;
}

/* ---- gzip, base64 ---- */

static int gzip(const char *in, size_t n, unsigned char **out, size_t *len)
{
	z_stream z = {0};
	uLong cap = compressBound((uLong)n) + 64;
	int r;

	*out = malloc(cap);
	if (!*out)
		return -ENOMEM;
	/* windowBits 15 + 16: a gzip header, which DecompressionStream
	 * ("gzip") reads */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = *out;
	z.avail_out = (uInt)cap;
	r = deflate(&z, Z_FINISH);
	*len = z.total_out;
	deflateEnd(&z);
	return r == Z_STREAM_END ? 0 : -EIO;
}

static void put_base64(FILE *f, const unsigned char *v, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
				  "stuvwxyz0123456789+/";
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t x = (uint32_t)v[i] << 16;

		x |= i + 1 < n ? (uint32_t)v[i + 1] << 8 : 0;
		x |= i + 2 < n ? v[i + 2] : 0;
		q[0] = abc[x >> 18];
		q[1] = abc[(x >> 12) & 63];
		q[2] = i + 1 < n ? abc[(x >> 6) & 63] : '=';
		q[3] = i + 2 < n ? abc[x & 63] : '=';
		fwrite(q, 1, 4, f);
		if ((i / 3 + 1) % 19 == 0) /* 76 columns */
			fputc('\n', f);
	}
}

/* ---- the page ---- */

static int read_file(const char *dir, const char *name, char **buf, size_t *len)
{
	char path[4200];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -EIO;
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*buf, 1, (size_t)n, f);
	(*buf)[*len] = 0;
	fclose(f);
	return *len == (size_t)n ? 0 : -EIO;
}

int ms_report_html_check(const char *web_dir, const char **missing)
{
	char path[4200];

	for (size_t i = 0; ms_html_assets[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", web_dir,
			 ms_html_assets[i]);
		if (access(path, R_OK) != 0) {
			*missing = ms_html_assets[i];
			return -ENOENT;
		}
	}
	return 0;
}

/* Text inside an element that ends at "</" + its name: never closes it
 * early (scripts and style sheets hold no such text; this keeps it so). */
static void put_raw(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '<' && i + 1 < n && s[i + 1] == '/' &&
		    (!strncasecmp(s + i + 2, "script", 6) ||
		     !strncasecmp(s + i + 2, "style", 5))) {
			fputs("<\\/", f);
			i++;
			continue;
		}
		fputc(s[i], f);
	}
}

static void put_html_text(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		default:
			fputc(*s, f);
		}
}

struct page {
	const char *dir;
	const unsigned char *z;
	size_t zlen;
	const char *archive;
};

/* What marker `<!--MS:name-->` of web/report.html stands for. */
static int put_marker(FILE *f, const struct page *pg, const char *name,
		      size_t n)
{
	static const struct {
		const char *marker, *file;
	} inline_files[] = {
		{"VENDOR_CSS", "vendor.css"}, {"REPORT_CSS", "report.css"},
		{"VENDOR_JS", "vendor.js"},   {"REPORT_JS", "report.js"},
		{"LICENSES", "LICENSES.txt"},
	};
	char *buf;
	size_t len;
	int r;

	if (n == 5 && !strncmp(name, "TITLE", 5)) {
		put_html_text(f, pg->archive);
		return 0;
	}
	if (n == 4 && !strncmp(name, "DATA", 4)) {
		put_base64(f, pg->z, pg->zlen);
		return 0;
	}
	for (size_t i = 0; i < MS_ARRAY_SIZE(inline_files); i++) {
		if (strlen(inline_files[i].marker) != n ||
		    strncmp(name, inline_files[i].marker, n))
			continue;
		r = read_file(pg->dir, inline_files[i].file, &buf, &len);
		if (r)
			return r;
		put_raw(f, buf, len);
		free(buf);
		return 0;
	}
	return -EINVAL;
}

static int write_page(FILE *f, const struct page *pg)
{
	char *tpl, *at, *end;
	size_t len;
	int r = read_file(pg->dir, "report.html", &tpl, &len);

	for (at = tpl; !r && (end = strstr(at, "<!--MS:"));) {
		char *name = end + 7, *close = strstr(name, "-->");

		if (!close) {
			r = -EINVAL;
			break;
		}
		fwrite(at, 1, (size_t)(end - at), f);
		r = put_marker(f, pg, name, (size_t)(close - name));
		at = close + 3;
	}
	if (!r)
		fputs(at, f);
	if (tpl)
		free(tpl);
	return r ? r : ferror(f) ? -EIO : 0;
}

static size_t assets_size(const char *dir)
{
	size_t total = 0;

	for (size_t i = 0; ms_html_assets[i]; i++) {
		char *buf;
		size_t len;

		if (read_file(dir, ms_html_assets[i], &buf, &len) == 0) {
			total += len;
			free(buf);
		}
	}
	return total;
}

/* The page's bytes other than its data: the template, what it inlines and
 * the title, as write_page() writes them (the assets' sizes and a guess
 * for the rest let a page that fitted be cut, or one that did not pass). */
static size_t page_size(const struct page *pg)
{
	struct page empty = *pg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	empty.z = NULL;
	empty.zlen = 0;
	if (f && write_page(f, &empty) < 0)
		len = 0;
	if (f)
		fclose(f);
	free(buf);
	return len ? len : assets_size(pg->dir) + 4096;
}

/*
 * The figures gzipped, within the budget: every site apart first, then
 * fewer (the best of each table), then coarser slices.
 */
static int fit(struct hout *w, const struct ms_html_opts *o, size_t fixed,
	       unsigned char **z, size_t *zlen)
{
	size_t room = o->budget > fixed ? o->budget - fixed : 0;
	uint32_t keep = w->p->sites.n;
	int r;

	for (;;) {
		char *json;
		size_t len;

		r = write_data(w, keep, &json, &len);
		if (!r)
			r = gzip(json, len, z, zlen);
		free(json);
		/* base64: 4 characters for 3 bytes, a newline after 76 */
		if (r || (*zlen + 2) / 3 * 4 + (*zlen + 2) / 3 / 19 <= room)
			return r;
		if (keep > 200 && w->s->ncells > 4 * w->p->nthreads) {
			keep = keep / 4 > 200 ? keep / 4 : 200;
		} else if (ms_slices_n(w->s) > 32) {
			ms_slices_halve(w->s);
		} else if (keep > 20) {
			keep /= 4;
		} else {
			/* as small as it goes: over the budget, said once */
			if (!o->quiet)
				fprintf(stderr,
					"memscope report: the page stays over "
					"%zu bytes: its scripts and the "
					"threads' own figures need more\n",
					o->budget);
			return 0;
		}
		free(*z);
		*z = NULL;
		if (!o->quiet)
			fprintf(stderr,
				"memscope report: the page would pass %zu "
				"bytes: %" PRIu32 " sites apart, %" PRIu32
				" slices\n",
				o->budget, keep, ms_slices_n(w->s));
	}
}

int ms_report_html(FILE *f, struct ms_profile *p, struct ms_slices *s,
		   const struct ms_html_opts *o)
{
	struct hout w = {.p = p, .s = s};
	struct page pg = {o->web_dir, NULL, 0, p->dir};
	unsigned char *z = NULL;
	int r = -ENOMEM;

	w.site_out = malloc((p->sites.n + 1) * sizeof(*w.site_out));
	w.kept = malloc((p->sites.n + 1) * sizeof(*w.kept));
	if (w.site_out && w.kept && ms_strpool_create(&w.names) == 0)
		r = fit(&w, o, page_size(&pg), &z, &pg.zlen);
	pg.z = z;
	if (!r)
		r = write_page(f, &pg);
	free(z);
	hout_free(&w);
	return r;
}
