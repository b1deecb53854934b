/* SPDX-License-Identifier: MIT */
/*
 * `memscope record`: a private consumer, the command run under the agent,
 * and the archive finished when the command (and every traced process it
 * started) is gone. The command's exit status is passed through.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentpath.h"
#include "archive_compact.h"
#include "cli.h"
#include "clock.h"
#include "daemon.h"
#include "opts.h"

struct rec {
	struct ms_daemon *d;
	pid_t child;
	int status;
	int live_line; /* stderr is a terminal */
	uint64_t last_ns, last_events;
	double rate;
};

static void help(void)
{
	printf("usage: memscope record [--out DIR] [OPTIONS] -- CMD "
	       "[ARG...]\n\n"
	       "Runs CMD traced by a private consumer and writes the archive "
	       "to DIR,\nthen stores the names of its stacks' functions in it "
	       "('memscope\nsymbolize'). Exits with CMD's exit status (128+N "
	       "when a signal N\nended it).\n\noptions:\n%s"
	       "  --no-symbolize          leave the names out (report looks "
	       "them up\n                          in the binaries later)\n"
	       "  --compact               then write the archive again at "
	       "zstd level 15,\n                          smaller ('memscope "
	       "compact')\n",
	       ms_opts_help);
}

/*
 * Waits for CMD. record is the subreaper of CMD's descendants, so once CMD
 * has ended, "no child left" means no process of the run is alive and none
 * can attach any more: the consumer stops as soon as it has drained, with
 * no grace for a latecomer. Otherwise it waits for the attached ones, with
 * a grace for those not yet attached.
 */
static void *waiter(void *arg)
{
	struct rec *r = arg;
	int st, st2;
	pid_t p;

	while (waitpid(r->child, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st)     ? WEXITSTATUS(st)
		    : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
				      : 1;
	do
		p = waitpid(-1, &st2, WNOHANG); /* orphans that have ended */
	while (p > 0 || (p < 0 && errno == EINTR));
	ms_daemon_stop(r->d, p < 0 && errno == ECHILD ? MS_STOP_IDLE_FINAL : 1);
	return NULL;
}

static void human(char *buf, size_t len, double v, const char *unit)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2f G%s", v / 1e9, unit);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2f M%s", v / 1e6, unit);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1f k%s", v / 1e3, unit);
	else
		snprintf(buf, len, "%.0f %s", v, unit);
}

static void tick(struct ms_daemon *d, void *arg)
{
	struct rec *r = arg;
	struct ms_daemon_totals t;
	uint64_t now = ms_mono_ns();
	char rate[32], bytes[32];

	ms_daemon_totals(d, &t);
	if (r->last_ns && now > r->last_ns)
		r->rate = (double)(t.events - r->last_events) * 1e9 /
			  (double)(now - r->last_ns);
	r->last_ns = now;
	r->last_events = t.events;
	if (!r->live_line)
		return;
	human(rate, sizeof(rate), r->rate, "events/s");
	human(bytes, sizeof(bytes), (double)t.disk_bytes, "B");
	fprintf(stderr,
		"\r\033[K[memscope] %s, %llu events, %s written, %llu dropped, "
		"%llu threads",
		rate, (unsigned long long)t.events, bytes,
		(unsigned long long)t.dropped, (unsigned long long)t.threads);
	fflush(stderr);
}

static void summary(struct rec *r)
{
	struct ms_daemon_totals t;
	char bytes[32];

	ms_daemon_totals(r->d, &t);
	human(bytes, sizeof(bytes), (double)t.disk_bytes, "B");
	if (r->live_line)
		fputs("\r\033[K", stderr);
	fprintf(stderr,
		"memscope record: %llu events (%llu allocs, %llu frees, %llu "
		"dropped) from %llu process%s, %llu threads\n"
		"memscope record: archive %s (%s, %.2f bytes/event)\n",
		(unsigned long long)t.events, (unsigned long long)t.allocs,
		(unsigned long long)t.frees, (unsigned long long)t.dropped,
		(unsigned long long)t.processes, t.processes == 1 ? "" : "es",
		(unsigned long long)t.threads, ms_daemon_archive(r->d), bytes,
		t.events ? (double)t.disk_bytes / (double)t.events : 0.0);
	ms_opts_print_losses("record", &t);
	if (t.processes == 0)
		fprintf(stderr,
			"memscope record: no process attached; was the agent "
			"able to load? (see the lines above)\n");
}

static int spawn(struct rec *r, char **argv, char **env)
{
	posix_spawnattr_t at;
	sigset_t none, def;
	int err;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	err = posix_spawnp(&r->child, argv[0], NULL, &at, argv, env);
	posix_spawnattr_destroy(&at);
	if (err)
		fprintf(stderr, "memscope record: cannot run '%s': %s\n",
			argv[0], strerror(err));
	return err;
}

/* Takes one of record's own options out of argv (before "--"): 1 when
 * given. */
static int take_flag(int *argc, char **argv, const char *flag)
{
	for (int i = 1; i < *argc && strcmp(argv[i], "--"); i++) {
		if (strcmp(argv[i], flag))
			continue;
		memmove(&argv[i], &argv[i + 1],
			(size_t)(*argc - i) * sizeof(*argv));
		(*argc)--;
		return 1;
	}
	return 0;
}

static int prepare(int argc, char **argv, struct ms_daemon_opts *o, int *cmd)
{
	int i;

	ms_daemon_opts_defaults(o);
	o->quiet = 1;
	i = ms_opts_parse(argc, argv, o, 1);
	if (i == MS_OPTS_HELP) {
		help();
		return 0;
	}
	if (i < 0)
		return 2;
	if (i >= argc) {
		fprintf(stderr, "memscope record: no command given; usage: "
				"memscope record [--out DIR] -- CMD\n");
		return 2;
	}
	*cmd = i;
	return -1;
}

int ms_cmd_record(int argc, char **argv)
{
	struct ms_daemon_opts o;
	struct rec r = {.status = 1};
	char out[256], session[80], agent[4096];
	char **env = NULL;
	pthread_t wt;
	int cmd = 0, ret;
	int no_symbolize = take_flag(&argc, argv, "--no-symbolize");
	int compact = take_flag(&argc, argv, "--compact");

	ret = prepare(argc, argv, &o, &cmd);
	if (ret >= 0)
		return ret;
	if (!o.out) {
		ms_opts_default_out(out, sizeof(out));
		o.out = out;
	}
	if (!o.session) {
		snprintf(session, sizeof(session), "record-%d", (int)getpid());
		o.session = session;
	}
	if (ms_agent_path(agent, sizeof(agent)) < 0)
		return 1;
	env = ms_env_traced(agent, o.session);
	ms_daemon_block_signals();
	if (!env || ms_daemon_open(&o, &r.d) < 0) {
		ms_env_free(env);
		return 1;
	}
	r.live_line = isatty(STDERR_FILENO);
	/* CMD's orphans become our children: we know when the last is gone */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (spawn(&r, argv + cmd, env)) {
		ms_daemon_close(r.d);
		ms_env_free(env);
		return 127;
	}
	ms_daemon_forward_signals(r.d, r.child);
	if (pthread_create(&wt, NULL, waiter, &r)) {
		waitpid(r.child, NULL, 0);
		ms_daemon_close(r.d);
		ms_env_free(env);
		return 1;
	}
	ret = ms_daemon_run(r.d, tick, &r);
	pthread_join(wt, NULL);
	summary(&r);
	ms_daemon_close(r.d);
	ms_env_free(env);
	if (!no_symbolize)
		ms_symbolize_archive(o.out, NULL, "record", 0);
	if (compact) /* a failure is said; the status is still CMD's */
		ms_compact_archive(o.out, MS_COMPACT_LEVEL_DEFAULT,
				   sysconf(_SC_NPROCESSORS_ONLN), "record");
	(void)ret; /* a manifest error was reported; the status is CMD's */
	return r.status;
}
