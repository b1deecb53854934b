/* SPDX-License-Identifier: MIT */
/* `memscope consumer`: the collecting daemon in the foreground. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "fleet.h"
#include "opts.h"

static void help(void)
{
	printf("usage: memscope consumer [OPTIONS]\n\n"
	       "Collects the events of every program started with 'memscope "
	       "run' (or with\nthe agent preloaded) in the same session into "
	       "an archive directory.\nSIGINT or SIGTERM: drain everything, "
	       "finish the archive, exit 0.\n\noptions:\n%s%s",
	       ms_opts_help, ms_fleet_help);
}

/* What the fleet options did, and what the ingest server never got. */
static void print_fleet(const struct ms_fleet *f)
{
	uint64_t written, pushed, failed;

	if (!f)
		return;
	ms_fleet_counts(f, &written, &pushed, &failed);
	if (!written && !failed)
		return;
	fprintf(stderr, "memscope consumer: %llu profiles written",
		(unsigned long long)written);
	if (pushed || failed)
		fprintf(stderr, "; %llu pushed, %llu not sent (push failed)",
			(unsigned long long)pushed, (unsigned long long)failed);
	fputc('\n', stderr);
}

static void print_summary(struct ms_daemon *d)
{
	struct ms_daemon_totals t;

	ms_daemon_totals(d, &t);
	fprintf(stderr,
		"memscope consumer: %llu events (%llu allocs, %llu frees, "
		"%llu dropped) from %llu processes, %llu threads; %llu bytes "
		"in %s\n",
		(unsigned long long)t.events, (unsigned long long)t.allocs,
		(unsigned long long)t.frees, (unsigned long long)t.dropped,
		(unsigned long long)t.processes, (unsigned long long)t.threads,
		(unsigned long long)t.disk_bytes, ms_daemon_archive(d));
	if (t.compacted_segments)
		fprintf(stderr,
			"memscope consumer: %llu segments rewritten while a "
			"CPU was idle, %llu bytes smaller\n",
			(unsigned long long)t.compacted_segments,
			(unsigned long long)t.compacted_bytes);
	ms_opts_print_losses("consumer", &t);
}

/*
 * Takes the fleet options (fleet.h) out of argv, leaving the daemon's to
 * ms_opts_parse(); returns the new argc, or -1 after a usage line.
 */
static int take_fleet_opts(int argc, char **argv, struct ms_fleet_opts *fo)
{
	int n = 1;

	for (int i = 1; i < argc;) {
		int used = strcmp(argv[i], "--")
				   ? ms_fleet_opt(fo, argc, argv, i)
				   : 0;

		if (used < 0)
			return -1;
		if (!used)
			argv[n++] = argv[i++];
		i += used;
	}
	argv[n] = NULL;
	return ms_fleet_check(fo) < 0 ? -1 : n;
}

int ms_cmd_consumer(int argc, char **argv)
{
	struct ms_daemon_opts o;
	struct ms_fleet_opts fo;
	struct ms_fleet *fleet = NULL;
	struct ms_daemon *d;
	char out[256], samp[64];
	int i, err;

	ms_daemon_opts_defaults(&o);
	ms_fleet_opts_defaults(&fo);
	argc = take_fleet_opts(argc, argv, &fo);
	if (argc < 0)
		return 2;
	i = ms_opts_parse(argc, argv, &o, 0);
	if (i == MS_OPTS_HELP) {
		help();
		return 0;
	}
	if (i < 0)
		return 2;
	if (i < argc) {
		fprintf(stderr,
			"memscope consumer: unexpected argument '%s'; to "
			"trace a command use 'memscope record -- CMD'\n",
			argv[i]);
		return 2;
	}
	if (!o.out) {
		ms_opts_default_out(out, sizeof(out));
		o.out = out;
	}
	/* Metrics and profiles count from each process's first allocation. */
	if (ms_fleet_wanted(&fo))
		o.live = 1;
	ms_daemon_block_signals();
	err = ms_daemon_open(&o, &d);
	if (err)
		return 1;
	ms_format_sampling(&o.set, samp, sizeof(samp));
	fo.sampling = samp;
	if (ms_fleet_wanted(&fo) && ms_fleet_start(&fo, d, &fleet) < 0) {
		ms_daemon_close(d);
		return 1;
	}
	fprintf(stderr,
		"memscope consumer: session %s, socket %s\n"
		"memscope consumer: archive %s (sampling %s); stop with "
		"Ctrl-C\n",
		ms_daemon_session(d), ms_daemon_socket(d), ms_daemon_archive(d),
		samp);
	err = ms_daemon_run(d, fleet ? ms_fleet_tick : NULL, fleet);
	ms_fleet_stop(fleet);
	print_summary(d);
	print_fleet(fleet);
	ms_fleet_free(fleet);
	ms_daemon_close(d);
	return err ? 1 : 0;
}
