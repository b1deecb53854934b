/* SPDX-License-Identifier: MIT */
#include "webpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report_html.h"

#ifndef MS_INSTALL_DATADIR
#define MS_INSTALL_DATADIR "share"
#endif

static int usable(const char *dir, char *buf, size_t len)
{
	const char *missing;
	char real[PATH_MAX];

	if (ms_report_html_check(dir, &missing) != 0 || !realpath(dir, real) ||
	    strlen(real) >= len)
		return 0;
	snprintf(buf, len, "%s", real);
	return 1;
}

int ms_web_dir(char *buf, size_t len)
{
	static const char *const rel[] = {
		"../web",
		"../" MS_INSTALL_DATADIR "/memscope/web",
		"../share/memscope/web",
	};
	const char *env = getenv("MEMSCOPE_WEB_DIR"), *missing = "";
	char self[PATH_MAX], cand[PATH_MAX + 64], *slash;
	ssize_t n;

	if (env && *env) {
		if (usable(env, buf, len))
			return 0;
		ms_report_html_check(env, &missing);
		fprintf(stderr,
			"memscope report: MEMSCOPE_WEB_DIR=%s has no %s; point "
			"it at a build's web/ or <prefix>/share/memscope/web\n",
			env, missing);
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	for (size_t i = 0; n > 0 && i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
		if (usable(cand, buf, len))
			return 0;
	}
	fprintf(stderr,
		"memscope report: --format html needs its scripts (vendor.js "
		"and the rest, next to %s in ../web or ../%s/memscope/web), "
		"fetched with npm when memscope is built: run 'cmake --build "
		"BUILD --target web' with npm and its registry reachable, or "
		"set MEMSCOPE_WEB_DIR\n",
		n > 0 ? self : "memscope", MS_INSTALL_DATADIR);
	return -ENOENT;
}
