/* SPDX-License-Identifier: MIT */
/*
 * memscope report ARCHIVE [--format text|json|html] [-o FILE] [--pid P]
 *                 [--tid T] [--from T0] [--to T1] [--top N]
 * Where the memory went: the analysis room's profile, written as text,
 * JSON (docs/report.md) or one HTML page (docs/views.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_profile.h"
#include "report.h"
#include "report_html.h"
#include "webpath.h"

enum { FMT_TEXT, FMT_JSON, FMT_HTML };

struct report_opts {
	const char *dir, *out;
	int fmt;
	char web[4096]; /* html: the directory of the page's scripts */
	struct ms_profile_opts p;
	struct ms_report_opts r;
	struct ms_profile *prof;
	struct ms_slices *slices; /* html: the figures by thread and time */
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
		"  --top N        rows per table (default 10)\n"
		"  --width N      columns of the heap chart (default 72)\n");
	fputs(MS_CLI_FILTER_HELP, f);
	fputs("  --help         this text\n"
	      "\n"
	      "Names come from the binaries' debug information, separate "
	      "debug\n"
	      "files, debuginfod (DEBUGINFOD_URLS) or the archive's own "
	      "symbol\n"
	      "store ('memscope symbolize'). Damage in the archive is "
	      "reported\n"
	      "on stderr and the figures cover what could be read; the exit\n"
	      "status is then 1.\n",
	      f);
}

/* 2 on a usage error, 0 for --help, -1 to go on. */
static int parse_option(int c, void *arg)
{
	static const char *const formats[] = {"text", "json", "html"};
	struct report_opts *o = arg;
	uint32_t v;
	int r = ms_cli_filter("report", c, optarg, &o->p);

	if (r)
		return r;
	switch (c) {
	case 'f':
		return ms_cli_choice("report", "--format", optarg, formats, 3,
				     &o->fmt);
	case 'o':
		o->out = optarg;
		return -1;
	case 'n':
		return ms_cli_top("report", optarg, &o->r.top);
	case 'w':
		if (ms_cli_parse_u32(optarg, &v) || v > 200)
			return ms_cli_bad("report", "--width", optarg,
					  "20 to 200 columns");
		o->r.width = v;
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
		{"top", required_argument, NULL, 'n'},
		{"width", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		MS_CLI_FILTER_OPTIONS,
		{0},
	};
	int r = ms_cli_getopt("report", argc, argv, opts, parse_option, o, 1,
			      "one ARCHIVE directory");

	if (r >= 0)
		return r;
	o->dir = argv[optind];
	if (ms_cli_check_window("report", &o->p, "--from", "--to"))
		return 2;
	return -1;
}

static int write_html(FILE *f, const struct report_opts *o)
{
	const char *budget = getenv("MEMSCOPE_HTML_BUDGET");
	struct ms_html_opts ho = {o->web, MS_HTML_BUDGET, 0};

	if (budget && *budget)
		ho.budget = strtoull(budget, NULL, 10);
	return ms_report_html(f, o->prof, o->slices, &ho);
}

static int write_report(FILE *f, void *arg)
{
	const struct report_opts *o = arg;

	switch (o->fmt) {
	case FMT_HTML:
		return write_html(f, o);
	case FMT_JSON:
		return ms_report_json(f, o->prof, &o->r);
	default:
		return ms_report_text(f, o->prof, &o->r);
	}
}

/*
 * html, before the long pass: the page's scripts are found, and its
 * slices watch the pass through the heap model's sink. 0, or 1 (printed).
 */
static int html_prepare(struct report_opts *o)
{
	if (ms_web_dir(o->web, sizeof(o->web)) < 0)
		return 1;
	if (ms_slices_create(&o->slices) < 0) {
		fputs("memscope report: out of memory\n", stderr);
		return 1;
	}
	o->p.sink = &o->slices->sink;
	return 0;
}

int ms_cmd_report(int argc, char **argv)
{
	struct report_opts o = {.p.to_ns = MS_PROFILE_END,
				.r = {.top = 10, .width = 72}};
	struct ms_cli_profile cp;
	int r = parse_args(argc, argv, &o);

	if (r >= 0)
		return r;
	if (o.fmt == FMT_HTML && html_prepare(&o)) {
		ms_slices_destroy(o.slices);
		return 1;
	}
	r = ms_cli_profile_open("report", o.dir, &o.p, &cp);
	if (r == 0 && o.slices && ms_slices_finish(o.slices) < 0) {
		fputs("memscope report: out of memory\n", stderr);
		r = 1;
	}
	if (r == 0) {
		o.prof = cp.p;
		r = ms_cli_write("report", o.out, write_report, &o);
		if (!r && ms_cli_profile_damaged(&cp))
			r = 1;
	}
	ms_cli_profile_close(&cp);
	ms_slices_destroy(o.slices);
	return r;
}
