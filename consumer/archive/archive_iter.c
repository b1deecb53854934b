/* SPDX-License-Identifier: MIT */
/*
 * One thread's stream: its segments in order, each frame decoded from the
 * SYNC record that opens it, ticks turned into ns with the stream's CLOCK
 * records, stack ids resolved with its STACK records.
 */
#include "archive_iter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_batch.h"
#include "archive_scan.h"
#include "clock.h"
#include "segment.h"

struct ms_arc_iter {
	struct ms_archive *a;
	struct ms_arc_thread *t;
	size_t seg;		 /* next segment to open */
	struct ms_seg_reader *r; /* open segment, or NULL */
	const char *path;	 /* of the open segment */
	uint64_t seg_hz;	 /* tick rate from the segment header */
	struct ms_seg_frame fr;
	int in_frame;
	size_t pos;	  /* next record in fr.data */
	uint32_t decoded; /* records of this frame so far */
	struct ms_rec_state st;
	int have_clock;
	struct ms_timebase own;	      /* this stream's, at another rate */
	const struct ms_timebase *tb; /* the archive's, or `own` */
	struct ms_arc_stacks stacks;
	struct ms_arc_counts c;
	char name[MS_NAME_MAX + 1];
	struct ms_arc_event out;
	struct ms_event ev;
	/* while ms_arc_iter_fill() runs: its MS_ARC_FILL_* mode, and the
	 * batch that takes the notes (NULL: they go to the archive) */
	unsigned mode;
	struct ms_arc_batch *notes;
	int clock_kept; /* a CLOCK record read but not applied */
	struct ms_timebase kept;
};

/* Step results besides 1 (a record), 0 (the end) and -errno. */
#define STEP_AGAIN 2

/* Damage: to the archive, or into the batch being filled (a note). */
__attribute__((format(printf, 5, 6))) static void
iter_error(struct ms_arc_iter *it, const char *file, int has_offset,
	   uint64_t offset, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (it->notes)
		ms_arc_batch_error(it->notes, file, has_offset, offset, msg);
	else
		ms_archive_error(it->a, file, has_offset, offset, "%s", msg);
}

/* A frame read: the archive's progress, or a note. */
static void frame_read(struct ms_arc_iter *it, uint64_t bytes)
{
	struct ms_archive *a = it->a;

	if (it->notes) {
		ms_arc_batch_progress(it->notes, bytes);
		return;
	}
	a->bytes_read += bytes;
	if (a->on_progress)
		a->on_progress(a, a->on_progress_arg);
}

int ms_arc_iter_open(struct ms_archive *a, struct ms_arc_thread *t,
		     struct ms_arc_iter **out)
{
	struct ms_arc_iter *it = calloc(1, sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->a = a;
	it->t = t;
	it->out.pid = t->pid;
	it->out.tid = t->tid;
	it->out.ev = &it->ev;
	it->c.segments = t->nsegs;
	for (size_t i = 0; i < t->nsegs; i++)
		it->c.disk_bytes += t->segs[i].size;
	*out = it;
	return 0;
}

void ms_arc_iter_close(struct ms_arc_iter *it)
{
	if (!it)
		return;
	ms_seg_close(it->r);
	ms_arc_stacks_free(&it->stacks);
	free(it);
}

const struct ms_arc_counts *ms_arc_iter_counts(const struct ms_arc_iter *it)
{
	return &it->c;
}

const char *ms_arc_iter_name(const struct ms_arc_iter *it)
{
	return it->name;
}

/* Opens the next segment: 1, 0 when there is none left, STEP_AGAIN when
 * it could not be read (reported). */
static int open_segment(struct ms_arc_iter *it)
{
	const struct ms_arc_seg *s;
	const struct ms_seg_info *info;
	int err;

	if (it->seg >= it->t->nsegs)
		return 0;
	s = &it->t->segs[it->seg++];
	err = s->mem ? ms_seg_open_mem(s->mem, s->mem_len, &it->r)
		     : ms_seg_open(s->path, &it->r);
	if (err == -EBADMSG) {
		iter_error(it, s->path, 1, 0,
			   "not a segment file (bad or short header, %llu "
			   "bytes)",
			   (unsigned long long)s->size);
		return STEP_AGAIN;
	}
	if (err) {
		iter_error(it, s->path, 0, 0, "cannot read: %s",
			   strerror(-err));
		return STEP_AGAIN;
	}
	it->path = s->path;
	info = ms_seg_reader_info(it->r);
	if (info->pid != it->t->pid || info->tid != it->t->tid ||
	    info->seq != s->seq)
		iter_error(it, s->path, 1, 0,
			   "header says pid %u tid %u segment %u; read as "
			   "named",
			   info->pid, info->tid, info->seq);
	it->seg_hz = info->tick_hz;
	return 1;
}

/* Loads the next frame and decodes its opening SYNC. 1: a frame is
 * ready, 0: this segment is done, -1: damage skipped, try again. */
static int load_frame(struct ms_arc_iter *it)
{
	struct ms_rec_state st = {0};
	ssize_t n;
	int rc = ms_seg_next(it->r, &it->fr);

	if (rc == 0)
		return 0;
	if (rc < 0) {
		iter_error(it, it->path, 0, 0, "%s", ms_seg_error(it->r));
		return -1;
	}
	it->c.frames++;
	it->c.raw_bytes += it->fr.len;
	frame_read(it, it->fr.hdr_size + it->fr.comp_size);
	n = ms_rec_decode(&st, it->fr.data, it->fr.len, &it->ev);
	if (n < 0 || it->ev.type != MS_REC_SYNC) {
		iter_error(it, it->path, 1, it->fr.offset,
			   "frame does not start with a SYNC record; "
			   "frame skipped (%u records)",
			   it->fr.count);
		return -1;
	}
	it->st = st;
	it->pos = (size_t)n;
	it->decoded = 0;
	it->in_frame = 1;
	return 1;
}

/* `damaged`: an error for this frame was reported already. */
static void frame_done(struct ms_arc_iter *it, int damaged)
{
	it->in_frame = 0;
	if (!damaged && it->decoded != it->fr.count)
		iter_error(it, it->path, 1, it->fr.offset,
			   "frame header says %u records, %u decoded",
			   it->fr.count, it->decoded);
}

static uint64_t to_ns(const struct ms_arc_iter *it, uint64_t ticks)
{
	if (it->have_clock)
		return ms_timebase_ns(it->tb, ticks);
	if (it->seg_hz == 0 || it->seg_hz == 1000000000u)
		return ticks;
	return ms_ticks_to_ns(ticks, 0, 0, it->seg_hz);
}

static void thread_start(struct ms_arc_iter *it, const struct ms_event *ev)
{
	ms_arc_stacks_clear(&it->stacks);
	if (ev->pid != it->t->pid || ev->tid != it->t->tid)
		iter_error(it, it->path, 1, it->fr.offset,
			   "THREAD_START says pid %llu tid %llu",
			   (unsigned long long)ev->pid,
			   (unsigned long long)ev->tid);
}

/* The archive's time base (archive.h), or the stream's own rate. */
static void clock_apply(struct ms_arc_iter *it, uint64_t ts, uint64_t mono_ns,
			uint64_t hz)
{
	struct ms_archive *a = it->a;

	if (!a->tb_set) {
		ms_timebase_set(&a->tb, ts, mono_ns, hz);
		a->tb_set = 1;
	}
	it->have_clock = 1;
	if (hz == a->tb.hz) {
		it->tb = &a->tb;
		return;
	}
	ms_timebase_set(&it->own, ts, mono_ns, hz);
	it->tb = &it->own;
}

static void clock_record(struct ms_arc_iter *it, const struct ms_event *ev)
{
	/* no times wanted, or not yet: the archive's time base is left to
	 * the caller, the first CLOCK kept for it */
	if (it->mode && (!(it->mode & MS_ARC_FILL_RECORDS) ||
			 (it->mode & MS_ARC_FILL_FIRST))) {
		if (!it->clock_kept)
			ms_timebase_set(&it->kept, ev->ts, ev->mono_ns,
					ev->tick_hz);
		it->clock_kept = 1;
		return;
	}
	clock_apply(it, ev->ts, ev->mono_ns, ev->tick_hz);
}

/*
 * Updates the stream's state and counts with one record. While filling a
 * batch, counts only when asked to and no stacks: the batch's reader keeps
 * its own from the STACK records.
 */
static int apply(struct ms_arc_iter *it, const struct ms_event *ev)
{
	if (!it->mode || (it->mode & MS_ARC_FILL_COUNTS))
		ms_arc_count_event(&it->c, ev);
	switch (ev->type) {
	case MS_REC_CLOCK:
		clock_record(it, ev);
		break;
	case MS_REC_STACK:
		if (it->mode)
			break;
		return ms_arc_stacks_put(&it->stacks, ev->stack_id, ev->frames,
					 ev->nframes);
	case MS_REC_THREAD_START:
		thread_start(it, ev);
		break;
	case MS_REC_THREAD_NAME:
		memcpy(it->name, ev->str, ev->str_len);
		it->name[ev->str_len] = '\0';
		break;
	default:
		break;
	}
	return 0;
}

static void fill_out(struct ms_arc_iter *it)
{
	uint8_t t = it->ev.type;

	it->out.ns = to_ns(it, it->ev.ts);
	it->out.stack =
		t == MS_REC_ALLOC || t == MS_REC_REALLOC
			? ms_arc_stacks_get(&it->stacks, it->ev.stack_id)
			: NULL;
}

/* The next record of the current frame: 1, or 0 when the frame is over. */
static int frame_record(struct ms_arc_iter *it)
{
	const uint8_t *d = it->fr.data;
	ssize_t n;

	while (it->pos < it->fr.len) {
		n = ms_rec_decode(&it->st, d + it->pos, it->fr.len - it->pos,
				  &it->ev);
		if (n < 0) {
			iter_error(it, it->path, 1, it->fr.offset,
				   "bad record at byte %zu of the frame's %zu "
				   "(%s); rest of the frame skipped",
				   it->pos, it->fr.len,
				   n == -ENODATA ? "cut short" : "invalid");
			frame_done(it, 1);
			return 0;
		}
		it->pos += (size_t)n;
		if (it->ev.type == MS_REC_SYNC)
			continue;
		it->decoded++;
		return 1;
	}
	frame_done(it, 0);
	return 0;
}

/*
 * One step of reading: 1 with a record in it->ev (applied), 0 at the end
 * of the stream, STEP_AGAIN when something else was done (a segment
 * opened, a frame loaded or finished, damage skipped), or -ENOMEM. A step
 * reports at most two problems and one frame read.
 */
static int step(struct ms_arc_iter *it)
{
	if (!it->r)
		return open_segment(it) ? STEP_AGAIN : 0;
	if (!it->in_frame) {
		if (load_frame(it) == 0) {
			ms_seg_close(it->r);
			it->r = NULL;
		}
		return STEP_AGAIN;
	}
	if (!frame_record(it))
		return STEP_AGAIN;
	return apply(it, &it->ev) ? -ENOMEM : 1;
}

int ms_arc_iter_next(struct ms_arc_iter *it, const struct ms_arc_event **out)
{
	int rc;

	while ((rc = step(it)) == STEP_AGAIN)
		;
	if (rc == 1) {
		fill_out(it);
		*out = &it->out;
	}
	return rc;
}

/*
 * The ALLOC, FREE and REALLOC records of the current frame from it->pos
 * on, through the readers' fast path, up to the first other record (left
 * to step()) or the batch's limits. Everything it keeps is in locals.
 */
static void fill_fast(struct ms_arc_iter *it, struct ms_arc_batch *b,
		      size_t max)
{
	const uint8_t *p = it->fr.data + it->pos,
		      *end = it->fr.data + it->fr.len;
	struct ms_rec_state st = it->st;
	struct ms_arc_counts c = it->c;
	int records = it->mode & MS_ARC_FILL_RECORDS;
	int counts = it->mode & MS_ARC_FILL_COUNTS;
	/* heap records leave the clock alone: a copy, in registers */
	struct ms_timebase tb =
		it->have_clock ? *it->tb : (struct ms_timebase){0};
	uint8_t *w = records ? b->buf + b->len : NULL;
	uint8_t *room = records ? b->buf + b->room : NULL;
	size_t n = 0, left = records ? max - b->nrec : SIZE_MAX;
	struct ms_rec_fast f;
	size_t len;

	while (p < end && n < left && w <= room &&
	       (len = ms_rec_decode_fast(&st, p, end, &f))) {
		p += len;
		n++;
		if (counts)
			ms_arc_count(&c, f.type, f.size, f.weight, 0);
		if (records)
			w = ms_arc_item_put_fast(
				w,
				it->have_clock ? ms_timebase_ns(&tb, f.ts)
					       : to_ns(it, f.ts),
				&f);
	}
	it->pos = (size_t)(p - it->fr.data);
	it->st = st;
	it->decoded += (uint32_t)n;
	it->c = c;
	if (records) {
		b->len = (size_t)(w - b->buf);
		b->nrec += n;
	}
}

/* Whether the batch being filled has taken what it may. */
static int batch_full(const struct ms_arc_iter *it, size_t max)
{
	const struct ms_arc_batch *b = it->notes;

	if (!b)
		return 0;
	return b->rc || ((it->mode & MS_ARC_FILL_RECORDS) &&
			 (b->nrec >= max || b->len >= b->room));
}

int ms_arc_iter_fill(struct ms_arc_iter *it, struct ms_arc_batch *b,
		     unsigned mode, size_t max)
{
	int rc = 1;

	it->mode = mode;
	it->notes = b;
	while (!batch_full(it, max)) {
		if (it->in_frame) {
			fill_fast(it, b, max);
			if (batch_full(it, max))
				break;
		}
		rc = step(it);
		if (rc <= 0)
			break;
		if (rc == 1 && (mode & MS_ARC_FILL_RECORDS))
			ms_arc_batch_record(b, to_ns(it, it->ev.ts), &it->ev);
	}
	it->mode = 0;
	it->notes = NULL;
	if (b && b->rc)
		rc = b->rc;
	if (b && rc <= 0) {
		b->end = 1;
		b->rc = rc;
	}
	return rc > 0 ? 1 : rc;
}

int ms_arc_iter_first_clock(const struct ms_arc_iter *it,
			    struct ms_timebase *tb)
{
	if (it->clock_kept)
		*tb = it->kept;
	return it->clock_kept;
}

int ms_arc_iter_apply_clock(struct ms_arc_iter *it, uint64_t *ns)
{
	if (!it->clock_kept)
		return 0;
	clock_apply(it, it->kept.ref_ticks, it->kept.ref_ns, it->kept.hz);
	it->clock_kept = 0;
	*ns = to_ns(it, it->kept.ref_ticks);
	return 1;
}
