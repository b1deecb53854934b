/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by fleet.c, fleet_metrics.c, fleet_http.c,
 * fleet_profiles.c and fleet_push.c (fleet.h says who runs where).
 */
#ifndef MS_FLEET_INT_H
#define MS_FLEET_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet.h"
#include "snap.h"

#define MS_FLEET_PUSH_QUEUE 16 /* profiles waiting to be pushed */

/* A profile waiting for the pusher. */
struct ms_fleet_item {
	char *url; /* the whole ingest URL, query string included */
	uint8_t *body;
	size_t len;
};

struct ms_fleet {
	struct ms_fleet_opts o;
	struct ms_daemon *d;
	char session[80];
	char host[256];

	/* control thread: the newest snapshot, parsed where the daemon keeps
	 * it (valid while its seq is the daemon's newest: re-parsed at the
	 * first tick after a new one replaced it) */
	uint64_t snap_seq;
	const void *snap_blob;
	size_t snap_len;
	struct ms_snap snap;
	int have_snap;
	uint64_t asked_ns; /* when the tick last asked for one */

	/* metrics text: the control thread writes, the server copies */
	struct MHD_Daemon *mhd;
	pthread_mutex_t body_lock;
	char *body;
	size_t body_len;

	/* scheduled profiles: a one-slot mailbox to the writer thread */
	uint64_t next_profile_ns; /* control thread */
	pthread_t prof_thr;
	int prof_started;
	pthread_mutex_t prof_lock;
	pthread_cond_t prof_cv;
	uint64_t *prof_buf; /* a snapshot's bytes, 8-aligned */
	size_t prof_len;
	int prof_stop;

	/* pushes: a bounded queue to the pusher thread */
	pthread_t push_thr;
	int push_started;
	pthread_mutex_t push_lock;
	pthread_cond_t push_cv;
	struct ms_fleet_item q[MS_FLEET_PUSH_QUEUE];
	unsigned q_head, q_len;
	int push_stop;

	_Atomic uint64_t written, write_failed, pushed, push_failed;
};

/* fleet_metrics.c: the exposition text now (control thread); malloc'ed,
 * *len bytes, or NULL when out of memory. */
char *ms_fleet_metrics(struct ms_fleet *f, size_t *len);

/* fleet_http.c */
int ms_fleet_http_start(struct ms_fleet *f);
void ms_fleet_http_stop(struct ms_fleet *f);
/* Control thread: `text` (malloc'ed) replaces what scrapers get. */
void ms_fleet_http_publish(struct ms_fleet *f, char *text, size_t len);

/* fleet_profiles.c */
int ms_fleet_profiles_start(struct ms_fleet *f);
void ms_fleet_profiles_stop(struct ms_fleet *f);
/* Control thread: a snapshot to write (copied; replaces one not yet
 * taken). */
void ms_fleet_profiles_offer(struct ms_fleet *f, const void *blob, size_t len);

/* fleet_push.c */
int ms_fleet_push_start(struct ms_fleet *f);
void ms_fleet_push_stop(struct ms_fleet *f);
/* Profile thread: queues a profile for `pid` (body copied). When the
 * queue is full the oldest is given up and counted as failed. */
void ms_fleet_push(struct ms_fleet *f, uint32_t pid, const char *exe,
		   uint64_t from_s, uint64_t until_s, const uint8_t *body,
		   size_t len);

#endif
