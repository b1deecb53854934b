/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session.h"

static void test_parse_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(ms_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ms_parse_u64("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(ms_parse_u64("18446744073709551616", &v), -EINVAL);
	assert_int_equal(ms_parse_u64("", &v), -EINVAL);
	assert_int_equal(ms_parse_u64(NULL, &v), -EINVAL);
	assert_int_equal(ms_parse_u64("12k", &v), -EINVAL);
	assert_int_equal(ms_parse_u64("-1", &v), -EINVAL);
	assert_int_equal(ms_parse_u64(" 1", &v), -EINVAL);
	assert_int_equal(v, UINT64_MAX); /* unchanged by failures */
}

static void test_settings_parsers(void **state)
{
	struct ms_settings s;
	char buf[32];

	(void)state;
	ms_settings_defaults(&s);
	assert_int_equal(s.sampling, MS_SAMPLING_TIERED);
	assert_int_equal(ms_parse_sampling("full", &s), 0);
	assert_int_equal(s.sampling, MS_SAMPLING_FULL);
	assert_int_equal(ms_parse_sampling("bytes:4096", &s), 0);
	assert_int_equal(s.sampling, MS_SAMPLING_BYTES);
	assert_int_equal(s.sampling_param, 4096);
	ms_format_sampling(&s, buf, sizeof(buf));
	assert_string_equal(buf, "bytes:4096");
	assert_int_equal(ms_parse_sampling("bytes:0", &s), -EINVAL);
	assert_int_equal(ms_parse_sampling("bytes:", &s), -EINVAL);
	assert_int_equal(ms_parse_sampling("Full", &s), -EINVAL);
	assert_int_equal(s.sampling_param, 4096);
	assert_int_equal(ms_parse_on_full("drop", &s), 0);
	assert_int_equal(s.on_full, MS_ON_FULL_DROP);
	assert_int_equal(ms_parse_on_full("wait", &s), -EINVAL);
	assert_int_equal(ms_parse_stack_depth("0", &s), 0);
	assert_int_equal(s.stack_depth, 0);
	assert_int_equal(ms_parse_stack_depth("129", &s), -EINVAL);
	assert_int_equal(ms_parse_ring_kb("3", &s), -EINVAL);
	assert_int_equal(ms_parse_ring_kb("64", &s), 0);
	assert_int_equal(s.ring_kb, 64);
	/* time resolution: ns by default, 1 ns .. 1 us */
	assert_int_equal(s.time_res_ns, MS_DEFAULT_TIME_RES_NS);
	assert_int_equal(ms_parse_time_res("250", &s), 0);
	assert_int_equal(s.time_res_ns, 250);
	assert_int_equal(ms_parse_time_res("100ns", &s), 0);
	assert_int_equal(s.time_res_ns, 100);
	assert_int_equal(ms_parse_time_res("1us", &s), 0);
	assert_int_equal(s.time_res_ns, 1000);
	assert_int_equal(ms_parse_time_res("1000ns", &s), 0);
	assert_int_equal(ms_parse_time_res("1ns", &s), 0);
	assert_int_equal(s.time_res_ns, 1);
	assert_int_equal(ms_parse_time_res("2us", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("1001", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("0", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("0us", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("ns", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("us", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("1ms", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("-5", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("", &s), -EINVAL);
	assert_int_equal(ms_parse_time_res(NULL, &s), -EINVAL);
	assert_int_equal(ms_parse_time_res("18446744073709551615us", &s),
			 -EINVAL);
	assert_int_equal(s.time_res_ns, 1);
}

static void test_socket_paths(void **state)
{
	char buf[108], want[128];

	(void)state;
	unsetenv("MEMSCOPE_SOCKET");
	unsetenv("MEMSCOPE_SESSION");
	setenv("XDG_RUNTIME_DIR", "/run/user/42", 1);
	assert_int_equal(ms_session_socket(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/user/42/memscope/default.sock");
	setenv("MEMSCOPE_SESSION", "s1", 1);
	assert_int_equal(ms_session_socket(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/user/42/memscope/s1.sock");
	assert_int_equal(ms_session_socket("x_y-z.2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/user/42/memscope/x_y-z.2.sock");
	assert_int_equal(ms_session_socket("../etc", buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(ms_session_socket("a/b", buf, sizeof(buf)), -EINVAL);
	setenv("MEMSCOPE_SOCKET", "/tmp/explicit.sock", 1);
	assert_int_equal(ms_session_socket(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/explicit.sock");
	unsetenv("MEMSCOPE_SOCKET");
	unsetenv("MEMSCOPE_SESSION");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(ms_session_socket(NULL, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "/tmp/memscope-%u/default.sock",
		 (unsigned)getuid());
	assert_string_equal(buf, want);
}

/* Only a directory of our own, closed to others, may hold sockets. */
static void test_dir_check(void **state)
{
	char base[] = "/tmp/ms-test-dir-XXXXXX", p[128], why[160], dir[64];

	(void)state;
	assert_non_null(mkdtemp(base));
	assert_int_equal(chmod(base, 0700), 0);
	assert_int_equal(ms_session_dir_check(base, 1, why, sizeof(why)), 0);
	chmod(base, 0755);
	assert_int_equal(ms_session_dir_check(base, 1, why, sizeof(why)),
			 -EPERM);
	assert_non_null(strstr(why, "755"));
	assert_int_equal(ms_session_dir_check(base, 0, why, sizeof(why)), 0);
	chmod(base, 0777);
	assert_int_equal(ms_session_dir_check(base, 0, why, sizeof(why)),
			 -EPERM);
	assert_non_null(strstr(why, "write"));
	chmod(base, 0700);
	snprintf(p, sizeof(p), "%s/link", base);
	assert_int_equal(symlink(base, p), 0);
	assert_int_equal(ms_session_dir_check(p, 1, why, sizeof(why)), -ELOOP);
	unlink(p);
	snprintf(p, sizeof(p), "%s/none", base);
	assert_int_equal(ms_session_dir_check(p, 1, why, sizeof(why)), -ENOENT);
	if (geteuid() == 0) { /* another owner: root can make one */
		assert_int_equal(chown(base, 65534, 65534), 0);
		assert_int_equal(
			ms_session_dir_check(base, 1, why, sizeof(why)),
			-EPERM);
		assert_non_null(strstr(why, "uid 65534"));
	}
	assert_int_equal(ms_session_sock_dir("/run/x/a.sock", dir, 64), 0);
	assert_string_equal(dir, "/run/x");
	assert_int_equal(ms_session_sock_dir("/a.sock", dir, 64), 0);
	assert_string_equal(dir, "/");
	assert_int_equal(ms_session_sock_dir("a.sock", dir, 64), 0);
	assert_string_equal(dir, ".");
	rmdir(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_settings_parsers),
		cmocka_unit_test(test_socket_paths),
		cmocka_unit_test(test_dir_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
