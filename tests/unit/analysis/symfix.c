/* SPDX-License-Identifier: MIT */
#include "symfix.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols.h"

static int parse_line(struct symfix *fx, const char *line)
{
	struct symfix_site *s = &fx->site[fx->nsites];
	unsigned long long v;

	if (sscanf(line, "bias 0x%llx", &v) == 1) {
		fx->bias = v;
		return 0;
	}
	if (fx->nsites == SYMFIX_SITES ||
	    sscanf(line, "site %127s %d %d %llx", s->fn, &s->line,
		   &s->caller_line, &v) != 4)
		return -1;
	s->off = v - 1; /* made relative to the bias once all is read */
	fx->nsites++;
	return 0;
}

int symfix_run(const char *path, struct symfix *fx)
{
	FILE *p = popen(path, "r");
	char line[512];
	ssize_t n;
	int err = 0;

	memset(fx, 0, sizeof(*fx));
	if (!p) {
		fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), p))
		if (parse_line(fx, line))
			err = -1;
	if (pclose(p) != 0 || err || fx->nsites == 0) {
		fprintf(stderr, "%s: unexpected output\n", path);
		return -1;
	}
	for (int i = 0; i < fx->nsites; i++)
		fx->site[i].off -= fx->bias;
	n = ms_sym_file_build_id(path, fx->bid, sizeof(fx->bid));
	if (n <= 0) {
		fprintf(stderr, "%s: no build id (%zd)\n", path, n);
		return -1;
	}
	fx->bid_len = (size_t)n;
	return 0;
}

const struct symfix_site *symfix_site(const struct symfix *fx, const char *fn)
{
	for (int i = 0; i < fx->nsites; i++)
		if (!strcmp(fx->site[i].fn, fn))
			return &fx->site[i];
	fprintf(stderr, "the fixture has no site in %s\n", fn);
	abort();
}

char *symfix_tmpdir(void)
{
	char *d = strdup("/tmp/ms-analysis-test-XXXXXX");

	if (!d || !mkdtemp(d)) {
		perror("mkdtemp");
		abort();
	}
	return d;
}

static int mkdirs(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

int symfix_copy(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = NULL;
	char buf[65536];
	size_t n;
	int err = -1;

	if (!in || mkdirs(to))
		goto out;
	out = fopen(to, "wb");
	if (!out)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			goto out;
	err = ferror(in) ? -1 : 0;
out:
	if (out && fclose(out))
		err = -1;
	if (in)
		fclose(in);
	if (err)
		fprintf(stderr, "cannot copy %s to %s\n", from, to);
	return err;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void symfix_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
