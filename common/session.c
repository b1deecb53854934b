/* SPDX-License-Identifier: MIT */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void ms_settings_defaults(struct ms_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->sampling = MS_SAMPLING_TIERED;
	s->stack_depth = MS_DEFAULT_STACK_DEPTH;
	s->sampling_param = MS_DEFAULT_BYTES_INTERVAL;
	s->ring_kb = MS_DEFAULT_RING_KB;
	s->on_full = MS_ON_FULL_BLOCK;
	s->time_res_ns = MS_DEFAULT_TIME_RES_NS;
}

int ms_parse_u64(const char *str, uint64_t *out)
{
	uint64_t v = 0;

	if (!str || !*str)
		return -EINVAL;
	for (const char *p = str; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

int ms_parse_sampling(const char *str, struct ms_settings *s)
{
	uint64_t n;

	if (!str)
		return -EINVAL;
	if (strcmp(str, "full") == 0) {
		s->sampling = MS_SAMPLING_FULL;
		return 0;
	}
	if (strcmp(str, "tiered") == 0) {
		s->sampling = MS_SAMPLING_TIERED;
		return 0;
	}
	if (strncmp(str, "bytes:", 6) == 0 && ms_parse_u64(str + 6, &n) == 0 &&
	    n > 0) {
		s->sampling = MS_SAMPLING_BYTES;
		s->sampling_param = n;
		return 0;
	}
	return -EINVAL;
}

int ms_parse_on_full(const char *str, struct ms_settings *s)
{
	if (str && strcmp(str, "drop") == 0)
		s->on_full = MS_ON_FULL_DROP;
	else if (str && strcmp(str, "block") == 0)
		s->on_full = MS_ON_FULL_BLOCK;
	else
		return -EINVAL;
	return 0;
}

int ms_parse_stack_depth(const char *str, struct ms_settings *s)
{
	uint64_t n;

	if (ms_parse_u64(str, &n) < 0 || n > MS_MAX_STACK_DEPTH)
		return -EINVAL;
	s->stack_depth = (uint32_t)n;
	return 0;
}

int ms_parse_ring_kb(const char *str, struct ms_settings *s)
{
	uint64_t n;

	/* 4 KiB .. 1 GiB, as the ring format allows */
	if (ms_parse_u64(str, &n) < 0 || n < 4 || n > (1u << 20))
		return -EINVAL;
	s->ring_kb = n;
	return 0;
}

int ms_parse_time_res(const char *str, struct ms_settings *s)
{
	char num[24];
	uint64_t n, unit = 1;
	size_t len = str ? strlen(str) : 0;

	if (len > 2 && !strcmp(str + len - 2, "us"))
		unit = 1000, len -= 2;
	else if (len > 2 && !strcmp(str + len - 2, "ns"))
		len -= 2;
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, str, len);
	num[len] = 0;
	if (ms_parse_u64(num, &n) < 0 || n == 0 || n > MS_MAX_TIME_RES_NS ||
	    n * unit > MS_MAX_TIME_RES_NS)
		return -EINVAL;
	s->time_res_ns = (uint32_t)(n * unit);
	return 0;
}

void ms_format_sampling(const struct ms_settings *s, char *buf, size_t len)
{
	if (s->sampling == MS_SAMPLING_FULL)
		snprintf(buf, len, "full");
	else if (s->sampling == MS_SAMPLING_BYTES)
		snprintf(buf, len, "bytes:%llu",
			 (unsigned long long)s->sampling_param);
	else
		snprintf(buf, len, "tiered");
}

int ms_session_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg && *xdg == '/')
		n = snprintf(buf, len, "%s/memscope", xdg);
	else
		n = snprintf(buf, len, "/tmp/memscope-%u", (unsigned)getuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return 0;
	return name[0] != '.';
}

int ms_session_socket(const char *name, char *buf, size_t len)
{
	const char *env = getenv("MEMSCOPE_SOCKET");
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	char dir[256];
	int n;

	if (len > max)
		len = max;
	if (!name && env && *env) {
		n = snprintf(buf, len, "%s", env);
		return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
	}
	if (!name)
		name = getenv("MEMSCOPE_SESSION");
	if (!name || !*name)
		name = MS_DEFAULT_SESSION;
	if (!valid_name(name))
		return -EINVAL;
	if (ms_session_dir(dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	n = snprintf(buf, len, "%s/%s.sock", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ms_session_socket_named(const char *name)
{
	const char *env = getenv("MEMSCOPE_SOCKET");

	return !name && env && *env;
}

int ms_session_dir_check(const char *dir, int strict, char *why, size_t len)
{
	struct stat st;
	int err;

	if (lstat(dir, &st) < 0) {
		err = -errno;
		snprintf(why, len, "%s", strerrordesc_np(-err));
		return err;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, len, "it is a symbolic link");
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "it is not a directory");
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, len,
			 "it belongs to uid %u, not to this user (%u)",
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & (strict ? 077 : 022)) {
		snprintf(why, len, "its mode %03o lets others %s (0700 wanted)",
			 (unsigned)(st.st_mode & 0777),
			 st.st_mode & 022 ? "write there" : "in");
		return -EPERM;
	}
	return 0;
}

int ms_session_sock_dir(const char *sock, char *buf, size_t len)
{
	const char *slash = strrchr(sock, '/');
	size_t n = slash ? (size_t)(slash - sock) : 0;

	if (!slash)
		return snprintf(buf, len, ".") >= (int)len ? -ENAMETOOLONG : 0;
	if (n == 0)
		n = 1; /* "/x.sock": the root */
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, sock, n);
	buf[n] = 0;
	return 0;
}

int ms_session_mkdir(char *why, size_t len)
{
	char dir[256];
	struct stat st;

	if (ms_session_dir(dir, sizeof(dir)) < 0) {
		snprintf(why, len, "the path is too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(why, len, "%s", strerrordesc_np(errno));
		return -errno;
	}
	/* ours, but left open by an older version or a umask: close it */
	if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid() && (st.st_mode & 077))
		chmod(dir, 0700);
	return ms_session_dir_check(dir, 1, why, len);
}
