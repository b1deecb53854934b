/* SPDX-License-Identifier: MIT */
#include "symfix.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
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

void symfix_check_frame(const struct ms_frame *fr, const char *fn,
			const char *file, uint32_t line, int inlined,
			int source)
{
	assert_non_null(fr->function);
	assert_string_equal(fr->function, fn);
	if (file) {
		assert_non_null(fr->file);
		assert_string_equal(fr->file, file);
	} else {
		assert_null(fr->file);
	}
	assert_int_equal(fr->line, line);
	assert_int_equal(fr->inlined, inlined);
	assert_int_equal(fr->source, source);
}

void symfix_check_names(const struct symfix *fx, struct ms_symbolizer *s,
			const struct ms_module *m, int source)
{
	static const char *const plain[] = {"ms_fx_alpha", "ms_fx_beta",
					    "ms_fx_gamma"};
	const struct symfix_site *site;
	const struct ms_frame *fr;

	for (int i = 0; i < 3; i++) {
		site = symfix_site(fx, plain[i]);
		assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
		symfix_check_frame(&fr[0], plain[i], MS_SYMFIX_SRC,
				   (uint32_t)site->line, 0, source);
	}
	site = symfix_site(fx, "ms_fx_inner");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 2);
	symfix_check_frame(&fr[0], "ms_fx_inner", MS_SYMFIX_SRC,
			   (uint32_t)site->line, 1, source);
	symfix_check_frame(&fr[1], "ms_fx_outer", MS_SYMFIX_SRC,
			   (uint32_t)site->caller_line, 0, source);
	site = symfix_site(fx, "ms_fx::Counter::bump(int)");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	symfix_check_frame(&fr[0], "ms_fx::Counter::bump(int)",
			   MS_SYMFIX_CXX_SRC, (uint32_t)site->line, 0, source);
}

void symfix_check_unnamed(const struct symfix *fx, struct ms_symbolizer *s,
			  const struct ms_module *m, const char *name)
{
	const struct ms_frame *fr;
	char want[256];

	for (int i = 0; i < fx->nsites; i++) {
		snprintf(want, sizeof(want), "%s+0x%" PRIx64, name,
			 fx->site[i].off);
		assert_int_equal(ms_sym_resolve(s, m, fx->site[i].off, &fr), 1);
		symfix_check_frame(&fr[0], want, NULL, 0, 0, MS_SYM_NONE);
	}
}

char *symfix_debug_tree(const struct symfix *fx)
{
	char *dir = symfix_tmpdir(), path[1024];
	int n = snprintf(path, sizeof(path), "%s/.build-id/%02x/", dir,
			 fx->bid[0]);

	for (size_t i = 1; i < fx->bid_len; i++)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x",
			      fx->bid[i]);
	snprintf(path + n, sizeof(path) - (size_t)n, ".debug");
	if (symfix_copy(MS_SYMFIX_DEBUG, path))
		abort();
	return dir;
}
