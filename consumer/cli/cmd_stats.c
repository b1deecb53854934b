/* SPDX-License-Identifier: MIT */
/* memscope stats ARCHIVE [--json]: summary counts of an archive. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive.h"
#include "archive_compact.h"
#include "archive_json.h"
#include "archive_scan.h"
#include "cli.h"
#include "cli_progress.h"
#include "json_writer.h"
#include "text_writer.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memscope stats ARCHIVE [--json] [--verify]\n"
		"\n"
		"Counts of an archive directory written by 'memscope record' "
		"or\n"
		"'memscope consumer': processes, threads, events, "
		"allocations,\n"
		"frees, dropped events, sizes, and the same per thread;\n"
		"segment files by the zstd level their headers say, and how "
		"many\n"
		"'memscope compact' would still recompress.\n"
		"\n"
		"  --json     one JSON object (fields in docs/reading.md)\n"
		"  --verify   read and check every frame, even when the "
		"manifest\n"
		"             of a finished session has the counts\n"
		"  --help     this text\n"
		"\n"
		"The counts of a finished session come from its manifest once "
		"every\n"
		"segment file is there with the size the manifest states; "
		"otherwise\n"
		"(a running or killed consumer, files missing or cut) every "
		"frame is\n"
		"read. Damage (cut-off or corrupt segments, a missing "
		"manifest) is\n"
		"reported on stderr; everything still readable is counted, "
		"and\n"
		"the exit status is 1. Exit status 0: the archive is "
		"intact.\n");
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void json_totals(const struct ms_archive *a,
			const struct ms_arc_counts *c, int scanned)
{
	printf("\"counted_from\":\"%s\",\n", scanned ? "segments" : "manifest");
	printf("\"processes\":%zu,\"threads\":%zu,\"segments\":%" PRIu64
	       ",\"frames\":%" PRIu64 ",\n",
	       a->nprocesses, a->nthreads, c->segments, c->frames);
	printf("\"events\":%" PRIu64 ",\"allocs\":%" PRIu64
	       ",\"frees\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\n",
	       c->events, c->allocs, c->frees, c->dropped);
	printf("\"raw_bytes\":%" PRIu64 ",\"bytes_on_disk\":%" PRIu64
	       ",\"bytes_per_event\":%.4f,\"compression_ratio\":%.4f,\n",
	       c->raw_bytes, c->disk_bytes, ratio(c->disk_bytes, c->events),
	       ratio(c->raw_bytes, c->disk_bytes));
	printf("\"estimated_bytes_allocated\":%" PRIu64 ",\n",
	       ms_arc_estimated_bytes(c));
}

/* The segments by the zstd level their headers say, and what `memscope
 * compact` at its default level would recompress. */
static void json_levels(const struct ms_compact_levels *l)
{
	const char *sep = "";

	printf("\"segment_levels\":{");
	for (int i = MS_COMPACT_LEVEL_MAX; i >= MS_COMPACT_LEVEL_MIN; i--) {
		uint64_t n = l->at[i - MS_COMPACT_LEVEL_MIN];

		if (n) {
			printf("%s\"%d\":%" PRIu64, sep, i, n);
			sep = ",";
		}
	}
	printf("},\"segments_level_unsaid\":%" PRIu64
	       ",\"segments_bundled\":%" PRIu64
	       ",\"segments_unreadable\":%" PRIu64 ",\n",
	       l->unsaid, l->bundled, l->unread);
	printf("\"compact_level\":%d,\"segments_below_compact_level\":%" PRIu64
	       ",\n",
	       MS_COMPACT_LEVEL_DEFAULT, l->below);
}

static void json_threads(const struct ms_archive *a)
{
	printf("\"per_thread\":[");
	for (size_t i = 0; i < a->nthreads; i++) {
		const struct ms_arc_thread *t = &a->threads[i];

		printf("%s\n{\"pid\":%u,\"tid\":%u,\"name\":", i ? "," : "",
		       t->pid, t->tid);
		ms_json_put_str(stdout, t->name, strlen(t->name));
		printf(",\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64
		       ",\"dropped\":%" PRIu64 ",\"events\":%" PRIu64
		       ",\"segments\":%" PRIu64 ",\"frames\":%" PRIu64
		       ",\"raw_bytes\":%" PRIu64 ",\"bytes_on_disk\":%" PRIu64
		       ",\"estimated_bytes_allocated\":%" PRIu64 "}",
		       t->c.allocs, t->c.frees, t->c.dropped, t->c.events,
		       t->c.segments, t->c.frames, t->c.raw_bytes,
		       t->c.disk_bytes, ms_arc_estimated_bytes(&t->c));
	}
	printf("],\n");
}

/* Manifest information, as found: top-level scalars and settings-like
 * objects under "session", the per-process entries of our processes. */
static void json_manifest(const struct ms_archive *a)
{
	const struct ms_json_node *m = ms_archive_manifest(a);
	uint32_t last = 0;
	int first = 1;

	printf("\"manifest\":%s,\"session\":", m ? "true" : "false");
	ms_json_put_scalars(stdout, m, 1);
	printf(",\n\"per_process\":[");
	for (size_t i = 0; i < a->nthreads; i++) {
		uint32_t pid = a->threads[i].pid;

		if (i && pid == last)
			continue;
		last = pid;
		printf("%s{\"pid\":%u,\"manifest\":", first ? "" : ",", pid);
		ms_json_put_scalars(stdout, ms_arc_manifest_process(a, pid), 0);
		printf("}");
		first = 0;
	}
	printf("],\n");
}

static void json_errors(const struct ms_archive *a)
{
	printf("\"errors\":[");
	for (size_t i = 0; i < a->nerrors; i++) {
		const struct ms_arc_error *e = &a->errors[i];

		printf("%s\n{\"file\":", i ? "," : "");
		if (e->file)
			ms_json_put_str(stdout, e->file, strlen(e->file));
		else
			printf("null");
		if (e->has_offset)
			printf(",\"offset\":%" PRIu64, e->offset);
		else
			printf(",\"offset\":null");
		printf(",\"message\":");
		ms_json_put_str(stdout, e->msg, strlen(e->msg));
		printf("}");
	}
	printf("],\"errors_not_listed\":%zu}\n", a->errors_dropped);
}

static void print_json(const struct ms_archive *a,
		       const struct ms_arc_counts *c,
		       const struct ms_compact_levels *l, int scanned)
{
	printf("{\"archive\":");
	ms_json_put_str(stdout, a->dir, strlen(a->dir));
	printf(",\n");
	json_totals(a, c, scanned);
	json_levels(l);
	json_manifest(a);
	json_threads(a);
	json_errors(a);
}

/* Threads the consumer refused a ring (the manifest's word: no segment
 * holds them), and the events they reported as not recorded. */
static void text_refused(const struct ms_json_node *m)
{
	const struct ms_json_node *t = ms_json_get(m, "totals");
	uint64_t rings = 0, events = 0;

	ms_json_u64(ms_json_get(t, "rings_refused"), &rings);
	ms_json_u64(ms_json_get(t, "events_unrecorded"), &events);
	if (rings)
		printf("unrecorded  %" PRIu64 " events of threads whose ring "
		       "the consumer refused (%" PRIu64 " rings; its log says "
		       "why)\n",
		       events, rings);
	else if (events)
		printf("unrecorded  %" PRIu64 " events of threads that found "
		       "no free ring\n",
		       events);
}

/* Events a full disk cost: most are in `dropped` (LOST records of cause
 * disk); those no record could hold only the manifest counts. */
static void text_disk(const struct ms_json_node *m)
{
	const struct ms_json_node *t = ms_json_get(m, "totals");
	uint64_t lost = 0, unwritten = 0;

	if (ms_json_u64(ms_json_get(t, "events_disk_lost"), &lost) < 0 || !lost)
		return;
	ms_json_u64(ms_json_get(t, "events_unwritten"), &unwritten);
	printf("disk full   %" PRIu64 " events could not be written: %" PRIu64
	       " of them in `dropped` above, %" PRIu64 " not\n",
	       lost, lost - (unwritten < lost ? unwritten : lost), unwritten);
}

/* What the consumer's idle compaction did (its manifest says). */
static void text_idle(const struct ms_json_node *m)
{
	const struct ms_json_node *ic = ms_json_get(m, "idle_compaction");
	uint64_t n = 0, level = 0, saved = 0;

	if (ms_json_u64(ms_json_get(ic, "rewritten"), &n) < 0 || !n)
		return;
	ms_json_u64(ms_json_get(ic, "level"), &level);
	ms_json_u64(ms_json_get(ic, "bytes_saved"), &saved);
	printf("compacted   %" PRIu64
	       " segments rewritten at zstd level %" PRIu64
	       " by the consumer while idle, %" PRIu64 " bytes smaller\n",
	       n, level, saved);
}

/* The segments by the zstd level their headers say: what `memscope
 * compact` would still do. */
static void text_levels(const struct ms_compact_levels *l)
{
	const char *sep = "levels      ", *what = "";

	for (int i = MS_COMPACT_LEVEL_MAX; i >= MS_COMPACT_LEVEL_MIN; i--) {
		uint64_t n = l->at[i - MS_COMPACT_LEVEL_MIN];

		if (!n)
			continue;
		/* "N segments at zstd level L" first, "N at ..." after */
		if (*sep == 'l')
			what = n == 1 ? " segment" : " segments";
		printf("%s%" PRIu64 "%s at zstd level %d", sep, n, what, i);
		sep = ", ";
		what = "";
	}
	if (l->unsaid) {
		printf("%s%" PRIu64 " not saying their level (older)", sep,
		       l->unsaid);
		sep = ", ";
	}
	if (l->bundled) {
		printf("%s%" PRIu64 " small %s in bundles", sep, l->bundled,
		       l->bundled == 1 ? "segment" : "segments");
		sep = ", ";
	}
	if (l->unread) {
		printf("%s%" PRIu64 " with a header that cannot be read", sep,
		       l->unread);
		sep = ", ";
	}
	if (*sep == 'l')
		return;
	printf("\n");
	if (l->below)
		printf("            'memscope compact' would recompress the "
		       "%" PRIu64 " finished below level %d\n",
		       l->below, MS_COMPACT_LEVEL_DEFAULT);
}

static void text_totals(const struct ms_archive *a,
			const struct ms_arc_counts *c,
			const struct ms_compact_levels *l, int scanned)
{
	const struct ms_json_node *m = ms_archive_manifest(a);

	printf("archive     %s\n", a->dir);
	if (m) {
		printf("session    ");
		ms_text_put_scalars(stdout, m, "");
		printf("\n");
	}
	printf("processes   %zu\nthreads     %zu\n", a->nprocesses,
	       a->nthreads);
	printf("events      %" PRIu64 "\nallocs      %" PRIu64
	       "\nfrees       %" PRIu64 "\ndropped     %" PRIu64 "\n",
	       c->events, c->allocs, c->frees, c->dropped);
	text_refused(m);
	text_disk(m);
	printf("bytes       %" PRIu64 " raw, %" PRIu64 " on disk in %" PRIu64
	       " segments (%.2f bytes/event, "
	       "compression %.1fx)\n",
	       c->raw_bytes, c->disk_bytes, c->segments,
	       ratio(c->disk_bytes, c->events),
	       ratio(c->raw_bytes, c->disk_bytes));
	text_idle(m);
	text_levels(l);
	printf("allocated   %" PRIu64 " bytes (estimated: size x weight)\n",
	       ms_arc_estimated_bytes(c));
	printf("counted     %s\n",
	       scanned ? "from every frame of the segments"
		       : "from the finished session's manifest, every "
			 "segment's size checked (--verify reads every "
			 "frame)");
}

static void text_threads(const struct ms_archive *a)
{
	if (!a->nthreads)
		return;
	printf("\n%8s %8s %-16s %12s %12s %10s %12s %5s\n", "pid", "tid",
	       "name", "allocs", "frees", "dropped", "events", "segs");
	for (size_t i = 0; i < a->nthreads; i++) {
		const struct ms_arc_thread *t = &a->threads[i];

		printf("%8u %8u ", t->pid, t->tid);
		ms_text_put_str(stdout, t->name, strlen(t->name));
		printf("%*s %12" PRIu64 " %12" PRIu64 " %10" PRIu64
		       " %12" PRIu64 " %5" PRIu64 "\n",
		       (int)(strlen(t->name) < 16 ? 16 - strlen(t->name) : 0),
		       "", t->c.allocs, t->c.frees, t->c.dropped, t->c.events,
		       t->c.segments);
	}
}

static void print_text(const struct ms_archive *a,
		       const struct ms_arc_counts *c,
		       const struct ms_compact_levels *l, int scanned)
{
	text_totals(a, c, l, scanned);
	text_threads(a);
	if (a->nerrors || a->errors_dropped)
		printf("\n%zu problems found (listed on stderr); the counts "
		       "above cover what is readable\n",
		       a->nerrors + a->errors_dropped);
}

static int parse_args(int argc, char **argv, int *json, int *verify,
		      const char **dir)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"verify", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			*json = 1;
		} else if (c == 'v') {
			*verify = 1;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	return ms_cli_archive_operand("stats", argc, argv, dir);
}

int ms_cmd_stats(int argc, char **argv)
{
	struct ms_arc_counts c;
	struct ms_compact_levels levels;
	struct ms_archive *a;
	struct ms_cli_progress cli;
	const char *dir = NULL;
	int json = 0, verify = 0, scanned = 1, rc;

	rc = parse_args(argc, argv, &json, &verify, &dir);
	if (rc >= 0)
		return rc;
	ms_cli_progress_init(&cli, "stats");
	rc = ms_archive_open(dir, ms_cli_on_error, &cli, &a);
	if (rc) {
		fprintf(stderr, "memscope stats: cannot read archive %s: %s\n",
			dir, strerror(-rc));
		return 1;
	}
	a->on_progress = ms_cli_on_progress;
	a->on_progress_arg = &cli;
	if (!verify && ms_archive_counts_from_manifest(a) == 0) {
		scanned = 0;
		rc = 0;
	} else {
		rc = ms_archive_scan(a);
	}
	ms_cli_progress_done(&cli);
	if (rc)
		fprintf(stderr, "memscope stats: %s\n", strerror(-rc));
	ms_archive_totals(a, &c);
	ms_compact_levels(a, MS_COMPACT_LEVEL_DEFAULT, &levels);
	if (json)
		print_json(a, &c, &levels, scanned);
	else
		print_text(a, &c, &levels, scanned);
	rc = rc || a->nerrors || a->errors_dropped || fflush(stdout) ? 1 : 0;
	ms_archive_close(a);
	return rc;
}
