/* SPDX-License-Identifier: MIT */
#include "cli_progress.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

static void progress_clear(struct ms_cli_progress *c)
{
	if (c->shown) {
		fputs("\r\033[K", stderr);
		c->shown = 0;
	}
}

void ms_cli_progress_init(struct ms_cli_progress *c, const char *cmd)
{
	memset(c, 0, sizeof(*c));
	c->cmd = cmd;
	c->tty = isatty(STDERR_FILENO);
	c->start_ns = ms_mono_ns();
}

void ms_cli_on_error(const struct ms_arc_error *e, void *arg)
{
	struct ms_cli_progress *c = arg;

	progress_clear(c);
	fprintf(stderr, "memscope %s: ", c->cmd);
	if (e->file)
		fprintf(stderr, "%s: ", e->file);
	if (e->has_offset)
		fprintf(stderr, "offset %llu: ", (unsigned long long)e->offset);
	fprintf(stderr, "%s\n", e->msg);
}

int ms_cli_progress_due(struct ms_cli_progress *c)
{
	uint64_t now;

	if (!c->tty)
		return 0;
	now = ms_mono_ns();
	/* Quiet for the first second; then at most 4 updates a second. */
	if (now - c->start_ns < 1000000000u || now - c->last_ns < 250000000u)
		return 0;
	c->last_ns = now;
	c->shown = 1;
	return 1;
}

void ms_cli_on_progress(struct ms_archive *a, void *arg)
{
	struct ms_cli_progress *c = arg;

	if (!c->tty || ++c->calls % 16 || !ms_cli_progress_due(c))
		return;
	fprintf(stderr, "\rmemscope %s: read %.1f of %.1f MiB (%.0f%%)", c->cmd,
		a->bytes_read / 1048576.0, a->disk_bytes / 1048576.0,
		a->disk_bytes ? 100.0 * a->bytes_read / a->disk_bytes : 100.0);
}

void ms_cli_progress_done(struct ms_cli_progress *c)
{
	progress_clear(c);
}

int ms_cli_archive_operand(const char *cmd, int argc, char **argv,
			   const char **dir)
{
	if (optind != argc - 1) {
		fprintf(stderr,
			"memscope %s: expected one ARCHIVE directory; try "
			"'memscope %s --help'\n",
			cmd, cmd);
		return 2;
	}
	*dir = argv[optind];
	return -1;
}
