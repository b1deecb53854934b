/* SPDX-License-Identifier: MIT */
/*
 * The JSON diff (diff.h, docs/export.md): the two sides, their totals and
 * every stack of either side with its figures on each and the change,
 * the largest growth in bytes allocated first. Counts are rounded sums of
 * weights (estimates when `estimated` is true).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "diff.h"
#include "json_writer.h"
#include "report.h"

/* The figures the diff compares, in the order written. */
static const struct {
	const char *name;
	enum ms_export_weight w;
} figs[] = {
	{"allocations", MS_XW_COUNT},	{"bytes", MS_XW_BYTES},
	{"leaked_bytes", MS_XW_LEAKED}, {"peak_bytes", MS_XW_PEAK},
	{"temporary", MS_XW_TEMPORARY},
};

#define NFIGS (sizeof(figs) / sizeof(figs[0]))

static void put_side(FILE *f, const struct ms_profile *p)
{
	fputs("{\"archive\": ", f);
	ms_json_put_cstr(f, p->dir);
	fputs(", \"sampling\": ", f);
	ms_json_put_cstr(f, p->sampling[0] ? p->sampling : "unknown");
	fprintf(f,
		", \"estimated\": %s, \"window\": {\"from_ns\": %" PRIu64
		", \"to_ns\": ",
		p->estimated ? "true" : "false", p->o.from_ns);
	if (p->o.to_ns == MS_PROFILE_END)
		fputs("null}", f);
	else
		fprintf(f, "%" PRIu64 "}", p->o.to_ns);
	fprintf(f, ", \"sites\": %" PRIu32 "}", p->sites.n);
}

/* One side's figures (or the change, `delta` set) as an object. */
static void put_figures(FILE *f, const int64_t *v, const char *extra)
{
	fputc('{', f);
	for (size_t i = 0; i < NFIGS; i++)
		fprintf(f, "%s\"%s\": %" PRId64, i ? ", " : "", figs[i].name,
			v[i]);
	fprintf(f, "%s}", extra);
}

static void put_totals(FILE *f, const struct ms_diff *d)
{
	int64_t v[2][NFIGS], delta[NFIGS];

	for (int s = 0; s < 2; s++) {
		const struct ms_heap_totals *t =
			ms_heap_totals(d->side[s]->heap);
		struct ms_split_cell c = {
			.allocs_q16 = t->allocs_q16,
			.bytes = t->bytes,
			.temp_q16 = t->temp_q16,
			.leaked_q16 = t->leaked_q16,
			.leaked = t->leaked,
			.peak = t->peak,
		};

		for (size_t i = 0; i < NFIGS; i++)
			v[s][i] = (int64_t)ms_export_weight_of(&c, figs[i].w);
	}
	for (size_t i = 0; i < NFIGS; i++)
		delta[i] = v[1][i] - v[0][i];
	fputs(" \"totals\": {\"base\": ", f);
	put_figures(f, v[0], "");
	fputs(", \"new\": ", f);
	put_figures(f, v[1], "");
	fputs(", \"change\": ", f);
	put_figures(f, delta, "");
	fputs("},\n", f);
}

static void put_frames(FILE *f, const struct ms_diff *d,
		       const struct ms_diff_entry *e)
{
	fputs("\"frames\": [", f);
	for (uint32_t k = 0; k < e->nframes; k++) {
		const struct ms_xframe *x = &d->frames[e->frames_at + k];

		fputs(k ? ", {\"function\": " : "{\"function\": ", f);
		ms_json_put_cstr(f, x->function);
		fputs(", \"file\": ", f);
		if (x->file)
			ms_json_put_cstr(f, x->file);
		else
			fputs("null", f);
		fprintf(f, ", \"line\": %" PRIu32 ", \"inlined\": %s}", x->line,
			x->inlined ? "true" : "false");
	}
	fputc(']', f);
}

static void put_entry(FILE *f, const struct ms_diff *d,
		      const struct ms_diff_entry *e)
{
	int64_t v[2][NFIGS], delta[NFIGS];
	char sites[2][48];

	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < NFIGS; i++)
			v[s][i] = (int64_t)ms_export_weight_of(&e->v[s],
							       figs[i].w);
		snprintf(sites[s], sizeof(sites[s]), ", \"sites\": %" PRIu32,
			 e->sites[s]);
	}
	for (size_t i = 0; i < NFIGS; i++)
		delta[i] = ms_diff_delta(e, figs[i].w);
	fputs("\n  {", f);
	put_frames(f, d, e);
	fputs(",\n   \"base\": ", f);
	put_figures(f, v[0], sites[0]);
	fputs(", \"new\": ", f);
	put_figures(f, v[1], sites[1]);
	fputs(",\n   \"change\": ", f);
	put_figures(f, delta, "");
	fputc('}', f);
}

int ms_diff_json(FILE *f, const struct ms_diff *d)
{
	size_t *order = malloc((d->n + 1) * sizeof(*order)), n, falls;

	if (!order)
		return -ENOMEM;
	/* by the change in bytes allocated, the largest growth first and
	 * the largest fall last */
	n = ms_diff_rank(d, MS_XW_BYTES, 1, order, d->n);
	for (size_t i = 0; i < d->n; i++)
		if (ms_diff_delta(&d->v[i], MS_XW_BYTES) == 0)
			order[n++] = i;
	falls = ms_diff_rank(d, MS_XW_BYTES, -1, order + n, d->n - n);
	for (size_t a = n, b = n + falls; a + 1 < b; a++, b--) {
		size_t t = order[a];

		order[a] = order[b - 1];
		order[b - 1] = t;
	}
	n += falls;
	fputs("{\"base\": ", f);
	put_side(f, d->side[MS_DIFF_BASE]);
	fputs(",\n \"new\": ", f);
	put_side(f, d->side[MS_DIFF_NEW]);
	fputs(",\n", f);
	put_totals(f, d);
	fputs(" \"stacks\": [", f);
	for (size_t i = 0; i < n; i++) {
		put_entry(f, d, &d->v[order[i]]);
		if (i + 1 < n)
			fputc(',', f);
	}
	fputs("]}\n", f);
	free(order);
	return ferror(f) ? -EIO : 0;
}
