/* SPDX-License-Identifier: MIT */
/* Ranking sites for the report's tables. */
#include <stdlib.h>

#include "report.h"

uint64_t ms_key_calls(const struct ms_site *s)
{
	return s->allocs_q16;
}

uint64_t ms_key_bytes(const struct ms_site *s)
{
	return s->bytes;
}

uint64_t ms_key_temporary(const struct ms_site *s)
{
	return s->temp_q16;
}

uint64_t ms_key_leaked(const struct ms_site *s)
{
	return s->leaked;
}

uint64_t ms_key_peak(const struct ms_site *s)
{
	return s->peak;
}

struct ranked {
	uint64_t key;
	uint32_t id;
};

/* Best first; ties by id, so the order is the same every run. */
static int cmp_ranked(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	if (a->key != b->key)
		return a->key < b->key ? 1 : -1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* A min-heap of the best `max` so far: one pass, O(n log max). */
static void sift(struct ranked *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct ranked t;

		if (l < n && cmp_ranked(&h[l], &h[m]) > 0)
			m = l;
		if (l + 1 < n && cmp_ranked(&h[l + 1], &h[m]) > 0)
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

size_t ms_report_top(const struct ms_profile *p, ms_site_key key, uint32_t *ids,
		     size_t max)
{
	struct ranked *h;
	size_t n = 0;

	if (max == 0)
		return 0;
	h = malloc(max * sizeof(*h));
	if (!h)
		return 0;
	for (uint32_t id = 0; id < p->sites.n; id++) {
		struct ranked r = {key(&p->sites.v[id]), id};

		if (r.key == 0)
			continue;
		if (n < max) {
			h[n++] = r;
			if (n == max)
				for (size_t i = max / 2 + 1; i-- > 0;)
					sift(h, n, i);
		} else if (cmp_ranked(&r, &h[0]) < 0) {
			h[0] = r;
			sift(h, n, 0);
		}
	}
	qsort(h, n, sizeof(*h), cmp_ranked);
	for (size_t i = 0; i < n; i++)
		ids[i] = h[i].id;
	free(h);
	return n;
}
