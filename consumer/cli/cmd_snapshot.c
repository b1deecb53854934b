/* SPDX-License-Identifier: MIT */
/*
 * `memscope snapshot`: the live heap of a running session now, written as
 * gzipped pprof by the export's writer (export_pprof.c): inuse_* are the
 * blocks live now, alloc_* the allocations since the live heap began,
 * one sample per call site and process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_live.h"
#include "cli_profile.h"
#include "snap_pprof.h"

struct snap_opts {
	const char *session, *out;
	struct ms_top_opts m;
};

static void help(void)
{
	printf("usage: memscope snapshot [--session NAME] -o FILE [--pid P] "
	       "[--no-symbols]\n\n"
	       "Writes the live heap of a running consumer's session as "
	       "gzipped pprof\n(profile.proto): inuse_space/inuse_objects are "
	       "the blocks live now,\nalloc_space/alloc_objects the "
	       "allocations since the live heap began (the\nconsumer's start "
	       "if it keeps it from there, else its first top or\nsnapshot "
	       "client). One "
	       "sample per call site and process (label pid); sampled "
	       "sessions give\nweighted estimates. -o - writes to stdout.\n");
}

static int parse(int argc, char **argv, struct snap_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		if (!strcmp(a, "--no-symbols")) {
			o->m.no_symbols = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "memscope snapshot: %s needs a value\n",
				a);
			return -1;
		}
		if (!strcmp(a, "--session")) {
			o->session = v;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			o->out = v;
		} else if (!strcmp(a, "--pid")) {
			if (ms_cli_parse_u32(v, &o->m.pid) < 0 || !o->m.pid)
				return ms_cli_bad("snapshot", a, v,
						  "a process id");
		} else {
			fprintf(stderr,
				"memscope snapshot: unknown option '%s'; see "
				"'memscope snapshot --help'\n",
				a);
			return -1;
		}
		i++;
	}
	if (!o->out) {
		fprintf(stderr, "memscope snapshot: where to? give -o FILE "
				"(or -o - for stdout)\n");
		return -1;
	}
	return 0;
}

int ms_cmd_snapshot(int argc, char **argv)
{
	struct snap_opts o = {0};
	struct ms_cli_snap snap;
	int r = parse(argc, argv, &o), fd, err;

	if (r)
		return r > 0 ? (help(), 0) : 2;
	fd = ms_cli_top_connect("snapshot", o.session);
	if (fd < 0)
		return 1;
	err = ms_cli_snap_get(fd, 10000, &snap);
	close(fd);
	if (err) {
		fprintf(stderr, "memscope snapshot: %s\n",
			err == -ETIMEDOUT ? "the consumer did not answer"
					  : "the consumer's answer is invalid");
		return 1;
	}
	return ms_snap_pprof_write("snapshot", o.out, &snap, &o.m);
}
