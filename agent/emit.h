/* SPDX-License-Identifier: MIT */
/*
 * The writer: encodes records into the calling thread's ring.
 *
 *   uint8_t *p = ms_emit_reserve(t, MS_REC_SMALL_MAX);
 *   if (p)
 *           ms_emit_commit(t, ms_rec_put_free(&t->rs, p, ts, addr));
 *
 * A reservation that cannot be served (drop mode and full, block mode
 * giving up, record too big) counts one lost event in the ring header by
 * cause and returns NULL; the next record that does get room is preceded
 * by LOST{count, cause}. Only the owning thread writes, with the TLS guard
 * held, so a signal handler on the same thread never interleaves.
 */
#ifndef MS_EMIT_H
#define MS_EMIT_H

#include "agent.h"

/* `event`: 1 for ALLOC/FREE/REALLOC (a failure is a lost event), 0 for
 * the records around them (a failure only counts in hdr->lost_meta). */
uint8_t *ms_emit_reserve_slow(struct ms_tstate *t, uint64_t n, int event);
/* Counts one lost event of `cause` (producer-only fields, no RMW). */
void ms_emit_lost(struct ms_tstate *t, unsigned cause);

static inline uint8_t *ms_emit_reserve(struct ms_tstate *t, uint64_t n)
{
	if (MS_LIKELY(!t->lost_pending)) {
		uint8_t *p = ms_ring_reserve(&t->ring, n);

		if (MS_LIKELY(p != NULL))
			return p;
	}
	return ms_emit_reserve_slow(t, n, 1);
}

/*
 * The same for a record that is not an allocation event (CLOCK,
 * THREAD_*, MODULE_*): losing one does not count as a lost event, so
 * archived + dropped events stay exact.
 */
static inline uint8_t *ms_emit_reserve_meta(struct ms_tstate *t, uint64_t n)
{
	if (MS_LIKELY(!t->lost_pending)) {
		uint8_t *p = ms_ring_reserve(&t->ring, n);

		if (MS_LIKELY(p != NULL))
			return p;
	}
	return ms_emit_reserve_slow(t, n, 0);
}

/* Publishes everything written from the reservation up to `end`. */
static inline void ms_emit_commit(struct ms_tstate *t, uint8_t *end)
{
	uint8_t *start = t->ring.data + (t->ring.pos & t->ring.mask);

	ms_ring_commit(&t->ring, (uint64_t)(end - start));
}

static inline uint64_t ms_now(void)
{
	return ms_clock_ticks(&ms_g.clk);
}

#endif
