/* SPDX-License-Identifier: MIT */
/*
 * memscope symbolize ARCHIVE [--debug-dir D]: stores the names of every
 * stack's frames in the archive (ARCHIVE/symbols.msym), so that it still
 * reports function names on a machine without the binaries.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "cli.h"
#include "cli_progress.h"
#include "clock.h"
#include "profile.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memscope symbolize ARCHIVE [--debug-dir D]\n"
		"\n"
		"Looks up the function, file and line of every frame of every\n"
		"stack in the archive, from the binaries and their debug "
		"files,\n"
		"and stores them in ARCHIVE/symbols.msym: the archive then\n"
		"reports names anywhere. 'memscope record' runs it for you.\n"
		"\n"
		"  --debug-dir D  where separate debug files are (':'-"
		"separated)\n"
		"  --quiet        no summary line\n"
		"  --help         this text\n");
}

int ms_symbolize_archive(const char *dir, const char *debug_dirs,
			 const char *cmd, int quiet)
{
	struct ms_profile_opts po = {.to_ns = MS_PROFILE_END,
				     .debug_dirs = debug_dirs,
				     .sites_only = 1};
	struct ms_cli_progress cli;
	struct ms_archive *a;
	struct ms_profile *p;
	uint64_t t0 = ms_mono_ns();
	size_t keys = 0;
	int err;

	ms_cli_progress_init(&cli, cmd);
	err = ms_archive_open(dir, quiet ? NULL : ms_cli_on_error, &cli, &a);
	if (err) {
		fprintf(stderr, "memscope %s: cannot read %s: %s\n", cmd, dir,
			strerror(-err));
		return 1;
	}
	a->on_progress = ms_cli_on_progress;
	a->on_progress_arg = &cli;
	err = ms_profile_build(a, &po, &p);
	ms_cli_progress_done(&cli);
	if (!err) {
		err = ms_profile_write_symbols(p, &keys);
		ms_profile_free(p);
	}
	ms_archive_close(a);
	if (err) {
		fprintf(stderr, "memscope %s: symbols of %s: %s\n", cmd, dir,
			strerror(-err));
		return 1;
	}
	if (!quiet)
		fprintf(stderr,
			"memscope %s: names of %zu code addresses stored in "
			"%s/symbols.msym (%.2f s)\n",
			cmd, keys, dir, (ms_mono_ns() - t0) / 1e9);
	return 0;
}

int ms_cmd_symbolize(int argc, char **argv)
{
	static const struct option opts[] = {
		{"debug-dir", required_argument, NULL, 'd'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *debug_dirs = NULL, *dir;
	int c, quiet = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd') {
			debug_dirs = optarg;
		} else if (c == 'q') {
			quiet = 1;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	c = ms_cli_archive_operand("symbolize", argc, argv, &dir);
	if (c >= 0)
		return c;
	return ms_symbolize_archive(dir, debug_dirs, "symbolize", quiet);
}
