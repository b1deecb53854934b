/* SPDX-License-Identifier: MIT */
/*
 * stderr reporting for the commands that read an archive: each damage as
 * it is found ("memscope CMD: FILE: offset N: what") and, on a terminal,
 * a progress line for reads that take more than a second.
 */
#ifndef MS_CLI_PROGRESS_H
#define MS_CLI_PROGRESS_H

#include <stdint.h>

#include "archive.h"

struct ms_cli_progress {
	const char *cmd;
	int tty, shown;
	unsigned calls;
	uint64_t start_ns, last_ns;
};

void ms_cli_progress_init(struct ms_cli_progress *c, const char *cmd);
/* Hooks for ms_archive_open() and ms_archive.on_progress; arg: the
 * struct ms_cli_progress. */
void ms_cli_on_error(const struct ms_arc_error *e, void *arg);
void ms_cli_on_progress(struct ms_archive *a, void *arg);
/* Whether a progress line is due now (on a terminal, after the first
 * second, at most 4 a second); when it is, the caller prints one,
 * starting with "\r". */
int ms_cli_progress_due(struct ms_cli_progress *c);
/* Clears the progress line. */
void ms_cli_progress_done(struct ms_cli_progress *c);

/* The one ARCHIVE operand of command `cmd` after its options (optind):
 * -1 with *dir set, or 2 (a usage error, said on stderr). */
int ms_cli_archive_operand(const char *cmd, int argc, char **argv,
			   const char **dir);

#endif
