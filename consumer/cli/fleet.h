/* SPDX-License-Identifier: MIT */
/*
 * Fleet: the consumer feeding the engines people already run
 * (docs/fleet.md). Metrics for Prometheus on `--metrics ADDR:PORT`
 * (fleet_http.c serves what fleet_metrics.c writes), the live heap as
 * gzipped pprof every `--profile-every S` seconds (fleet_profiles.c), and
 * each profile pushed to a Pyroscope-style ingest endpoint (fleet_push.c).
 *
 * Threads: ms_fleet_tick() runs on the daemon's control thread (its
 * `tick`): it asks the poller for a live-heap snapshot a second (as a
 * `top` client does), reads the counters
 * the poller publishes with relaxed atomics, writes the metrics text and
 * hands snapshots to the profile thread. The HTTP server, the profile
 * writer and the pusher each run in a thread of their own, and talk to
 * the control thread only through mutexes the poller never takes: a
 * scraper, a slow disk or a dead ingest server never slows the drain.
 */
#ifndef MS_FLEET_H
#define MS_FLEET_H

#include <stdint.h>

#include "daemon.h"

#define MS_FLEET_THREADS_DEFAULT 10 /* --metrics-threads */
#define MS_FLEET_KEEP_DEFAULT	 10 /* --profile-keep */
#define MS_FLEET_PROCS_MAX	 64 /* processes with series of their own */

struct ms_fleet_opts {
	const char *metrics;	  /* ADDR:PORT, :PORT or PORT; NULL: off */
	unsigned metrics_threads; /* per-thread series for the top N */
	unsigned profile_every;	  /* seconds; 0: no scheduled profiles */
	const char *profile_dir;  /* where they go (NULL: pushed only) */
	unsigned profile_keep;	  /* files kept in profile_dir */
	const char *push;	  /* ingest base URL, or NULL */
	const char *service;	  /* name= of pushed profiles; NULL: exe */
	const char *sampling;	  /* the session's mode, for the help text */
};

/* The option lines of `memscope consumer --help`. */
extern const char ms_fleet_help[];

void ms_fleet_opts_defaults(struct ms_fleet_opts *o);

/*
 * If argv[i] is a fleet option (with its value in argv[i + 1] or after
 * '='), applies it and returns how many words it took (1 or 2); returns 0
 * for any other word, -1 after printing a usage line for a bad value.
 */
int ms_fleet_opt(struct ms_fleet_opts *o, int argc, char **argv, int i);

/* Checks the options together (e.g. --push needs --profile-every); prints
 * the problem and returns -1, else 0. */
int ms_fleet_check(const struct ms_fleet_opts *o);

/* Whether any fleet feature is on (then the live heap is kept from the
 * start). */
int ms_fleet_wanted(const struct ms_fleet_opts *o);

struct ms_fleet;

/*
 * Starts the HTTP server and the threads for `d` (opened, not yet run).
 * Prints what failed (e.g. the port is taken). Returns 0 or -errno.
 */
int ms_fleet_start(const struct ms_fleet_opts *o, struct ms_daemon *d,
		   struct ms_fleet **out);

/* ms_daemon_run()'s `tick`, `ctx` the ms_fleet. */
void ms_fleet_tick(struct ms_daemon *d, void *ctx);

/* Stops the server and the threads (after ms_daemon_run() returned,
 * before ms_daemon_close()). */
void ms_fleet_stop(struct ms_fleet *f);

/* For the consumer's summary line: profiles written, pushed, not sent. */
void ms_fleet_counts(const struct ms_fleet *f, uint64_t *written,
		     uint64_t *pushed, uint64_t *push_failed);

void ms_fleet_free(struct ms_fleet *f);

#endif
