/* SPDX-License-Identifier: MIT */
/*
 * The text report: one function per section, named after the section the
 * reader sees, in the order they appear. Figures from sampled events get a
 * leading "~" (estimates); exact ones none.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

struct out {
	FILE *f;
	struct ms_profile *p;
	const struct ms_report_opts *o;
	const struct ms_heap_totals *t;
	const char *est; /* "~" or "" */
};

/* ---- formatting ---- */

static const char *fmt_bytes(char *b, size_t n, uint64_t v)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(b, n, "%" PRIu64 " B", v);
	else
		snprintf(b, n, "%.*f %s",
			 d < 10	   ? 2
			 : d < 100 ? 1
				   : 0,
			 d, unit[u]);
	return b;
}

/* 1234567 -> "1,234,567" */
static const char *fmt_count(char *b, size_t n, uint64_t v)
{
	char d[32];
	int len = snprintf(d, sizeof(d), "%" PRIu64, v), o = 0;

	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			b[o++] = ',';
		b[o++] = d[i];
	}
	b[o] = 0;
	return b;
}

static const char *fmt_dur(char *b, size_t n, uint64_t ns)
{
	if (ns < 1000)
		snprintf(b, n, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(b, n, "%.1f us", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(b, n, "%.1f ms", ns / 1e6);
	else
		snprintf(b, n, "%.2f s", ns / 1e9);
	return b;
}

/* A time of the run: seconds from its first event. */
static const char *fmt_at(char *b, size_t n, const struct ms_profile *p,
			  uint64_t ns)
{
	snprintf(b, n, "%.3f s",
		 ns > p->start_ns ? (ns - p->start_ns) / 1e9 : 0.0);
	return b;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* ---- sites ---- */

/* "function (file:line)" or "function (module)" */
static void put_frame(FILE *f, const struct ms_pframe *fr)
{
	const char *file = fr->file ? strrchr(fr->file, '/') : NULL;

	fputs(fr->function, f);
	if (fr->file)
		fprintf(f, "  %s:%u", file ? file + 1 : fr->file, fr->line);
	else if (fr->module && !strchr(fr->function, '+'))
		fprintf(f, "  [%s]", fr->module);
}

struct callers {
	FILE *f;
	int skip, shown, max;
};

static int caller_cb(const struct ms_pframe *fr, void *arg)
{
	struct callers *c = arg;

	if (c->skip-- > 0)
		return 0;
	fputs(c->shown ? "\n         <- " : "         <- ", c->f);
	put_frame(c->f, fr);
	return ++c->shown == c->max;
}

/* The site's label, then up to `callers` frames that called it. */
static void put_site(struct out *w, uint32_t id, int callers)
{
	struct ms_pframe fr;
	int at = ms_profile_label(w->p, id, &fr);

	if (at < 0) {
		fputs("(no stack recorded)\n", w->f);
		return;
	}
	put_frame(w->f, &fr);
	fputc('\n', w->f);
	if (callers > 0) {
		struct callers c = {w->f, at + 1, 0, callers};

		ms_profile_frames(w->p, id, caller_cb, &c);
		if (c.shown)
			fputc('\n', w->f);
	}
}

/* ---- sections ---- */

static void section_recorded(struct out *w)
{
	const struct ms_profile *p = w->p;
	char b1[32], b2[64];
	time_t t = (time_t)(p->start_rt_ns / 1000000000ull);
	struct tm tm;

	fprintf(w->f, "memscope report: %s\n", p->dir);
	fprintf(w->f, "recorded:  %u process%s, %zu thread%s, %s", p->processes,
		p->processes == 1 ? "" : "es", p->nthreads,
		p->nthreads == 1 ? "" : "s",
		fmt_dur(b1, sizeof(b1), p->end_ns - p->start_ns));
	if (p->start_rt_ns && gmtime_r(&t, &tm)) {
		strftime(b2, sizeof(b2), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(w->f, ", from %s", b2);
	}
	fputc('\n', w->f);
	if (!p->estimated)
		fprintf(w->f, "figures:   exact (sampling %s)\n",
			p->sampling[0] ? p->sampling : "full");
	else
		fprintf(w->f,
			"figures:   estimated from sampled events (sampling "
			"%s): marked ~\n",
			p->sampling[0] ? p->sampling : "unknown");
	if (p->o.from_ns || p->o.to_ns != MS_PROFILE_END) {
		fprintf(w->f, "window:    %.3f s to ", p->o.from_ns / 1e9);
		if (p->o.to_ns == MS_PROFILE_END)
			fputs("the end\n", w->f);
		else
			fprintf(w->f, "%.3f s\n", p->o.to_ns / 1e9);
	}
	if (p->o.pid)
		fprintf(w->f, "process:   %" PRIu32 "\n", p->o.pid);
	if (p->o.tid)
		fprintf(w->f,
			"thread:    %" PRIu32
			" (its allocations, wherever they were freed)\n",
			p->o.tid);
	if (p->archive_errors)
		fprintf(w->f,
			"damage:    %zu problem%s in the archive (listed on "
			"stderr): figures cover what could be read\n",
			p->archive_errors, p->archive_errors == 1 ? "" : "s");
}

static void section_summary(struct out *w)
{
	const struct ms_heap_totals *t = w->t;
	char a[32], b[32], c[32];

	fprintf(w->f, "\nSUMMARY\n");
	fprintf(w->f, "  allocations     %s%s, %s%s allocated", w->est,
		fmt_count(a, sizeof(a), ms_q16_count(t->allocs_q16)), w->est,
		fmt_bytes(b, sizeof(b), t->bytes));
	if (t->realloc_q16)
		fprintf(w->f, " (%s%s by realloc)", w->est,
			fmt_count(c, sizeof(c), ms_q16_count(t->realloc_q16)));
	fprintf(w->f, "\n  frees           %s%s, %s%s\n", w->est,
		fmt_count(a, sizeof(a), ms_q16_count(t->frees_q16)), w->est,
		fmt_bytes(b, sizeof(b), t->freed_bytes));
	fprintf(w->f,
		"  temporary       %s%s (%.1f%% of allocations: freed "
		"before the thread's next call)\n",
		w->est, fmt_count(a, sizeof(a), ms_q16_count(t->temp_q16)),
		pct(t->temp_q16, t->allocs_q16));
	fprintf(w->f, "  peak heap       %s%s at %s\n", w->est,
		fmt_bytes(a, sizeof(a), t->peak),
		fmt_at(b, sizeof(b), w->p, t->peak_ns));
	fprintf(w->f,
		"  leaked          %s%s in %s%s blocks (live at the end)\n",
		w->est, fmt_bytes(a, sizeof(a), t->leaked), w->est,
		fmt_count(b, sizeof(b), ms_q16_count(t->leaked_q16)));
	if (t->lost)
		fprintf(w->f,
			"  lost events     %s: the agent could not record them;"
			" allocations and frees\n                  may be up "
			"to "
			"that many more, live and leaked bytes are bounds\n",
			fmt_count(a, sizeof(a), t->lost));
	if (t->unknown_frees || t->double_frees)
		fprintf(w->f,
			"  findings        %" PRIu64 " double free%s, %" PRIu64
			" free%s of unknown blocks (below)\n",
			t->double_frees, t->double_frees == 1 ? "" : "s",
			t->unknown_frees, t->unknown_frees == 1 ? "" : "s");
}

/* Sites ranked by `key`, each with `callers` frames below its label. */
static void site_table(struct out *w, const char *title, ms_site_key key,
		       int callers,
		       void (*cols)(struct out *w, const struct ms_site *s))
{
	uint32_t ids[256];
	size_t n = ms_report_top(w->p, key, ids,
				 w->o->top < 256 ? w->o->top : 256);

	fprintf(w->f, "\n%s\n", title);
	if (n == 0) {
		fputs("  (none)\n", w->f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fprintf(w->f, "%3zu ", i + 1);
		cols(w, ms_sites_get(&w->p->sites, ids[i]));
		put_site(w, ids[i], callers);
	}
}

static void cols_peak(struct out *w, const struct ms_site *s)
{
	char a[32], b[32];

	fprintf(w->f, "%s%10s %5.1f%%  %s%9s blocks  ", w->est,
		fmt_bytes(a, sizeof(a), s->peak), pct(s->peak, w->t->peak),
		w->est, fmt_count(b, sizeof(b), ms_q16_count(s->peak_q16)));
}

static void cols_leaked(struct out *w, const struct ms_site *s)
{
	char a[32], b[32];

	fprintf(w->f, "%s%10s in %s%9s blocks  ", w->est,
		fmt_bytes(a, sizeof(a), s->leaked), w->est,
		fmt_count(b, sizeof(b), ms_q16_count(s->leaked_q16)));
}

static void cols_calls(struct out *w, const struct ms_site *s)
{
	char a[32], b[32];

	fprintf(w->f, "%s%12s calls %s%10s  ", w->est,
		fmt_count(a, sizeof(a), ms_q16_count(s->allocs_q16)), w->est,
		fmt_bytes(b, sizeof(b), s->bytes));
}

static void cols_bytes(struct out *w, const struct ms_site *s)
{
	char a[32], b[32];

	fprintf(w->f, "%s%10s in %s%12s calls  ", w->est,
		fmt_bytes(a, sizeof(a), s->bytes), w->est,
		fmt_count(b, sizeof(b), ms_q16_count(s->allocs_q16)));
}

static void cols_temporary(struct out *w, const struct ms_site *s)
{
	char a[32];

	fprintf(w->f, "%s%12s temporary (%5.1f%% of its calls)  ", w->est,
		fmt_count(a, sizeof(a), ms_q16_count(s->temp_q16)),
		pct(s->temp_q16, s->allocs_q16));
}

static void cols_lifetime(struct out *w, const struct ms_site *s)
{
	char a[32], b[32], c[32];

	fprintf(w->f, "%10s %10s  %s%12s freed  ",
		fmt_dur(a, sizeof(a), ms_lifetime_percentile(s->life, 0.5)),
		fmt_dur(b, sizeof(b), ms_lifetime_percentile(s->life, 0.99)),
		w->est,
		fmt_count(c, sizeof(c),
			  ms_q16_count(s->life ? s->life->total_q16 : 0)));
}

static uint64_t key_freed(const struct ms_site *s)
{
	return s->life ? s->life->total_q16 : 0;
}

static void section_peak(struct out *w)
{
	char a[32], b[32], title[128];

	snprintf(title, sizeof(title),
		 "PEAK HEAP: %s%s at %s, the stacks holding it", w->est,
		 fmt_bytes(a, sizeof(a), w->t->peak),
		 fmt_at(b, sizeof(b), w->p, w->t->peak_ns));
	site_table(w, title, ms_key_peak, 2, cols_peak);
}

static void section_leaks(struct out *w)
{
	char a[32], title[128];

	snprintf(title, sizeof(title), "LEAKS: %s%s never freed, by stack",
		 w->est, fmt_bytes(a, sizeof(a), w->t->leaked));
	site_table(w, title, ms_key_leaked, 2, cols_leaked);
}

static void section_top_sites(struct out *w)
{
	site_table(w, "TOP SITES BY CALLS", ms_key_calls, 1, cols_calls);
	site_table(w, "TOP SITES BY BYTES ALLOCATED", ms_key_bytes, 1,
		   cols_bytes);
	site_table(w, "TOP SITES BY TEMPORARY ALLOCATIONS", ms_key_temporary, 1,
		   cols_temporary);
}

static void section_lifetimes(struct out *w)
{
	site_table(w, "LIFETIMES of freed blocks, by site (median, p99)",
		   key_freed, 1, cols_lifetime);
}

static void section_sizes(struct out *w)
{
	const struct ms_heap_totals *t = w->t;
	uint64_t most = 0;
	char a[32], b[32], c[32];

	fprintf(w->f, "\nSIZES of allocations\n");
	for (unsigned k = 0; k < MS_HEAP_SIZE_CLASSES; k++)
		if (t->size_q16[k] > most)
			most = t->size_q16[k];
	for (unsigned k = 0; k < MS_HEAP_SIZE_CLASSES; k++) {
		int bar = most ? (int)(30 * t->size_q16[k] / most) : 0;

		if (!t->size_q16[k])
			continue;
		fprintf(w->f, "  < %9s %s%12s %5.1f%%  %s%10s  %.*s\n",
			fmt_bytes(a, sizeof(a), k ? 1ull << k : 1), w->est,
			fmt_count(b, sizeof(b), ms_q16_count(t->size_q16[k])),
			pct(t->size_q16[k], t->allocs_q16), w->est,
			fmt_bytes(c, sizeof(c), t->size_bytes[k]),
			bar ? bar : 1, "##############################");
	}
}

static int by_bytes(const void *x, const void *y)
{
	const struct ms_profile_thread *a = x, *b = y;

	if (a->h.bytes != b->h.bytes)
		return a->h.bytes < b->h.bytes ? 1 : -1;
	return a->h.tid < b->h.tid ? -1 : a->h.tid > b->h.tid;
}

static void section_threads(struct out *w)
{
	struct ms_profile_thread *v = w->p->threads;
	size_t n = w->p->nthreads, shown = n < w->o->top ? n : w->o->top;
	char a[32], b[32], c[32], d[32];

	qsort(v, n, sizeof(*v), by_bytes);
	fprintf(w->f, "\nTHREADS by bytes allocated\n"
		      "      pid      tid  name             allocations"
		      "      bytes  peak live  freed by others\n");
	for (size_t i = 0; i < shown; i++) {
		const struct ms_heap_thread *t = &v[i].h;

		fprintf(w->f,
			"  %7" PRIu32 "  %7" PRIu32
			"  %-15.15s %s%11s %s%10s %s%10s %s%10s",
			t->pid, t->tid, v[i].name, w->est,
			fmt_count(a, sizeof(a), ms_q16_count(t->allocs_q16)),
			w->est, fmt_bytes(b, sizeof(b), t->bytes), w->est,
			fmt_bytes(c, sizeof(c), t->peak), w->est,
			fmt_count(d, sizeof(d),
				  ms_q16_count(t->freed_elsewhere_q16)));
		if (t->lost)
			fprintf(w->f, "  (%" PRIu64 " lost)", t->lost);
		fputc('\n', w->f);
	}
	if (shown < n)
		fprintf(w->f, "  ... and %zu more (--top N shows more)\n",
			n - shown);
}

/* The timeline's buckets as `cols` columns: the highest level in each. */
static void chart_columns(const struct ms_heap_timeline *tl, uint64_t *col,
			  unsigned cols)
{
	for (unsigned c = 0; c < cols; c++) {
		uint32_t lo = (uint32_t)((uint64_t)c * tl->n / cols);
		uint32_t hi = (uint32_t)((uint64_t)(c + 1) * tl->n / cols);

		col[c] = 0;
		if (hi == lo && lo < tl->n)
			hi = lo + 1;
		for (uint32_t b = lo; b < hi; b++)
			if (tl->max[b] > col[c])
				col[c] = tl->max[b];
	}
}

static void section_heap_over_time(struct out *w)
{
	const struct ms_heap_timeline *tl = ms_heap_timeline(w->p->heap);
	unsigned cols = w->o->width < 20    ? 20
			: w->o->width > 200 ? 200
					    : w->o->width;
	uint64_t col[200], top = w->t->peak;
	char a[32], b[32];
	const int rows = 8;

	fprintf(w->f, "\nHEAP OVER TIME (live bytes; each column the highest "
		      "level in its time slice)\n");
	if (tl->n == 0 || top == 0) {
		fputs("  (no allocation)\n", w->f);
		return;
	}
	chart_columns(tl, col, cols);
	for (int r = rows; r >= 1; r--) {
		uint64_t level = top * (uint64_t)(2 * r - 1) / (2 * rows);

		fprintf(w->f, "%10s |",
			r == rows ? fmt_bytes(a, sizeof(a), top) : "");
		for (unsigned c = 0; c < cols; c++)
			fputc(col[c] >= level && col[c] ? '#' : ' ', w->f);
		fputc('\n', w->f);
	}
	fprintf(w->f, "%10s +", "0");
	for (unsigned c = 0; c < cols; c++)
		fputc('-', w->f);
	fprintf(w->f, "\n%12s%-*s%s\n", "", (int)cols - 8,
		fmt_at(a, sizeof(a), w->p, tl->start),
		fmt_at(b, sizeof(b), w->p,
		       tl->start + tl->width * (uint64_t)tl->n));
}

static void section_findings(struct out *w)
{
	size_t n;
	const struct ms_heap_finding *f = ms_heap_findings(w->p->heap, &n);
	char a[32];

	if (n == 0)
		return;
	fprintf(w->f, "\nFINDINGS (the first %zu)\n", n);
	for (size_t i = 0; i < n; i++)
		fprintf(w->f,
			"  %s at %s: free of 0x%" PRIx64 " by pid %" PRIu32
			" tid %" PRIu32 "%s\n",
			f[i].double_free ? "double free " : "unknown block",
			fmt_at(a, sizeof(a), w->p, f[i].ns), f[i].addr,
			f[i].pid, f[i].tid,
			f[i].double_free ? ": freed before, not allocated "
					   "again"
					 : ": never allocated while recorded");
}

int ms_report_text(FILE *f, struct ms_profile *p,
		   const struct ms_report_opts *o)
{
	struct out w = {f, p, o, ms_heap_totals(p->heap),
			p->estimated ? "~" : ""};

	section_recorded(&w);
	section_summary(&w);
	section_peak(&w);
	section_leaks(&w);
	section_top_sites(&w);
	section_lifetimes(&w);
	section_sizes(&w);
	section_threads(&w);
	section_heap_over_time(&w);
	section_findings(&w);
	return ferror(f) ? -EIO : 0;
}
