/* SPDX-License-Identifier: MIT */
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char ms_opts_help[] =
	"  --session NAME          session name (default: $MEMSCOPE_SESSION "
	"or \"default\")\n"
	"  --out DIR               archive directory (default: "
	"./memscope-archive-DATE-TIME)\n"
	"  --sampling MODE         full | tiered | bytes:N (default: tiered)\n"
	"  --stack-depth N         frames per stack, 0 = caller only (default: "
	"32)\n"
	"  --ring-kb N             per-thread ring size in KiB (default: "
	"1024 in full mode, 256 when sampling)\n"
	"  --on-full MODE          drop | block when a ring is full (default: "
	"block)\n"
	"  --time-resolution T     timestamps' unit at most T (Nns, Nus; "
	"1ns..1us):\n"
	"                          coarser is smaller (default: 1ns, i.e. 64 "
	"TSC ticks)\n"
	"  --exit-when-idle        exit once every attached process has gone\n"
	"  --zstd-level N          compression level, -7..19 (default: 1)\n"
	"  --idle-level N          rewrite each finished segment at level N "
	"once the\n"
	"                          consumer is quiet, on an idle CPU, 0..19 "
	"(default: 15;\n"
	"                          0 or not above --zstd-level: never)\n"
	"  --frame-kb N            KiB of records per compressed frame "
	"(default: 512)\n"
	"  --segment-mb N          rotate segment files at N MiB (default: "
	"64)\n"
	"  --quiet                 no informational lines\n"
	"  --share-archive         let other users read the archive (default: "
	"0700/0600,\n"
	"                          yours alone: it holds heap addresses and "
	"paths)\n"
	"  --live                  keep the live heap (memscope top, "
	"snapshot) from the\n"
	"                          start, not from the first top or snapshot "
	"client on\n"
	"  --live-exact            the live heap follows every block at any "
	"rate (default:\n"
	"                          above 1 M events/s a process's blocks under "
	"2 KiB are\n"
	"                          followed at one address in 16, larger ones "
	"at more,\n"
	"                          above 4 M at one in 64, above 16 M at one "
	"in 256:\n"
	"                          estimates)\n";

void ms_opts_default_out(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	char stamp[32];

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "memscope-archive-%s", stamp);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* Applies one option with its value; returns 0 or -1 (bad value). */
static int apply(struct ms_daemon_opts *o, const char *name, const char *v)
{
	uint64_t n;
	int i;

	if (!strcmp(name, "--session"))
		o->session = v;
	else if (!strcmp(name, "--out"))
		o->out = *v ? v : NULL;
	else if (!strcmp(name, "--sampling"))
		return ms_parse_sampling(v, &o->set) ? -1 : 0;
	else if (!strcmp(name, "--stack-depth"))
		return ms_parse_stack_depth(v, &o->set) ? -1 : 0;
	else if (!strcmp(name, "--ring-kb")) {
		if (ms_parse_ring_kb(v, &o->set))
			return -1;
		o->ring_kb_given = 1;
	} else if (!strcmp(name, "--on-full"))
		return ms_parse_on_full(v, &o->set) ? -1 : 0;
	else if (!strcmp(name, "--time-resolution"))
		return ms_parse_time_res(v, &o->set) ? -1 : 0;
	else if (!strcmp(name, "--zstd-level")) {
		if (parse_int(v, -7, 19, &i))
			return -1;
		o->level = i;
	} else if (!strcmp(name, "--idle-level")) {
		if (parse_int(v, 0, 19, &i))
			return -1;
		o->idle_level = i;
	} else if (!strcmp(name, "--segment-mb")) {
		if (ms_parse_u64(v, &n) || n < 1 || n > 4096)
			return -1;
		o->seg_mb = n;
	} else if (!strcmp(name, "--frame-kb")) {
		if (ms_parse_u64(v, &n) || n < 4 || n > 4096)
			return -1;
		o->frame_kb = n;
	}
	return 0;
}

static const char *const valued[] = {
	"--session",	     "--out",	     "--sampling",
	"--stack-depth",     "--ring-kb",    "--on-full",
	"--zstd-level",	     "--segment-mb", "--frame-kb",
	"--time-resolution", "--idle-level",
};

static int is_valued(const char *name)
{
	for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (!strcmp(name, valued[i]))
			return 1;
	return 0;
}

/*
 * Sampling modes record a few percent of the calls: smaller rings cost
 * each new thread less to create and populate (150 threads, tiered:
 * 1.58-1.75x with 256 KiB against 1.87-1.91x with 1 MiB), while full mode
 * needs room to keep writing while the consumer catches up (256 KiB:
 * 3.7-4.0x against 3.0-3.6x).
 */
static int finish(struct ms_daemon_opts *o, int ret)
{
	if (!o->ring_kb_given)
		o->set.ring_kb = o->set.sampling == MS_SAMPLING_FULL
					 ? MS_DEFAULT_RING_KB
					 : MS_DEFAULT_RING_KB_SAMPLED;
	return ret;
}

int ms_opts_parse(int argc, char **argv, struct ms_daemon_opts *o, int want_cmd)
{
	const char *cmd = argv[0];
	int i;

	for (i = 1; i < argc; i++) {
		char name[64];
		const char *a = argv[i], *eq, *v;

		if (!strcmp(a, "--"))
			return finish(o, i + 1);
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return MS_OPTS_HELP;
		if (!strcmp(a, "--exit-when-idle")) {
			o->exit_when_idle = 1;
			continue;
		}
		if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
			continue;
		}
		if (!strcmp(a, "--share-archive")) {
			o->share_archive = 1;
			continue;
		}
		if (!strcmp(a, "--live")) {
			o->live = 1;
			continue;
		}
		if (!strcmp(a, "--live-exact")) {
			o->live_exact = 1;
			continue;
		}
		if (a[0] != '-' && want_cmd)
			return finish(o, i);
		eq = strchr(a, '=');
		snprintf(name, sizeof(name), "%.*s",
			 (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
		if (!is_valued(name)) {
			fprintf(stderr,
				"memscope %s: unknown option '%s'; see "
				"'memscope %s --help'\n",
				cmd, a, cmd);
			return MS_OPTS_USAGE;
		}
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else {
			fprintf(stderr, "memscope %s: %s needs a value\n", cmd,
				name);
			return MS_OPTS_USAGE;
		}
		if (apply(o, name, v) < 0) {
			fprintf(stderr,
				"memscope %s: invalid value '%s' for %s; see "
				"'memscope %s --help'\n",
				cmd, v, name, cmd);
			return MS_OPTS_USAGE;
		}
	}
	return finish(o, i);
}

void ms_opts_print_losses(const char *who, const struct ms_daemon_totals *t)
{
	if (t->rings_refused)
		fprintf(stderr,
			"memscope %s: %llu threads got no ring (the log above "
			"says why); %llu of their events were not recorded\n",
			who, (unsigned long long)t->rings_refused,
			(unsigned long long)t->unrecorded);
	else if (t->unrecorded)
		fprintf(stderr,
			"memscope %s: %llu events of threads that found no "
			"free ring were not recorded\n",
			who, (unsigned long long)t->unrecorded);
	if (t->discarded)
		fprintf(stderr,
			"memscope %s: the archive's disk was full: %llu "
			"events could not be written (in `dropped`, cause "
			"disk)%s\n",
			who, (unsigned long long)t->discarded,
			t->unwritten ? "; the manifest counts those no LOST "
				       "record could hold"
				     : "");
}
