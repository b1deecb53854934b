/* SPDX-License-Identifier: MIT */
/* Command-line options shared by `memscope consumer` and `memscope record`. */
#ifndef MS_OPTS_H
#define MS_OPTS_H

#include "daemon.h"

enum { MS_OPTS_HELP = -1, MS_OPTS_USAGE = -2 };

/*
 * Parses argv[1..] into `o` (filled with defaults by the caller). Stops at
 * "--" or, with `want_cmd`, at the first word that is not an option.
 * Returns the index of the first command word (argc when none), or
 * MS_OPTS_HELP for --help, or MS_OPTS_USAGE after printing one line naming
 * the problem as "memscope <cmd>: ...".
 */
int ms_opts_parse(int argc, char **argv, struct ms_daemon_opts *o,
		  int want_cmd);

/* "memscope-archive-YYYYmmdd-HHMMSS" (local time) into buf. */
void ms_opts_default_out(char *buf, size_t len);

/* Lines saying what the session could not record or write, and why, as
 * "memscope <who>: ..." on stderr; nothing when nothing was lost so. */
void ms_opts_print_losses(const char *who, const struct ms_daemon_totals *t);

/* The option lines of the help text. */
extern const char ms_opts_help[];

#endif
