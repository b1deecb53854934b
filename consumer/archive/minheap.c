/* SPDX-License-Identifier: MIT */
#include "minheap.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t *at(const struct ms_minheap *h, size_t i)
{
	return h->e + i * h->size;
}

/* One element from `src` to `dst`: the merge's 16-byte keys inline. */
static inline void copy(const struct ms_minheap *h, void *dst, const void *src)
{
	if (h->size == 16)
		memcpy(dst, src, 16);
	else
		memcpy(dst, src, h->size);
}

int ms_minheap_init(struct ms_minheap *h, size_t size, size_t cap,
		    ms_minheap_before_fn before)
{
	assert(size > 0);
	memset(h, 0, sizeof(*h));
	h->e = calloc(cap + 1, size);
	if (!h->e)
		return -ENOMEM;
	h->cap = cap;
	h->size = size;
	h->before = before;
	return 0;
}

void ms_minheap_free(struct ms_minheap *h)
{
	free(h->e);
	memset(h, 0, sizeof(*h));
}

/*
 * The element in the scratch slot goes to its place, starting at the hole
 * `i` and moving down: children that come before it move up into the hole.
 */
static void sift_down(struct ms_minheap *h, size_t i)
{
	const uint8_t *x = at(h, h->cap);

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->before(at(h, c + 1), at(h, c)))
			c++;
		if (!h->before(at(h, c), x))
			break;
		copy(h, at(h, i), at(h, c));
		i = c;
	}
	copy(h, at(h, i), x);
}

int ms_minheap_push(struct ms_minheap *h, const void *elem)
{
	size_t i;

	if (h->n == h->cap)
		return -ENOSPC;
	/* the hole moves up while its parent comes after the new element */
	for (i = h->n++; i && h->before(elem, at(h, (i - 1) / 2));
	     i = (i - 1) / 2)
		copy(h, at(h, i), at(h, (i - 1) / 2));
	copy(h, at(h, i), elem);
	return 0;
}

void ms_minheap_pop(struct ms_minheap *h, void *out)
{
	assert(h->n > 0);
	if (out)
		copy(h, out, at(h, 0));
	if (--h->n == 0)
		return;
	copy(h, at(h, h->cap), at(h, h->n));
	sift_down(h, 0);
}

void ms_minheap_fix_top(struct ms_minheap *h)
{
	if (h->n < 2)
		return;
	/* Most often the top is still first (a merged stream's records come
	 * in runs): two comparisons, nothing moved. */
	if (!h->before(at(h, 1), h->e) &&
	    (h->n < 3 || !h->before(at(h, 2), h->e)))
		return;
	copy(h, at(h, h->cap), at(h, 0));
	sift_down(h, 0);
}
