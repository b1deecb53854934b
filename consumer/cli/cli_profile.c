/* SPDX-License-Identifier: MIT */
/* What report, export and diff share (cli_profile.h). */
#include "cli_profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"

int ms_cli_parse_time(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double scale;
	} units[] = {
		{"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}};
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || v > 1e18)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			*ns = (uint64_t)(v * units[i].scale + 0.5);
			return 0;
		}
	return -EINVAL;
}

int ms_cli_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v == 0 || v > UINT32_MAX || *s == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int ms_cli_bad(const char *cmd, const char *opt, const char *val,
	       const char *want)
{
	fprintf(stderr,
		"memscope %s: %s '%s': expected %s; try 'memscope %s "
		"--help'\n",
		cmd, opt, val, want, cmd);
	return 2;
}

int ms_cli_getopt(const char *cmd, int argc, char **argv,
		  const struct option *opts, int (*option)(int c, void *arg),
		  void *arg, int operands, const char *what)
{
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1)
		if ((r = option(c, arg)) >= 0)
			return r;
	if (argc - optind != operands) {
		fprintf(stderr,
			"memscope %s: expected %s; try 'memscope %s "
			"--help'\n",
			cmd, what, cmd);
		return 2;
	}
	return -1;
}

int ms_cli_choice(const char *cmd, const char *opt, const char *val,
		  const char *const *names, size_t n, int *idx)
{
	char want[200] = "";

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(val, names[i])) {
			*idx = (int)i;
			return -1;
		}
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 "%s%s",
			 i == 0	     ? ""
			 : i + 1 < n ? ", "
				     : " or ",
			 names[i]);
	}
	return ms_cli_bad(cmd, opt, val, want);
}

int ms_cli_top(const char *cmd, const char *val, unsigned *top)
{
	uint32_t v;

	if (ms_cli_parse_u32(val, &v) || v > 100000)
		return ms_cli_bad(cmd, "--top", val, "a count from 1");
	*top = v;
	return -1;
}

int ms_cli_weight(const char *cmd, const char *val, enum ms_export_weight *w)
{
	if (ms_export_weight_parse(val, w) == 0)
		return -1;
	return ms_cli_bad(cmd, "--weight", val,
			  "bytes, count, leaked, peak or temporary");
}

int ms_cli_filter(const char *cmd, int c, const char *arg,
		  struct ms_profile_opts *o)
{
	switch (c) {
	case 'p':
		return ms_cli_parse_u32(arg, &o->pid)
			       ? ms_cli_bad(cmd, "--pid", arg, "a process id")
			       : -1;
	case 't':
		return ms_cli_parse_u32(arg, &o->tid)
			       ? ms_cli_bad(cmd, "--tid", arg, "a thread id")
			       : -1;
	case 'F':
		return ms_cli_parse_time(arg, &o->from_ns)
			       ? ms_cli_bad(cmd, "--from", arg,
					    "a time like 1.5 or 200ms")
			       : -1;
	case 'T':
		return ms_cli_parse_time(arg, &o->to_ns)
			       ? ms_cli_bad(cmd, "--to", arg,
					    "a time like 1.5 or 200ms")
			       : -1;
	case 'd':
		o->debug_dirs = arg;
		return -1;
	case 'N':
		o->no_symbols = 1;
		return -1;
	default:
		return 0;
	}
}

int ms_cli_check_window(const char *cmd, const struct ms_profile_opts *o,
			const char *from, const char *to)
{
	if (o->to_ns == MS_PROFILE_END || o->to_ns >= o->from_ns)
		return 0;
	fprintf(stderr, "memscope %s: %s is before %s\n", cmd, to, from);
	return 2;
}

int ms_cli_profile_open(const char *cmd, const char *dir,
			const struct ms_profile_opts *o,
			struct ms_cli_profile *out)
{
	int err;

	*out = (struct ms_cli_profile){0};
	ms_cli_progress_init(&out->progress, cmd);
	err = ms_archive_open(dir, ms_cli_on_error, &out->progress, &out->a);
	if (err) {
		fprintf(stderr, "memscope %s: cannot read %s: %s\n", cmd, dir,
			strerror(-err));
		return 1;
	}
	out->a->on_progress = ms_cli_on_progress;
	out->a->on_progress_arg = &out->progress;
	err = ms_profile_build(out->a, o, &out->p);
	ms_cli_progress_done(&out->progress);
	if (err) {
		fprintf(stderr, "memscope %s: %s: %s\n", cmd, dir,
			strerror(-err));
		ms_cli_profile_close(out);
		return 1;
	}
	return 0;
}

int ms_cli_profile_damaged(const struct ms_cli_profile *cp)
{
	return cp->a->nerrors || cp->a->errors_dropped;
}

void ms_cli_profile_close(struct ms_cli_profile *cp)
{
	ms_profile_free(cp->p);
	if (cp->a)
		ms_archive_close(cp->a);
	*cp = (struct ms_cli_profile){0};
}

int ms_cli_write(const char *cmd, const char *path,
		 int (*write)(FILE *f, void *arg), void *arg)
{
	FILE *f = stdout;
	int err;

	if (path && !(f = fopen(path, "w"))) {
		fprintf(stderr, "memscope %s: cannot write %s: %s\n", cmd, path,
			strerror(errno));
		return 1;
	}
	err = write(f, arg);
	if (fflush(f) != 0 && !err)
		err = -errno;
	if (f != stdout && fclose(f) != 0 && !err)
		err = -errno;
	if (err) {
		fprintf(stderr, "memscope %s: cannot write %s: %s\n", cmd,
			path ? path : "to stdout", strerror(-err));
		return 1;
	}
	return 0;
}
