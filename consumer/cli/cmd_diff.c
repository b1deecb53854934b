/* SPDX-License-Identifier: MIT */
/*
 * memscope diff BASE NEW [--format text|json|folded] [-o FILE] [--top N]
 *               [--from T0] [--to T1] [--base-from T0] [--base-to T1]
 *               [--new-from T0] [--new-to T1] [--weight W]
 * Growth by call site between two archives of the same program, or two
 * windows of one archive (docs/export.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_profile.h"
#include "diff.h"

/* as ints: ms_cli_choice() fills them */
enum { FMT_TEXT, FMT_JSON, FMT_FOLDED };

/* A window bound given for both sides (0) or for one (1 + side). */
struct bound {
	uint64_t ns;
	int given;
};

struct diff_opts {
	const char *dir[2], *out;
	int fmt;
	int weight_given;
	struct ms_diff_opts d;
	struct ms_profile_opts p[2];
	struct bound from[3], to[3]; /* both, base, new */
	struct ms_diff *diff;
};

static void usage(FILE *f)
{
	fputs("usage: memscope diff BASE NEW [--format text|json|folded] "
	      "[-o FILE]\n"
	      "                [--from T0] [--to T1] [--base-from T0] "
	      "[--base-to T1]\n"
	      "                [--new-from T0] [--new-to T1] [--top N] "
	      "[--weight W]\n"
	      "\n"
	      "How the allocations changed from BASE to NEW, two archives "
	      "of the same\n"
	      "program (or one archive twice, with two windows), by call "
	      "site: stacks\n"
	      "are matched by function and source file, not by address "
	      "or line\n"
	      "(docs/export.md).\n"
	      "\n"
	      "  --format F     text (default): totals and the sites that "
	      "grew and\n"
	      "                 shrank most; json: every stack; folded: "
	      "'stack base new'\n"
	      "                 lines for flamegraph.pl's differential "
	      "mode\n"
	      "  -o FILE        write there instead of stdout\n"
	      "  --top N        rows per text table (default 10)\n"
	      "  --weight W     the folded columns: bytes (default), count, "
	      "leaked,\n"
	      "                 peak or temporary\n"
	      "  --from T0      a window for both sides: [T0, T1]; times "
	      "from the\n"
	      "  --to T1        first event, in s (or with ns, us, ms, s)\n"
	      "  --base-from T0, --base-to T1, --new-from T0, --new-to T1\n"
	      "                 a window for one side (over --from/--to)\n"
	      "  --debug-dir D  where separate debug files are "
	      "(':'-separated)\n"
	      "  --no-symbols   module+offset only: matches the same build "
	      "only\n"
	      "  --help         this text\n",
	      f);
}

/* Window options: codes '0'..'2' (from: both, base, new) and '3'..'5'. */
static const char *const bound_names[] = {"--from", "--base-from", "--new-from",
					  "--to",   "--base-to",   "--new-to"};

static int parse_bound(int k, const char *arg, struct diff_opts *o)
{
	struct bound *b = k < 3 ? &o->from[k] : &o->to[k - 3];

	if (ms_cli_parse_time(arg, &b->ns))
		return ms_cli_bad("diff", bound_names[k], arg,
				  "a time like 1.5 or 200ms");
	b->given = 1;
	return -1;
}

/* 2 on a usage error, 0 for --help, -1 to go on. */
static int parse_option(int c, void *arg)
{
	static const char *const formats[] = {"text", "json", "folded"};
	struct diff_opts *o = arg;

	if (c >= '0' && c <= '5')
		return parse_bound(c - '0', optarg, o);
	switch (c) {
	case 'f':
		return ms_cli_choice("diff", "--format", optarg, formats, 3,
				     &o->fmt);
	case 'o':
		o->out = optarg;
		return -1;
	case 'n':
		return ms_cli_top("diff", optarg, &o->d.top);
	case 'W':
		o->weight_given = 1;
		return ms_cli_weight("diff", optarg, &o->d.w);
	case 'd':
	case 'N':
		return ms_cli_filter("diff", c, optarg, &o->p[0]);
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

/* Each side's window: its own bounds, else those of both. 2 or -1. */
static int windows(struct diff_opts *o)
{
	static const char *const side[] = {"base", "new"};

	o->p[1] = o->p[0];
	for (int s = 0; s < 2; s++) {
		const struct bound *f =
			o->from[1 + s].given ? &o->from[1 + s] : &o->from[0];
		const struct bound *t =
			o->to[1 + s].given ? &o->to[1 + s] : &o->to[0];
		char end[40];

		o->p[s].from_ns = f->given ? f->ns : 0;
		o->p[s].to_ns = t->given ? t->ns : MS_PROFILE_END;
		snprintf(end, sizeof(end), "the %s window's end", side[s]);
		if (ms_cli_check_window("diff", &o->p[s], "its start", end))
			return 2;
	}
	return -1;
}

static int parse_args(int argc, char **argv, struct diff_opts *o)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"top", required_argument, NULL, 'n'},
		{"weight", required_argument, NULL, 'W'},
		{"from", required_argument, NULL, '0'},
		{"base-from", required_argument, NULL, '1'},
		{"new-from", required_argument, NULL, '2'},
		{"to", required_argument, NULL, '3'},
		{"base-to", required_argument, NULL, '4'},
		{"new-to", required_argument, NULL, '5'},
		{"debug-dir", required_argument, NULL, 'd'},
		{"no-symbols", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int r = ms_cli_getopt("diff", argc, argv, opts, parse_option, o, 2,
			      "two ARCHIVE directories, BASE and NEW");

	if (r >= 0)
		return r;
	if (o->weight_given && o->fmt != FMT_FOLDED) {
		fputs("memscope diff: --weight is for --format folded; text "
		      "and json show every figure\n",
		      stderr);
		return 2;
	}
	o->dir[0] = argv[optind];
	o->dir[1] = argv[optind + 1];
	return windows(o);
}

static int write_diff(FILE *f, void *arg)
{
	const struct diff_opts *o = arg;

	switch (o->fmt) {
	case FMT_JSON:
		return ms_diff_json(f, o->diff);
	case FMT_FOLDED:
		return ms_diff_folded(f, o->diff, &o->d);
	default:
		return ms_diff_text(f, o->diff, &o->d);
	}
}

int ms_cmd_diff(int argc, char **argv)
{
	struct diff_opts o = {.d = {.top = 10, .w = MS_XW_BYTES}};
	struct ms_cli_profile cp[2] = {{0}};
	int r = parse_args(argc, argv, &o);

	if (r >= 0)
		return r;
	for (int s = 0; s < 2 && r <= 0; s++)
		r = ms_cli_profile_open("diff", o.dir[s], &o.p[s], &cp[s]);
	if (r <= 0 && ms_diff_build(cp[0].p, cp[1].p, &o.diff) < 0) {
		fputs("memscope diff: out of memory\n", stderr);
		r = 1;
	}
	if (r <= 0) {
		r = ms_cli_write("diff", o.out, write_diff, &o);
		if (!r && (ms_cli_profile_damaged(&cp[0]) ||
			   ms_cli_profile_damaged(&cp[1])))
			r = 1;
	}
	ms_diff_free(o.diff);
	ms_cli_profile_close(&cp[0]);
	ms_cli_profile_close(&cp[1]);
	return r;
}
