/* SPDX-License-Identifier: MIT */
/* Fleet: options, the control thread's tick, start and stop (fleet.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fleet_int.h"

#define MS_FLEET_TICK_NS 250000000ull  /* the daemon's tick */
#define MS_FLEET_SNAP_NS 1000000000ull /* live snapshots for metrics */

const char ms_fleet_help[] =
	"  --metrics ADDR:PORT     serve Prometheus metrics on "
	"http://ADDR:PORT/metrics\n"
	"                          (PORT or :PORT: 127.0.0.1 only); keeps "
	"the live heap\n"
	"  --metrics-threads N     per-thread series for the N threads with "
	"the most live\n"
	"                          bytes (default: 10)\n"
	"  --profile-every S       write the live heap as gzipped pprof every "
	"S seconds\n"
	"  --profile-dir DIR       where those profiles go\n"
	"  --profile-keep N        keep the newest N profiles in DIR "
	"(default: 10)\n"
	"  --push URL              POST each profile to a Pyroscope server's "
	"URL/ingest\n"
	"  --service NAME          application name of pushed profiles "
	"(default: the\n"
	"                          program's name)\n";

void ms_fleet_opts_defaults(struct ms_fleet_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->metrics_threads = MS_FLEET_THREADS_DEFAULT;
	o->profile_keep = MS_FLEET_KEEP_DEFAULT;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || *s == '-' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Applies option `name` with value `v`: 0, or -1 for a bad value. */
static int apply(struct ms_fleet_opts *o, const char *name, const char *v)
{
	if (!strcmp(name, "--metrics"))
		o->metrics = v;
	else if (!strcmp(name, "--metrics-threads"))
		return parse_uint(v, 0, 10000, &o->metrics_threads);
	else if (!strcmp(name, "--profile-every"))
		return parse_uint(v, 1, 86400 * 7, &o->profile_every);
	else if (!strcmp(name, "--profile-dir"))
		o->profile_dir = v;
	else if (!strcmp(name, "--profile-keep"))
		return parse_uint(v, 1, 1000000, &o->profile_keep);
	else if (!strcmp(name, "--push"))
		o->push = v;
	else if (!strcmp(name, "--service"))
		o->service = v;
	return *v ? 0 : -1;
}

static const char *const names[] = {
	"--metrics",	 "--metrics-threads", "--profile-every",
	"--profile-dir", "--profile-keep",    "--push",
	"--service",
};

int ms_fleet_opt(struct ms_fleet_opts *o, int argc, char **argv, int i)
{
	const char *a = argv[i], *eq = strchr(a, '=');
	size_t n = eq ? (size_t)(eq - a) : strlen(a);

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const char *v = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;

		if (strlen(names[k]) != n || strncmp(a, names[k], n))
			continue;
		if (!v) {
			fprintf(stderr, "memscope consumer: %s needs a value\n",
				names[k]);
			return -1;
		}
		if (apply(o, names[k], v) < 0) {
			fprintf(stderr,
				"memscope consumer: invalid value '%s' for %s; "
				"see 'memscope consumer --help'\n",
				v, names[k]);
			return -1;
		}
		return eq ? 1 : 2;
	}
	return 0;
}

int ms_fleet_check(const struct ms_fleet_opts *o)
{
	if (o->profile_every && !o->profile_dir && !o->push) {
		fprintf(stderr, "memscope consumer: --profile-every needs "
				"--profile-dir DIR or --push URL\n");
		return -1;
	}
	if ((o->profile_dir || o->push) && !o->profile_every) {
		fprintf(stderr, "memscope consumer: --profile-dir and --push "
				"need --profile-every S\n");
		return -1;
	}
	return 0;
}

int ms_fleet_wanted(const struct ms_fleet_opts *o)
{
	return o->metrics || o->profile_every;
}

/*
 * The newest snapshot the poller published, parsed in place when it is
 * new: no copy of its bytes, which stay the daemon's until a newer one
 * replaces them (and changes seq) in the control loop, before a tick.
 */
static void take_snapshot(struct ms_fleet *f)
{
	size_t len;
	uint64_t seq;
	const void *blob = ms_daemon_live_last(f->d, &len, &seq);

	if (!blob || seq == f->snap_seq)
		return;
	f->snap_seq = seq;
	if (f->have_snap)
		ms_snap_free(&f->snap);
	f->have_snap = ms_snap_parse(blob, len, &f->snap) == 0;
	f->snap_blob = blob;
	f->snap_len = len;
}

/*
 * A snapshot a second for the metrics (as a `top` client asks: the poller
 * writes it between two rings), else one when a profile is close to due.
 */
static int want_snapshot(struct ms_fleet *f, uint64_t now)
{
	if (f->o.metrics)
		return now - f->asked_ns >= MS_FLEET_SNAP_NS;
	return f->o.profile_every &&
	       now + 2 * MS_FLEET_TICK_NS >= f->next_profile_ns &&
	       now - f->asked_ns >= MS_FLEET_TICK_NS;
}

void ms_fleet_tick(struct ms_daemon *d, void *ctx)
{
	struct ms_fleet *f = ctx;
	uint64_t now = ms_mono_ns();

	take_snapshot(f);
	if (f->o.metrics) {
		size_t len;
		char *text = ms_fleet_metrics(f, &len);

		if (text)
			ms_fleet_http_publish(f, text, len);
	}
	if (f->o.profile_every && now >= f->next_profile_ns && f->have_snap) {
		ms_fleet_profiles_offer(f, f->snap_blob, f->snap_len);
		f->next_profile_ns = now + f->o.profile_every * 1000000000ull;
	}
	if (want_snapshot(f, now)) {
		f->asked_ns = now;
		ms_daemon_live_ask(d);
	}
}

static struct ms_fleet *fleet_new(const struct ms_fleet_opts *o,
				  struct ms_daemon *d)
{
	struct ms_fleet *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->o = *o;
	f->d = d;
	snprintf(f->session, sizeof(f->session), "%s", ms_daemon_session(d));
	if (gethostname(f->host, sizeof(f->host) - 1) < 0)
		snprintf(f->host, sizeof(f->host), "unknown");
	pthread_mutex_init(&f->body_lock, NULL);
	pthread_mutex_init(&f->prof_lock, NULL);
	pthread_cond_init(&f->prof_cv, NULL);
	pthread_mutex_init(&f->push_lock, NULL);
	pthread_cond_init(&f->push_cv, NULL);
	/* the first profile after one period */
	f->next_profile_ns = ms_mono_ns() + o->profile_every * 1000000000ull;
	return f;
}

int ms_fleet_start(const struct ms_fleet_opts *o, struct ms_daemon *d,
		   struct ms_fleet **out)
{
	struct ms_fleet *f = fleet_new(o, d);
	int err = 0;

	if (!f)
		return -ENOMEM;
	if (o->profile_dir && mkdir(o->profile_dir, 0700) < 0 &&
	    errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "memscope consumer: cannot create %s: %s\n",
			o->profile_dir, strerror(-err));
	}
	if (!err && o->push)
		err = ms_fleet_push_start(f);
	if (!err && o->profile_every)
		err = ms_fleet_profiles_start(f);
	if (!err && o->metrics)
		err = ms_fleet_http_start(f);
	if (err) {
		ms_fleet_stop(f);
		ms_fleet_free(f);
		return err;
	}
	ms_daemon_live_ask(d); /* the first snapshot for the first tick */
	*out = f;
	return 0;
}

void ms_fleet_stop(struct ms_fleet *f)
{
	if (!f)
		return;
	ms_fleet_http_stop(f);
	ms_fleet_profiles_stop(f); /* may still queue pushes */
	ms_fleet_push_stop(f);
	if (f->have_snap) /* its bytes are the daemon's: free it first */
		ms_snap_free(&f->snap);
	f->have_snap = 0;
}

void ms_fleet_counts(const struct ms_fleet *f, uint64_t *written,
		     uint64_t *pushed, uint64_t *push_failed)
{
	*written = atomic_load_explicit(&f->written, memory_order_relaxed);
	*pushed = atomic_load_explicit(&f->pushed, memory_order_relaxed);
	*push_failed =
		atomic_load_explicit(&f->push_failed, memory_order_relaxed);
}

void ms_fleet_free(struct ms_fleet *f)
{
	if (!f)
		return;
	free(f->body);
	free(f->prof_buf);
	pthread_mutex_destroy(&f->body_lock);
	pthread_mutex_destroy(&f->prof_lock);
	pthread_cond_destroy(&f->prof_cv);
	pthread_mutex_destroy(&f->push_lock);
	pthread_cond_destroy(&f->push_cv);
	free(f);
}
