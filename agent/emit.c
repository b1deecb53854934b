/* SPDX-License-Identifier: MIT */
#include "emit.h"
#include "nocancel.h"

#include <sched.h>
#include <time.h>

#define MS_GIVE_UP_NS 2000000000ull /* block mode: ask the socket after 2 s */
#define MS_SPINS      64
#define MS_YIELDS     64

void ms_emit_lost(struct ms_tstate *t, unsigned cause)
{
	struct ms_ring_hdr *h = t->ring.hdr;

	/* Producer-only fields: relaxed load + store, never an RMW. */
	ms_store_relaxed(&h->lost[cause], ms_load_relaxed(&h->lost[cause]) + 1);
	t->lost_pending++;
	ms_store_relaxed(&h->lost_pending, t->lost_pending);
	t->lost_cause = cause;
}

static void backoff(unsigned i)
{
	long ns;

	if (i < MS_SPINS) {
		ms_cpu_relax();
		return;
	}
	if (i < MS_SPINS + MS_YIELDS) {
		sched_yield();
		return;
	}
	i -= MS_SPINS + MS_YIELDS;
	ns = i < 10 ? 10000L << i : 1000000L; /* 10 us .. 1 ms */
	if (ns > 1000000L)
		ns = 1000000L;
	ms_nc_nanosleep(ns);
}

/*
 * Block mode: waits for room as long as the consumer is there. Its tail
 * or heartbeat moving says so; after MS_GIVE_UP_NS of silence the session
 * socket is asked: a consumer that exited or was killed has closed its
 * end, and the ring is given up (dropped from then on, until a heartbeat
 * shows the consumer back); one that is only stopped or starved still
 * holds it, and the wait goes on: lossless while the consumer lives.
 */
static uint8_t *wait_room(struct ms_tstate *t, uint64_t n)
{
	struct ms_ring_hdr *h = t->ring.hdr;
	uint64_t tail = ms_load_relaxed(&h->tail);
	uint64_t beat = ms_load_relaxed(&h->heartbeat);
	uint64_t since = ms_mono_ns();

	for (unsigned i = 0;; i++) {
		uint8_t *p = ms_ring_reserve(&t->ring, n);
		uint64_t nt, nb;

		if (p)
			return p;
		backoff(i);
		nt = ms_load_relaxed(&h->tail);
		nb = ms_load_relaxed(&h->heartbeat);
		if (nt != tail || nb != beat) {
			tail = nt;
			beat = nb;
			since = ms_mono_ns();
		} else if (i >= MS_SPINS &&
			   ms_mono_ns() - since > MS_GIVE_UP_NS) {
			if (ms_attach_consumer_gone()) {
				t->gone = 1;
				t->gone_beat = nb;
				return NULL;
			}
			since = ms_mono_ns(); /* stopped: ask again later */
		}
	}
}

/* Block mode after giving up: a heartbeat since then means it is back. */
static int consumer_back(struct ms_tstate *t)
{
	return ms_load_relaxed(&t->ring.hdr->heartbeat) != t->gone_beat;
}

static void lost_meta(struct ms_tstate *t)
{
	struct ms_ring_hdr *h = t->ring.hdr;

	ms_store_relaxed(&h->lost_meta, ms_load_relaxed(&h->lost_meta) + 1);
}

uint8_t *ms_emit_reserve_slow(struct ms_tstate *t, uint64_t n, int event)
{
	uint64_t need = n + (t->lost_pending ? MS_REC_SMALL_MAX : 0);
	uint8_t *p;

	if (need > t->ring.size) {
		if (event)
			ms_emit_lost(t, MS_LOST_TOO_BIG);
		else
			lost_meta(t);
		return NULL;
	}
	p = ms_ring_reserve(&t->ring, need);
	if (!p && t->gone && consumer_back(t))
		t->gone = 0;
	if (!p && ms_g.set.on_full == MS_ON_FULL_BLOCK && !t->gone)
		p = wait_room(t, need);
	if (!p) {
		if (event)
			ms_emit_lost(t, t->gone ? MS_LOST_GONE : MS_LOST_FULL);
		else
			lost_meta(t);
		return NULL;
	}
	if (t->lost_pending) {
		p = ms_rec_put_lost(&t->rs, p, ms_now(), t->lost_pending,
				    t->lost_cause);
		t->lost_pending = 0;
		ms_store_relaxed(&t->ring.hdr->lost_pending, 0);
	}
	return p;
}
