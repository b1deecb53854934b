/* SPDX-License-Identifier: MIT */
/*
 * Reading one thread stream (pid, tid) of an archive, record by record.
 *
 * A stream's decoder state, stack ids, module records and thread name
 * belong to that stream and are read in segment order. Each frame's
 * records are decoded from the SYNC record that opens it, so a damaged
 * frame never spoils the next. Damage is reported to the archive
 * (archive_error.h) and skipped.
 *
 * Every record but SYNC comes out, the stream's bookkeeping ones too:
 * STACK (already applied to the stack table), CLOCK, THREAD_*, LOST, and
 * MODULE_LOAD / MODULE_UNLOAD (ev->addr is the base, ev->size, ev->build_id
 * and ev->str the path), from which an analysis keeps each process's
 * module map.
 */
#ifndef MS_ARCHIVE_ITER_H
#define MS_ARCHIVE_ITER_H

#include <stdint.h>

#include "archive.h"
#include "archive_stacks.h"
#include "record.h"

/* One decoded record of a stream, with what the stream knows about it. */
struct ms_arc_event {
	const struct ms_event *ev; /* all of it valid until the next call */
	uint32_t pid, tid;
	uint64_t ns; /* CLOCK_MONOTONIC ns (from CLOCK records) */
	/*
	 * ALLOC and REALLOC: the whole stack of `ev->stack_id`, as the
	 * stream's STACK record gave it (stack->frames[0] is the caller).
	 * NULL for other records, stack id 0, or a STACK never seen.
	 */
	const struct ms_arc_stack *stack;
};

struct ms_arc_iter;

/* Walks every record of thread `t`. Returns 0 or -ENOMEM. */
int ms_arc_iter_open(struct ms_archive *a, struct ms_arc_thread *t,
		     struct ms_arc_iter **out);
/*
 * The next record (SYNC records are consumed, not returned). Returns 1
 * with *out set, 0 at the end of the stream, -ENOMEM. Damage is reported
 * to the archive and skipped.
 */
int ms_arc_iter_next(struct ms_arc_iter *it, const struct ms_arc_event **out);
/* Counts and thread name of what the iterator has read so far. */
const struct ms_arc_counts *ms_arc_iter_counts(const struct ms_arc_iter *it);
const char *ms_arc_iter_name(const struct ms_arc_iter *it);
void ms_arc_iter_close(struct ms_arc_iter *it);

#endif
