/* SPDX-License-Identifier: MIT */
#include "agentpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MS_INSTALL_LIBDIR
#define MS_INSTALL_LIBDIR "lib"
#endif

#define MS_AGENT_NAME "libmemscope.so"

extern char **environ;

static int exists(const char *p)
{
	return access(p, R_OK) == 0;
}

int ms_agent_path(char *buf, size_t len)
{
	static const char *const rel[] = {
		"../agent/" MS_AGENT_NAME,
		"../" MS_INSTALL_LIBDIR "/" MS_AGENT_NAME,
		"../lib/" MS_AGENT_NAME,
		"../lib64/" MS_AGENT_NAME,
	};
	const char *env = getenv("MEMSCOPE_AGENT");
	char self[PATH_MAX], cand[PATH_MAX + 64], *slash;
	ssize_t n;

	if (env && *env) {
		if (exists(env) && realpath(env, self) && strlen(self) < len) {
			snprintf(buf, len, "%s", self);
			return 0;
		}
		fprintf(stderr,
			"memscope: MEMSCOPE_AGENT=%s is not a readable file\n",
			env);
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -ENOENT;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char real[PATH_MAX];

		snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
		if (exists(cand) && realpath(cand, real) &&
		    strlen(real) < len) {
			snprintf(buf, len, "%s", real);
			return 0;
		}
	}
	fprintf(stderr,
		"memscope: cannot find the agent %s next to %s (looked in "
		"../agent, ../%s, ../lib); build it or set MEMSCOPE_AGENT\n",
		MS_AGENT_NAME, self, MS_INSTALL_LIBDIR);
	return -ENOENT;
}

static char *join(const char *k, const char *v1, const char *sep,
		  const char *v2)
{
	size_t n = strlen(k) + strlen(v1) + strlen(sep) + strlen(v2) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s=%s%s%s", k, v1, sep, v2);
	return s;
}

static int is_var(const char *e, const char *name)
{
	size_t n = strlen(name);

	return strncmp(e, name, n) == 0 && e[n] == '=';
}

char **ms_env_traced(const char *agent, const char *session)
{
	const char *pre = getenv("LD_PRELOAD");
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (is_var(environ[i], "LD_PRELOAD") ||
		    (session && (is_var(environ[i], "MEMSCOPE_SESSION") ||
				 is_var(environ[i], "MEMSCOPE_SOCKET"))))
			continue;
		if (!(env[k++] = strdup(environ[i])))
			goto out_free;
	}
	if (!(env[k++] = join("LD_PRELOAD", agent, pre && *pre ? ":" : "",
			      pre ? pre : "")))
		goto out_free;
	if (session && !(env[k++] = join("MEMSCOPE_SESSION", session, "", "")))
		goto out_free;
	return env;
out_free:
	ms_env_free(env);
	return NULL;
}

void ms_env_free(char **env)
{
	if (!env)
		return;
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}
