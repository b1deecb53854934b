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

#include "archive_iter.h"
#include "archive_json.h"

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static unsigned __int128 sat_add128(unsigned __int128 a, unsigned __int128 b)
{
	return a + b < a ? ~(unsigned __int128)0 : a + b;
}

void ms_arc_count_event(struct ms_arc_counts *c, const struct ms_event *ev)
{
	int alloc = ev->type == MS_REC_ALLOC || ev->type == MS_REC_REALLOC;

	c->events++;
	c->allocs += (uint64_t)alloc;
	c->frees += ev->type == MS_REC_FREE || ev->type == MS_REC_REALLOC;
	if (alloc)
		c->weighted_size =
			sat_add128(c->weighted_size,
				   (unsigned __int128)ev->size * ev->weight);
	if (ev->type == MS_REC_LOST)
		c->dropped = sat_add(c->dropped, ev->count);
}

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
	d->events = sat_add(d->events, s->events);
	d->allocs = sat_add(d->allocs, s->allocs);
	d->frees = sat_add(d->frees, s->frees);
	d->dropped = sat_add(d->dropped, s->dropped);
	d->raw_bytes = sat_add(d->raw_bytes, s->raw_bytes);
	d->disk_bytes = sat_add(d->disk_bytes, s->disk_bytes);
	d->frames = sat_add(d->frames, s->frames);
	d->segments = sat_add(d->segments, s->segments);
	d->weighted_size = sat_add128(d->weighted_size, s->weighted_size);
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

int ms_archive_scan(struct ms_archive *a)
{
	for (size_t i = 0; i < a->nthreads; i++) {
		struct ms_arc_thread *t = &a->threads[i];
		const struct ms_arc_event *ev;
		struct ms_arc_iter *it;
		int rc;

		rc = ms_arc_iter_open(a, t, &it);
		if (rc)
			return rc;
		while ((rc = ms_arc_iter_next(it, &ev)) > 0)
			;
		t->c = *ms_arc_iter_counts(it);
		snprintf(t->name, sizeof(t->name), "%s", ms_arc_iter_name(it));
		ms_arc_iter_close(it);
		if (rc < 0)
			return rc;
	}
	check_manifest_totals(a);
	return 0;
}
