/* SPDX-License-Identifier: MIT */
/*
 * The text diff (diff.h): what each side is, the totals side by side,
 * then the sites that grew and shrank most, by bytes allocated and by
 * leaked bytes. One function per section, in the order they appear.
 * Figures from sampled events get a leading "~" (estimates).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "diff.h"
#include "modmap.h"
#include "report.h"

struct out {
	FILE *f;
	const struct ms_diff *d;
	const struct ms_diff_opts *o;
	const char *est; /* "~" or "" */
};

/* ---- formatting ---- */

/* Bytes in the largest binary unit that keeps them above 1, to three
 * digits, as the report shows them; `sign` goes first. */
static const char *fmt_size(char *b, size_t n, const char *sign, uint64_t v)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
	double d = (double)v / 1024;
	unsigned u = 0;

	if (v < 1024) {
		snprintf(b, n, "%s%" PRIu64 " B", sign, v);
		return b;
	}
	for (; d >= 1024 && u + 1 < MS_ARRAY_SIZE(unit); u++)
		d /= 1024;
	snprintf(b, n, "%s%.*f %s", sign,
		 d < 10	   ? 2
		 : d < 100 ? 1
			   : 0,
		 d, unit[u]);
	return b;
}

/* Digits in groups of three: "1,234,567". */
static const char *fmt_num(char *b, size_t n, const char *sign, uint64_t v)
{
	char tail[8];

	if (v < 1000) {
		snprintf(b, n, "%s%" PRIu64, sign, v);
		return b;
	}
	snprintf(tail, sizeof(tail), ",%03u", (unsigned)(v % 1000));
	fmt_num(b, n, sign, v / 1000);
	strncat(b, tail, n - strlen(b) - 1);
	return b;
}

/* A figure of either kind; `delta` signs it. */
static const char *fmt(char *b, size_t n, int bytes, int64_t v, int delta)
{
	const char *sign = !delta || v == 0 ? "" : v > 0 ? "+" : "-";
	uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;

	return bytes ? fmt_size(b, n, sign, mag) : fmt_num(b, n, sign, mag);
}

/* "function  file:line", "function  [module]" or "function" */
static void put_frame(struct out *w, const struct ms_diff_entry *e,
		      const struct ms_xframe *x)
{
	const struct ms_profile *p = w->d->side[e->shown];
	const char *slash = x->file ? strrchr(x->file, '/') : NULL;

	fputs(x->function, w->f);
	if (x->file)
		fprintf(w->f, "  %s:%" PRIu32, slash ? slash + 1 : x->file,
			x->line);
	else if (x->mod != MS_SITE_NO_MODULE && !strchr(x->function, '+'))
		fprintf(w->f, "  [%s]", ms_modtab_at(p->mods, x->mod)->name);
}

/* The entry's label and the two frames that called it. */
static void put_stack(struct out *w, const struct ms_diff_entry *e)
{
	const struct ms_xframe *x = w->d->frames + e->frames_at;

	put_frame(w, e, &x[0]);
	for (uint32_t i = 1; i < e->nframes && i < 3; i++) {
		fputs("\n         <- ", w->f);
		put_frame(w, e, &x[i]);
	}
	fputc('\n', w->f);
}

/* ---- sections ---- */

static void put_side(struct out *w, int side, const char *title)
{
	const struct ms_profile *p = w->d->side[side];
	char from[32], to[32];

	fprintf(w->f, "%s  %s", title, p->dir);
	if (p->o.from_ns || p->o.to_ns != MS_PROFILE_END) {
		snprintf(from, sizeof(from), "%.3f s", p->o.from_ns / 1e9);
		snprintf(to, sizeof(to), "%.3f s", p->o.to_ns / 1e9);
		fprintf(w->f, ", from %s to %s", from,
			p->o.to_ns == MS_PROFILE_END ? "the end" : to);
	}
	fprintf(w->f, " (sampling %s)\n",
		p->sampling[0] ? p->sampling : "unknown");
}

static void section_sides(struct out *w)
{
	size_t both = 0, only[2] = {0, 0};

	for (size_t i = 0; i < w->d->n; i++) {
		const struct ms_diff_entry *e = &w->d->v[i];

		if (e->sites[MS_DIFF_BASE] && e->sites[MS_DIFF_NEW])
			both++;
		else
			only[e->sites[MS_DIFF_NEW] ? 1 : 0]++;
	}
	fputs("memscope diff\n", w->f);
	put_side(w, MS_DIFF_BASE, "base:");
	put_side(w, MS_DIFF_NEW, "new: ");
	fprintf(w->f,
		"stacks:  %zu in both, %zu only in base, %zu only in new "
		"(matched by\n         function and source file, not by "
		"address or line)\n",
		both, only[0], only[1]);
	if (*w->est)
		fputs("figures: estimated from sampled allocations (~)\n",
		      w->f);
}

static void total_row(struct out *w, const char *name, int bytes, uint64_t a,
		      uint64_t b)
{
	char x[40], y[40], z[40];
	int64_t d = b >= a ? (int64_t)(b - a) : -(int64_t)(a - b);

	fprintf(w->f, "  %-18s %14s %14s %14s\n", name,
		fmt(x, sizeof(x), bytes, (int64_t)a, 0),
		fmt(y, sizeof(y), bytes, (int64_t)b, 0),
		fmt(z, sizeof(z), bytes, d, 1));
}

static void section_totals(struct out *w)
{
	const struct ms_heap_totals *a = ms_heap_totals(w->d->side[0]->heap);
	const struct ms_heap_totals *b = ms_heap_totals(w->d->side[1]->heap);

	fprintf(w->f, "\nTOTALS %s%25s %14s %14s\n", w->est, "base", "new",
		"change");
	total_row(w, "allocations", 0, ms_q16_count(a->allocs_q16),
		  ms_q16_count(b->allocs_q16));
	total_row(w, "bytes allocated", 1, a->bytes, b->bytes);
	total_row(w, "leaked bytes", 1, a->leaked, b->leaked);
	total_row(w, "leaked blocks", 0, ms_q16_count(a->leaked_q16),
		  ms_q16_count(b->leaked_q16));
	total_row(w, "peak heap", 1, a->peak, b->peak);
	total_row(w, "temporary", 0, ms_q16_count(a->temp_q16),
		  ms_q16_count(b->temp_q16));
}

/* The sites whose `wt` changed most in the direction `sign`. */
static int site_table(struct out *w, const char *title,
		      enum ms_export_weight wt, int sign)
{
	size_t top = w->o->top, *ids = malloc((top + 1) * sizeof(*ids));
	size_t n;

	if (!ids)
		return -ENOMEM;
	n = ms_diff_rank(w->d, wt, sign, ids, top);
	fprintf(w->f, "\n%s %s\n", sign > 0 ? "GROWING:" : "SHRINKING:", title);
	if (n == 0)
		fputs("  (none)\n", w->f);
	for (size_t i = 0; i < n; i++) {
		const struct ms_diff_entry *e = &w->d->v[ids[i]];
		char x[40], y[40], z[40];
		int bytes = ms_export_weight_is_bytes(wt);

		fprintf(w->f, "  %-3zu %s%-12s (%s -> %s)  ", i + 1, w->est,
			fmt(z, sizeof(z), bytes, ms_diff_delta(e, wt), 1),
			fmt(x, sizeof(x), bytes,
			    (int64_t)ms_export_weight_of(&e->v[0], wt), 0),
			fmt(y, sizeof(y), bytes,
			    (int64_t)ms_export_weight_of(&e->v[1], wt), 0));
		put_stack(w, e);
	}
	free(ids);
	return 0;
}

static int section_sites(struct out *w)
{
	static const struct {
		const char *title;
		enum ms_export_weight w;
	} t[] = {
		{"bytes allocated, by stack", MS_XW_BYTES},
		{"leaked bytes (allocated in the window, live at its end), by "
		 "stack",
		 MS_XW_LEAKED},
	};
	int r = 0;

	for (size_t i = 0; i < MS_ARRAY_SIZE(t) && r == 0; i++) {
		r = site_table(w, t[i].title, t[i].w, 1);
		if (r == 0)
			r = site_table(w, t[i].title, t[i].w, -1);
	}
	return r;
}

int ms_diff_text(FILE *f, const struct ms_diff *d, const struct ms_diff_opts *o)
{
	struct out w = {f, d, o, ""};
	int r;

	if (d->side[0]->estimated || d->side[1]->estimated)
		w.est = "~";
	section_sides(&w);
	section_totals(&w);
	r = section_sites(&w);
	if (r < 0)
		return r;
	return ferror(f) ? -EIO : 0;
}
