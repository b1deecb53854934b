/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of the memscope program. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the exit status: 0 success,
 * 1 failure, 2 usage error (STYLE.md).
 */
#ifndef MS_CLI_H
#define MS_CLI_H

int ms_cmd_consumer(int argc, char **argv);
int ms_cmd_run(int argc, char **argv);
int ms_cmd_record(int argc, char **argv);
int ms_cmd_tail(int argc, char **argv);
int ms_cmd_top(int argc, char **argv);
int ms_cmd_snapshot(int argc, char **argv);
int ms_cmd_stats(int argc, char **argv);
int ms_cmd_compact(int argc, char **argv);
int ms_cmd_dump(int argc, char **argv);
int ms_cmd_report(int argc, char **argv);
int ms_cmd_symbolize(int argc, char **argv);
int ms_cmd_export(int argc, char **argv);
int ms_cmd_diff(int argc, char **argv);

/* What `memscope compact --level LEVEL --jobs JOBS DIR` does, without the
 * lock (record runs it on its own archive); `cmd` names the command in
 * messages. Returns the exit status. */
int ms_compact_archive(const char *dir, int level, long jobs, const char *cmd);

/* What `memscope symbolize DIR` does (record runs it too); `cmd` names
 * the command in messages. Returns the exit status. */
int ms_symbolize_archive(const char *dir, const char *debug_dirs,
			 const char *cmd, int quiet);

#endif
