/* SPDX-License-Identifier: MIT */
/*
 * Batches: one thread stream's records decoded ahead of their reader, for
 * the merge and the scan of this room (archive_merge.c, archive_scan.c).
 *
 * A batch holds, in one buffer and in the stream's order, items of two
 * kinds: records (ms_arc_iter_fill() decodes them, with their time in ns)
 * and notes, what the iterator would have done to the archive on the way
 * (report damage, count a frame read). The reader replays the notes when
 * it gets to them (ms_arc_note_apply()), so that whichever thread filled
 * the batch, and however far ahead, every error and progress call comes
 * from the reading thread, in the order, and between the same records, as
 * when the stream is read record by record.
 *
 * A batch keeps no stack table: the reader keeps its own, from the STACK
 * records in order. Nothing in a batch points into the iterator, so an
 * iterator may fill the next batch while the reader reads this one.
 *
 * Internal to the room.
 */
#ifndef MS_ARCHIVE_BATCH_H
#define MS_ARCHIVE_BATCH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "archive.h"
#include "record.h"

struct ms_arc_iter;

enum ms_arc_item_kind {
	MS_ARC_I_HEAP,	   /* ALLOC or FREE without align or weight */
	MS_ARC_I_HEAPX,	   /* ALLOC or REALLOC with the rest of the fields */
	MS_ARC_I_FULL,	   /* any other record: its whole struct ms_event */
	MS_ARC_I_ERROR,	   /* note: damage, for ms_archive_error() */
	MS_ARC_I_PROGRESS, /* note: a frame read, for on_progress */
};

/* The head of every item; items are 8-byte aligned, one after the other. */
struct ms_arc_item {
	uint32_t size;		  /* bytes of the item, head included */
	uint8_t kind;		  /* MS_ARC_I_* */
	uint8_t type, flags, pad; /* records: as in struct ms_event */
	uint64_t ns;		  /* records: time; progress: bytes read */
};

struct ms_arc_item_heap {
	struct ms_arc_item h;
	uint64_t ts, addr, size, stack_id;
};

struct ms_arc_item_heapx {
	struct ms_arc_item_heap b;
	uint64_t old_addr, align, weight;
};

/* The head of struct ms_event: what ms_rec_decode() clears and fills. */
#define MS_ARC_EV_HEAD offsetof(struct ms_event, frames)

/* Followed by the record's build id and string, or its frames. */
struct ms_arc_item_full {
	struct ms_arc_item h;
	uint8_t ev[MS_ARC_EV_HEAD];
	uint64_t tail[];
};

struct ms_arc_item_error {
	struct ms_arc_item h;
	const char *file; /* the archive's, which outlives the batch */
	uint64_t offset;
	uint32_t has_offset;
	char msg[]; /* NUL-terminated */
};

/* A batch; all zero is an empty one. */
struct ms_arc_batch {
	uint8_t *buf;
	size_t len, cap; /* bytes held, allocated */
	size_t room;	 /* records stop here (notes may go past it) */
	size_t nrec;	 /* record items */
	int end;	 /* no batch of this stream follows */
	int rc;		 /* 0, or -ENOMEM: the stream stops here */
};

/* Empties `b` and gives it room for `room` bytes of records (more as
 * slack for the notes and one large record that may follow). Returns 0
 * or -ENOMEM. */
int ms_arc_batch_reset(struct ms_arc_batch *b, size_t room);
void ms_arc_batch_free(struct ms_arc_batch *b);

/* Room for an item of `size` bytes at the end of `b`, counted as used;
 * NULL (b->rc set) when memory ran out. */
void *ms_arc_batch_add(struct ms_arc_batch *b, size_t size);

/* Notes and records, appended. */
void ms_arc_batch_error(struct ms_arc_batch *b, const char *file,
			int has_offset, uint64_t offset, const char *msg);
void ms_arc_batch_progress(struct ms_arc_batch *b, uint64_t bytes);
void ms_arc_batch_record(struct ms_arc_batch *b, uint64_t ns,
			 const struct ms_event *ev);

/*
 * Appends a record of ms_rec_decode_fast() at `w`, the end of a batch with
 * room for a struct ms_arc_item_heapx there; returns the new end.
 */
static inline uint8_t *ms_arc_item_put_fast(uint8_t *w, uint64_t ns,
					    const struct ms_rec_fast *f)
{
	struct ms_arc_item_heapx *x = (struct ms_arc_item_heapx *)(void *)w;
	int plain = f->type != MS_REC_REALLOC && !f->flags;

	x->b.h = (struct ms_arc_item){
		.size = plain ? sizeof(x->b) : sizeof(*x),
		.kind = plain ? MS_ARC_I_HEAP : MS_ARC_I_HEAPX,
		.type = f->type,
		.flags = f->flags,
		.ns = ns,
	};
	x->b.ts = f->ts;
	x->b.addr = f->addr;
	x->b.size = f->size;
	x->b.stack_id = f->stack_id;
	if (plain)
		return w + sizeof(x->b);
	x->old_addr = f->old_addr;
	x->align = f->align;
	x->weight = f->weight;
	return w + sizeof(*x);
}

/* Replays a note (kind MS_ARC_I_ERROR or MS_ARC_I_PROGRESS) on `a`. */
void ms_arc_note_apply(struct ms_archive *a, const struct ms_arc_item *it);

/* A STACK record item's stack id, and its *n frames. */
uint64_t ms_arc_item_stack(const struct ms_arc_item *it, const uint64_t **fr,
			   uint32_t *n);

/*
 * The record of item `it` into `ev`, as ms_rec_decode() would have left
 * it (strings pointing into the item). `state` tracks what `ev` holds
 * between calls, so that a heap item writes only its own fields: 0 (at
 * first) anything, 1 the head as a plain heap item leaves it, 2 the same
 * but for old_addr, align and weight.
 */
void ms_arc_item_full_event(const struct ms_arc_item *it, struct ms_event *ev);

static inline void ms_arc_item_event(const struct ms_arc_item *it,
				     struct ms_event *ev, int *state)
{
	const struct ms_arc_item_heapx *x = (const void *)it;

	if (it->kind == MS_ARC_I_FULL) {
		ms_arc_item_full_event(it, ev);
		*state = 0;
		return;
	}
	if (*state == 0) {
		memset(ev, 0, MS_ARC_EV_HEAD);
		ev->weight = MS_WEIGHT_ONE;
	}
	ev->type = it->type;
	ev->flags = it->flags;
	ev->ts = x->b.ts;
	ev->addr = x->b.addr;
	ev->size = x->b.size;
	ev->stack_id = x->b.stack_id;
	if (it->kind == MS_ARC_I_HEAPX) {
		ev->old_addr = x->old_addr;
		ev->align = x->align;
		ev->weight = x->weight;
		*state = 2;
		return;
	}
	if (*state == 2) {
		ev->old_addr = 0;
		ev->align = 0;
		ev->weight = MS_WEIGHT_ONE;
	}
	*state = 1;
}

/*
 * What ms_arc_iter_fill() keeps besides the notes: record items (the
 * merge), and counts (ms_arc_iter_counts(): the scan). Without record
 * items, times are not converted and the archive's time base is left
 * alone: the first CLOCK record read is kept (ms_arc_iter_first_clock()).
 * MS_ARC_FILL_FIRST, for a stream's first record, with record items:
 * neither the archive's time base nor the stream's own clock is touched,
 * so that a thread other than the archive's may read it; if it is a
 * CLOCK record, it is kept for ms_arc_iter_apply_clock().
 */
enum {
	MS_ARC_FILL_RECORDS = 1,
	MS_ARC_FILL_COUNTS = 2,
	MS_ARC_FILL_FIRST = 4,
};

/*
 * Reads the iterator's stream on with the MS_ARC_FILL_* `mode` into `b`
 * (reset by the caller): until `max` record items or b->room bytes of
 * them, or the end of the stream. Every damage and frame read on the way
 * becomes a note in `b` instead of a call on the archive, so that a thread
 * other than the archive's may fill it. Without MS_ARC_FILL_RECORDS, `b`
 * may be NULL: the notes go to the archive as they come, and the whole
 * stream is read. An iterator is read either this way or with
 * ms_arc_iter_next(), not both.
 *
 * Returns 1 (the batch is full), 0 at the end of the stream (b->end set),
 * or -ENOMEM (b->end and b->rc set): the stream cannot be read on.
 */
int ms_arc_iter_fill(struct ms_arc_iter *it, struct ms_arc_batch *b,
		     unsigned mode, size_t max);

/* Without MS_ARC_FILL_RECORDS: the stream's first CLOCK record, if any
 * was read (1), as ticks, monotonic ns and rate. */
int ms_arc_iter_first_clock(const struct ms_arc_iter *it,
			    struct ms_timebase *tb);

/*
 * After a fill with MS_ARC_FILL_FIRST, on the archive's thread, while no
 * other fills the iterator: applies the CLOCK record kept, if any (1),
 * as reading it would have (the archive's time base set if it is not),
 * and gives its time in ns (its item's `ns` was not known).
 */
int ms_arc_iter_apply_clock(struct ms_arc_iter *it, uint64_t *ns);

#endif
