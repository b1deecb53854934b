/* SPDX-License-Identifier: MIT */
/*
 * The poller: one thread visiting every ring on the RCU list, draining
 * what the producers committed into each ring's stream, bumping heartbeats
 * and following the ring state machine (ring_abi.h).
 *
 * Polling adapts: while data flows the loop goes round again at once; when
 * idle it spins a few rounds, then sleeps, doubling up to MS_IDLE_MAX_NS,
 * until the control thread kicks it (ms_poller_kick(): a new ring, a
 * process gone). Rings fuller than half are drained first in each round.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"

#define MS_IDLE_SPINS  16
#define MS_IDLE_MIN_NS 20000u
#define MS_IDLE_MAX_NS 2000000u
/*
 * A round that moved less than this counts as idle: the naps go on
 * growing to MS_IDLE_MAX_NS. A trickle (a compiler's sampled events, a
 * service at rest) is then drained every 2 ms instead of by a poller that
 * never sleeps because each round finds a few records: `make -j2` of 48
 * files under `tiered` cost the consumer 4 s of CPU a build. At the
 * bound, producers write under 32 MB/s in all, so no ring nears full
 * between two rounds.
 */
#define MS_BUSY_BYTES (64u << 10)
/*
 * Bytes per ring per visit. While a live heap follows the process, a peek
 * is cut at the budget too (one peek can return the whole ring, which is
 * mapped twice): a tombstone stays in the live heap until every thread of
 * its process has been drained past it, about one round (live.c). The cut
 * was at 32 KiB while every free at an address not followed made a
 * tombstone; since those are listed instead, 512 KiB visits cost the
 * drain less (the packer's map and the ring stay warm through a visit):
 * with `top` attached to the 150-thread stress run, 9 alternated runs, the
 * drain fell to 0.896x against 0.862x at 32 KiB, the wall time 0.981x
 * against 0.939x (docs/benchmarks.md).
 */
#define MS_VISIT_BUDGET	    (512u << 10)
#define MS_BEAT_NS	    50000000u	/* heartbeat thread period */
#define MS_BEAT_STALL_NS    1000000000u /* poller silent: stop beating */
#define MS_FRAME_MAX_AGE_NS 1000000000u

static void tap(void *ctx, const struct ms_tail_event *ev)
{
	ms_tailc_push(ctx, ev);
}

/* Says once when a stream starts and stops losing frames to the disk. */
static void note_disk(struct ms_cring *r)
{
	int err = r->st.disk_err;

	if (!err == !r->disk_logged)
		return;
	r->disk_logged = err != 0;
	if (err)
		ms_dlog(r->d,
			"pid %u tid %u: cannot write the archive (%s); its "
			"events are drained and counted as lost (cause disk) "
			"until writing works again",
			r->proc->pid, r->st.cfg.tid, strerror(-err));
	else
		ms_dlog(r->d, "pid %u tid %u: writing the archive again",
			r->proc->pid, r->st.cfg.tid);
}

/* Adds what the stream counted since the last call to the process. */
static void publish(struct ms_cring *r)
{
	struct ms_stream_counts *n = &r->st.n, *p = &r->pub, d;
	struct ms_proc_counts *c = &r->proc->n;

	note_disk(r);
	if (r->st.disk_discarded != r->disk_pub) {
		ms_fetch_add_relaxed(&c->discarded,
				     r->st.disk_discarded - r->disk_pub);
		r->disk_pub = r->st.disk_discarded;
	}
	/* a stream that ends into a bundle adds its frame's bytes and its
	 * segment without a record or a byte on disk */
	if (n->records == p->records && n->disk_bytes == p->disk_bytes &&
	    n->raw_bytes == p->raw_bytes && n->segments == p->segments &&
	    n->unwritten == p->unwritten)
		return;
	ms_stream_counts_sub(&d, n, p);
	ms_fetch_add_relaxed(&c->records, d.records);
	ms_fetch_add_relaxed(&c->allocs, d.allocs);
	ms_fetch_add_relaxed(&c->frees, d.frees);
	ms_fetch_add_relaxed(&c->dropped, d.dropped);
	ms_fetch_add_relaxed(&c->raw_bytes, d.raw_bytes);
	ms_fetch_add_relaxed(&c->disk_bytes, d.disk_bytes);
	ms_fetch_add_relaxed(&c->segments, d.segments);
	*p = *n;
	ms_proc_update_thread(r->proc, r->sum, &r->st, &d, 0);
}

static void module_seen(void *ctx, const struct ms_event *ev)
{
	ms_proc_module(ctx, ev);
}

/* The process's live heap, created with its first stream. */
static struct ms_live *proc_live(struct ms_daemon *d, struct ms_proc *p)
{
	if (p->live)
		return p->live;
	p->live = ms_live_create(p->pid);
	if (!p->live)
		return NULL;
	p->live->owner = p;
	p->live->exact = d->o.live_exact;
	if (d->live_on) { /* before the process's first record is read */
		ms_live_enable(p->live, ms_mono_ns());
		p->live->whole = 1;
	}
	p->live->next = d->lives;
	d->lives = p->live;
	return p->live;
}

/* The process's last ring is gone: so is its live heap. */
static void drop_live(struct ms_daemon *d, struct ms_proc *p)
{
	for (struct ms_live **pp = &d->lives; *pp; pp = &(*pp)->next) {
		if (*pp == p->live) {
			*pp = p->live->next;
			break;
		}
	}
	ms_live_destroy(p->live);
	p->live = NULL;
}

static void seg_finished(void *ctx, uint32_t seq)
{
	struct ms_cring *r = ctx;

	ms_compactor_add(r->d, r->proc, r->sum, r->st.cfg.tid, seq);
}

static void start_stream(struct ms_cring *r, uint32_t gen)
{
	struct ms_daemon *d = r->d;
	struct ms_stream_cfg cfg = {
		.dir = r->proc->dir,
		.pid = r->proc->pid,
		.tid = r->ring.hdr->tid, /* untrusted: used as a number only */
		.tick_hz = d->clk.tick_hz,
		.level = d->o.level,
		.frame_target = (size_t)d->o.frame_kb << 10,
		.seg_max = d->o.seg_mb << 20,
		.on_module = module_seen,
		.ctx = r->proc,
		.live = proc_live(d, r->proc),
		.put_small = ms_bundle_put,
		.small_ctx = r,
		.on_finished = d->compactor_started ? seg_finished : NULL,
		.spares = d->spares,
	};

	cfg.first_seq = ms_seq_next(d, cfg.pid, cfg.tid);

	r->gen = gen;
	r->abandoned = 0;
	if (ms_stream_init(&r->st, &cfg) < 0) {
		ms_dlog(d, "pid %u: out of memory for a ring; ignoring it",
			r->proc->pid);
		r->abandoned = 1;
		return;
	}
	memset(&r->pub, 0, sizeof(r->pub));
	r->disk_pub = 0;
	r->disk_logged = 0;
	r->sum = ms_proc_add_thread(r->proc, cfg.tid);
	r->have_stream = 1;
	ms_fetch_add_relaxed(&r->proc->n.threads, 1);
}

static void end_stream(struct ms_cring *r)
{
	uint64_t lost = ms_load_relaxed(&r->ring.hdr->lost_pending);
	int err = ms_stream_finish(&r->st, lost);

	ms_seq_ended(r->d, r->proc->pid, r->st.cfg.tid, r->st.seq);
	/* Not even the LOST record could be written: the manifest says. */
	ms_fetch_add_relaxed(&r->proc->n.unwritten, r->st.disk_lost);
	if (err)
		ms_dlog(r->d, "pid %u tid %u: writing the archive failed: %s",
			r->proc->pid, r->st.cfg.tid, strerror(-err));
	publish(r);
	ms_proc_update_thread(r->proc, r->sum, &r->st, NULL, 1);
	r->have_stream = 0;
}

static void abandon(struct ms_cring *r, int err)
{
	ms_dlog(r->d,
		"pid %u tid %u: %s; ignoring the rest of this thread's ring",
		r->proc->pid, r->st.cfg.tid,
		err == -EBADMSG || err == -EPROTO ? "invalid bytes in ring"
						  : strerror(-err));
	ms_fetch_add_relaxed(&r->proc->n.abandoned, 1);
	ms_fetch_add_relaxed(&r->d->rings_abandoned, 1);
	r->abandoned = 1;
	end_stream(r);
}

/* Moves committed bytes into the stream; returns bytes moved. Past
 * `budget` no more is peeked; with `cut`, a peek is cut at it too. */
static uint64_t drain(struct ms_cring *r, uint64_t budget, int cut, int tail_on)
{
	uint64_t moved = 0;

	while (moved < budget) {
		const uint8_t *p;
		ssize_t n = ms_ring_peek(&r->ring, &p), k;

		if (n <= 0) {
			if (n < 0)
				abandon(r, (int)n);
			break;
		}
		/* the ring is mapped twice: one peek may be all of it */
		if (cut && (uint64_t)n > budget - moved + MS_REC_MAX)
			n = (ssize_t)(budget - moved + MS_REC_MAX);
		k = ms_stream_feed(&r->st, p, (size_t)n, tail_on ? tap : NULL,
				   r->d);
		if (k < 0) {
			abandon(r, (int)k);
			break;
		}
		ms_ring_release(&r->ring, (uint64_t)k);
		moved += (uint64_t)k;
		if (k < n)
			break; /* a partial record: wait for the rest */
	}
	return moved;
}

/* An abandoned ring is emptied without reading so its producer runs on. */
static void discard(struct ms_cring *r)
{
	const uint8_t *p;
	ssize_t n = ms_ring_peek(&r->ring, &p);

	if (n > 0)
		ms_ring_release(&r->ring, (uint64_t)n);
}

/* Frees the rings retired in the last round, once no reader (the beat
 * thread's, the next round's) can still see them. Outside any read-side
 * section. */
static void free_retired(struct ms_daemon *d)
{
	struct ms_cring *r = d->retired;

	if (!r)
		return;
	d->retired = NULL;
	urcu_memb_synchronize_rcu();
	while (r) {
		struct ms_cring *next = r->retired_next;

		ms_cring_free_now(r);
		r = next;
	}
	d->trim_due = 1;
}

/* Ended streams' memory kept this long for the streams that start next */
#define MS_SPARE_AGE_NS 2000000000u

/*
 * A stream's buffers are megabytes, freed in the middle of arenas that
 * other threads' streams keep in use: glibc gives none of it back, and a
 * consumer that outlives many processes grows to the sum of its peaks.
 * At most once a second, the spares (stream.h) no stream took for
 * MS_SPARE_AGE_NS are freed, and the free pages returned.
 */
static void trim(struct ms_daemon *d)
{
	uint64_t now = ms_mono_ns();

	if (now - d->trim_ns < 1000000000u)
		return;
	if (ms_stream_spares_expire(d->spares, now, MS_SPARE_AGE_NS))
		d->trim_due = 1;
	if (d->trim_due) {
		malloc_trim(0);
		d->trim_due = 0;
	}
	d->trim_ns = now;
}

static void retire(struct ms_cring *r)
{
	struct ms_daemon *d = r->d;

	r->retired = 1;
	pthread_mutex_lock(&d->list_lock);
	ms_rcu_del(&r->node);
	pthread_mutex_unlock(&d->list_lock);
	/* The process is gone (retire()'s condition), so no ring of it
	 * starts a stream again: its live heap can go with its last ring. */
	if (atomic_load_explicit(&r->proc->rings_live, memory_order_relaxed) ==
	    1) {
		drop_live(d, r->proc);
		/* before the control thread may write the process's end */
		ms_bundle_flush(d, r->proc);
	}
	/* Pairs with the control thread's load_acquire(rings_live). */
	atomic_fetch_sub_explicit(&r->proc->rings_live, 1,
				  memory_order_release);
	ms_fetch_sub_relaxed(&d->rings_live, 1);
	r->retired_next = d->retired;
	d->retired = r;
	/* The control thread marks the process exited now, not at its next
	 * timeout: `record` ends that much sooner. */
	ms_daemon_wake(d);
}

void ms_cring_free_now(struct ms_cring *r)
{
	r->st.cfg.put_small = NULL; /* the process's bundle may be gone */
	if (r->have_stream)
		ms_stream_finish(&r->st, 0);
	atomic_fetch_sub_explicit(&r->d->mapped_bytes, r->ring.map_len,
				  memory_order_relaxed);
	ms_ring_unmap(&r->ring);
	free(r);
}

static uint64_t fill(const struct ms_cring *r)
{
	return ms_load_relaxed(&r->ring.hdr->head) - r->ring.pos;
}

/*
 * One visit: heartbeat, state machine, drain. `final` drains everything
 * and ends the stream (the daemon is stopping).
 */
static uint64_t service(struct ms_cring *r, uint64_t now, int final,
			int tail_on)
{
	struct ms_ring_hdr *h = r->ring.hdr;
	/* Pairs with the control thread's store_release(gone). */
	int gone = ms_load_acquire(&r->proc->gone) || final;
	/* Pairs with the producer's store_release(state): CLOSED comes
	 * after the last commit; ACTIVE after tid and generation. */
	uint32_t state = ms_load_acquire(&h->state);
	uint64_t moved = 0;

	ms_store_relaxed(&h->heartbeat, ++r->beat);
	/* progress, for the heartbeat thread */
	ms_store_relaxed(&r->d->rounds, ms_load_relaxed(&r->d->rounds) + 1);
	/* A thread may have come and gone before the first visit. */
	if (!r->have_stream &&
	    (state == MS_RING_ACTIVE || state == MS_RING_CLOSED) &&
	    h->generation != r->gen)
		start_stream(r, h->generation);
	if (r->have_stream) {
		/* A gone process's ring is finite; a live one may refill
		 * forever, so even the final drain has a bound. */
		int live = !gone && r->st.cfg.live && r->st.cfg.live->on;

		moved = drain(r, gone ? 4 * r->ring.size : MS_VISIT_BUDGET,
			      live, tail_on);
		/* After CLOSED or the process's end nothing more comes:
		 * bytes the stream cannot take (a record cut short by a
		 * misbehaving producer) are left behind. */
		uint64_t left = r->have_stream ? fill(r) : 0;

		if (left && moved == 0 && (state == MS_RING_CLOSED || gone) &&
		    r->have_stream && !final)
			ms_dlog(r->d,
				"pid %u tid %u: %llu bytes of an unfinished "
				"record at the end of the ring; ignored",
				r->proc->pid, r->st.cfg.tid,
				(unsigned long long)left);
		if (left == 0 && r->have_stream && r->st.cfg.live &&
		    r->st.cfg.live->on)
			ms_stream_quiet(&r->st, now);
		if (r->have_stream &&
		    (final || ((state == MS_RING_CLOSED || gone) &&
			       (left == 0 || moved == 0))))
			end_stream(r);
		else if (r->have_stream)
			ms_stream_tick(&r->st, now, MS_FRAME_MAX_AGE_NS);
		if (r->have_stream)
			publish(r);
		if (!r->have_stream && state == MS_RING_CLOSED && !final)
			ms_ring_mark_drained(&r->ring);
	} else if (r->abandoned) {
		discard(r);
		if (state == MS_RING_CLOSED && !final)
			ms_ring_mark_drained(&r->ring);
	}
	if (gone && !final && !r->have_stream)
		retire(r);
	return moved;
}

/* Live heaps: blocks tracked from the first request on, history. */
static void live_round(struct ms_daemon *d, uint64_t now)
{
	/* Pairs with the control thread's store_release(live_want). */
	if (!d->live_on && ms_load_acquire(&d->live_want)) {
		d->live_on = 1;
		d->live_since = now;
		for (struct ms_live *l = d->lives; l; l = l->next)
			ms_live_enable(l, now);
	}
	if (!d->live_on)
		return;
	for (struct ms_live *l = d->lives; l; l = l->next)
		ms_live_tick(l, now);
	ms_snap_serve(d, now);
}

static uint64_t round_once(struct ms_daemon *d, int final)
{
	int tail_on = ms_load_relaxed(&d->ntails) > 0;
	uint64_t now = ms_mono_ns(), moved = 0;
	struct ms_cring *r;

	live_round(d, now);
	if (d->bundles)
		ms_bundles_flush(d, now, 0);
	urcu_memb_read_lock();
	ms_list_for_each_rcu(r, &d->rings, node)
	{
		if (!r->retired && r->have_stream && !final &&
		    fill(r) > r->ring.size / 2)
			moved += service(r, now, 0, tail_on);
	}
	ms_list_for_each_rcu(r, &d->rings, node)
	{
		if (!r->retired)
			moved += service(r, now, final, tail_on);
		/* a round over many full rings is long: a client that asked
		 * waits for one ring's visit, not the round */
		if (d->live_on &&
		    ms_load_relaxed(&d->snap_asked) != d->snap_answered)
			ms_snap_serve(d, ms_mono_ns());
	}
	urcu_memb_read_unlock();
	return moved;
}

/*
 * Sleeps `ns`, or less when the collector stops or, for the poller (`seen`
 * not NULL), when nap_kicks has moved past *seen: its threads' naps must
 * not add to the time `record` takes to end.
 */
static void nap(struct ms_daemon *d, uint64_t ns, const uint64_t *seen)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&d->nap_lock);
	/* Pairs with ms_poller_join()'s store_release(stopping); nap_kicks
	 * only moves under nap_lock, so a kick after *seen was read is seen
	 * here or wakes the wait. */
	while (!ms_load_acquire(&d->stopping) &&
	       (!seen || ms_load_relaxed(&d->nap_kicks) == *seen) &&
	       pthread_cond_timedwait(&d->nap_cv, &d->nap_lock, &ts) == 0)
		;
	pthread_mutex_unlock(&d->nap_lock);
}

static void idle_wait(struct ms_daemon *d, unsigned *idle, uint64_t seen)
{
	uint64_t ns;

	if (++*idle <= MS_IDLE_SPINS) {
		for (int i = 0; i < 64; i++)
			ms_cpu_relax();
		return;
	}
	ns = (uint64_t)MS_IDLE_MIN_NS
	     << (*idle - MS_IDLE_SPINS > 7 ? 7 : *idle - MS_IDLE_SPINS);
	if (ns > MS_IDLE_MAX_NS)
		ns = MS_IDLE_MAX_NS;
	nap(d, ns, &seen);
}

void ms_poller_kick(struct ms_daemon *d)
{
	pthread_mutex_lock(&d->nap_lock);
	/* Pairs with poller_main()'s load_acquire(nap_kicks): what the
	 * control thread did before the kick is seen by the next round. */
	ms_store_release(&d->nap_kicks, ms_load_relaxed(&d->nap_kicks) + 1);
	pthread_cond_broadcast(&d->nap_cv);
	pthread_mutex_unlock(&d->nap_lock);
}

/*
 * Heartbeats for every ring at least every MS_BEAT_NS, even while the
 * poller spends a long round on other rings (150 busy threads on two
 * cores): a producer in block mode must not give up on a consumer that is
 * alive. When the poller itself stops making rounds for MS_BEAT_STALL_NS
 * the beats stop too, so producers do give up on a consumer that hangs.
 */
static void *beat_main(void *arg)
{
	struct ms_daemon *d = arg;
	uint64_t seen = 0, seen_ns = ms_mono_ns(), beat = 0;

	urcu_memb_register_thread();
	/* Pairs with the control thread's store_release(stopping). */
	while (!ms_load_acquire(&d->stopping)) {
		uint64_t rounds = ms_load_relaxed(&d->rounds),
			 now = ms_mono_ns();
		struct ms_cring *r;

		if (rounds != seen) {
			seen = rounds;
			seen_ns = now;
		}
		if (now - seen_ns < MS_BEAT_STALL_NS) {
			beat++;
			urcu_memb_read_lock();
			ms_list_for_each_rcu(r, &d->rings, node)
				ms_store_relaxed(&r->ring.hdr->heartbeat,
						 (beat << 32) | 1);
			urcu_memb_read_unlock();
		}
		nap(d, MS_BEAT_NS, NULL);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static void *poller_main(void *arg)
{
	struct ms_daemon *d = arg;
	unsigned idle = 0;
	uint64_t moved, seen;

	urcu_memb_register_thread();
	for (;;) {
		/* Pairs with the control thread's store_release(stopping). */
		if (ms_load_acquire(&d->stopping)) {
			round_once(d, 0); /* retire what is gone */
			round_once(d, 1);
			ms_bundles_flush(d, 0, 1);
			free_retired(d);
			break;
		}
		/* Before the round: a kick during it ends the nap after it.
		 * Pairs with ms_poller_kick()'s store_release(nap_kicks). */
		seen = ms_load_acquire(&d->nap_kicks);
		moved = round_once(d, 0);
		free_retired(d);
		trim(d);
		if (moved >= MS_BUSY_BYTES) {
			idle = 0;
			if (d->compactor_started)
				ms_store_relaxed(&d->busy_ns, ms_mono_ns());
		} else if (ms_rcu_deref(d->rings.next) == &d->rings)
			/* nothing attached: until a ring is (a kick) */
			nap(d, 10000000u, &seen);
		else
			idle_wait(d, &idle, seen);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

int ms_poller_start(struct ms_daemon *d)
{
	int err = pthread_create(&d->poller, NULL, poller_main, d);

	if (err)
		return -err;
	d->poller_started = 1;
	err = pthread_create(&d->beater, NULL, beat_main, d);
	if (err) {
		ms_poller_join(d);
		return -err;
	}
	d->beater_started = 1;
	return 0;
}

void ms_poller_join(struct ms_daemon *d)
{
	if (!d->poller_started)
		return;
	pthread_mutex_lock(&d->nap_lock);
	ms_store_release(&d->stopping, 1);
	pthread_cond_broadcast(&d->nap_cv);
	pthread_mutex_unlock(&d->nap_lock);
	pthread_join(d->poller, NULL);
	d->poller_started = 0;
	if (d->beater_started)
		pthread_join(d->beater, NULL);
	d->beater_started = 0;
}
