/* SPDX-License-Identifier: MIT */
#include "archive_batch.h"

#include <errno.h>
#include <stdlib.h>

#include "archive_error.h"

/* Beyond `room`: two notes and the largest record item, so that a step of
 * the iterator that starts inside the room never reallocates. */
#define BATCH_SLACK                                                            \
	(2 * (sizeof(struct ms_arc_item_error) + 520) +                        \
	 sizeof(struct ms_arc_item_full) + MS_BUILD_ID_MAX + MS_PATH_MAX + 16)

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int batch_grow(struct ms_arc_batch *b, size_t cap)
{
	uint8_t *n = realloc(b->buf, cap);

	if (!n)
		return -ENOMEM;
	b->buf = n;
	b->cap = cap;
	return 0;
}

int ms_arc_batch_reset(struct ms_arc_batch *b, size_t room)
{
	size_t cap = room + BATCH_SLACK;

	b->len = 0;
	b->nrec = 0;
	b->end = 0;
	b->rc = 0;
	b->room = room;
	return b->cap < cap ? batch_grow(b, cap) : 0;
}

void ms_arc_batch_free(struct ms_arc_batch *b)
{
	free(b->buf);
	*b = (struct ms_arc_batch){0};
}

void *ms_arc_batch_add(struct ms_arc_batch *b, size_t size)
{
	void *p;

	size = round8(size);
	if (b->rc)
		return NULL;
	if (b->cap - b->len < size &&
	    batch_grow(b, 2 * b->cap + size + BATCH_SLACK)) {
		b->rc = -ENOMEM;
		return NULL;
	}
	p = b->buf + b->len;
	b->len += size;
	return p;
}

static struct ms_arc_item *add_item(struct ms_arc_batch *b, size_t size,
				    uint8_t kind)
{
	struct ms_arc_item *it = ms_arc_batch_add(b, size);

	if (it)
		*it = (struct ms_arc_item){.size = (uint32_t)round8(size),
					   .kind = kind};
	return it;
}

void ms_arc_batch_error(struct ms_arc_batch *b, const char *file,
			int has_offset, uint64_t offset, const char *msg)
{
	size_t n = strlen(msg) + 1;
	struct ms_arc_item_error *e =
		(void *)add_item(b, sizeof(*e) + n, MS_ARC_I_ERROR);

	if (!e)
		return;
	e->file = file;
	e->offset = offset;
	e->has_offset = (uint32_t)has_offset;
	memcpy(e->msg, msg, n);
}

void ms_arc_batch_progress(struct ms_arc_batch *b, uint64_t bytes)
{
	struct ms_arc_item *it = add_item(b, sizeof(*it), MS_ARC_I_PROGRESS);

	if (it)
		it->ns = bytes;
}

/* The bytes a record keeps outside struct ms_event's head. */
static size_t tail_size(const struct ms_event *ev)
{
	if (ev->type == MS_REC_STACK)
		return ev->nframes * sizeof(ev->frames[0]);
	return (size_t)ev->build_id_len + ev->str_len;
}

/* An ALLOC, FREE or REALLOC from the general decoder, as a heap item. */
static void record_heap(struct ms_arc_batch *b, uint64_t ns,
			const struct ms_event *ev)
{
	struct ms_rec_fast r = {.type = ev->type,
				.flags = ev->flags,
				.ts = ev->ts,
				.addr = ev->addr,
				.old_addr = ev->old_addr,
				.size = ev->size,
				.stack_id = ev->stack_id,
				.align = ev->align,
				.weight = ev->weight};
	uint8_t *w = ms_arc_batch_add(b, sizeof(struct ms_arc_item_heapx));

	if (!w)
		return;
	/* a plain item is shorter than the room taken */
	b->len = (size_t)(ms_arc_item_put_fast(w, ns, &r) - b->buf);
	b->nrec++;
}

void ms_arc_batch_record(struct ms_arc_batch *b, uint64_t ns,
			 const struct ms_event *ev)
{
	struct ms_arc_item_full *f;
	uint8_t *t;

	if (ev->type == MS_REC_ALLOC || ev->type == MS_REC_FREE ||
	    ev->type == MS_REC_REALLOC) {
		record_heap(b, ns, ev);
		return;
	}
	f = (void *)add_item(b, sizeof(*f) + tail_size(ev), MS_ARC_I_FULL);
	if (!f)
		return;
	f->h.type = ev->type;
	f->h.flags = ev->flags;
	f->h.ns = ns;
	memcpy(f->ev, ev, MS_ARC_EV_HEAD);
	t = (uint8_t *)f->tail;
	if (ev->type == MS_REC_STACK) {
		memcpy(t, ev->frames, tail_size(ev));
	} else {
		if (ev->build_id_len)
			memcpy(t, ev->build_id, ev->build_id_len);
		if (ev->str_len)
			memcpy(t + ev->build_id_len, ev->str, ev->str_len);
	}
	b->nrec++;
}

void ms_arc_note_apply(struct ms_archive *a, const struct ms_arc_item *it)
{
	const struct ms_arc_item_error *e = (const void *)it;

	if (it->kind == MS_ARC_I_ERROR) {
		ms_archive_error(a, e->file, (int)e->has_offset, e->offset,
				 "%s", e->msg);
		return;
	}
	a->bytes_read += it->ns;
	if (a->on_progress)
		a->on_progress(a, a->on_progress_arg);
}

void ms_arc_item_full_event(const struct ms_arc_item *it, struct ms_event *ev)
{
	const struct ms_arc_item_full *f = (const void *)it;
	const uint8_t *t = (const uint8_t *)f->tail;

	memcpy(ev, f->ev, MS_ARC_EV_HEAD);
	if (ev->type == MS_REC_STACK) {
		memcpy(ev->frames, t, tail_size(ev));
		return;
	}
	/* the decoder's pointers were into its frame: now into the item */
	ev->build_id = ev->build_id ? t : NULL;
	ev->str = ev->str ? t + ev->build_id_len : NULL;
}

uint64_t ms_arc_item_stack(const struct ms_arc_item *it, const uint64_t **fr,
			   uint32_t *n)
{
	const struct ms_arc_item_full *f = (const void *)it;
	uint64_t id;

	memcpy(&id, f->ev + offsetof(struct ms_event, stack_id), sizeof(id));
	memcpy(n, f->ev + offsetof(struct ms_event, nframes), sizeof(*n));
	*fr = f->tail;
	return id;
}
