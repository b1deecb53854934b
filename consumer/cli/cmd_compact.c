/* SPDX-License-Identifier: MIT */
/* memscope compact [--level N] [--jobs N] ARCHIVE: a finished archive,
 * smaller. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <pthread.h>

#include "archive.h"
#include "archive_compact.h"
#include "archive_json.h"
#include "archive_scan.h"
#include "cli.h"
#include "cli_progress.h"
#include "session.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memscope compact [--level N] [--jobs N] ARCHIVE\n"
		"\n"
		"Writes the segments of a finished archive again at a higher "
		"zstd\n"
		"level: the same records in fewer bytes. The consumer "
		"compresses\n"
		"fast, to keep up with the program; this takes its time "
		"(about\n"
		"0.6 us an event at level 15 on one core) once the session "
		"is over.\n"
		"\n"
		"  --level N  zstd level, 1..19 (default %d)\n"
		"  --jobs N   segments compacted at once, 1..64 (default: "
		"the CPUs)\n"
		"  --help     this text\n"
		"\n"
		"Each segment is written beside itself, read back and compared "
		"with\n"
		"the original frame by frame, and replaces it only when "
		"smaller, so\n"
		"an interrupted compaction leaves every segment whole. "
		"Damaged or\n"
		"unfinished segments, and bundles of short threads, are left "
		"as they\n"
		"are, and segments already written at the level asked or "
		"above (by\n"
		"the consumer's idle compaction) are not read again. The "
		"manifest's\n"
		"byte counts are updated at the end. The archive must be "
		"finished:\n"
		"stop its consumer first.\n",
		MS_COMPACT_LEVEL_DEFAULT);
}

/* A number in [lo, hi] for `opt`, or -1 with the error said. */
static long number(const char *opt, const char *v, long lo, long hi)
{
	uint64_t n;

	if (ms_parse_u64(v, &n) < 0 || n < (uint64_t)lo || n > (uint64_t)hi) {
		fprintf(stderr,
			"memscope compact: %s '%s': expected a number from "
			"%ld to %ld\n",
			opt, v, lo, hi);
		return -1;
	}
	return (long)n;
}

static int parse_args(int argc, char **argv, int *level, long *jobs,
		      const char **dir)
{
	static const struct option opts[] = {
		{"level", required_argument, NULL, 'l'},
		{"jobs", required_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	long v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'l' || c == 'j') {
			v = c == 'l' ? number("--level", optarg, 1, 19)
				     : number("--jobs", optarg, 1, 64);
			if (v < 0)
				return 2;
			if (c == 'l')
				*level = (int)v;
			else
				*jobs = v;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	return ms_cli_archive_operand("compact", argc, argv, dir);
}

/* 0 when the archive's session is over; otherwise says why not. */
static int finished(const struct ms_archive *a, const char *dir,
		    const char *cmd)
{
	const struct ms_json_node *st =
		ms_json_get(ms_archive_manifest(a), "state");

	if (!ms_archive_manifest(a)) {
		fprintf(stderr,
			"memscope %s: %s has no readable manifest: "
			"only the archive of a finished session is "
			"compacted\n",
			cmd, dir);
		return -1;
	}
	if (!st || st->type != MS_JSON_STRING || strcmp(st->str, "finished")) {
		fprintf(stderr,
			"memscope %s: %s is not finished (state \"%s\"): "
			"stop its consumer first\n",
			cmd, dir,
			st && st->type == MS_JSON_STRING ? st->str : "unknown");
		return -1;
	}
	return 0;
}

struct tally {
	uint64_t before, after, done, total;
	size_t rewritten, kept, already, left;
	struct ms_cli_progress cli;
	/* the work, shared by the workers */
	const struct ms_archive *a;
	struct job *jobs;
	size_t njobs, next;
	uint64_t *saved; /* per a->threads[i] */
	int level;
	pthread_mutex_t lock; /* the tally and stderr */
};

/* One segment file to compact: segment k of thread i. */
struct job {
	size_t i, k;
};

static void progress(struct tally *t)
{
	if (!ms_cli_progress_due(&t->cli))
		return;
	fprintf(stderr,
		"\rmemscope %s: compacted %.1f of %.1f MiB (%.0f%%), %.1f "
		"MiB saved",
		t->cli.cmd, t->done / 1048576.0, t->total / 1048576.0,
		t->total ? 100.0 * t->done / t->total : 100.0,
		(t->before - t->after) / 1048576.0);
	fflush(stderr);
}

/* Compacts one segment file and counts it. */
static void compact_one(struct tally *t, const struct job *j)
{
	const struct ms_arc_seg *s = &t->a->threads[j->i].segs[j->k];
	uint64_t before = 0, after = 0; /* a file gone: set by no one */
	char why[256];
	int rc;

	rc = ms_compact_segment(s->path, t->level, NULL, NULL, &before, &after,
				why, sizeof(why));
	pthread_mutex_lock(&t->lock);
	t->done += s->size;
	t->before += before;
	t->after += after;
	t->saved[j->i] += before - after;
	if (rc == 1) {
		t->rewritten++;
	} else if (rc == 0) {
		t->kept++;
	} else if (rc == MS_COMPACT_ALREADY) {
		t->already++;
	} else {
		t->left++;
		ms_cli_progress_done(&t->cli);
		fprintf(stderr, "memscope %s: %s: %s; left as it is\n",
			t->cli.cmd, s->path, why[0] ? why : strerror(-rc));
	}
	progress(t);
	pthread_mutex_unlock(&t->lock);
}

static void *worker(void *arg)
{
	struct tally *t = arg;
	size_t n;

	while ((n = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED)) <
	       t->njobs)
		compact_one(t, &t->jobs[n]);
	return NULL;
}

/* Lists the segment files (not bundled ones), largest first, so that the
 * last to finish are small. */
static int by_size(const void *x, const void *y, void *arg)
{
	const struct ms_archive *a = arg;
	const struct job *p = x, *q = y;
	uint64_t u = a->threads[p->i].segs[p->k].size;
	uint64_t v = a->threads[q->i].segs[q->k].size;

	return u > v ? -1 : u < v;
}

static int list_jobs(struct tally *t)
{
	const struct ms_archive *a = t->a;
	size_t n = 0;

	for (size_t i = 0; i < a->nthreads; i++)
		n += a->threads[i].nsegs;
	t->jobs = calloc(n + 1, sizeof(*t->jobs));
	if (!t->jobs)
		return -ENOMEM;
	for (size_t i = 0; i < a->nthreads; i++)
		for (size_t k = 0; k < a->threads[i].nsegs; k++)
			if (!a->threads[i].segs[k].mem) {
				t->jobs[t->njobs++] = (struct job){i, k};
				t->total += a->threads[i].segs[k].size;
			}
	qsort_r(t->jobs, t->njobs, sizeof(*t->jobs), by_size, (void *)a);
	return 0;
}

/* Runs the jobs on `n` threads (this one among them). */
static void run_jobs(struct tally *t, long n)
{
	pthread_t th[64];
	long started = 0;

	if (n > 64)
		n = 64;
	while (started < n - 1 &&
	       pthread_create(&th[started], NULL, worker, t) == 0)
		started++;
	worker(t);
	for (long i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* What was done: on stdout for compact, on stderr after `cmd`'s name
 * for another command (record). */
static void summary(const struct ms_archive *a, const struct tally *t,
		    uint64_t events, const char *cmd)
{
	int own = !strcmp(cmd, "compact");
	FILE *f = own ? stdout : stderr;
	char pre[64] = "";

	if (!own)
		snprintf(pre, sizeof(pre), "memscope %s: compacted: ", cmd);
	fprintf(f, "%s%zu segment%s rewritten, %zu kept (no smaller), ", pre,
		t->rewritten, t->rewritten == 1 ? "" : "s", t->kept);
	if (t->already)
		fprintf(f, "%zu already at level %d or above, ", t->already,
			t->level);
	fprintf(f, "%zu left as %s\n", t->left,
		t->left == 1 ? "it was" : "they were");
	fprintf(f, "%s%.2f MiB -> %.2f MiB on disk in segment files", pre,
		t->before / 1048576.0, t->after / 1048576.0);
	if (events)
		fprintf(f, " (%.2f -> %.2f bytes/event over the archive)",
			(double)a->disk_bytes / (double)events,
			(double)(a->disk_bytes - (t->before - t->after)) /
				(double)events);
	fprintf(f, "\n");
}

int ms_compact_archive(const char *dir, int level, long jobs, const char *cmd)
{
	struct ms_arc_counts c = {0};
	struct ms_archive *a;
	struct tally t = {0};
	int rc;

	ms_cli_progress_init(&t.cli, cmd);
	rc = ms_archive_open(dir, ms_cli_on_error, &t.cli, &a);
	if (rc) {
		fprintf(stderr, "memscope %s: cannot read archive %s: %s\n",
			cmd, dir, strerror(-rc));
		return 1;
	}
	if (finished(a, dir, cmd) < 0) {
		ms_archive_close(a);
		return 1;
	}
	/* the manifest's counts hold (every file as it says), or none */
	if (ms_archive_counts_from_manifest(a) == 0)
		ms_archive_totals(a, &c);
	t.a = a;
	t.level = level;
	t.saved = calloc(a->nthreads + 1, sizeof(*t.saved));
	pthread_mutex_init(&t.lock, NULL);
	if (!t.saved || list_jobs(&t) < 0) {
		fprintf(stderr, "memscope %s: out of memory\n", cmd);
		rc = 1;
		goto out;
	}
	run_jobs(&t, jobs < 1 ? 1 : jobs);
	ms_cli_progress_done(&t.cli);
	rc = t.before > t.after ? ms_compact_manifest(dir, a, t.saved) : 0;
	if (rc)
		fprintf(stderr,
			"memscope %s: %s/manifest.json: its byte counts "
			"were not updated (%s); 'memscope stats' reads every "
			"frame instead\n",
			cmd, dir,
			rc == -ENOENT ? "not as expected" : strerror(-rc));
	summary(a, &t, c.events, cmd);
	rc = rc || t.left || a->nerrors || a->errors_dropped ? 1 : 0;
out:
	pthread_mutex_destroy(&t.lock);
	free(t.jobs);
	free(t.saved);
	ms_archive_close(a);
	return rc;
}

int ms_cmd_compact(int argc, char **argv)
{
	const char *dir = NULL;
	int level = MS_COMPACT_LEVEL_DEFAULT, rc, fd;
	long jobs = sysconf(_SC_NPROCESSORS_ONLN);

	rc = parse_args(argc, argv, &level, &jobs, &dir);
	if (rc >= 0)
		return rc;
	/* Two compactions of one archive would take each other's temporary
	 * files: the second is refused. (No lock when the directory cannot
	 * be opened: reading it fails below with the reason.) */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "memscope compact: %s: %s\n", dir,
			errno == EWOULDBLOCK
				? "another 'memscope compact' is at work on it"
				: strerror(errno));
		close(fd);
		return 1;
	}
	rc = ms_compact_archive(dir, level, jobs, "compact");
	if (fd >= 0)
		close(fd);
	return rc;
}
