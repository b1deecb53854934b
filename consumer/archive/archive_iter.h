/* SPDX-License-Identifier: MIT */
/*
 * Reading one thread stream (pid, tid) of an archive, record by record.
 *
 * A stream's decoder state, stack ids, module records and thread name
 * belong to that stream and are read in segment order. Each frame's
 * records are decoded from the SYNC record that opens it, so a damaged
 * frame never spoils the next. Damage is reported to the archive
 * (archive_error.h) and skipped.
 */
#ifndef MS_ARCHIVE_ITER_H
#define MS_ARCHIVE_ITER_H

#include <stdint.h>

#include "archive.h"
#include "record.h"

/* One decoded record of a stream, with what the stream knows about it. */
struct ms_arc_event {
	const struct ms_event *ev; /* valid until the next call */
	uint32_t pid, tid;
	uint64_t ns;	 /* CLOCK_MONOTONIC ns (from CLOCK records) */
	uint64_t caller; /* first frame of the STACK `ev->stack_id` */
	int has_caller;	 /* 0: no stack id, or a STACK never seen */
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
