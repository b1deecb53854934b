/* SPDX-License-Identifier: MIT */
/* Placeholders until each command lands; each one replaces its stub. */
#include <stdio.h>

#include "cli.h"

static int not_yet(const char *name)
{
	fprintf(stderr, "memscope %s: not implemented yet\n", name);
	return 1;
}

int ms_cmd_consumer(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("consumer");
}

int ms_cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("run");
}

int ms_cmd_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("record");
}

int ms_cmd_tail(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("tail");
}

int ms_cmd_stats(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("stats");
}

int ms_cmd_dump(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("dump");
}
