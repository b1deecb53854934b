/* SPDX-License-Identifier: MIT */
/*
 * bench_merge: how fast an archive is read (consumer/archive/).
 *
 * usage: bench_merge [--runs N] [--modes LIST] [ARCHIVE]
 *
 * Modes (comma-separated, default "merge:0,merge,scan:0,scan"):
 *   merge  the time-ordered merge of every thread (archive_merge.h), as
 *          `memscope dump` and `memscope report` read an archive; each
 *          record's type, address, time and stack are touched
 *   scan   the counts of every stream (archive_scan.h), `memscope stats`
 * each with ":N" for N threads decoding ahead besides the reader
 * (ms_archive.read_threads; 0: none), or without for as many as pay.
 *
 * Every measurement runs in a child process of its own, so that its peak
 * RSS and CPU time are its own; the modes alternate round by round (the
 * machine may be shared). Prints, per mode, the median of the runs: wall
 * time, events per second (min-max), CPU seconds, and the largest peak RSS.
 * Without ARCHIVE, a synthetic archive (the unit tests' fixture) is written
 * to a temporary directory and read; that is what ctest runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "archive_fixture.h"
#include "archive_merge.h"
#include "archive_scan.h"

#define MAX_MODES 16
#define MAX_RUNS  101

struct mode {
	char name[32];
	int scan;
	int threads; /* ms_archive.read_threads */
	double wall[MAX_RUNS], cpu[MAX_RUNS];
	long rss_kb;
	uint64_t events;
	size_t errors;
};

/* What a child reports through its pipe. */
struct result {
	double wall;
	uint64_t events;
	size_t errors;
	int rc;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_merge(struct ms_archive *a, uint64_t *events)
{
	const struct ms_arc_event *e;
	struct ms_arc_merge *m;
	uint64_t n = 0, sink = 0;
	int rc = ms_arc_merge_open(a, NULL, &m);

	if (rc)
		return rc;
	while ((rc = ms_arc_merge_next(m, &e)) > 0) {
		sink += e->ns ^ e->ev->addr ^ e->ev->type;
		if (e->stack)
			sink += e->stack->frames[0];
		n++;
	}
	ms_arc_merge_close(m);
	*events = n + (sink == 42); /* keep the reads */
	return rc;
}

static int run_scan(struct ms_archive *a, uint64_t *events)
{
	struct ms_arc_counts c;
	int rc = ms_archive_scan(a);

	ms_archive_totals(a, &c);
	*events = c.events;
	return rc;
}

static struct result measure(const char *dir, const struct mode *md)
{
	struct result r = {0};
	struct ms_archive *a;
	double t0;

	r.rc = ms_archive_open(dir, NULL, NULL, &a);
	if (r.rc)
		return r;
	a->read_threads = md->threads;
	t0 = now();
	r.rc = md->scan ? run_scan(a, &r.events) : run_merge(a, &r.events);
	r.wall = now() - t0;
	r.errors = a->nerrors + a->errors_dropped;
	ms_archive_close(a);
	return r;
}

/* One measurement in a child; its CPU time and peak RSS from wait4(). */
static int one_run(const char *dir, struct mode *md, int k)
{
	struct rusage ru;
	struct result r;
	int fd[2], st;
	pid_t pid;

	if (pipe(fd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		r = measure(dir, md);
		_exit(write(fd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(fd[1]);
	if (read(fd[0], &r, sizeof(r)) != sizeof(r))
		r.rc = -EIO;
	close(fd[0]);
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		r.rc = r.rc ? r.rc : -ECHILD;
	if (r.rc)
		return r.rc;
	md->wall[k] = r.wall;
	md->cpu[k] = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	if (ru.ru_maxrss > md->rss_kb)
		md->rss_kb = ru.ru_maxrss;
	md->events = r.events;
	md->errors = r.errors;
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(struct mode *md, int runs)
{
	double w = median(md->wall, runs), c = median(md->cpu, runs);
	double ev = (double)md->events;

	printf("%-10s %12llu %9.3f %8.2f (%6.2f-%6.2f) %8.3f %8.1f %6zu\n",
	       md->name, (unsigned long long)md->events, w, ev / w / 1e6,
	       ev / md->wall[runs - 1] / 1e6, ev / md->wall[0] / 1e6, c,
	       md->rss_kb / 1024.0, md->errors);
}

static int parse_modes(const char *s, struct mode *m, int *n)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');

		if (*n == MAX_MODES)
			return -EINVAL;
		memset(&m[*n], 0, sizeof(m[*n]));
		snprintf(m[*n].name, sizeof(m[*n].name), "%s", t);
		m[*n].threads = colon ? atoi(colon + 1) : -1;
		if (colon)
			*colon = '\0';
		if (strcmp(t, "merge") && strcmp(t, "scan"))
			return -EINVAL;
		m[*n].scan = !strcmp(t, "scan");
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}

/* The synthetic archive ctest reads: 8 threads, 2 segments each. */
static int make_archive(char *dir, size_t len, struct fx_archive *fa)
{
	static const struct fx_spec sp = {
		.nproc = 2,
		.nthreads = 4,
		.nsegs = 2,
		.nframes = 4,
		.ops = 2000,
		.manifest = 1,
		.finished = 1,
		.tick_hz = 2400000000ull,
	};

	if (fx_tempdir(dir, len))
		return -errno;
	return fx_write(dir, &sp, fa);
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_merge [--runs N] "
			"[--modes merge[:N],scan[:N]] [ARCHIVE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct mode modes[MAX_MODES];
	const char *dir = NULL, *mlist = "merge:0,merge,scan:0,scan";
	char tmp[256] = "";
	struct fx_archive fa = {0};
	int runs = 5, nm = 0, rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--modes") && i + 1 < argc)
			mlist = argv[++i];
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else
			return usage();
	}
	if (runs < 1 || runs > MAX_RUNS || parse_modes(mlist, modes, &nm))
		return usage();
	if (!dir) {
		if (make_archive(tmp, sizeof(tmp), &fa)) {
			fprintf(stderr,
				"bench_merge: cannot write an archive\n");
			return 1;
		}
		dir = tmp;
	}
	for (int k = 0; k < runs && !rc; k++)
		for (int i = 0; i < nm && !rc; i++)
			rc = one_run(dir, &modes[i], k);
	if (rc) {
		fprintf(stderr, "bench_merge: %s: %s\n", dir, strerror(-rc));
	} else {
		printf("%s: median of %d runs\n", dir, runs);
		printf("%-10s %12s %9s %8s %15s %8s %8s %6s\n", "mode",
		       "events", "wall s", "M ev/s", "(min-max)", "cpu s",
		       "rss MB", "errors");
		for (int i = 0; i < nm; i++)
			report(&modes[i], runs);
	}
	if (tmp[0]) {
		fx_rmtree(tmp);
		fx_free(&fa);
	}
	return rc ? 1 : 0;
}
