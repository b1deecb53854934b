/* SPDX-License-Identifier: MIT */
/*
 * The inline fast path shared by the interposed functions, the memscope_*
 * API and the benchmark. Untracked (no consumer): one relaxed load and a
 * branch. Tracked but not sampled: the sampler's countdown, and for a free
 * one cache-line lookup in the sampled-address table. Everything else is
 * out of line in track.c.
 */
#ifndef MS_HOOKS_H
#define MS_HOOKS_H

#include "agent.h"

#define MS_CALLER ((uintptr_t)__builtin_return_address(0))

/*
 * 1 when events are to be recorded (attaching a fork child first), 2
 * before the constructor (events go to the early buffer), else 0.
 */
static inline int ms_active(void)
{
	int s = ms_agent_state();

	if (MS_LIKELY(s == MS_AGENT_ON))
		return 1;
	if (MS_UNLIKELY(s == MS_AGENT_PENDING) && !ms_tls.guard) {
		ms_attach_pending();
		return ms_agent_state() == MS_AGENT_ON;
	}
	return s == MS_AGENT_EARLY ? 2 : 0;
}

/* 1 while the real allocator is still being looked up on this thread. */
static inline int ms_booting(void)
{
	if (MS_LIKELY(__atomic_load_n(&ms_real.free, __ATOMIC_ACQUIRE) != NULL))
		return 0;
	if (ms_tls.guard)
		return 1;
	ms_boot_resolve();
	return ms_real.free == NULL;
}

static inline void ms_on_alloc(void *p, size_t size, size_t align,
			       uintptr_t caller)
{
	struct ms_tstate *t;
	uint64_t w;
	int a;

	if (MS_UNLIKELY(!p))
		return;
	a = ms_active();
	if (MS_UNLIKELY(a != 1)) {
		if (a == 2)
			ms_early_event(MS_REC_ALLOC, p, NULL, size, align,
				       caller);
		return;
	}
	t = &ms_tls;
	if (MS_UNLIKELY(t->guard)) {
		/* A signal handler's, kept for later; else the agent's own,
		 * or the loader's. */
		if (t->guard == MS_GUARD_HOT &&
		    (w = ms_sample(&t->smp, size, caller)) != 0)
			ms_track_defer(MS_REC_ALLOC, p, NULL, size, align,
				       caller, w, 0);
		return;
	}
	w = ms_sample(&t->smp, size, caller);
	if (MS_LIKELY(w == 0))
		return;
	ms_track_alloc(p, size, align, caller, w);
}

/* Before the real free: the block's address may be reused right after.
 * `real`: `p` is the real allocator's (not a custom allocator's, API). */
static inline void ms_on_free(void *p, int real)
{
	struct ms_addrtab *tab;
	int a = ms_active();

	if (MS_UNLIKELY(a != 1)) {
		if (a == 2)
			ms_early_event(MS_REC_FREE, p, NULL, 0, 0, 0);
		return;
	}
	tab = ms_g.tab;
	/* Removed even under the guard: a stale entry would misfire later. */
	if (tab && MS_LIKELY(!ms_addrtab_remove(tab, p)))
		return;
	if (MS_UNLIKELY(ms_tls.guard)) {
		if (ms_tls.guard == MS_GUARD_HOT)
			ms_track_defer(MS_REC_FREE, p, NULL, 0, 0, 0, 0, 1);
		return;
	}
	ms_track_free(p, real);
}

/* realloc on a resolved allocator; `old` is not NULL. */
static inline void *ms_on_realloc(void *old, size_t size, uintptr_t caller)
{
	struct ms_tstate *t = &ms_tls;
	struct ms_addrtab *tab;
	int old_sampled;
	uint64_t ts, w;
	void *p;
	int a = ms_active();

	if (MS_UNLIKELY(a == 2)) {
		p = ms_real.realloc(old, size);
		if (p || size == 0)
			ms_early_event(MS_REC_REALLOC, p, old, size, 0, caller);
		return p;
	}
	if (MS_LIKELY(a == 0) || (t->guard && t->guard != MS_GUARD_HOT))
		return ms_real.realloc(old, size);
	tab = ms_g.tab;
	/* Out of the table first: once freed, the address can be reused. */
	old_sampled = tab ? ms_addrtab_remove(tab, old) : 1;
	p = ms_real.realloc(old, size);
	/*
	 * The time is read after the call, as an ALLOC's is: the new block
	 * may be one another thread freed while this call waited for the
	 * arena, and that FREE's time (read before its free) must come
	 * first in the archive's time order, or the block's lifetime is
	 * split wrongly between the threads and reports find double frees
	 * that never happened (rg -j2: 0-9 a run; agent_e2e_realloc_race:
	 * hundreds). The old block's reuse by another thread could now
	 * come first instead, but only within the instant between glibc's
	 * release of it, at the end of the call, and this read.
	 */
	ts = ms_clock_ticks(&ms_g.clk);
	if (!p && size != 0) {
		if (old_sampled && tab)
			ms_addrtab_insert(tab, old); /* failed: old lives */
		return NULL;
	}
	w = p ? ms_sample(&t->smp, size, caller) : 0;
	if ((old_sampled || w) && MS_UNLIKELY(t->guard))
		ms_track_defer(MS_REC_REALLOC, p, old, size, 0, caller, w,
			       old_sampled);
	else if (old_sampled || w)
		ms_track_realloc(old, old_sampled, p, size, caller, w, ts);
	return p;
}

#endif
