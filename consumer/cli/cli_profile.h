/* SPDX-License-Identifier: MIT */
/*
 * What the commands that read an archive into a profile share (report,
 * export, diff): the filter options and their parsers, opening an archive
 * into a profile with progress and damage on stderr, and writing to
 * `-o FILE` or stdout. Messages name the command: "memscope CMD: ...".
 */
#ifndef MS_CLI_PROFILE_H
#define MS_CLI_PROFILE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli_progress.h"
#include "export.h"
#include "profile.h"

/* getopt_long entries of the filters; ms_cli_filter() applies them. */
#define MS_CLI_FILTER_OPTIONS                                                  \
	{"pid", required_argument, NULL, 'p'},                                 \
		{"tid", required_argument, NULL, 't'},                         \
		{"from", required_argument, NULL, 'F'},                        \
		{"to", required_argument, NULL, 'T'},                          \
		{"debug-dir", required_argument, NULL, 'd'},                   \
	{                                                                      \
		"no-symbols", no_argument, NULL, 'N'                           \
	}

/* Their lines in a command's help. */
#define MS_CLI_FILTER_HELP                                                     \
	"  --pid P        one process\n"                                       \
	"  --tid T        the allocations of one thread (wherever freed)\n"    \
	"  --from T0      a window: figures for [T0, T1] only; times from\n"   \
	"  --to T1        the first event, in s (or with ns, us, ms, s)\n"     \
	"  --debug-dir D  where separate debug files are (':'-separated)\n"    \
	"  --no-symbols   module+offset only, no symbol lookup\n"

/* "1.5", "1.5s", "200ms", "30us", "100ns" -> ns. 0 or -EINVAL. */
int ms_cli_parse_time(const char *s, uint64_t *ns);
/* A decimal from 1 to UINT32_MAX. 0 or -EINVAL. */
int ms_cli_parse_u32(const char *s, uint32_t *out);

/* "memscope CMD: OPT 'VAL': expected WANT; try ..." on stderr; returns 2. */
int ms_cli_bad(const char *cmd, const char *opt, const char *val,
	       const char *want);

/*
 * Parses argv[1..] with getopt_long and `opts` ("-o" and "-h" are the
 * short options), calling option(c, arg) for each: it returns -1 to go
 * on, 0 after --help, 2 after a usage error. Then `operands` words must
 * remain (`what` names them in the message when they do not). Returns -1
 * (the operands are at argv[optind]), 0 or 2.
 */
int ms_cli_getopt(const char *cmd, int argc, char **argv,
		  const struct option *opts, int (*option)(int c, void *arg),
		  void *arg, int operands, const char *what);

/* `val` as one of names[0..n) into *idx. -1, or 2 (printed). */
int ms_cli_choice(const char *cmd, const char *opt, const char *val,
		  const char *const *names, size_t n, int *idx);
/* --top N: 1 to 100,000 rows. -1, or 2 (printed). */
int ms_cli_top(const char *cmd, const char *val, unsigned *top);
/* --weight W (export.h). -1, or 2 (printed). */
int ms_cli_weight(const char *cmd, const char *val, enum ms_export_weight *w);

/*
 * Applies the filter option `c` (MS_CLI_FILTER_OPTIONS) with argument
 * `arg` to *o. Returns -1 when done, 2 after a usage error (printed), 0
 * when `c` is not a filter option.
 */
int ms_cli_filter(const char *cmd, int c, const char *arg,
		  struct ms_profile_opts *o);

/* 0, or 2 (printed) when the window of *o ends before it starts;
 * `from` and `to` name its options ("--from", "--base-from", ...). */
int ms_cli_check_window(const char *cmd, const struct ms_profile_opts *o,
			const char *from, const char *to);

/* An archive open, and its profile. */
struct ms_cli_profile {
	struct ms_archive *a;
	struct ms_profile *p;
	struct ms_cli_progress progress; /* the archive's hooks' */
};

/*
 * Opens the archive `dir` and builds its profile into *out, which must
 * stay in place until ms_cli_profile_close(). Returns 0, or 1 after
 * saying why on stderr.
 */
int ms_cli_profile_open(const char *cmd, const char *dir,
			const struct ms_profile_opts *o,
			struct ms_cli_profile *out);
/* Whether the archive's reading found damage (the exit status is 1). */
int ms_cli_profile_damaged(const struct ms_cli_profile *cp);
void ms_cli_profile_close(struct ms_cli_profile *cp);

/*
 * Runs write(f, arg) on the file `path` (stdout when NULL), closes it and
 * says on stderr what failed. `write` returns 0 or -errno. Returns 0 or
 * 1.
 */
int ms_cli_write(const char *cmd, const char *path,
		 int (*write)(FILE *f, void *arg), void *arg);

#endif
