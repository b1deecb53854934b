/* SPDX-License-Identifier: MIT */
/*
 * One thread's stream: its segments in order, each frame decoded from the
 * SYNC record that opens it, ticks turned into ns with the stream's CLOCK
 * records, stack ids resolved with its STACK records.
 */
#include "archive_iter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "archive_scan.h"
#include "clock.h"
#include "segment.h"
#include "segment_abi.h"

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
};

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

/* Opens the next segment; 0 when there is none left. */
static int open_segment(struct ms_arc_iter *it)
{
	const struct ms_arc_seg *s;
	const struct ms_seg_info *info;
	int err;

	while (it->seg < it->t->nsegs) {
		s = &it->t->segs[it->seg++];
		err = ms_seg_open(s->path, &it->r);
		if (err == -EBADMSG) {
			ms_archive_error(it->a, s->path, 1, 0,
					 "not a segment file (bad or short "
					 "header, %llu bytes)",
					 (unsigned long long)s->size);
			continue;
		}
		if (err) {
			ms_archive_error(it->a, s->path, 0, 0,
					 "cannot read: %s", strerror(-err));
			continue;
		}
		it->path = s->path;
		info = ms_seg_reader_info(it->r);
		if (info->pid != it->t->pid || info->tid != it->t->tid ||
		    info->seq != s->seq)
			ms_archive_error(it->a, s->path, 1, 0,
					 "header says pid %u tid %u segment "
					 "%u; read as named",
					 info->pid, info->tid, info->seq);
		it->seg_hz = info->tick_hz;
		return 1;
	}
	return 0;
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
		ms_archive_error(it->a, it->path, 0, 0, "%s",
				 ms_seg_error(it->r));
		return -1;
	}
	it->c.frames++;
	it->c.raw_bytes += it->fr.len;
	it->a->bytes_read += MS_SEG_FRAME_HDR_SIZE + it->fr.comp_size;
	if (it->a->on_progress)
		it->a->on_progress(it->a, it->a->on_progress_arg);
	n = ms_rec_decode(&st, it->fr.data, it->fr.len, &it->ev);
	if (n < 0 || it->ev.type != MS_REC_SYNC) {
		ms_archive_error(it->a, it->path, 1, it->fr.offset,
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
		ms_archive_error(it->a, it->path, 1, it->fr.offset,
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
		ms_archive_error(it->a, it->path, 1, it->fr.offset,
				 "THREAD_START says pid %llu tid %llu",
				 (unsigned long long)ev->pid,
				 (unsigned long long)ev->tid);
}

/* The archive's time base (archive.h), or the stream's own rate. */
static void clock_record(struct ms_arc_iter *it, const struct ms_event *ev)
{
	struct ms_archive *a = it->a;

	if (!a->tb_set) {
		ms_timebase_set(&a->tb, ev->ts, ev->mono_ns, ev->tick_hz);
		a->tb_set = 1;
	}
	it->have_clock = 1;
	if (ev->tick_hz == a->tb.hz) {
		it->tb = &a->tb;
		return;
	}
	ms_timebase_set(&it->own, ev->ts, ev->mono_ns, ev->tick_hz);
	it->tb = &it->own;
}

/* Updates the stream's state and counts with one record. */
static int apply(struct ms_arc_iter *it, const struct ms_event *ev)
{
	ms_arc_count_event(&it->c, ev);
	switch (ev->type) {
	case MS_REC_CLOCK:
		clock_record(it, ev);
		break;
	case MS_REC_STACK:
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
			ms_archive_error(
				it->a, it->path, 1, it->fr.offset,
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

int ms_arc_iter_next(struct ms_arc_iter *it, const struct ms_arc_event **out)
{
	int rc;

	for (;;) {
		if (!it->r && !open_segment(it))
			return 0;
		if (!it->in_frame) {
			rc = load_frame(it);
			if (rc == 0) {
				ms_seg_close(it->r);
				it->r = NULL;
			}
			continue;
		}
		if (!frame_record(it))
			continue;
		if (apply(it, &it->ev))
			return -ENOMEM;
		fill_out(it);
		*out = &it->out;
		return 1;
	}
}
