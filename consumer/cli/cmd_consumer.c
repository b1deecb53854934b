/* SPDX-License-Identifier: MIT */
/* `memscope consumer`: the collecting daemon in the foreground. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "opts.h"

static void help(void)
{
	printf("usage: memscope consumer [OPTIONS]\n\n"
	       "Collects the events of every program started with 'memscope "
	       "run' (or with\nthe agent preloaded) in the same session into "
	       "an archive directory.\nSIGINT or SIGTERM: drain everything, "
	       "finish the archive, exit 0.\n\noptions:\n%s",
	       ms_opts_help);
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
	ms_opts_print_losses("consumer", &t);
}

int ms_cmd_consumer(int argc, char **argv)
{
	struct ms_daemon_opts o;
	struct ms_daemon *d;
	char out[256], samp[64];
	int i, err;

	ms_daemon_opts_defaults(&o);
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
	ms_daemon_block_signals();
	err = ms_daemon_open(&o, &d);
	if (err)
		return 1;
	ms_format_sampling(&o.set, samp, sizeof(samp));
	fprintf(stderr,
		"memscope consumer: session %s, socket %s\n"
		"memscope consumer: archive %s (sampling %s); stop with "
		"Ctrl-C\n",
		ms_daemon_session(d), ms_daemon_socket(d), ms_daemon_archive(d),
		samp);
	err = ms_daemon_run(d, NULL, NULL);
	print_summary(d);
	ms_daemon_close(d);
	return err ? 1 : 0;
}
