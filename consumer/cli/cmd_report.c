/* SPDX-License-Identifier: MIT */
/*
 * memscope report ARCHIVE [--format text|json|html] [-o FILE] [--pid P]
 *                 [--tid T] [--from T0] [--to T1] [--top N]
 * Where the memory went: the analysis room's profile, written as text,
 * JSON (docs/report.md) or one HTML page (docs/views.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "cli.h"
#include "cli_progress.h"
#include "profile.h"
#include "report.h"
#include "report_html.h"
#include "webpath.h"

struct report_opts {
	const char *dir, *out;
	int json, html;
	char web[4096]; /* --format html: the assets' directory */
	struct ms_profile_opts p;
	struct ms_report_opts r;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memscope report ARCHIVE [--format text|json|html] "
		"[-o FILE]\n"
		"                [--pid P] [--tid T] [--from T0] [--to T1] "
		"[--top N]\n"
		"\n"
		"Where the memory went: what was recorded, the peak heap and "
		"the\n"
		"stacks holding it, leaks, the top sites by calls, bytes and\n"
		"temporary allocations, lifetimes, sizes, threads, the heap "
		"over\n"
		"time (docs/report.md explains each section).\n"
		"\n"
		"  --format F     text (default), json, or html (one page "
		"with\n"
		"                 a time window and a thread to pick; "
		"docs/views.md)\n"
		"  -o FILE        write there instead of stdout\n"
		"  --pid P        one process\n"
		"  --tid T        the allocations of one thread (wherever "
		"freed)\n"
		"  --from T0      a window: figures for [T0, T1] only; times "
		"from\n"
		"  --to T1        the first event, in s (or with ns, us, ms, "
		"s)\n"
		"  --top N        rows per table (default 10)\n"
		"  --width N      columns of the heap chart (default 72)\n"
		"  --debug-dir D  where separate debug files are (':'-"
		"separated)\n"
		"  --no-symbols   module+offset only, no symbol lookup\n"
		"  --help         this text\n"
		"\n"
		"Names come from the binaries' debug information, separate "
		"debug\n"
		"files, debuginfod (DEBUGINFOD_URLS) or the archive's own "
		"symbol\n"
		"store ('memscope symbolize'). Damage in the archive is "
		"reported\n"
		"on stderr and the figures cover what could be read; the exit\n"
		"status is then 1.\n");
}

/* "1.5", "1.5s", "200ms", "30us", "100ns" -> ns. 0 or -EINVAL. */
static int parse_time(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double scale;
	} units[] = {
		{"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}};
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || v > 1e18)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			*ns = (uint64_t)(v * units[i].scale + 0.5);
			return 0;
		}
	return -EINVAL;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v == 0 || v > UINT32_MAX || *s == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int bad(const char *opt, const char *val, const char *want)
{
	fprintf(stderr,
		"memscope report: %s '%s': expected %s; try 'memscope "
		"report --help'\n",
		opt, val, want);
	return 2;
}

/* 2 on a usage error, 0 for --help, -1 to go on. */
static int parse_option(int c, struct report_opts *o)
{
	uint32_t v;

	switch (c) {
	case 'f':
		if (strcmp(optarg, "text") && strcmp(optarg, "json") &&
		    strcmp(optarg, "html"))
			return bad("--format", optarg, "text, json or html");
		o->json = !strcmp(optarg, "json");
		o->html = !strcmp(optarg, "html");
		return -1;
	case 'o':
		o->out = optarg;
		return -1;
	case 'p':
		return parse_u32(optarg, &o->p.pid)
			       ? bad("--pid", optarg, "a process id")
			       : -1;
	case 't':
		return parse_u32(optarg, &o->p.tid)
			       ? bad("--tid", optarg, "a thread id")
			       : -1;
	case 'F':
		return parse_time(optarg, &o->p.from_ns)
			       ? bad("--from", optarg,
				     "a time like 1.5 or 200ms")
			       : -1;
	case 'T':
		return parse_time(optarg, &o->p.to_ns)
			       ? bad("--to", optarg, "a time like 1.5 or 200ms")
			       : -1;
	case 'n':
		if (parse_u32(optarg, &v) || v > 100000)
			return bad("--top", optarg, "a count from 1");
		o->r.top = v;
		return -1;
	case 'w':
		if (parse_u32(optarg, &v) || v > 200)
			return bad("--width", optarg, "20 to 200 columns");
		o->r.width = v;
		return -1;
	case 'd':
		o->p.debug_dirs = optarg;
		return -1;
	case 'N':
		o->p.no_symbols = 1;
		return -1;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

static int parse_args(int argc, char **argv, struct report_opts *o)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"pid", required_argument, NULL, 'p'},
		{"tid", required_argument, NULL, 't'},
		{"from", required_argument, NULL, 'F'},
		{"to", required_argument, NULL, 'T'},
		{"top", required_argument, NULL, 'n'},
		{"width", required_argument, NULL, 'w'},
		{"debug-dir", required_argument, NULL, 'd'},
		{"no-symbols", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1)
		if ((r = parse_option(c, o)) >= 0)
			return r;
	if (optind != argc - 1) {
		fprintf(stderr, "memscope report: expected one ARCHIVE "
				"directory; try 'memscope report --help'\n");
		return 2;
	}
	if (o->p.to_ns != MS_PROFILE_END && o->p.to_ns < o->p.from_ns) {
		fprintf(stderr, "memscope report: --to is before --from\n");
		return 2;
	}
	o->dir = argv[optind];
	return -1;
}

static int write_html(FILE *f, const struct report_opts *o,
		      struct ms_profile *p, struct ms_slices *s)
{
	const char *budget = getenv("MEMSCOPE_HTML_BUDGET");
	struct ms_html_opts ho = {o->web, MS_HTML_BUDGET, 0};
	int err = ms_slices_finish(s);

	if (budget && *budget)
		ho.budget = strtoull(budget, NULL, 10);
	return err ? err : ms_report_html(f, p, s, &ho);
}

static int write_report(const struct report_opts *o, struct ms_profile *p,
			struct ms_slices *s)
{
	FILE *f = stdout;
	int err;

	if (o->out && !(f = fopen(o->out, "w"))) {
		fprintf(stderr, "memscope report: cannot write %s: %s\n",
			o->out, strerror(errno));
		return 1;
	}
	err = o->html	? write_html(f, o, p, s)
	      : o->json ? ms_report_json(f, p, &o->r)
			: ms_report_text(f, p, &o->r);
	if (fflush(f) != 0)
		err = -errno;
	if (f != stdout && fclose(f) != 0 && !err)
		err = -errno;
	if (err) {
		fprintf(stderr, "memscope report: cannot write %s: %s\n",
			o->out ? o->out : "the report", strerror(-err));
		return 1;
	}
	return 0;
}

int ms_cmd_report(int argc, char **argv)
{
	struct report_opts o = {.p.to_ns = MS_PROFILE_END,
				.r = {.top = 10, .width = 72}};
	struct ms_cli_progress cli;
	struct ms_slices *s = NULL;
	struct ms_archive *a;
	struct ms_profile *p;
	int r = parse_args(argc, argv, &o), err;

	if (r >= 0)
		return r;
	/* before a long pass: the page's scripts are there, and its slices
	 * watch the pass */
	if (o.html && (ms_web_dir(o.web, sizeof(o.web)) < 0 ||
		       ms_slices_create(&s) < 0)) {
		ms_slices_destroy(s);
		return 1;
	}
	if (s)
		o.p.sink = &s->sink;
	ms_cli_progress_init(&cli, "report");
	err = ms_archive_open(o.dir, ms_cli_on_error, &cli, &a);
	if (err) {
		fprintf(stderr, "memscope report: cannot read %s: %s\n", o.dir,
			strerror(-err));
		ms_slices_destroy(s);
		return 1;
	}
	a->on_progress = ms_cli_on_progress;
	a->on_progress_arg = &cli;
	err = ms_profile_build(a, &o.p, &p);
	ms_cli_progress_done(&cli);
	if (err) {
		fprintf(stderr, "memscope report: %s: %s\n", o.dir,
			strerror(-err));
		ms_archive_close(a);
		ms_slices_destroy(s);
		return 1;
	}
	r = write_report(&o, p, s);
	if (!r && (a->nerrors || a->errors_dropped))
		r = 1;
	ms_profile_free(p);
	ms_archive_close(a);
	ms_slices_destroy(s);
	return r;
}
