/* SPDX-License-Identifier: MIT */
/*
 * memscope export ARCHIVE --format folded|pprof|speedscope [-o FILE]
 *                 [--weight bytes|count|leaked|peak|temporary]
 *                 [--pid P] [--tid T] [--from T0] [--to T1]
 * A profile in the formats flame graph tools, pprof and speedscope read
 * (docs/export.md): the analysis room writes them, this parses and opens.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_profile.h"
#include "export.h"

/* as ints: ms_cli_choice() fills them */
enum { FMT_NONE, FMT_FOLDED, FMT_PPROF, FMT_SPEEDSCOPE };

struct export_opts {
	const char *dir, *out;
	int fmt;
	enum ms_export_weight w;
	int weight_given;
	struct ms_profile_opts p;
	struct ms_profile *prof;
	struct ms_split *split;
};

static void usage(FILE *f)
{
	fputs("usage: memscope export ARCHIVE --format folded|pprof|speedscope "
	      "[-o FILE]\n"
	      "                [--weight bytes|count|leaked|peak|temporary]\n"
	      "                [--pid P] [--tid T] [--from T0] [--to T1]\n"
	      "\n"
	      "The allocation stacks of an archive for other tools "
	      "(docs/export.md):\n"
	      "  folded      'frame;frame;... N' lines, root first: "
	      "flamegraph.pl\n"
	      "  pprof       profile.proto, gzipped: go tool pprof "
	      "-http=: FILE\n"
	      "  speedscope  JSON, one profile per thread: speedscope.app\n"
	      "\n"
	      "  --format F     folded, pprof or speedscope\n"
	      "  -o FILE        write there instead of stdout (pprof: "
	      "required\n"
	      "                 when stdout is a terminal)\n"
	      "  --weight W     what N is for folded and speedscope: bytes "
	      "(allocated,\n"
	      "                 the default), count (allocations), leaked "
	      "(bytes never\n"
	      "                 freed), peak (bytes live at the peak), "
	      "temporary\n"
	      "                 (allocations freed before the thread's "
	      "next call);\n"
	      "                 pprof carries alloc_* and inuse_* "
	      "together\n",
	      f);
	fputs(MS_CLI_FILTER_HELP, f);
	fputs("  --help         this text\n"
	      "\n"
	      "Stacks start at the first frame outside the allocator. "
	      "Figures\n"
	      "from sampled archives are weighted estimates.\n",
	      f);
}

/* 2 on a usage error, 0 for --help, -1 to go on. */
static int parse_option(int c, void *arg)
{
	static const char *const formats[] = {"folded", "pprof", "speedscope"};
	struct export_opts *o = arg;
	int r = ms_cli_filter("export", c, optarg, &o->p);

	if (r)
		return r;
	switch (c) {
	case 'f':
		r = ms_cli_choice("export", "--format", optarg, formats, 3,
				  &o->fmt);
		if (r < 0)
			o->fmt++; /* FMT_NONE comes first */
		return r;
	case 'o':
		o->out = optarg;
		return -1;
	case 'W':
		o->weight_given = 1;
		return ms_cli_weight("export", optarg, &o->w);
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

/* What the options say together. 2 (printed) or -1. */
static int check_args(struct export_opts *o)
{
	if (o->fmt == FMT_NONE) {
		fputs("memscope export: --format is required: folded, pprof "
		      "or speedscope\n",
		      stderr);
		return 2;
	}
	if (o->fmt == FMT_PPROF && o->weight_given) {
		fputs("memscope export: --weight is for folded and speedscope; "
		      "pprof carries alloc_* and inuse_* together (pick one "
		      "with pprof's -sample_index)\n",
		      stderr);
		return 2;
	}
	if (o->fmt == FMT_PPROF && !o->out && isatty(STDOUT_FILENO)) {
		fputs("memscope export: pprof is gzipped binary; give -o "
		      "FILE\n",
		      stderr);
		return 2;
	}
	if (ms_cli_check_window("export", &o->p, "--from", "--to"))
		return 2;
	return -1;
}

static int parse_args(int argc, char **argv, struct export_opts *o)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"weight", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		MS_CLI_FILTER_OPTIONS,
		{0},
	};
	int r = ms_cli_getopt("export", argc, argv, opts, parse_option, o, 1,
			      "one ARCHIVE directory");

	if (r >= 0)
		return r;
	o->dir = argv[optind];
	return check_args(o);
}

static int write_export(FILE *f, void *arg)
{
	const struct export_opts *o = arg;

	switch (o->fmt) {
	case FMT_FOLDED:
		return ms_export_folded(f, o->prof, o->w);
	case FMT_PPROF: {
		size_t n;
		const struct ms_split_cell *c = ms_split_cells(o->split, &n);

		return ms_export_pprof(f, o->prof, c, n);
	}
	default:
		return ms_export_speedscope(f, o->prof, o->split, o->w);
	}
}

int ms_cmd_export(int argc, char **argv)
{
	struct export_opts o = {.p.to_ns = MS_PROFILE_END, .w = MS_XW_BYTES};
	struct ms_heap_sink sink;
	struct ms_cli_profile cp;
	int r = parse_args(argc, argv, &o);

	if (r >= 0)
		return r;
	/* pprof and speedscope split each site by allocating thread */
	if (o.fmt != FMT_FOLDED) {
		if (ms_split_create(&o.split) < 0) {
			fputs("memscope export: out of memory\n", stderr);
			return 1;
		}
		ms_split_sink(o.split, &sink);
		o.p.sink = &sink;
	}
	r = ms_cli_profile_open("export", o.dir, &o.p, &cp);
	if (r == 0 && o.split && ms_split_finish(o.split) < 0) {
		fputs("memscope export: out of memory\n", stderr);
		r = 1;
	}
	if (r == 0) {
		o.prof = cp.p;
		r = ms_cli_write("export", o.out, write_export, &o);
		if (!r && ms_cli_profile_damaged(&cp))
			r = 1;
	}
	ms_cli_profile_close(&cp);
	ms_split_destroy(o.split);
	return r;
}
