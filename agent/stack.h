/* SPDX-License-Identifier: MIT */
/*
 * Call stacks: capture (stackwalk.h, libunwind behind it), per-thread
 * deduplication.
 *
 * A thread writes each distinct stack once, as a STACK record with a new
 * id (per thread, from 1), and afterwards only refers to the id. The table
 * maps a 64-bit hash of the frames to the id; it lives in mmap'd memory,
 * starts small and doubles (a rare slow path) at half load.
 */
#ifndef MS_STACK_H
#define MS_STACK_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent.h"
#include "record.h"
#include "stackwalk.h"

#define MS_STACK_TABLE_CAP 4096 /* a thread's first table */

struct ms_stack_entry {
	uint64_t hash; /* 0: empty */
	uint64_t id;
};

struct ms_stack_table {
	void *pool_next; /* in the free list of ended threads' tables */
	uint64_t cap;	 /* entries, a power of two */
	uint64_t count;
	uint64_t next_id;
	size_t map_len;
	struct ms_stack_entry e[];
};

/* A table with room for `cap` (power of two) entries; NULL on failure. */
struct ms_stack_table *ms_stack_table_create(uint64_t cap);
void ms_stack_table_destroy(struct ms_stack_table *t);

/* A thread's first table (MS_STACK_TABLE_CAP entries): an ended
 * thread's, emptied, when one waits in the free list, where
 * ms_stack_table_retire() leaves a table that did not grow and unmaps one
 * that did. */
struct ms_stack_table *ms_stack_table_first(void);
void ms_stack_table_retire(struct ms_stack_table *t);

/* Hash of a stack; never 0. */
uint64_t ms_stack_hash(const uint64_t *frames, uint32_t n);

/* The id of the stack with hash `h`, or 0 when it has not been written. */
uint64_t ms_stack_find(const struct ms_stack_table *t, uint64_t h);

/*
 * Records that the stack with hash `h` was written with id `id` (the caller
 * takes it from t->next_id and writes the STACK record first). May replace
 * *tp by a bigger table. Returns 0, or -ENOMEM (the stack will be written
 * again next time: correct, only larger).
 */
int ms_stack_insert(struct ms_stack_table **tp, uint64_t h, uint64_t id);

#define MS_SKIP_MAX 8 /* agent frames above the program's caller */

/*
 * Captures up to `depth` return addresses of the calling program, starting
 * at `caller` (the return address of the interposed function): depth 0 or
 * 1 gives `caller` alone. Frames of the agent above it are skipped.
 * Returns the frame count (>= 1).
 *
 * Inline: every agent frame between the program and the unwinder costs
 * one more step of unwinding on every sampled call.
 */
static inline __attribute__((always_inline)) uint32_t
ms_stack_capture(uint64_t *frames, uint32_t depth, uintptr_t caller)
{
	void *buf[MS_STACK_MAX + MS_SKIP_MAX];
	int n, first = -1;
	uint32_t out = 0;

	frames[0] = caller;
	if (depth <= 1)
		return 1;
	if (depth > MS_STACK_MAX)
		depth = MS_STACK_MAX;
	/* our walker; libunwind whenever it cannot vouch for a frame */
	n = ms_stackwalk(buf, (int)(depth + MS_SKIP_MAX));
	if (n < 0 && ms_stackwalk_in_phdr)
		return 1; /* the loader's lock is held: see stackwalk.h */
	if (n < 0) {
		/* libunwind's probes (mincore, msync) may set errno, and what
		 * it may allocate is its own, not a signal handler's. */
		int saved_errno = errno, guard = ms_tls.guard;

		ms_tls.guard = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		n = unw_backtrace(buf, (int)(depth + MS_SKIP_MAX));
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		ms_tls.guard = guard;
		errno = saved_errno;
	}
	for (int i = 0; i < n && i < MS_SKIP_MAX; i++) {
		if ((uintptr_t)buf[i] == caller) {
			first = i;
			break;
		}
	}
	if (first < 0)
		return 1; /* caller not found: keep the one frame we know */
	for (int i = first; i < n && out < depth; i++)
		frames[out++] = (uint64_t)(uintptr_t)buf[i];
	return out;
}

#endif
