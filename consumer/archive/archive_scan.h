/* SPDX-License-Identifier: MIT */
/*
 * Counts of an archive (docs/reading.md, `memscope stats`): per record,
 * per thread stream, and in total. Counts saturate instead of wrapping.
 */
#ifndef MS_ARCHIVE_SCAN_H
#define MS_ARCHIVE_SCAN_H

#include <stdint.h>

#include "archive.h"
#include "record.h"

/* Adds one record (not SYNC) to `c`: events, allocs, frees, dropped and
 * the weighted size. */
void ms_arc_count_event(struct ms_arc_counts *c, const struct ms_event *ev);

/*
 * Reads every stream once and fills each thread's counts and name.
 * Returns 0 or -ENOMEM.
 */
int ms_archive_scan(struct ms_archive *a);

/* Sum of every thread's counts. */
void ms_archive_totals(const struct ms_archive *a, struct ms_arc_counts *out);

/* Estimated bytes allocated: sum of size * weight (Q16 weights divided by
 * MS_WEIGHT_ONE), saturated to UINT64_MAX. */
uint64_t ms_arc_estimated_bytes(const struct ms_arc_counts *c);

#endif
