/* SPDX-License-Identifier: MIT */
/*
 * memscope.h — explicit tracking for custom allocators (pools, arenas).
 *
 * Link with -lmemscope (or run under LD_PRELOAD=libmemscope.so, where
 * malloc and friends are tracked as well). Events reported here go to the
 * same per-thread ring as interposed ones, so they appear in the archive
 * alongside malloc events.
 *
 * Every function is safe to call when no consumer is running: tracking is
 * then off and the calls cost a few nanoseconds. None of them ever fails
 * the caller; the return values only say whether tracking is on.
 */
#ifndef MEMSCOPE_H
#define MEMSCOPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMSCOPE_API_VERSION 1

struct memscope_options {
	unsigned version;     /* MEMSCOPE_API_VERSION */
	const char *session;  /* NULL: $MEMSCOPE_SESSION or "default" */
	const char *sampling; /* NULL: the consumer's; "full", "tiered",
				 "bytes:N" */
	int stack_depth;      /* -1: the consumer's; 0: caller only */
};

/*
 * Attaches the process to a consumer (idempotent; the first call's options
 * win). `opt` may be NULL. Returns 0 when tracking is on, or a negative
 * errno when it is off (no consumer, refused, bad options).
 */
int memscope_init(const struct memscope_options *opt);

/*
 * Gives the calling thread its ring now rather than at its first event.
 * Returns 0, or a negative errno when the thread runs untracked.
 */
int memscope_thread_init(void);

/*
 * Records an allocation of `size` bytes at `ptr` made by a custom
 * allocator. Call it after the allocator has handed `ptr` out, and
 * memscope_track_free() before the block goes back to the allocator:
 * readers order the events of different threads by the time each call
 * reads, and a block freed on one thread and handed out again on another
 * must have its free first (as the agent does for malloc and free).
 */
void memscope_track_alloc(const void *ptr, size_t size);

/* Records that `ptr` (from memscope_track_alloc) is being released; see
 * memscope_track_alloc() for when to call it. */
void memscope_track_free(const void *ptr);

/*
 * Flushes and closes the calling process's tracking: every thread's events
 * so far reach the consumer. Later calls to the track functions are ignored.
 */
void memscope_finalize(void);

#ifdef __cplusplus
}
#endif

#endif
