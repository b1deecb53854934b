/* SPDX-License-Identifier: MIT */
#include "lifetime.h"

/* The smallest lifetime of bucket b and the one after it. */
static void bucket_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
	unsigned e, sub;

	if (b < 16) {
		*lo = b;
		*hi = b + 1;
		return;
	}
	e = 4 + (b - 16) / MS_LIFE_SUB;
	sub = (b - 16) % MS_LIFE_SUB;
	*lo = (1ull << e) + (uint64_t)sub * (1ull << (e - 2));
	*hi = *lo + (1ull << (e - 2));
}

uint64_t ms_lifetime_percentile(const struct ms_lifetime *l, double p)
{
	uint64_t want, seen = 0, lo, hi;

	if (!l || l->total_q16 == 0)
		return 0;
	want = (uint64_t)(p * (double)l->total_q16);
	for (unsigned b = 0; b < MS_LIFE_BUCKETS; b++) {
		seen += l->q16[b];
		if (seen > want || (seen == l->total_q16 && seen)) {
			bucket_range(b, &lo, &hi);
			return lo + (hi - lo) / 2;
		}
	}
	return 0;
}
