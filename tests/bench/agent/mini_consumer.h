/* SPDX-License-Identifier: MIT */
/*
 * A minimal in-process consumer for the agent's benchmark and tests: it
 * accepts agents on a socket, answers HELLO with fixed SETTINGS, drains
 * their rings and counts events per thread. No archive, no compression:
 * it measures the agent alone.
 */
#ifndef MS_MINI_CONSUMER_H
#define MS_MINI_CONSUMER_H

#include <stdint.h>

#include "session.h"

#define MS_MINI_MAX_RINGS   1024
#define MS_MINI_MAX_THREADS 4096

struct ms_mini_thread {
	uint32_t pid, tid;
	uint64_t allocs, frees, dropped, events, stacks, modules;
	char name[65];
};

struct ms_mini;

/* Listens at `path` (removed first) and serves agents from a thread. */
struct ms_mini *ms_mini_start(const char *path, const struct ms_settings *s);
/* Drains everything that is left, stops the thread; counts stay valid. */
void ms_mini_stop(struct ms_mini *m);
/* Waits until every agent connection has closed and all is drained. */
void ms_mini_wait_idle(struct ms_mini *m, unsigned timeout_ms);
const struct ms_mini_thread *ms_mini_threads(struct ms_mini *m, uint32_t *n);
uint64_t ms_mini_total_events(struct ms_mini *m);
void ms_mini_free(struct ms_mini *m);

#endif
