/* SPDX-License-Identifier: MIT */
#include "archive_stacks.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

struct ms_arc_stack_node {
	struct ms_arc_stack s;
	uint32_t room; /* frames f[] can hold */
	uint64_t f[];
};

/* The slot of `id`, or the free slot where it would go. */
static size_t slot_of(const struct ms_arc_stacks *t, uint64_t id)
{
	size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (t->cap - 1);

	while (t->slot[i] && t->slot[i]->s.id != id)
		i = (i + 1) & (t->cap - 1);
	return i;
}

/* Doubles the slots (at least 256), keeping every node. */
static int grow(struct ms_arc_stacks *t)
{
	struct ms_arc_stacks n = {.cap = t->cap ? t->cap * 2 : 256, .n = t->n};

	n.slot = calloc(n.cap, sizeof(*n.slot));
	if (!n.slot)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i])
			n.slot[slot_of(&n, t->slot[i]->s.id)] = t->slot[i];
	free(t->slot);
	*t = n;
	return 0;
}

/* A node with room for `n` frames, rounded up to a power of two so that
 * an id redefined with ever longer stacks is reallocated a few times. */
static struct ms_arc_stack_node *node_new(uint32_t n)
{
	uint32_t room = 4;
	struct ms_arc_stack_node *s;

	while (room < n)
		room *= 2;
	s = malloc(sizeof(*s) + room * sizeof(s->f[0]));
	if (s)
		s->room = room;
	return s;
}

int ms_arc_stacks_put(struct ms_arc_stacks *t, uint64_t id,
		      const uint64_t *frames, uint32_t n)
{
	struct ms_arc_stack_node *s;
	size_t i;

	assert(n <= MS_STACK_MAX);
	if (id == 0)
		return 0;
	if ((t->n + 1) * 2 > t->cap && grow(t))
		return -ENOMEM;
	i = slot_of(t, id);
	s = t->slot[i];
	if (!s || s->room < n) {
		struct ms_arc_stack_node *b = node_new(n);

		if (!b)
			return -ENOMEM;
		t->n += !s;
		free(s);
		t->slot[i] = s = b;
	}
	memcpy(s->f, frames, n * sizeof(s->f[0]));
	s->s = (struct ms_arc_stack){.id = id, .nframes = n, .frames = s->f};
	return 0;
}

const struct ms_arc_stack *ms_arc_stacks_get(const struct ms_arc_stacks *t,
					     uint64_t id)
{
	struct ms_arc_stack_node *s;

	if (id == 0 || t->cap == 0)
		return NULL;
	s = t->slot[slot_of(t, id)];
	return s ? &s->s : NULL;
}

void ms_arc_stacks_clear(struct ms_arc_stacks *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		free(t->slot[i]);
		t->slot[i] = NULL;
	}
	t->n = 0;
}

void ms_arc_stacks_free(struct ms_arc_stacks *t)
{
	ms_arc_stacks_clear(t);
	free(t->slot);
	*t = (struct ms_arc_stacks){0};
}
