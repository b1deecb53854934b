/* SPDX-License-Identifier: MIT */
/* consumer/cli/opts.c, agentpath.c (traced environment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpath.h"
#include "archive_compact.h"
#include "opts.h"

static int parse(struct ms_daemon_opts *o, int want_cmd, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, want_cmd);
	argv[argc++] = "consumer";
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	ms_daemon_opts_defaults(o);
	return ms_opts_parse(argc, argv, o, want_cmd);
}

static void test_consumer_options(void **state)
{
	struct ms_daemon_opts o;

	(void)state;
	assert_int_equal(parse(&o, 0, "--session", "s1", "--out=/tmp/x",
			       "--sampling", "bytes:4096", "--stack-depth", "0",
			       "--ring-kb", "64", "--on-full", "drop",
			       "--exit-when-idle", "--zstd-level", "-3", NULL),
			 15);
	assert_string_equal(o.session, "s1");
	assert_string_equal(o.out, "/tmp/x");
	assert_int_equal(o.set.sampling, MS_SAMPLING_BYTES);
	assert_int_equal(o.set.sampling_param, 4096);
	assert_int_equal(o.set.stack_depth, 0);
	assert_int_equal(o.set.ring_kb, 64);
	assert_int_equal(o.set.on_full, MS_ON_FULL_DROP);
	assert_int_equal(o.exit_when_idle, 1);
	assert_int_equal(o.level, -3);
}

static void test_defaults_and_errors(void **state)
{
	struct ms_daemon_opts o;

	(void)state;
	assert_int_equal(parse(&o, 0, NULL), 1);
	assert_int_equal(o.set.sampling, MS_SAMPLING_TIERED);
	/* the ring size follows the mode unless given, in any order */
	assert_int_equal(o.set.ring_kb, MS_DEFAULT_RING_KB_SAMPLED);
	assert_int_equal(parse(&o, 0, "--sampling", "full", NULL), 3);
	assert_int_equal(o.set.ring_kb, MS_DEFAULT_RING_KB);
	assert_int_equal(
		parse(&o, 0, "--ring-kb", "512", "--sampling", "full", NULL),
		5);
	assert_int_equal(o.set.ring_kb, 512);
	assert_int_equal(parse(&o, 1, "--sampling", "bytes:100", "cmd", NULL),
			 3);
	assert_int_equal(o.set.ring_kb, MS_DEFAULT_RING_KB_SAMPLED);
	assert_int_equal(parse(&o, 0, NULL), 1);
	assert_int_equal(o.set.on_full, MS_ON_FULL_BLOCK);
	assert_int_equal(o.level, 1);
	assert_int_equal(o.idle_level, MS_COMPACT_LEVEL_DEFAULT);
	assert_int_equal(parse(&o, 0, "--idle-level", "0", NULL), 3);
	assert_int_equal(o.idle_level, 0);
	assert_int_equal(parse(&o, 0, "--idle-level=19", NULL), 2);
	assert_int_equal(o.idle_level, 19);
	assert_int_equal(parse(&o, 0, "--idle-level", "20", NULL),
			 MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--idle-level", "-1", NULL),
			 MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--help", NULL), MS_OPTS_HELP);
	assert_int_equal(parse(&o, 0, "--bogus", NULL), MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--sampling", "most", NULL),
			 MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--ring-kb", "1", NULL), MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--stack-depth", "999", NULL),
			 MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--on-full", NULL), MS_OPTS_USAGE);
	assert_int_equal(parse(&o, 0, "--zstd-level", "99", NULL),
			 MS_OPTS_USAGE);
}

static void test_record_command_split(void **state)
{
	struct ms_daemon_opts o;

	(void)state;
	/* after "--" */
	assert_int_equal(parse(&o, 1, "--out", "d", "--", "ls", "-l", NULL), 4);
	/* at the first word that is not an option */
	assert_int_equal(
		parse(&o, 1, "--sampling", "full", "ls", "--out", NULL), 3);
	assert_int_equal(o.set.sampling, MS_SAMPLING_FULL);
	assert_null(o.out);
}

static const char *find(char **env, const char *prefix)
{
	for (; *env; env++)
		if (!strncmp(*env, prefix, strlen(prefix)))
			return *env;
	return NULL;
}

static void test_traced_env(void **state)
{
	char **env;

	(void)state;
	setenv("LD_PRELOAD", "/x/other.so", 1);
	setenv("MEMSCOPE_SOCKET", "/tmp/s", 1);
	setenv("KEEP_ME", "1", 1);
	env = ms_env_traced("/a/libmemscope.so", "sess");
	assert_non_null(env);
	assert_string_equal(find(env, "LD_PRELOAD="),
			    "LD_PRELOAD=/a/libmemscope.so:/x/other.so");
	assert_string_equal(find(env, "MEMSCOPE_SESSION="),
			    "MEMSCOPE_SESSION=sess");
	assert_null(find(env, "MEMSCOPE_SOCKET="));
	assert_non_null(find(env, "KEEP_ME=1"));
	ms_env_free(env);
	unsetenv("LD_PRELOAD");
	env = ms_env_traced("/a/libmemscope.so", NULL);
	assert_string_equal(find(env, "LD_PRELOAD="),
			    "LD_PRELOAD=/a/libmemscope.so");
	assert_non_null(find(env, "MEMSCOPE_SOCKET=/tmp/s"));
	ms_env_free(env);
}

static void test_agent_path_env(void **state)
{
	char buf[4096];

	(void)state;
	setenv("MEMSCOPE_AGENT", "/nonexistent/libmemscope.so", 1);
	assert_int_equal(ms_agent_path(buf, sizeof(buf)), -ENOENT);
	setenv("MEMSCOPE_AGENT", "/bin/sh", 1);
	assert_int_equal(ms_agent_path(buf, sizeof(buf)), 0);
	assert_true(buf[0] == '/');
	unsetenv("MEMSCOPE_AGENT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_consumer_options),
		cmocka_unit_test(test_defaults_and_errors),
		cmocka_unit_test(test_record_command_split),
		cmocka_unit_test(test_traced_env),
		cmocka_unit_test(test_agent_path_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
