/* SPDX-License-Identifier: MIT */
/*
 * A binary min-heap of fixed-size elements: the one ordering structure of
 * the consumer side. The archive's time-ordered merge (archive_merge.h)
 * keeps one element per thread stream in it; `memscope tail` keeps the
 * live events it holds back for its time window.
 *
 * `before(a, b)` says whether a comes out before b. Make it a strict total
 * order (break ties on something unique, such as a thread's index or an
 * arrival number) and the order things come out in is fully defined.
 * The capacity is fixed when the heap is made; the heap never allocates
 * afterwards.
 */
#ifndef MS_MINHEAP_H
#define MS_MINHEAP_H

#include <stddef.h>
#include <stdint.h>

typedef int (*ms_minheap_before_fn)(const void *a, const void *b);

struct ms_minheap {
	uint8_t *e;  /* cap + 1 elements: the last is scratch room */
	size_t n;    /* elements held */
	size_t cap;  /* elements it can hold */
	size_t size; /* bytes per element */
	ms_minheap_before_fn before;
};

/* Room for `cap` elements of `size` bytes. Returns 0 or -ENOMEM. */
int ms_minheap_init(struct ms_minheap *h, size_t size, size_t cap,
		    ms_minheap_before_fn before);
void ms_minheap_free(struct ms_minheap *h);

static inline size_t ms_minheap_len(const struct ms_minheap *h)
{
	return h->n;
}

/* The first element, or NULL when empty. The caller may change its key,
 * then calls ms_minheap_fix_top(). */
static inline void *ms_minheap_top(const struct ms_minheap *h)
{
	return h->n ? h->e : NULL;
}

/* Copies `elem` in. Returns 0, or -ENOSPC when the heap is full. */
int ms_minheap_push(struct ms_minheap *h, const void *elem);

/* Removes the first element, copied to `out` when not NULL. The heap must
 * not be empty. */
void ms_minheap_pop(struct ms_minheap *h, void *out);

/* Puts the first element back in order after its key has changed. */
void ms_minheap_fix_top(struct ms_minheap *h);

#endif
