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

#define MS_STACK_TABLE_CAP 4096

uint64_t ms_sampler_first(struct ms_sampler *s, size_t size, uintptr_t caller)
{
	uint64_t seed = ms_clock_ticks(&ms_g.clk) ^
			((uint64_t)ms_tls.tid << 32) ^ (uintptr_t)s;

	if (ms_agent_state() != MS_AGENT_ON)
		return 0;
	ms_sampler_init(s, ms_g.set.sampling, ms_g.set.sampling_param, seed);
	return ms_sample(s, size, caller);
}

int ms_track_ready(struct ms_tstate *t)
{
	if (MS_LIKELY(t->state == MS_T_ACTIVE))
		return 0;
	if (t->state != MS_T_UNINIT || ms_agent_state() != MS_AGENT_ON)
		return -ENOTCONN;
	return ms_thread_start(t);
}

struct ms_evt {
	unsigned type; /* MS_REC_ALLOC or MS_REC_REALLOC */
	uint64_t ts, old, addr, size, align, weight;
	uintptr_t caller;
};

/*
 * The event's stack: an existing id, or a STACK record written with it.
 * Inlined into its callers: see ms_stack_capture().
 */
static inline __attribute__((always_inline)) void write_event(struct ms_tstate *t, const struct ms_evt *ev)
{
	uint64_t frames[MS_STACK_MAX], h, id = 0;
	uint32_t n = ms_stack_capture(frames, ms_g.set.stack_depth,
				      ev->caller);
	uint8_t *b, *e;
	int fresh = 0;

	if (!t->stacks)
		t->stacks = ms_stack_table_create(MS_STACK_TABLE_CAP);
	h = ms_stack_hash(frames, n);
	if (t->stacks)
		id = ms_stack_find(t->stacks, h);
	if (!id && t->stacks) {
		id = t->stacks->next_id;
		fresh = 1;
	}
	/* STACK and the event go in together, or neither does. */
	b = ms_emit_reserve(t, MS_REC_SMALL_MAX +
				       (fresh ? 32 + (uint64_t)n * MS_VARINT_MAX
					      : 0));
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

static void write_free(struct ms_tstate *t, uint64_t ts, const void *p)
{
	uint8_t *b = ms_emit_reserve(t, MS_REC_SMALL_MAX);

	if (b)
		ms_emit_commit(t, ms_rec_put_free(&t->rs, b, ts,
						  (uintptr_t)p));
}

/* Sampled mode: remember the block so that its free is recorded. */
static int remember(struct ms_tstate *t, const void *p)
{
	if (!ms_g.tab || ms_addrtab_insert(ms_g.tab, p) == 0)
		return 0;
	ms_emit_lost(t, MS_LOST_INTERNAL);
	return -ENOSPC;
}

void ms_track_alloc(void *p, size_t size, size_t align, uintptr_t caller,
		    uint64_t weight)
{
	struct ms_tstate *t = &ms_tls;
	struct ms_evt ev = { MS_REC_ALLOC, 0, 0, (uintptr_t)p, size, align,
			     weight, caller };

	ms_guard_enter(t);
	if (ms_track_ready(t) == 0 && remember(t, p) == 0) {
		ev.ts = ms_now();
		write_event(t, &ev);
	}
	ms_guard_leave(t);
}

void ms_track_free(void *p)
{
	struct ms_tstate *t = &ms_tls;

	ms_guard_enter(t);
	if (ms_track_ready(t) == 0)
		write_free(t, ms_now(), p);
	ms_guard_leave(t);
}

void ms_track_realloc(void *old, int old_sampled, void *p, size_t size,
		      uintptr_t caller, uint64_t weight, uint64_t ts)
{
	struct ms_tstate *t = &ms_tls;
	struct ms_evt ev = { MS_REC_REALLOC, ts, (uintptr_t)old, (uintptr_t)p,
			     size, 0, weight, caller };

	ms_guard_enter(t);
	if (ms_track_ready(t) < 0)
		goto out;
	if (weight && remember(t, p) < 0)
		weight = 0;
	if (!p || !weight) {
		if (old_sampled)
			write_free(t, ts, old); /* realloc(p, 0), or new unsampled */
		goto out;
	}
	if (!old_sampled)
		ev.type = MS_REC_ALLOC;
	write_event(t, &ev);
out:
	ms_guard_leave(t);
}
