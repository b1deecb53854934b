/* SPDX-License-Identifier: MIT */
/*
 * The JSON report (docs/report.md, "JSON"): one object, one function per
 * member group. Counts are rounded estimates where `estimated` is true.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "json_writer.h"
#include "report.h"

struct jout {
	FILE *f;
	struct ms_profile *p;
	const struct ms_report_opts *o;
	const struct ms_heap_totals *t;
};

static uint64_t rel(const struct ms_profile *p, uint64_t ns)
{
	return ns > p->start_ns ? ns - p->start_ns : 0;
}

void ms_report_json_u(FILE *f, const char *key, uint64_t v, int comma)
{
	fprintf(f, "\"%s\": %" PRIu64 "%s", key, v, comma ? ", " : "");
}

void ms_report_json_session(FILE *f, const struct ms_profile *p)
{
	fputs("\"archive\": ", f);
	ms_json_put_cstr(f, p->dir);
	fputs(", \"sampling\": ", f);
	ms_json_put_cstr(f, p->sampling[0] ? p->sampling : "unknown");
	fprintf(f, ", \"estimated\": %s, ", p->estimated ? "true" : "false");
	fputs("\"start_time\": ", f);
	ms_json_put_time(f, p->start_rt_ns);
	fputs(", ", f);
	ms_report_json_u(f, "duration_ns", p->end_ns - p->start_ns, 1);
	ms_report_json_u(f, "processes", p->processes, 1);
	fprintf(f, "\"window\": {\"from_ns\": %" PRIu64 ", \"to_ns\": ",
		p->o.from_ns);
	if (p->o.to_ns == MS_PROFILE_END)
		fputs("null}, ", f);
	else
		fprintf(f, "%" PRIu64 "}, ", p->o.to_ns);
	fprintf(f, "\"pid\": %s", p->o.pid ? "" : "null");
	if (p->o.pid)
		fprintf(f, "%" PRIu32, p->o.pid);
	fprintf(f, ", \"tid\": %s", p->o.tid ? "" : "null");
	if (p->o.tid)
		fprintf(f, "%" PRIu32, p->o.tid);
	fprintf(f, ", \"archive_errors\": %zu", p->archive_errors);
}

static void json_session(struct jout *w)
{
	fputc('{', w->f);
	ms_report_json_session(w->f, w->p);
	fputs(",\n", w->f);
}

void ms_report_json_totals(FILE *f, const struct ms_profile *p)
{
	const struct ms_heap_totals *t = ms_heap_totals(p->heap);

	ms_report_json_u(f, "allocations", ms_q16_count(t->allocs_q16), 1);
	ms_report_json_u(f, "frees", ms_q16_count(t->frees_q16), 1);
	ms_report_json_u(f, "realloc_calls", ms_q16_count(t->realloc_q16), 1);
	ms_report_json_u(f, "total_allocated_bytes", t->bytes, 1);
	ms_report_json_u(f, "total_freed_bytes", t->freed_bytes, 1);
	ms_report_json_u(f, "peak_bytes", t->peak, 1);
	ms_report_json_u(f, "peak_time_ns", rel(p, t->peak_ns), 1);
	ms_report_json_u(f, "leaked_bytes", t->leaked, 1);
	ms_report_json_u(f, "leaked_allocations", ms_q16_count(t->leaked_q16),
			 1);
	ms_report_json_u(f, "temporary_allocations", ms_q16_count(t->temp_q16),
			 1);
	ms_report_json_u(f, "lost_events", t->lost, 0);
}

static void json_totals(struct jout *w)
{
	const struct ms_heap_totals *t = w->t;
	FILE *f = w->f;

	fputs(" ", f);
	ms_report_json_totals(f, w->p);
	fputs(", ", f);
	fprintf(f,
		"\"bounds\": {\"allocations\": [%" PRIu64 ", %" PRIu64
		"], \"frees\": [%" PRIu64 ", %" PRIu64 "]},\n",
		ms_q16_count(t->allocs_q16),
		ms_q16_count(t->allocs_q16) + t->lost,
		ms_q16_count(t->frees_q16),
		ms_q16_count(t->frees_q16) + t->lost);
}

static void json_sizes(struct jout *w)
{
	int first = 1;

	fputs(" \"size_histogram\": [", w->f);
	for (unsigned k = 0; k < MS_HEAP_SIZE_CLASSES; k++) {
		if (!w->t->size_q16[k])
			continue;
		fprintf(w->f, "%s{\"below\": %" PRIu64 ", ", first ? "" : ", ",
			(uint64_t)(k < 64 ? UINT64_C(1) << k : UINT64_MAX));
		ms_report_json_u(w->f, "allocations",
				 ms_q16_count(w->t->size_q16[k]), 1);
		ms_report_json_u(w->f, "bytes", w->t->size_bytes[k], 0);
		fputc('}', w->f);
		first = 0;
	}
	fputs("],\n", w->f);
}

static void json_timeline(struct jout *w)
{
	const struct ms_heap_timeline *tl = ms_heap_timeline(w->p->heap);

	fprintf(w->f,
		" \"timeline\": {\"start_ns\": %" PRIu64
		", \"width_ns\": %" PRIu64 ", \"live_bytes\": [",
		rel(w->p, tl->start), tl->width);
	for (uint32_t i = 0; i < tl->n; i++)
		fprintf(w->f, "%s%" PRIu64, i ? ", " : "", tl->max[i]);
	fputs("]},\n", w->f);
}

void ms_report_json_thread(FILE *f, const struct ms_profile_thread *t)
{
	ms_report_json_u(f, "pid", t->h.pid, 1);
	ms_report_json_u(f, "tid", t->h.tid, 1);
	fputs("\"name\": ", f);
	ms_json_put_cstr(f, t->name);
	fputs(", ", f);
	ms_report_json_u(f, "allocations", ms_q16_count(t->h.allocs_q16), 1);
	ms_report_json_u(f, "bytes", t->h.bytes, 1);
	ms_report_json_u(f, "frees", ms_q16_count(t->h.frees_q16), 1);
	ms_report_json_u(f, "peak_bytes", t->h.peak, 1);
	ms_report_json_u(f, "freed_by_other_threads",
			 ms_q16_count(t->h.freed_elsewhere_q16), 1);
	ms_report_json_u(f, "lost_events", t->h.lost, 0);
}

static void json_threads(struct jout *w)
{
	FILE *f = w->f;

	fputs(" \"threads\": [", f);
	for (size_t i = 0; i < w->p->nthreads; i++) {
		fprintf(f, "%s\n  {", i ? "," : "");
		ms_report_json_thread(f, &w->p->threads[i]);
		fputc('}', f);
	}
	fputs("],\n", f);
}

struct frames_out {
	FILE *f;
	unsigned n;
};

static int frame_cb(const struct ms_pframe *fr, void *arg)
{
	struct frames_out *o = arg;
	FILE *f = o->f;

	fputs(o->n++ ? ", {\"function\": " : "{\"function\": ", f);
	ms_json_put_cstr(f, fr->function);
	fputs(", \"file\": ", f);
	if (fr->file)
		ms_json_put_cstr(f, fr->file);
	else
		fputs("null", f);
	fprintf(f, ", \"line\": %" PRIu32 ", \"inlined\": %s, \"module\": ",
		fr->line, fr->inlined ? "true" : "false");
	if (fr->module)
		ms_json_put_cstr(f, fr->module);
	else
		fputs("null", f);
	fprintf(f,
		", \"address\": \"0x%" PRIx64 "\", \"offset\": \"0x%" PRIx64
		"\"}",
		fr->addr, fr->offset);
	return 0;
}

void ms_report_json_site(FILE *f, struct ms_profile *p, uint32_t id)
{
	const struct ms_site *s = ms_sites_get(&p->sites, id);

	fprintf(f, "\"id\": %" PRIu32 ", \"pid\": %" PRIu32 ", ", id, s->pid);
	ms_report_json_u(f, "allocations", ms_q16_count(s->allocs_q16), 1);
	ms_report_json_u(f, "bytes", s->bytes, 1);
	ms_report_json_u(f, "temporary", ms_q16_count(s->temp_q16), 1);
	ms_report_json_u(f, "leaked_bytes", s->leaked, 1);
	ms_report_json_u(f, "leaked_allocations", ms_q16_count(s->leaked_q16),
			 1);
	ms_report_json_u(f, "peak_bytes", s->peak, 1);
	ms_report_json_u(f, "peak_allocations", ms_q16_count(s->peak_q16), 1);
	ms_report_json_u(f, "freed", ms_q16_count(s->frees_q16), 1);
	ms_report_json_u(f, "lifetime_median_ns",
			 ms_lifetime_percentile(s->life, 0.5), 1);
	ms_report_json_u(f, "lifetime_p99_ns",
			 ms_lifetime_percentile(s->life, 0.99), 0);
}

static void json_site(struct jout *w, uint32_t id)
{
	struct frames_out fo = {w->f, 0};
	struct ms_pframe label;
	FILE *f = w->f;

	fputs("\n  {", f);
	ms_report_json_site(f, w->p, id);
	fprintf(f, ", \"label\": %d, \"frames\": [",
		ms_profile_label(w->p, id, &label));
	ms_profile_frames(w->p, id, frame_cb, &fo);
	fputs("]}", f);
}

static int listed(const uint32_t *ids, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

/* The sites of every ranking (peak, leaks, calls, bytes, temporaries),
 * each once, in the order of the first ranking that has it. */
static size_t listed_sites(struct jout *w, uint32_t **out)
{
	static const ms_site_key keys[] = {ms_key_peak, ms_key_leaked,
					   ms_key_calls, ms_key_bytes,
					   ms_key_temporary};
	size_t top = w->o->top, n = 0;
	uint32_t *ids = malloc((MS_ARRAY_SIZE(keys) * top + 1) * sizeof(*ids));
	uint32_t *one = malloc((top + 1) * sizeof(*one));

	*out = ids;
	for (size_t k = 0; ids && one && k < MS_ARRAY_SIZE(keys); k++) {
		size_t got = ms_report_top(w->p, keys[k], one, top);

		for (size_t i = 0; i < got; i++)
			if (!listed(ids, n, one[i]))
				ids[n++] = one[i];
	}
	free(one);
	return n;
}

static void json_sites(struct jout *w)
{
	uint32_t *ids;
	size_t n = listed_sites(w, &ids);

	fprintf(w->f, " \"sites_total\": %" PRIu32 ", \"sites\": [",
		w->p->sites.n);
	for (size_t i = 0; i < n; i++) {
		json_site(w, ids[i]);
		if (i + 1 < n)
			fputc(',', w->f);
	}
	fputs("],\n", w->f);
	free(ids);
}

static void json_findings(struct jout *w)
{
	size_t n;
	const struct ms_heap_finding *fd = ms_heap_findings(w->p->heap, &n);

	fprintf(w->f,
		" \"findings\": {\"double_frees\": %" PRIu64
		", \"unknown_frees\": %" PRIu64 ", \"examples\": [",
		w->t->double_frees, w->t->unknown_frees);
	for (size_t i = 0; i < n; i++)
		fprintf(w->f,
			"%s\n  {\"kind\": \"%s\", \"pid\": %" PRIu32
			", \"tid\": %" PRIu32 ", \"time_ns\": %" PRIu64
			", \"address\": \"0x%" PRIx64 "\"}",
			i ? "," : "",
			fd[i].double_free ? "double_free" : "unknown_free",
			fd[i].pid, fd[i].tid, rel(w->p, fd[i].ns), fd[i].addr);
	fputs("]}}\n", w->f);
}

int ms_report_json(FILE *f, struct ms_profile *p,
		   const struct ms_report_opts *o)
{
	struct jout w = {f, p, o, ms_heap_totals(p->heap)};

	json_session(&w);
	json_totals(&w);
	json_sizes(&w);
	json_timeline(&w);
	json_threads(&w);
	json_sites(&w);
	json_findings(&w);
	return ferror(f) ? -EIO : 0;
}
