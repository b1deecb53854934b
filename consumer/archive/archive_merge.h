/* SPDX-License-Identifier: MIT */
/*
 * The time-ordered merge of an archive's thread streams: every record of
 * the selected threads, in order of converted time (ns), ties in (pid,
 * tid) order, each stream's records in their own order. A k-way merge over
 * one iterator per thread (archive_iter.h) in a min-heap (minheap.h):
 * memory grows with the number of threads, never with the events.
 *
 * The events are the iterators' (struct ms_arc_event: record, time,
 * whole stack), so what holds for one stream holds here: stack ids and
 * module records belong to the stream they come from.
 */
#ifndef MS_ARCHIVE_MERGE_H
#define MS_ARCHIVE_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "archive_iter.h"

/* Which threads: those of process `pid` and/or thread `tid` when given,
 * every thread when neither is. */
struct ms_arc_filter {
	int has_pid, has_tid;
	uint32_t pid, tid;
};

int ms_arc_filter_match(const struct ms_arc_filter *f,
			const struct ms_arc_thread *t);

struct ms_arc_merge;

/*
 * Opens one iterator per thread of `a` that `f` selects (NULL: every
 * thread) and reads the first record of each. Returns 0 or -ENOMEM.
 */
int ms_arc_merge_open(struct ms_archive *a, const struct ms_arc_filter *f,
		      struct ms_arc_merge **out);

/*
 * The next record across the threads. Returns 1 with *out set (valid until
 * the next call), 0 when every stream is done, or -ENOMEM. Damage is
 * reported to the archive and skipped, as by the iterators.
 */
int ms_arc_merge_next(struct ms_arc_merge *m, const struct ms_arc_event **out);

/* Threads the filter selected (those without any record included). */
size_t ms_arc_merge_nthreads(const struct ms_arc_merge *m);

void ms_arc_merge_close(struct ms_arc_merge *m);

#endif
