/* SPDX-License-Identifier: MIT */
/*
 * How long blocks lived: a log-linear histogram of lifetimes in ns (four
 * buckets per power of two, so a percentile is within 19% of the truth),
 * weighted by the blocks' Q16 sampling weights.
 */
#ifndef MS_LIFETIME_H
#define MS_LIFETIME_H

#include <stdint.h>

#define MS_LIFE_SUB	4  /* buckets per power of two */
#define MS_LIFE_MAX_EXP 47 /* 2^48 ns, 78 hours: the last bucket holds more */
#define MS_LIFE_BUCKETS (16 + (MS_LIFE_MAX_EXP - 3) * MS_LIFE_SUB)

struct ms_lifetime {
	uint64_t total_q16;
	uint64_t q16[MS_LIFE_BUCKETS];
};

static inline unsigned ms_lifetime_bucket(uint64_t ns)
{
	unsigned e;

	if (ns < 16)
		return (unsigned)ns;
	e = 63u - (unsigned)__builtin_clzll(ns); /* >= 4 */
	if (e > MS_LIFE_MAX_EXP)
		return MS_LIFE_BUCKETS - 1;
	return 16 + (e - 4) * MS_LIFE_SUB +
	       (unsigned)((ns >> (e - 2)) & (MS_LIFE_SUB - 1));
}

static inline void ms_lifetime_add(struct ms_lifetime *l, uint64_t ns,
				   uint64_t q16)
{
	l->q16[ms_lifetime_bucket(ns)] += q16;
	l->total_q16 += q16;
}

/*
 * The lifetime below which a fraction `p` (0..1) of the weight lies: the
 * middle of that bucket. 0 for an empty histogram.
 */
uint64_t ms_lifetime_percentile(const struct ms_lifetime *l, double p);

#endif
