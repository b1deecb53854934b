/* SPDX-License-Identifier: MIT */
/*
 * Single-producer / single-consumer byte ring in shared memory.
 *
 * The producer reserves room for a record, writes it in place and commits
 * it; the consumer peeks at everything committed and releases what it has
 * consumed. The data area is mapped twice back to back, so any span of up to
 * `size` bytes starting anywhere in the ring is contiguous: records never
 * tear at the wrap.
 *
 * Memory-order pairing:
 *   producer store_release(head)  <->  consumer load_acquire(head)
 *     (the record bytes are visible before the head that covers them)
 *   consumer store_release(tail)  <->  producer load_acquire(tail)
 *     (the consumer is done reading bytes before the producer reuses them)
 *   producer store_release(state) <->  consumer load_acquire(state)
 *     (tid/generation are visible with ACTIVE; all commits with CLOSED)
 *   consumer store_release(state) <->  producer load_acquire(state)
 *     (DRAINED: the consumer will not read this stream any more)
 *
 * Each side keeps its own index and a cached copy of the other side's in
 * its private struct ms_ring; shared memory is only read to refresh them.
 */
#ifndef MS_RING_H
#define MS_RING_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "atomics.h"
#include "ring_abi.h"

struct ms_ring {
	struct ms_ring_hdr *hdr;
	uint8_t *data; /* first of the two data mappings */
	uint64_t size; /* data bytes, a power of two */
	uint64_t mask;
	uint64_t pos;	/* producer: head; consumer: tail */
	uint64_t other; /* producer: cached tail; consumer: cached head */
	size_t map_len;
	int fd;
};

/*
 * Producer: creates a sealed memfd ring of `data_size` bytes (a power of two
 * between MS_RING_MIN_DATA and MS_RING_MAX_DATA), backed by fallocate so a
 * full tmpfs fails here and never as SIGBUS later, maps it and marks it
 * ACTIVE for `tid`. Makes no heap allocation. Returns 0 or -errno.
 */
int ms_ring_create(uint64_t data_size, uint32_t pid, uint32_t tid,
		   struct ms_ring *r);

/*
 * Consumer: validates an untrusted ring fd (memfd, F_SEAL_SHRINK, size,
 * header magic/version/endianness/sizes) and maps it. Takes ownership of
 * `fd` only on success. Returns 0, -EPROTO for a malformed ring, or -errno.
 */
int ms_ring_attach(int fd, struct ms_ring *r);

/* Unmaps the ring and closes its fd. Safe on a zeroed struct. */
void ms_ring_unmap(struct ms_ring *r);

/* Rounds a size in KiB to a valid ring data size (power of two, clamped). */
uint64_t ms_ring_size_from_kb(uint64_t kb);

/*
 * Producer: returns a pointer to `n` contiguous writable bytes, or NULL when
 * the ring lacks room now (n <= r->size is the caller's to ensure).
 */
static inline void *ms_ring_reserve(struct ms_ring *r, uint64_t n)
{
	if (MS_UNLIKELY(r->size - (r->pos - r->other) < n)) {
		/* Pairs with the consumer's store_release(tail). */
		r->other = ms_load_acquire(&r->hdr->tail);
		r->hdr->cached_tail = r->other;
		if (r->size - (r->pos - r->other) < n)
			return NULL;
	}
	return r->data + (r->pos & r->mask);
}

/* Producer: publishes `n` bytes written at the last reservation. */
static inline void ms_ring_commit(struct ms_ring *r, uint64_t n)
{
	r->pos += n;
	/* Pairs with the consumer's load_acquire(head) in ms_ring_peek(). */
	ms_store_release(&r->hdr->head, r->pos);
}

/*
 * Consumer: points *p at the committed, unconsumed bytes and returns their
 * count (0 when empty), or -EPROTO when the producer published an
 * impossible head (then the ring must be abandoned).
 */
static inline ssize_t ms_ring_peek(struct ms_ring *r, const uint8_t **p)
{
	/* Pairs with the producer's store_release(head) in ms_ring_commit(). */
	uint64_t head = ms_load_acquire(&r->hdr->head);
	uint64_t avail = head - r->pos;

	if (MS_UNLIKELY(avail > r->size || head < r->other))
		return -EPROTO;
	r->other = head;
	*p = r->data + (r->pos & r->mask);
	return (ssize_t)avail;
}

/* Consumer: hands `n` peeked bytes back to the producer. */
static inline void ms_ring_release(struct ms_ring *r, uint64_t n)
{
	r->pos += n;
	/* Pairs with the producer's load_acquire(tail) in ms_ring_reserve(). */
	ms_store_release(&r->hdr->tail, r->pos);
}

/* Producer: the owning thread is gone; everything committed stays readable. */
static inline void ms_ring_close(struct ms_ring *r)
{
	/* Pairs with the consumer's load_acquire(state). */
	ms_store_release(&r->hdr->state, MS_RING_CLOSED);
}

/*
 * Producer: takes a DRAINED ring for thread `tid`. Returns 0, or -EBUSY when
 * the consumer has not finished with it yet.
 */
int ms_ring_reuse(struct ms_ring *r, uint32_t tid);

/* Consumer: everything has been read from a CLOSED ring. */
static inline void ms_ring_mark_drained(struct ms_ring *r)
{
	/* Pairs with the producer's load_acquire(state) in ms_ring_reuse(). */
	ms_store_release(&r->hdr->state, MS_RING_DRAINED);
}

#endif
