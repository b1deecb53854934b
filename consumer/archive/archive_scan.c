/* SPDX-License-Identifier: MIT */
/*
 * Counting: what each record adds to a stream's counts, every stream read
 * once for `memscope stats`, and the totals checked against a finished
 * session's manifest.
 */
#include "archive_scan.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (!a->tb_set && ms_arc_iter_first_clock(it, &tb)) {
		a->tb = tb;
		a->tb_set = 1;
	}
	ms_arc_iter_close(it);
	return rc;
}

int ms_archive_scan(struct ms_archive *a)
{
	for (size_t i = 0; i < a->nthreads; i++) {
		int rc = scan_stream(a, &a->threads[i]);

		if (rc)
			return rc;
	}
	check_manifest_totals(a);
	return 0;
}
