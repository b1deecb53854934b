/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"consumer", ms_cmd_consumer,
	 "collect events from agents into an archive"},
	{"run", ms_cmd_run, "run a command with the agent preloaded"},
	{"record", ms_cmd_record, "consumer + run in one shot"},
	{"tail", ms_cmd_tail, "live stream of events from a running consumer"},
	{"top", ms_cmd_top, "live heap of a running session by call site"},
	{"snapshot", ms_cmd_snapshot,
	 "live heap of a running session now, as pprof"},
	{"stats", ms_cmd_stats, "summary counts of an archive"},
	{"compact", ms_cmd_compact,
	 "a finished archive written again, smaller"},
	{"dump", ms_cmd_dump, "decoded events of an archive"},
	{"report", ms_cmd_report, "where the memory went: peak, leaks, sites"},
	{"export", ms_cmd_export,
	 "stacks for flamegraph.pl, pprof or speedscope"},
	{"diff", ms_cmd_diff, "growth by call site between two archives"},
	{"symbolize", ms_cmd_symbolize,
	 "store the stacks' function names in the archive"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: memscope COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'memscope COMMAND --help' describes each command;\n"
		   "'memscope --version' prints the version.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("memscope %s\n", MS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr,
		"memscope: unknown command '%s'; try 'memscope --help'\n",
		argv[1]);
	return 2;
}
