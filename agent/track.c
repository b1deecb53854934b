/* SPDX-License-Identifier: MIT */
/*
 * Recording a sampled allocation, a free, a realloc: what the interposed
 * functions and the memscope_* API call once the inline fast path has
 * decided that an event is to be written. Runs with the TLS guard held, so
 * anything allocated meanwhile (libunwind, pthread_setspecific) goes
 * straight to libc.
 */
#include <errno.h>

#include "emit.h"
#include "stack.h"

uint64_t ms_sampler_first(struct ms_sampler *s, size_t size, uintptr_t caller)
{
	uint64_t seed = ms_clock_ticks(&ms_g.clk) ^
			((uint64_t)ms_tls.tid << 32) ^ (uintptr_t)s;

	if (ms_agent_state() != MS_AGENT_ON)
		return 0;
	ms_sampler_init(s, ms_g.set.sampling, ms_g.set.sampling_param, seed);
	return ms_sample(s, size, caller);
}

/* Reported in batches: one message per this many events of a thread. */
#define MS_UNRECORDED_BATCH 65536

int ms_track_ready(struct ms_tstate *t)
{
	if (MS_LIKELY(t->state == MS_T_ACTIVE))
		return 0;
	if (t->state == MS_T_UNINIT && ms_agent_state() == MS_AGENT_ON &&
	    ms_thread_start(t) == 0)
		return 0;
	if (t->state == MS_T_REFUSED) {
		/* This event too, when it was the one asking for a ring. */
		if (++t->unrecorded == MS_UNRECORDED_BATCH)
			ms_thread_unrecorded(t);
	}
	return -ENOTCONN;
}

struct ms_evt {
	unsigned type; /* MS_REC_ALLOC or MS_REC_REALLOC */
	uint64_t ts, old, addr, size, align, weight;
	uintptr_t caller;
	uint32_t depth;
};

/*
 * The event's stack: an existing id, or a STACK record written with it.
 * Inlined into its callers: see ms_stack_capture().
 */
static inline __attribute__((always_inline)) void
write_event(struct ms_tstate *t, const struct ms_evt *ev)
{
	uint64_t frames[MS_STACK_MAX], h, id = 0;
	uint32_t n = ms_stack_capture(frames, ev->depth, ev->caller);
	uint8_t *b, *e;
	int fresh = 0;

	if (!t->stacks)
		t->stacks = ms_stack_table_first();
	h = ms_stack_hash(frames, n);
	if (t->stacks)
		id = ms_stack_find(t->stacks, h);
	if (!id && t->stacks) {
		id = t->stacks->next_id;
		fresh = 1;
	}
	/* STACK and the event go in together, or neither does. */
	b = ms_emit_reserve(
		t, MS_REC_SMALL_MAX +
			   (fresh ? 32 + (uint64_t)n * MS_VARINT_MAX : 0));
	if (!b)
		return;
	e = b;
	if (fresh)
		e = ms_rec_put_stack(&t->rs, e, ev->ts, id, frames, n);
	if (ev->type == MS_REC_ALLOC)
		e = ms_rec_put_alloc(&t->rs, e, ev->ts, ev->addr, ev->size,
				     ev->align, id, ev->weight);
	else
		e = ms_rec_put_realloc(&t->rs, e, ev->ts, ev->old, ev->addr,
				       ev->size, id, ev->weight);
	ms_emit_commit(t, e);
	if (fresh) {
		t->stacks->next_id++;
		ms_stack_insert(&t->stacks, h, id);
	}
}

static void write_free(struct ms_tstate *t, uint64_t ts, const void *p,
		       uint8_t flags)
{
	uint8_t *b = ms_emit_reserve(t, MS_REC_SMALL_MAX);

	if (b)
		ms_emit_commit(t, ms_rec_put_free_flags(&t->rs, b, ts,
							(uintptr_t)p, flags));
}

/* Sampled mode: remember the block so that its free is recorded. */
static int remember(struct ms_tstate *t, const void *p)
{
	if (!ms_g.tab || ms_addrtab_insert(ms_g.tab, p) == 0)
		return 0;
	ms_emit_lost(t, MS_LOST_INTERNAL);
	return -ENOSPC;
}

/* The realloc rules of the counting contract (agent.h). */
static void write_realloc(struct ms_tstate *t, struct ms_evt *ev,
			  int old_sampled)
{
	if (ev->weight && remember(t, (void *)(uintptr_t)ev->addr) < 0)
		ev->weight = 0;
	if (!ev->addr || !ev->weight) {
		if (old_sampled) /* realloc(p, 0), or the new block unsampled */
			write_free(t, ev->ts, (void *)(uintptr_t)ev->old, 0);
		return;
	}
	if (!old_sampled)
		ev->type = MS_REC_ALLOC;
	write_event(t, ev);
}

/* ---- events of signal handlers, deferred ---- */

void ms_track_defer(unsigned type, void *p, void *old, size_t size,
		    size_t align, uintptr_t caller, uint64_t weight,
		    int old_sampled)
{
	struct ms_tstate *t = &ms_tls;
	/* A slot of our own even if another handler interrupts this one. */
	uint32_t i = ms_fetch_add_relaxed(&t->ndefer, 1);
	struct ms_deferred *d;

	if (i >= MS_DEFER_MAX) {
		t->defer_lost++; /* counted as lost once the record is done */
		return;
	}
	/* Sampled modes: into the table now, so that the handler's own free
	 * of the block is seen (the table is lock-free). */
	if (weight && p && ms_g.tab && ms_addrtab_insert(ms_g.tab, p) != 0) {
		weight = 0;
		t->defer_lost++;
		if (type == MS_REC_ALLOC)
			return;
	}
	d = &t->defer[i];
	d->type = (uint8_t)type;
	d->p = (uintptr_t)p;
	d->old = (uintptr_t)old;
	d->size = size;
	d->align = (uint32_t)align;
	d->caller = caller;
	d->weight = weight;
	d->old_sampled = (uint8_t)old_sampled;
	d->ts = ms_now();
}

/* Handlers' events that found no room, said in a LOST of their own. */
static void lost_to_signals(struct ms_tstate *t)
{
	uint8_t *p = ms_emit_reserve(t, MS_REC_SMALL_MAX);
	uint32_t n = t->defer_lost;

	t->defer_lost = 0;
	if (p) {
		ms_emit_commit(t, ms_rec_put_lost(&t->rs, p, ms_now(), n,
						  MS_LOST_SIGNAL));
		return;
	}
	while (n--) /* no room even for that: the ring's own count */
		ms_emit_lost(t, MS_LOST_INTERNAL);
}

/*
 * Writes what handlers left while this thread recorded (the handlers ran
 * to their end before we got here). Their stacks are their callers alone:
 * a walk from inside the handler could not be trusted. A handler that
 * runs meanwhile adds more, so the loop goes on until none is left.
 */
static void replay_deferred(struct ms_tstate *t)
{
	uint32_t done = 0, n;

	while ((n = ms_load_relaxed(&t->ndefer)) != done) {
		for (; done < n && done < MS_DEFER_MAX; done++) {
			const struct ms_deferred *d = &t->defer[done];
			struct ms_evt ev = {d->type,   d->ts,	  d->old,
					    d->p,      d->size,	  d->align,
					    d->weight, d->caller, 1};

			__atomic_signal_fence(__ATOMIC_ACQUIRE);
			/* The realloc rules of write_realloc(), the new block
			 * already in the table (ms_track_defer). */
			uintptr_t gone = d->type == MS_REC_FREE ? d->p : d->old;

			if (d->type == MS_REC_REALLOC && !d->old_sampled)
				ev.type = MS_REC_ALLOC;
			if (d->type == MS_REC_FREE ||
			    (d->type == MS_REC_REALLOC &&
			     (!d->p || !d->weight))) {
				if (d->old_sampled)
					write_free(t, d->ts, (void *)gone, 0);
			} else if (d->weight) {
				write_event(t, &ev);
			}
		}
		if (n > MS_DEFER_MAX)
			done = n;
		/* Empty only if no handler took a slot since. */
		if (atomic_compare_exchange_strong_explicit(
			    &t->ndefer, &n, 0, memory_order_relaxed,
			    memory_order_relaxed))
			done = 0;
	}
	if (MS_UNLIKELY(t->defer_lost))
		lost_to_signals(t);
}

/*
 * Into the agent to record an event: MS_GUARD_HOT in one store once the
 * thread has its ring. Returns 0, or -1 (out again) when it has none.
 */
static inline int track_begin(struct ms_tstate *t)
{
	if (MS_LIKELY(t->state == MS_T_ACTIVE)) {
		t->guard = MS_GUARD_HOT;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		return 0;
	}
	ms_guard_enter(t);
	if (ms_track_ready(t) < 0) {
		ms_guard_leave(t);
		return -1;
	}
	t->guard = MS_GUARD_HOT;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return 0;
}

/* The end of a recording: out of the agent, then what handlers left
 * (written in again); one that comes after the last look finds the guard
 * down and records its own. */
static inline void track_done(struct ms_tstate *t)
{
	ms_guard_leave(t);
	while (MS_UNLIKELY(ms_load_relaxed(&t->ndefer))) {
		t->guard = MS_GUARD_HOT;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		replay_deferred(t);
		ms_guard_leave(t);
	}
}

void ms_track_alloc(void *p, size_t size, size_t align, uintptr_t caller,
		    uint64_t weight)
{
	struct ms_tstate *t = &ms_tls;
	struct ms_evt ev = {MS_REC_ALLOC, 0,	  0,
			    (uintptr_t)p, size,	  align,
			    weight,	  caller, ms_g.set.stack_depth};

	if (track_begin(t) < 0)
		return;
	if (remember(t, p) == 0) {
		ev.ts = ms_now();
		write_event(t, &ev);
	}
	track_done(t);
}

void ms_track_free(void *p, int real)
{
	struct ms_tstate *t = &ms_tls;

	if (track_begin(t) < 0)
		return;
	write_free(t, ms_now(), p, real ? ms_free_flags(p) : 0);
	track_done(t);
}

void ms_track_realloc(void *old, int old_sampled, void *p, size_t size,
		      uintptr_t caller, uint64_t weight, uint64_t ts)
{
	struct ms_tstate *t = &ms_tls;
	struct ms_evt ev = {MS_REC_REALLOC, ts,	    (uintptr_t)old,
			    (uintptr_t)p,   size,   0,
			    weight,	    caller, ms_g.set.stack_depth};

	if (track_begin(t) < 0)
		return;
	write_realloc(t, &ev, old_sampled);
	track_done(t);
}

/* ---- before the constructor: the early buffer ---- */

#define MS_EARLY_MAX 4096

struct ms_early_ev {
	uint32_t type, tid;
	uint64_t ns;
	uintptr_t addr, old, caller;
	size_t size, align;
};

static struct ms_early_ev early[MS_EARLY_MAX];
static _Atomic uint32_t nearly;

void ms_early_event(unsigned type, void *p, void *old, size_t size,
		    size_t align, uintptr_t caller)
{
	struct ms_early_ev *e;
	uint32_t i;

	if (ms_tls.guard)
		return;
	/* Only before the constructor, where a slow path is fine. */
	i = ms_fetch_add_relaxed(&nearly, 1);
	if (i >= MS_EARLY_MAX)
		return; /* counted as lost at the replay */
	e = &early[i];
	e->type = type;
	e->tid = ms_gettid();
	e->ns = ms_mono_ns();
	e->addr = (uintptr_t)p;
	e->old = (uintptr_t)old;
	e->caller = caller;
	e->size = size;
	e->align = align;
}

/* Ticks of the session clock for a CLOCK_MONOTONIC time in the past. */
static uint64_t ticks_at(uint64_t ns, uint64_t now_ticks, uint64_t now_ns)
{
	__int128 d = (__int128)(now_ns - ns) * ms_g.clk.tick_hz / 1000000000;

	return d > (__int128)now_ticks ? 0 : now_ticks - (uint64_t)d;
}

static void replay_one(struct ms_tstate *t, const struct ms_early_ev *e,
		       uint64_t ts)
{
	struct ms_evt ev = {e->type,  ts, e->old,    e->addr, e->size,
			    e->align, 0,  e->caller, 0};
	int old_sampled;

	if (e->type == MS_REC_FREE) {
		if (!ms_g.tab || ms_addrtab_remove(ms_g.tab, (void *)e->addr))
			write_free(t, ts, (void *)e->addr, 0);
		return;
	}
	ev.weight = e->addr ? ms_sample(&t->smp, e->size, e->caller) : 0;
	if (e->type == MS_REC_ALLOC) {
		if (ev.weight && remember(t, (void *)e->addr) == 0)
			write_event(t, &ev);
		return;
	}
	old_sampled =
		ms_g.tab ? ms_addrtab_remove(ms_g.tab, (void *)e->old) : 1;
	if (old_sampled || ev.weight)
		write_realloc(t, &ev, old_sampled);
}

void ms_early_replay(void)
{
	struct ms_tstate *t = &ms_tls;
	uint32_t n = ms_load_relaxed(&nearly);
	uint64_t now_ticks, now_ns;

	ms_store_relaxed(&nearly, MS_EARLY_MAX); /* closes the buffer */
	if (ms_agent_state() != MS_AGENT_ON)
		return;
	ms_guard_enter(t);
	if (ms_track_ready(t) < 0)
		goto out;
	now_ticks = ms_now();
	now_ns = ms_mono_ns();
	/* Events of other threads (a library constructor's thread) have no
	 * ring here; they are dropped, as are those beyond the buffer. */
	for (uint32_t i = 0; i < n && i < MS_EARLY_MAX; i++)
		if (early[i].tid == t->tid)
			replay_one(t, &early[i],
				   ticks_at(early[i].ns, now_ticks, now_ns));
	for (uint32_t i = MS_EARLY_MAX; i < n; i++)
		ms_emit_lost(t, MS_LOST_INTERNAL);
out:
	ms_guard_leave(t);
}
