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

static inline uint64_t ms_arc_sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static inline unsigned __int128 ms_arc_sat_add128(unsigned __int128 a,
						  unsigned __int128 b)
{
	return a + b < a ? ~(unsigned __int128)0 : a + b;
}

/* Adds one record (not SYNC) of `type` to `c`: events, allocs, frees,
 * dropped (`count` of LOST) and the weighted size (`size` * `weight` of
 * ALLOC and REALLOC). */
static inline void ms_arc_count(struct ms_arc_counts *c, uint8_t type,
				uint64_t size, uint64_t weight, uint64_t count)
{
	int alloc = type == MS_REC_ALLOC || type == MS_REC_REALLOC;

	c->events++;
	c->allocs += (uint64_t)alloc;
	c->frees += type == MS_REC_FREE || type == MS_REC_REALLOC;
	if (alloc)
		c->weighted_size = ms_arc_sat_add128(
			c->weighted_size, (unsigned __int128)size * weight);
	if (type == MS_REC_LOST)
		c->dropped = ms_arc_sat_add(c->dropped, count);
}

static inline void ms_arc_count_event(struct ms_arc_counts *c,
				      const struct ms_event *ev)
{
	ms_arc_count(c, ev->type, ev->size, ev->weight, ev->count);
}

/*
 * Reads every stream once and fills each thread's counts and name.
 * Returns 0 or -ENOMEM.
 */
int ms_archive_scan(struct ms_archive *a);

/*
 * The same counts from a finished session's manifest, without reading a
 * frame: 0 when every thread of the archive could be filled so, with each
 * thread's segment count and on-disk size as the manifest states them;
 * -1 otherwise (no finished manifest, one from an older consumer, threads
 * not listed, damage found when the archive was opened, files missing,
 * added, cut or grown), and the caller scans. A byte changed in place is
 * found only by a scan (`stats --verify`, `dump`, `report`).
 */
int ms_archive_counts_from_manifest(struct ms_archive *a);

/* Sum of every thread's counts. */
void ms_archive_totals(const struct ms_archive *a, struct ms_arc_counts *out);

/* Estimated bytes allocated: sum of size * weight (Q16 weights divided by
 * MS_WEIGHT_ONE), saturated to UINT64_MAX. */
uint64_t ms_arc_estimated_bytes(const struct ms_arc_counts *c);

#endif
