/* SPDX-License-Identifier: MIT */
/*
 * The stacks of one thread stream: stack id -> the frames of its STACK
 * record (docs/format.md). Ids belong to one stream and one thread
 * generation; the iterator clears the table at THREAD_START.
 *
 * Memory grows with the distinct stack ids of the stream, never with its
 * events: a STACK record that names an id already known replaces that
 * stack in place (in the room of the largest one it held).
 */
#ifndef MS_ARCHIVE_STACKS_H
#define MS_ARCHIVE_STACKS_H

#include <stddef.h>
#include <stdint.h>

/* One whole stack. */
struct ms_arc_stack {
	uint64_t id;		/* > 0 */
	uint32_t nframes;	/* 0..MS_STACK_MAX */
	const uint64_t *frames; /* innermost first: frames[0] is the caller */
};

struct ms_arc_stack_node;

/* A table; all zero is an empty one. */
struct ms_arc_stacks {
	struct ms_arc_stack_node **slot; /* cap entries, NULL: free */
	size_t cap;			 /* 0 or a power of two */
	size_t n;			 /* distinct ids held */
};

/*
 * Stores the `n` (<= MS_STACK_MAX) frames of stack `id` (> 0; 0 is
 * ignored), replacing what the id held. Returns 0 or -ENOMEM (the table
 * is unchanged then).
 */
int ms_arc_stacks_put(struct ms_arc_stacks *t, uint64_t id,
		      const uint64_t *frames, uint32_t n);

/*
 * The stack of `id`, or NULL (id 0, or never stored). It stays valid, and
 * the same, until the table is cleared or freed or `id` is stored again.
 */
const struct ms_arc_stack *ms_arc_stacks_get(const struct ms_arc_stacks *t,
					     uint64_t id);

/* Forgets every stack (keeps the slots' memory). */
void ms_arc_stacks_clear(struct ms_arc_stacks *t);
void ms_arc_stacks_free(struct ms_arc_stacks *t);

#endif
