/* SPDX-License-Identifier: MIT */
/*
 * Per-thread sampling decisions (MEMSCOPE_SAMPLING).
 *
 *   full      every call, weight 1.0
 *   tiered    > 10 KiB always; 1..10 KiB with p = 1/10; < 1 KiB with
 *             p = 1/100. A call site (keyed by caller address) that made
 *             a large share of this thread's recent calls is "hot" and gets
 *             a raised rate (1/50 small, 1/5 medium): the thousand cuts of
 *             a hot loop show up sooner, at a bounded cost per call.
 *   bytes:N   Poisson sampling by bytes with mean interval N: an
 *             allocation of s bytes is sampled with p = 1 - exp(-s/N).
 *
 * A sampled call returns its weight 1/p in Q16 (MS_WEIGHT_ONE = 1.0), so
 * sum(weight * size) over the sampled calls is an unbiased estimate of the
 * bytes allocated. Each tiered class keeps a geometric countdown to its
 * next sample, so an unsampled call costs a decrement and a branch.
 */
#ifndef MS_SAMPLING_H
#define MS_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "proto_abi.h"
#include "record.h"

#define MS_TIER_LARGE  10240u /* above: always sampled */
#define MS_TIER_MEDIUM 1024u  /* from here: the 1/10 tier */
#define MS_SITES       64u    /* hot-site counters per thread */
#define MS_SITE_HOT    512u   /* counter value from which a site is hot */
#define MS_SITE_DECAY  8192u  /* calls between halvings of the counters */

/* Tiered classes: size tier x hot. */
enum {
	MS_CLS_SMALL,
	MS_CLS_SMALL_HOT,
	MS_CLS_MEDIUM,
	MS_CLS_MEDIUM_HOT,
	MS_NCLS
};

struct ms_sampler {
	uint32_t mode; /* MS_SAMPLING_*; 0: not initialised yet */
	uint32_t calls;
	int64_t skip[MS_NCLS]; /* calls left until the class's next sample */
	int64_t bytes_left;    /* bytes:N: bytes until the next sample */
	uint64_t mean;	       /* bytes:N: N */
	uint64_t rng;
	uint16_t site[MS_SITES];
};

/* Sets up `s` for `mode` (bytes: `param` = N) with a PRNG seed. */
void ms_sampler_init(struct ms_sampler *s, uint32_t mode, uint64_t param,
		     uint64_t seed);

/* Slow halves of ms_sample(): a class's countdown ran out. */
uint64_t ms_sample_draw(struct ms_sampler *s, unsigned cls);
uint64_t ms_sample_bytes(struct ms_sampler *s, size_t size);
void ms_sampler_decay(struct ms_sampler *s);
/* Q16 weight of one tiered class (1/p). */
uint64_t ms_sample_class_weight(unsigned cls);
/* An uninitialised sampler: initialises it from the agent's settings. */
uint64_t ms_sampler_first(struct ms_sampler *s, size_t size, uintptr_t caller);

static inline unsigned ms_site_hash(uintptr_t caller)
{
	return (unsigned)(((uint64_t)caller * 0x9e3779b97f4a7c15ull) >> 58);
}

/* Returns 0 (not sampled) or the Q16 weight of a sampled allocation. */
static inline uint64_t ms_sample(struct ms_sampler *s, size_t size,
				 uintptr_t caller)
{
	if (MS_LIKELY(s->mode == MS_SAMPLING_TIERED)) {
		unsigned cls;

		if (size > MS_TIER_LARGE)
			return MS_WEIGHT_ONE;
		cls = ++s->site[ms_site_hash(caller)] >= MS_SITE_HOT;
		if (MS_UNLIKELY(++s->calls % MS_SITE_DECAY == 0))
			ms_sampler_decay(s);
		cls += size >= MS_TIER_MEDIUM ? 2 : 0;
		if (MS_LIKELY(--s->skip[cls] > 0))
			return 0;
		return ms_sample_draw(s, cls);
	}
	if (s->mode == MS_SAMPLING_FULL)
		return MS_WEIGHT_ONE;
	if (s->mode == MS_SAMPLING_BYTES) {
		s->bytes_left -= (int64_t)size;
		if (MS_LIKELY(s->bytes_left > 0))
			return 0;
		return ms_sample_bytes(s, size);
	}
	return ms_sampler_first(s, size, caller);
}

#endif
