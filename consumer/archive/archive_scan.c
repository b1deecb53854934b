/* SPDX-License-Identifier: MIT */
/*
 * Counting: what each record adds to a stream's counts, every stream read
 * once for `memscope stats`, and the totals checked against a finished
 * session's manifest.
 */
#include "archive_scan.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "archive_ahead.h"
#include "archive_batch.h"
#include "archive_iter.h"
#include "archive_json.h"

/*
 * A finished manifest states the session's totals: when the segments hold
 * other numbers, files were lost or changed after the session ended. (A
 * running session's manifest lags behind by design: not checked.)
 */
static void check_manifest_totals(struct ms_archive *a)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
		{"events", offsetof(struct ms_arc_counts, events)},
		{"allocs", offsetof(struct ms_arc_counts, allocs)},
		{"frees", offsetof(struct ms_arc_counts, frees)},
		{"dropped", offsetof(struct ms_arc_counts, dropped)},
	};
	const struct ms_json_node *m = ms_archive_manifest(a);
	const struct ms_json_node *st = ms_json_get(m, "state");
	const struct ms_json_node *t = ms_json_get(m, "totals");
	char diff[256] = "", *path;
	struct ms_arc_counts c;
	uint64_t want, got;
	size_t n = 0;

	if (!st || st->type != MS_JSON_STRING || strcmp(st->str, "finished"))
		return;
	ms_archive_totals(a, &c);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (ms_json_u64(ms_json_get(t, fields[i].key), &want))
			continue;
		memcpy(&got, (const char *)&c + fields[i].off, sizeof(got));
		if (got != want && n < sizeof(diff))
			n += (size_t)snprintf(diff + n, sizeof(diff) - n,
					      "%s%s %llu, not %llu",
					      n ? "; " : "", fields[i].key,
					      (unsigned long long)got,
					      (unsigned long long)want);
	}
	if (!n)
		return;
	if (asprintf(&path, "%s/manifest.json", a->dir) < 0)
		path = NULL;
	ms_archive_error(a, path, 0, 0,
			 "the segments hold other totals than the finished "
			 "session counted (segment files missing or "
			 "changed?): %s",
			 diff);
	free(path);
}

static void add_counts(struct ms_arc_counts *d, const struct ms_arc_counts *s)
{
	d->events = ms_arc_sat_add(d->events, s->events);
	d->allocs = ms_arc_sat_add(d->allocs, s->allocs);
	d->frees = ms_arc_sat_add(d->frees, s->frees);
	d->dropped = ms_arc_sat_add(d->dropped, s->dropped);
	d->raw_bytes = ms_arc_sat_add(d->raw_bytes, s->raw_bytes);
	d->disk_bytes = ms_arc_sat_add(d->disk_bytes, s->disk_bytes);
	d->frames = ms_arc_sat_add(d->frames, s->frames);
	d->segments = ms_arc_sat_add(d->segments, s->segments);
	d->weighted_size =
		ms_arc_sat_add128(d->weighted_size, s->weighted_size);
}

void ms_archive_totals(const struct ms_archive *a, struct ms_arc_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < a->nthreads; i++)
		add_counts(out, &a->threads[i].c);
}

uint64_t ms_arc_estimated_bytes(const struct ms_arc_counts *c)
{
	unsigned __int128 v = c->weighted_size / MS_WEIGHT_ONE;

	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/* The time base from a stream's first CLOCK, unless one is set. */
static void first_clock(struct ms_archive *a, int seen,
			const struct ms_timebase *tb)
{
	if (!a->tb_set && seen) {
		a->tb = *tb;
		a->tb_set = 1;
	}
}

/*
 * Counts stream `t`, its damage and progress reported as they come. The
 * archive's time base, if not set yet, comes from its first CLOCK record,
 * as when the streams are read one after the other.
 */
static int scan_stream(struct ms_archive *a, struct ms_arc_thread *t)
{
	struct ms_arc_iter *it;
	struct ms_timebase tb;
	int rc = ms_arc_iter_open(a, t, &it);

	if (rc)
		return rc;
	rc = ms_arc_iter_fill(it, NULL, MS_ARC_FILL_COUNTS, SIZE_MAX);
	t->c = *ms_arc_iter_counts(it);
	snprintf(t->name, sizeof(t->name), "%s", ms_arc_iter_name(it));
	first_clock(a, ms_arc_iter_first_clock(it, &tb), &tb);
	ms_arc_iter_close(it);
	return rc;
}

/* A stream counted by a worker, for the reader to take in order. */
struct counted {
	struct ms_arc_counts c;
	char name[MS_NAME_MAX + 1];
	struct ms_timebase tb;
	int clock, rc;
};

struct scan {
	struct ms_archive *a;
	struct counted *r;
};

/* Counts a whole stream into one batch of notes (archive_ahead.h). */
static void scan_fill(void *arg, size_t i, struct ms_arc_batch *b)
{
	struct scan *sc = arg;
	struct counted *r = &sc->r[i];
	struct ms_arc_iter *it;

	if (ms_arc_batch_reset(b, 0) ||
	    ms_arc_iter_open(sc->a, &sc->a->threads[i], &it)) {
		b->end = 1;
		b->rc = r->rc = -ENOMEM;
		return;
	}
	r->rc = ms_arc_iter_fill(it, b, MS_ARC_FILL_COUNTS, SIZE_MAX);
	r->c = *ms_arc_iter_counts(it);
	snprintf(r->name, sizeof(r->name), "%s", ms_arc_iter_name(it));
	r->clock = ms_arc_iter_first_clock(it, &r->tb);
	ms_arc_iter_close(it);
}

/* Stream `i` as counted by a worker: its notes replayed, its counts. */
static int take_counted(struct scan *sc, struct ms_arc_ahead *ah, size_t i)
{
	struct ms_arc_batch *b = ms_arc_ahead_next(ah, i);
	struct ms_arc_thread *t = &sc->a->threads[i];
	const struct counted *r = &sc->r[i];

	for (size_t off = 0; off < b->len;) {
		const struct ms_arc_item *it = (const void *)(b->buf + off);

		ms_arc_note_apply(sc->a, it);
		off += it->size;
	}
	t->c = r->c;
	memcpy(t->name, r->name, sizeof(t->name));
	first_clock(sc->a, r->clock, &r->tb);
	ms_arc_ahead_done(ah, i);
	return r->rc;
}

/*
 * Every stream counted, workers counting the streams ahead of the reader:
 * the reader counts a stream itself when no worker has begun it, else
 * takes the worker's counts and notes, always in (pid, tid) order.
 */
static int scan_ahead(struct ms_archive *a, unsigned threads)
{
	struct scan sc = {a, calloc(a->nthreads, sizeof(*sc.r))};
	struct ms_arc_ahead *ah = NULL;
	int rc = sc.r ? ms_arc_ahead_create(a->nthreads, 1, scan_fill, &sc, &ah)
		      : -ENOMEM;

	if (!rc)
		ms_arc_ahead_start(ah, threads);
	for (size_t i = 0; !rc && i < a->nthreads; i++)
		rc = ms_arc_ahead_claim(ah, i) ? scan_stream(a, &a->threads[i])
					       : take_counted(&sc, ah, i);
	ms_arc_ahead_destroy(ah);
	free(sc.r);
	return rc;
}

/* The sizes of a thread's segment files, as listed when the archive was
 * opened. */
static uint64_t listed_bytes(const struct ms_arc_thread *t)
{
	uint64_t size = 0;

	for (size_t k = 0; k < t->nsegs; k++)
		size += t->segs[k].size;
	return size;
}

/* Adds one manifest thread entry to `c`; -1 when a count is missing. */
static int add_listed(struct ms_arc_counts *c, const struct ms_json_node *t)
{
	static const char *const keys[] = {
		"events",     "allocs",	   "frees",
		"dropped",    "raw_bytes", "bytes_on_disk",
		"segments",   "frames",	   "estimated_bytes_allocated",
		"weight_rest"};
	uint64_t v[sizeof(keys) / sizeof(keys[0])];
	struct ms_arc_counts one = {0};

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (ms_json_u64(ms_json_get(t, keys[k]), &v[k]))
			return -1;
	one.events = v[0];
	one.allocs = v[1];
	one.frees = v[2];
	one.dropped = v[3];
	one.raw_bytes = v[4];
	one.disk_bytes = v[5];
	one.segments = v[6];
	one.frames = v[7];
	one.weighted_size = (unsigned __int128)v[8] * MS_WEIGHT_ONE + v[9];
	add_counts(c, &one);
	return 0;
}

/* Fills `sum` (one per archive thread) from the manifest's processes. */
static int sum_listed(const struct ms_archive *a, const struct ms_json_node *ps,
		      struct ms_arc_counts *sum, const char **name)
{
	for (const struct ms_json_node *p = ps->child; p; p = p->next) {
		const struct ms_json_node *ts = ms_json_get(p, "per_thread");
		uint64_t pid, tid, omitted, segs;

		if (ms_json_u64(ms_json_get(p, "pid"), &pid) ||
		    ms_json_u64(ms_json_get(p, "threads_not_listed"),
				&omitted) ||
		    omitted || !ts || ts->type != MS_JSON_ARRAY)
			return -1;
		for (const struct ms_json_node *t = ts->child; t; t = t->next) {
			const struct ms_json_node *nm = ms_json_get(t, "name");
			ssize_t i;

			if (ms_json_u64(ms_json_get(t, "tid"), &tid) ||
			    ms_json_u64(ms_json_get(t, "segments"), &segs))
				return -1;
			i = ms_archive_find_thread(a, pid, tid);
			if (i < 0) {
				if (segs) /* its files are gone */
					return -1;
				continue; /* a refused ring: no segment */
			}
			if (add_listed(&sum[i], t) < 0)
				return -1;
			/* the last name, as a scan keeps the last
			 * THREAD_NAME record */
			if (nm && nm->type == MS_JSON_STRING &&
			    strlen(nm->str) == nm->len)
				name[i] = nm->str;
		}
	}
	return 0;
}

int ms_archive_counts_from_manifest(struct ms_archive *a)
{
	const struct ms_json_node *m = ms_archive_manifest(a);
	const struct ms_json_node *st = ms_json_get(m, "state");
	const struct ms_json_node *ps = ms_json_get(m, "processes");
	struct ms_arc_counts *sum;
	const char **name;
	int rc = -1;

	if (!st || st->type != MS_JSON_STRING || strcmp(st->str, "finished") ||
	    !ps || ps->type != MS_JSON_ARRAY || a->nerrors || a->errors_dropped)
		return -1;
	sum = calloc(a->nthreads + 1, sizeof(*sum));
	name = calloc(a->nthreads + 1, sizeof(*name));
	if (!sum || !name || sum_listed(a, ps, sum, name) < 0)
		goto out;
	for (size_t i = 0; i < a->nthreads; i++) {
		const struct ms_arc_thread *t = &a->threads[i];

		/* every file there, none cut, grown, added or lost */
		if (sum[i].segments != t->nsegs ||
		    sum[i].disk_bytes != listed_bytes(t))
			goto out;
	}
	for (size_t i = 0; i < a->nthreads; i++) {
		a->threads[i].c = sum[i];
		snprintf(a->threads[i].name, sizeof(a->threads[i].name), "%s",
			 name[i] ? name[i] : "");
	}
	rc = 0;
out:
	free(sum);
	free(name);
	return rc;
}

int ms_archive_scan(struct ms_archive *a)
{
	uint64_t bytes = 0;
	unsigned threads;
	int rc = 0;

	for (size_t i = 0; i < a->nthreads; i++)
		bytes += listed_bytes(&a->threads[i]);
	threads = ms_arc_ahead_threads(a, a->nthreads, bytes, 0);
	if (threads)
		rc = scan_ahead(a, threads);
	for (size_t i = 0; !threads && !rc && i < a->nthreads; i++)
		rc = scan_stream(a, &a->threads[i]);
	if (rc)
		return rc;
	check_manifest_totals(a);
	return 0;
}
