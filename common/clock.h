/* SPDX-License-Identifier: MIT */
/*
 * Event timestamps in "ticks": the invariant TSC where the CPU has one, else
 * CLOCK_MONOTONIC nanoseconds (tick_hz = 1e9). Streams carry CLOCK records
 * (ticks, monotonic ns, tick_hz) from which readers convert ticks to ns.
 */
#ifndef MS_CLOCK_H
#define MS_CLOCK_H

#include <stdint.h>
#include <time.h>

struct ms_clock {
	int use_tsc;	  /* 1: ticks are rdtsc >> shift, else monotonic ns */
	unsigned shift;	  /* TSC low bits dropped (see ms_clock_coarsen) */
	uint64_t tick_hz; /* ticks per second */
};

static inline uint64_t ms_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ms_clock_ticks(const struct ms_clock *c)
{
#if defined(__x86_64__)
	if (c->use_tsc)
		return __builtin_ia32_rdtsc() >> c->shift;
#endif
	(void)c;
	return ms_mono_ns();
}

/* 1 when this CPU advertises an invariant TSC (CPUID 0x80000007 EDX[8]). */
int ms_clock_has_invariant_tsc(void);

/*
 * Measures the TSC rate against CLOCK_MONOTONIC over about `window_ms`
 * milliseconds (median of three runs) and fills `c`; falls back to the
 * monotonic clock when there is no invariant TSC, when `MEMSCOPE_CLOCK` is
 * "monotonic", or when the measurement is implausible.
 */
void ms_clock_calibrate(struct ms_clock *c, unsigned window_ms);

/*
 * The same, remembered in `cache` (a file in a directory of our own) for
 * this boot, with a (ticks, ns) pair read when it was measured. A later
 * start reads one pair of its own: when the cached one is at least a
 * second old, the rate over the time between them (a window of seconds or
 * hours, so no sleep) must be within 0.1% of the cached rate and becomes
 * the rate; a younger pair is checked by up to three 2 ms measurements
 * instead. Either way no 3 x `window_ms` calibration, and `record` starts
 * its command that much sooner. A missing, stale or unwritable cache, or a
 * rate that fails the check, only costs the time.
 */
void ms_clock_calibrate_cached(struct ms_clock *c, unsigned window_ms,
			       const char *cache);

/* Sets `c` from a known rate (tick_hz 0 or 1e9 with no TSC: monotonic). */
void ms_clock_set(struct ms_clock *c, uint64_t tick_hz);

/*
 * Drops the `shift` low bits of TSC ticks (tick_hz shrinks to match), for
 * timestamps that compress better; no effect on the monotonic clock.
 */
void ms_clock_coarsen(struct ms_clock *c, unsigned shift);

/*
 * The TSC low bits to drop for a resolution of `res_ns`: the largest
 * power of two of ticks not above it, at least `min_shift` bits (the
 * default unit), and no coarser than ms_clock_coarsen() allows.
 */
unsigned ms_clock_resolve(const struct ms_clock *c, uint64_t res_ns,
			  unsigned min_shift);

/* Converts ticks to ns relative to a (ticks, ns) reference pair. */
static inline uint64_t ms_ticks_to_ns(uint64_t ticks, uint64_t ref_ticks,
				      uint64_t ref_ns, uint64_t tick_hz)
{
	__int128 d = (__int128)ticks - (__int128)ref_ticks;
	__int128 ns = (__int128)ref_ns + d * 1000000000 / (__int128)tick_hz;

	return ns < 0 ? 0 : (uint64_t)ns;
}

/*
 * A tick -> ns conversion fixed once, by multiplication: ns = ref_ns +
 * (ticks - ref_ticks) * 1e9 / hz, within a few ns per 10^11 ticks.
 */
struct ms_timebase {
	uint64_t ref_ticks, ref_ns, hz;
	uint64_t mult; /* 1e9 * 2^32 / hz */
};

static inline void ms_timebase_set(struct ms_timebase *tb, uint64_t ref_ticks,
				   uint64_t ref_ns, uint64_t hz)
{
	tb->ref_ticks = ref_ticks;
	tb->ref_ns = ref_ns;
	tb->hz = hz ? hz : 1000000000u;
	tb->mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / tb->hz);
}

static inline uint64_t ms_timebase_ns(const struct ms_timebase *tb,
				      uint64_t ticks)
{
	__int128 d = (__int128)ticks - (__int128)tb->ref_ticks;
	__int128 ns = (__int128)tb->ref_ns + ((d * (__int128)tb->mult) >> 32);

	return ns < 0			   ? 0
	       : ns > (__int128)UINT64_MAX ? UINT64_MAX
					   : (uint64_t)ns;
}

#endif
