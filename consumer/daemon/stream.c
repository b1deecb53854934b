/* SPDX-License-Identifier: MIT */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "clock.h"
#include "live.h"
#include "pack.h"
#include "ring_abi.h"
#include "segment.h"
#include "segment_abi.h"

/* Stack ids are dense per thread; callers beyond this are not kept. */
#define MS_STACK_CACHE_MAX (1u << 20)

struct ms_stack_cache {
	uint64_t *caller; /* indexed by stack id */
	uint32_t *site;	  /* the live heap's site, when there is one */
	size_t cap;
};

struct spare {
	uint8_t *buf;
	size_t cap;
	struct ms_packer *pk;
	uint64_t ns; /* when its stream ended */
};

/* v[0 .. n) in the order they were left: the oldest first */
struct ms_stream_spares {
	size_t n;
	struct spare v[MS_STREAM_SPARES];
};

struct ms_stream_spares *ms_stream_spares_create(void)
{
	return calloc(1, sizeof(struct ms_stream_spares));
}

static void spare_free(struct spare *sp)
{
	free(sp->buf);
	ms_packer_destroy(sp->pk);
}

size_t ms_stream_spares_expire(struct ms_stream_spares *sp, uint64_t now_ns,
			       uint64_t max_age_ns)
{
	size_t k = 0;

	if (!sp)
		return 0;
	while (k < sp->n && now_ns > sp->v[k].ns &&
	       now_ns - sp->v[k].ns > max_age_ns)
		spare_free(&sp->v[k++]);
	sp->n -= k;
	memmove(sp->v, sp->v + k, sp->n * sizeof(sp->v[0]));
	return k;
}

void ms_stream_spares_destroy(struct ms_stream_spares *sp)
{
	if (!sp)
		return;
	while (sp->n)
		spare_free(&sp->v[--sp->n]);
	free(sp);
}

/* The latest spare, whose memory is the likeliest still in the cache. */
static void spare_take(struct ms_stream *s)
{
	struct ms_stream_spares *sp = s->cfg.spares;
	struct spare v;

	if (!sp || !sp->n)
		return;
	v = sp->v[--sp->n];
	if (v.cap != s->cap) { /* not the same frame size */
		spare_free(&v);
		return;
	}
	s->buf = v.buf;
	s->pk = v.pk;
}

static void spare_leave(struct ms_stream *s)
{
	struct ms_stream_spares *sp = s->cfg.spares;

	if (!sp || !s->buf) {
		free(s->buf);
		ms_packer_destroy(s->pk);
		return;
	}
	if (sp->n == MS_STREAM_SPARES) {
		spare_free(&sp->v[0]);
		memmove(sp->v, sp->v + 1, --sp->n * sizeof(sp->v[0]));
	}
	if (s->pk)
		ms_packer_recycle(s->pk);
	sp->v[sp->n++] = (struct spare){s->buf, s->cap, s->pk, ms_mono_ns()};
}

int ms_stream_init(struct ms_stream *s, const struct ms_stream_cfg *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	snprintf(s->dir, sizeof(s->dir), "%s", cfg->dir);
	s->cfg.dir = s->dir;
	/* Room for one whole record beyond the target, and the SYNC. */
	s->cap = cfg->frame_target + MS_REC_MAX + 2 * MS_VARINT_MAX + 16;
	if (s->cap > MS_SEG_FRAME_RAW_MAX)
		s->cap = MS_SEG_FRAME_RAW_MAX;
	spare_take(s);
	if (!s->buf)
		s->buf = malloc(s->cap);
	s->stacks = calloc(1, sizeof(*s->stacks));
	/* Without a packer the writer packs each frame at flush, a second
	 * pass over it. */
	if (!s->pk)
		s->pk = ms_packer_create();
	if (!s->buf || !s->stacks) {
		spare_leave(s);
		free(s->stacks);
		s->buf = NULL;
		s->pk = NULL;
		s->stacks = NULL;
		return -ENOMEM;
	}
	s->live_thr = cfg->live ? ms_live_thread(cfg->live, cfg->tid) : -1;
	s->seq = cfg->first_seq;
	return 0;
}

static int stack_grow(struct ms_stack_cache *c, uint64_t id)
{
	size_t cap = c->cap ? c->cap : 256;
	uint64_t *n;
	uint32_t *s;

	while (cap <= id)
		cap *= 2;
	n = realloc(c->caller, cap * sizeof(*n));
	if (!n)
		return -1;
	c->caller = n;
	s = realloc(c->site, cap * sizeof(*s));
	if (!s)
		return -1;
	c->site = s;
	memset(n + c->cap, 0, (cap - c->cap) * sizeof(*n));
	memset(s + c->cap, 0, (cap - c->cap) * sizeof(*s));
	c->cap = cap;
	return 0;
}

static void stack_put(struct ms_stream *s, const struct ms_event *e)
{
	struct ms_stack_cache *c = s->stacks;
	uint64_t id = e->stack_id;

	if (id == 0 || id >= MS_STACK_CACHE_MAX)
		return;
	if (id >= c->cap && stack_grow(c, id) < 0)
		return;
	c->caller[id] = e->nframes ? e->frames[0] : 0;
	if (s->cfg.live)
		c->site[id] = ms_live_site(s->cfg.live, e->frames, e->nframes);
}

static uint64_t stack_get(const struct ms_stack_cache *c, uint64_t id)
{
	return id < c->cap ? c->caller[id] : 0;
}

/* Opens the next free <tid>-<n>.mseg; never overwrites an existing file. */
static int open_segment(struct ms_stream *s)
{
	struct ms_seg_info info = {
		.pid = s->cfg.pid,
		.tid = s->cfg.tid,
		.tick_hz = s->cfg.tick_hz,
	};
	char path[4300];
	int err;

	for (int tries = 0; tries < 100000; tries++) {
		info.seq = s->seq++;
		ms_seg_path(path, sizeof(path), s->dir, s->cfg.tid, info.seq);
		err = ms_seg_create(path, &info, s->cfg.level, &s->w);
		if (err != -EEXIST)
			break;
	}
	if (err)
		return err;
	s->w_seq = info.seq;
	s->n.segments++;
	s->n.disk_bytes += ms_seg_file_size(s->w);
	return 0;
}

static int close_segment(struct ms_stream *s)
{
	int err = ms_seg_finish(s->w);

	s->w = NULL;
	s->n.disk_bytes += MS_SEG2_END_SIZE;
	if (!err && s->cfg.on_finished)
		s->cfg.on_finished(s->cfg.small_ctx, s->w_seq);
	return err;
}

/*
 * The open frame could not be written: its records leave the counts, and
 * its events (with the losses its LOST records carried) wait in disk_lost
 * for a LOST record of cause DISK in a frame that is written.
 */
static void discard_frame(struct ms_stream *s)
{
	const struct ms_stream_counts *f = &s->f0;
	uint64_t events = (s->n.allocs - f->allocs) + (s->n.frees - f->frees) -
			  (s->n.reallocs - f->reallocs);

	s->disk_discarded += events;
	s->disk_lost += events + (s->n.dropped - f->dropped);
	s->n.records = f->records;
	s->n.allocs = f->allocs;
	s->n.frees = f->frees;
	s->n.reallocs = f->reallocs;
	s->n.weighted = f->weighted;
	s->n.dropped = f->dropped;
	s->n.wsize = f->wsize;
	s->len = 0;
	s->count = 0;
}

/* Errors of the file system, not of the data: the stream goes on. */
static int storage_error(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EIO ||
	       err == -EFBIG || err == -EROFS || err == -EMFILE ||
	       err == -ENFILE || err == -ENOMEM;
}

static int write_open_frame(struct ms_stream *s)
{
	if (s->pk && ms_pack_end(s->pk) == 0)
		return ms_seg_write_packed(s->w, s->buf, s->len, s->pk,
					   s->count, s->first_ts, s->last_ts);
	return ms_seg_write_frame(s->w, s->buf, s->len, s->count, s->first_ts,
				  s->last_ts);
}

int ms_stream_flush(struct ms_stream *s)
{
	uint64_t before, now;
	int err = 0;

	if (s->count == 0) {
		s->len = 0; /* a lone SYNC carries nothing */
		return 0;
	}
	now = s->disk_err ? ms_mono_ns() : 0;
	if (s->disk_err && now < s->disk_retry_ns) {
		discard_frame(s);
		return 0;
	}
	if (!s->w)
		err = open_segment(s);
	before = s->w ? ms_seg_file_size(s->w) : 0;
	if (!err)
		err = write_open_frame(s);
	if (err && storage_error(err)) {
		/* The program must never wait for a disk: drain on and count
		 * what cannot be kept. The segment keeps its whole frames;
		 * the next try opens a new one. */
		if (s->w)
			(void)close_segment(s);
		s->disk_err = err;
		s->disk_retry_ns = (now ? now : ms_mono_ns()) + 1000000000u;
		discard_frame(s);
		return 0;
	}
	if (err)
		return err;
	s->disk_err = 0;
	s->n.disk_bytes += ms_seg_file_size(s->w) - before;
	s->n.raw_bytes += s->len;
	s->n.frames++;
	s->len = 0;
	s->count = 0;
	if (ms_seg_file_size(s->w) >= s->cfg.seg_max)
		return close_segment(s);
	return 0;
}

/* Appends a LOST record to the open frame (room for it is the caller's
 * to make) and counts it. */
static void put_lost(struct ms_stream *s, uint64_t count, uint64_t cause)
{
	uint8_t *end = ms_rec_put_lost(&s->dec, s->buf + s->len, s->dec.last_ts,
				       count, cause);

	if (s->pk) {
		struct ms_event lost = {.type = MS_REC_LOST};

		ms_pack_other(s->pk, s->buf + s->len,
			      (size_t)(end - (s->buf + s->len)), &lost);
	}
	if (s->count == 0)
		s->first_ts = s->dec.last_ts;
	s->last_ts = s->dec.last_ts;
	s->len = (size_t)(end - s->buf);
	s->count++;
	s->n.records++;
	s->n.dropped += count;
}

static void begin_frame(struct ms_stream *s)
{
	uint8_t *end = ms_rec_put_sync(&s->dec, s->buf);

	s->len = (size_t)(end - s->buf);
	if (s->pk && ms_pack_begin(s->pk, s->cap) < 0) {
		/* out of memory: from now on the writer packs at flush */
		ms_packer_destroy(s->pk);
		s->pk = NULL;
	}
	if (s->pk) {
		struct ms_event sync = {.type = MS_REC_SYNC};

		ms_pack_other(s->pk, s->buf, s->len, &sync);
	}
	s->count = 0;
	s->frame_open_ns = ms_mono_ns();
	s->f0 = s->n;
	/* What a full disk cost, said first in the next frame (and back to
	 * disk_lost if this frame cannot be written either). */
	if (s->disk_lost) {
		put_lost(s, s->disk_lost, MS_LOST_DISK);
		s->disk_lost = 0;
	}
}

static void tap_event(struct ms_stream *s, const struct ms_event *e,
		      ms_stream_tap_fn *tap, void *ctx)
{
	struct ms_tail_event t;

	memset(&t, 0, sizeof(t));
	t.ts_ns = s->clk_hz ? ms_ticks_to_ns(e->ts, s->clk_ticks, s->clk_ns,
					     s->clk_hz)
			    : 0;
	t.pid = s->cfg.pid;
	t.tid = s->cfg.tid;
	t.type = e->type;
	t.size = e->type == MS_REC_LOST ? e->count : e->size;
	t.addr = e->addr;
	t.old_addr = e->old_addr;
	t.caller = stack_get(s->stacks, e->stack_id);
	tap(ctx, &t);
}

/* Bookkeeping for one accepted record. */
static void account(struct ms_stream *s, const struct ms_event *e)
{
	switch (e->type) {
	case MS_REC_ALLOC:
		s->n.allocs++;
		s->n.weighted += e->weight != MS_WEIGHT_ONE;
		s->n.wsize += (unsigned __int128)e->size * e->weight;
		break;
	case MS_REC_FREE:
		s->n.frees++;
		break;
	case MS_REC_REALLOC:
		s->n.allocs++;
		s->n.weighted += e->weight != MS_WEIGHT_ONE;
		s->n.wsize += (unsigned __int128)e->size * e->weight;
		s->n.frees++;
		s->n.reallocs++;
		break;
	case MS_REC_LOST:
		s->n.dropped += e->count;
		break;
	case MS_REC_CLOCK:
		s->clk_ticks = e->ts;
		s->clk_ns = e->mono_ns;
		s->clk_hz = e->tick_hz;
		break;
	case MS_REC_STACK:
		stack_put(s, e);
		break;
	case MS_REC_THREAD_NAME:
		memcpy(s->name, e->str, e->str_len);
		s->name[e->str_len] = 0;
		break;
	case MS_REC_MODULE_LOAD:
	case MS_REC_MODULE_UNLOAD:
		if (s->cfg.on_module)
			s->cfg.on_module(s->cfg.ctx, e);
		break;
	default:
		break;
	}
	if (s->cfg.live && e->type != MS_REC_STACK && e->type != MS_REC_SYNC)
		ms_live_event(s->cfg.live, s->live_thr, e,
			      e->stack_id < s->stacks->cap
				      ? s->stacks->site[e->stack_id]
				      : 0);
}

/* Records the packer hands the live heap at most at a time (pack.h). */
#define MS_TAP_BATCH 1024

/*
 * The ALLOC and FREE records the packer hands the live heap, gathered
 * over its runs and applied a batch at a time: a run ends at a byte bound
 * (pack.c) after about 400 records, of which one in thirty or so is
 * handed on when the live heap follows few addresses, and ms_live_apply()
 * fetches its table's slots ahead only within a batch. Applied before any
 * record the general decoder takes (it may end a block of the batch) and
 * at the end of what was copied.
 */
struct live_batch {
	struct ms_pack_tap tap;
	uint64_t records; /* the packer took, since the last apply */
	struct ms_tap_rec rec[MS_TAP_BATCH];
};

/* An empty batch, for the blocks the live heap follows now. */
static void live_begin(struct live_batch *b, const struct ms_live *l)
{
	b->tap = (struct ms_pack_tap){l->sel_bits, b->rec, 0, MS_TAP_BATCH};
	b->records = 0;
}

static void live_apply(struct ms_stream *s, struct live_batch *b)
{
	struct ms_live *l = s->cfg.live;

	if (!b || !b->records)
		return;
	ms_live_apply(l, s->live_thr, s->stacks->site, s->stacks->cap,
		      b->tap.rec, b->tap.n);
	ms_live_seen(l, b->records);
	ms_live_quiet(l, s->live_thr, s->dec.last_ts);
	live_begin(b, l); /* ms_live_seen() may have changed what it follows */
}

/*
 * The packer's run over [p, end); the records it takes go on to the live
 * heap when a client listens (`b`, else NULL). Returns the bytes taken.
 */
static size_t pack_run(struct ms_stream *s, const uint8_t *p,
		       const uint8_t *end, struct ms_pack_counts *c,
		       struct live_batch *b)
{
	size_t f;

	if (!b)
		return ms_pack_run(s->pk, &s->dec, p, end, c, NULL);
	f = ms_pack_run(s->pk, &s->dec, p, end, c, &b->tap);
	if (f)
		b->records += c->records;
	/* the next run's byte bound follows the room left (pack.c) */
	if (b->tap.n >= MS_TAP_BATCH / 2)
		live_apply(s, b);
	return f;
}

/* What the stream counted since `n0`, added to the live heap's counts
 * (live.h, struct ms_live_counted) of the process and of the thread. */
static void live_counted(struct ms_stream *s, const struct ms_stream_counts *n0)
{
	struct ms_live *l = s->cfg.live;
	uint64_t allocs = s->n.allocs - n0->allocs;
	unsigned __int128 wsize = s->n.wsize - n0->wsize;

	l->x.allocs += allocs;
	l->x.frees += s->n.frees - n0->frees;
	l->x.wsize += wsize;
	l->x_weighted += s->n.weighted - n0->weighted;
	if (s->live_thr >= 0) {
		l->thr[s->live_thr].x.allocs += allocs;
		l->thr[s->live_thr].x.wsize += wsize;
	}
}

/*
 * Decodes the copied bytes at buf[start, start + n); *kept gets the bytes of
 * whole valid records. Returns 0, or -EBADMSG at an invalid record.
 */
static int decode_copy(struct ms_stream *s, size_t start, size_t n,
		       size_t *kept, ms_stream_tap_fn *tap, void *ctx)
{
	struct ms_event ev;
	struct ms_live *l = s->cfg.live;
	const struct ms_stream_counts n0 = s->n;
	struct live_batch lb, *b = NULL;
	size_t off = 0;
	int err = 0;

	if (!tap && s->pk && l && l->on) {
		live_begin(&lb, l);
		b = &lb;
	}
	while (off < n) {
		const uint8_t *p = s->buf + start + off;
		struct ms_rec_state before;
		ssize_t k;

		if (!tap && s->pk) {
			/* the packer checks and packs ALLOC and FREE at once */
			struct ms_pack_counts c;
			size_t f = pack_run(s, p, s->buf + start + n, &c, b);

			if (f) {
				if (s->count == 0)
					s->first_ts = c.first_ts;
				s->count += (uint32_t)c.records;
				s->last_ts = s->dec.last_ts;
				s->n.records += c.records;
				s->n.allocs += c.allocs;
				s->n.weighted += c.weighted;
				s->n.wsize += c.wsize;
				s->n.frees += c.frees;
				off += f;
				continue;
			}
		}
		live_apply(s, b); /* this record may end a block of the batch */
		before = s->dec;
		k = ms_rec_decode(&s->dec, p, n - off, &ev);
		if (k == -ENODATA)
			break;
		if (k < 0) {
			err = (int)k;
			break;
		}
		/* An ALLOC or FREE goes to its columns even when a live view
		 * made us decode it here; anything else as it is. */
		if (s->pk && ms_pack_run(s->pk, &before, p, p + k, NULL,
					 NULL) != (size_t)k)
			ms_pack_other(s->pk, p, (size_t)k, &ev);
		if (s->count == 0)
			s->first_ts = ev.ts;
		s->last_ts = ev.ts;
		s->count++;
		s->n.records++;
		account(s, &ev);
		if (tap && ev.type != MS_REC_SYNC && ev.type != MS_REC_STACK)
			tap_event(s, &ev, tap, ctx);
		off += (size_t)k;
	}
	live_apply(s, b);
	if (l && l->on)
		live_counted(s, &n0);
	*kept = off;
	return err;
}

ssize_t ms_stream_feed(struct ms_stream *s, const uint8_t *p, size_t len,
		       ms_stream_tap_fn *tap, void *tap_ctx)
{
	size_t done = 0;
	int err;

	if (s->err)
		return s->err;
	while (done < len) {
		size_t room, n, start, kept, avail = len - done;

		if (s->len >= s->cfg.frame_target) {
			err = ms_stream_flush(s);
			if (err)
				return err;
		}
		if (s->len == 0)
			begin_frame(s);
		start = s->len;
		room = s->cap - start;
		n = avail < room ? avail : room;
		memcpy(s->buf + start, p + done, n);
		err = decode_copy(s, start, n, &kept, tap, tap_ctx);
		s->len += kept;
		done += kept;
		if (!err && kept < n && n - kept >= MS_REC_MAX)
			err = -EBADMSG; /* no record is that long */
		if (err) {
			s->err = err;
			return err;
		}
		/*
		 * A partial record at the end of what the producer published
		 * waits for the rest; one cut by the frame's room is taken
		 * whole into the next frame.
		 */
		if (kept < n && n == avail)
			break;
	}
	return (ssize_t)done;
}

/* A record's time is taken before it is committed: a thread preempted in
 * between commits a little in the past. */
#define MS_QUIET_GRACE_NS 200000000u

void ms_stream_quiet(struct ms_stream *s, uint64_t now_ns)
{
	uint64_t ticks;

	if (!s->clk_hz || s->live_thr < 0 ||
	    now_ns < s->clk_ns + MS_QUIET_GRACE_NS)
		return;
	ticks = s->clk_ticks +
		(uint64_t)((unsigned __int128)(now_ns - MS_QUIET_GRACE_NS -
					       s->clk_ns) *
			   s->clk_hz / 1000000000u);
	ms_live_quiet(s->cfg.live, s->live_thr, ticks);
}

static int put_small(struct ms_stream *s, int ending);

int ms_stream_tick(struct ms_stream *s, uint64_t now_ns, uint64_t max_age_ns)
{
	/* `now` may predate a frame opened since (the poller reads the
	 * clock once a pass): that frame is young, not 2^64 ns old. */
	if (s->count && now_ns > s->frame_open_ns &&
	    now_ns - s->frame_open_ns >= max_age_ns)
		return put_small(s, 0) == 0 ? 0 : ms_stream_flush(s);
	return 0;
}

void ms_stream_counts_sub(struct ms_stream_counts *out,
			  const struct ms_stream_counts *n,
			  const struct ms_stream_counts *f)
{
	*out = (struct ms_stream_counts){
		.records = n->records - f->records,
		.allocs = n->allocs - f->allocs,
		.frees = n->frees - f->frees,
		.dropped = n->dropped - f->dropped,
		.raw_bytes = n->raw_bytes - f->raw_bytes,
		.disk_bytes = n->disk_bytes - f->disk_bytes,
		.frames = n->frames - f->frames,
		.segments = n->segments - f->segments,
		.reallocs = n->reallocs - f->reallocs,
		.weighted = n->weighted - f->weighted,
		.wsize = n->wsize - f->wsize,
		.unwritten = n->unwritten - f->unwritten,
	};
}

void ms_stream_counts_add(struct ms_stream_counts *to,
			  const struct ms_stream_counts *d)
{
	to->records += d->records;
	to->allocs += d->allocs;
	to->frees += d->frees;
	to->dropped += d->dropped;
	to->raw_bytes += d->raw_bytes;
	to->disk_bytes += d->disk_bytes;
	to->frames += d->frames;
	to->segments += d->segments;
	to->reallocs += d->reallocs;
	to->weighted += d->weighted;
	to->wsize += d->wsize;
	to->unwritten += d->unwritten;
}

/*
 * A small open frame of a stream that has written no file goes to
 * cfg.put_small as a segment of its own, the records stored as they are:
 * when the stream ends (`ending`), or when the age bound closes it, at
 * most MS_STREAM_PARTS_MAX times. Returns 0 when it was taken.
 */
static int put_small(struct ms_stream *s, int ending)
{
	struct ms_seg_info info = {
		.pid = s->cfg.pid,
		.tid = s->cfg.tid,
		.seq = s->seq,
		.tick_hz = s->cfg.tick_hz,
	};
	uint8_t seg[MS_BUNDLE_STREAM_MAX + MS_SEG_STORED_EXTRA];
	struct ms_stream_counts before;
	char path[4300];
	size_t n;

	if (!s->cfg.put_small || s->n.segments != s->parts || !s->count ||
	    s->disk_err || s->len > MS_BUNDLE_STREAM_MAX ||
	    (!ending && s->parts >= MS_STREAM_PARTS_MAX))
		return -1;
	/* Past the files of this thread id that the numbers kept do not
	 * know (an archive directory written to before), as open_segment()
	 * goes past them. */
	for (int tries = 0; tries < 100000; tries++, info.seq++) {
		ms_seg_path(path, sizeof(path), s->dir, s->cfg.tid, info.seq);
		if (access(path, F_OK) < 0 && errno == ENOENT)
			break;
	}
	n = ms_seg_put_stored(seg, &info, s->buf, s->len, s->count, s->first_ts,
			      s->last_ts);
	/* counted before: the taker keeps the stream's counts with it */
	before = s->n;
	s->n.segments++;
	s->n.frames++;
	s->n.raw_bytes += s->len;
	if (s->cfg.put_small(s->cfg.small_ctx, info.seq, seg, n)) {
		s->n = before;
		return -1;
	}
	s->seq = info.seq + 1;
	s->parts++;
	s->len = 0;
	s->count = 0;
	return 0;
}

int ms_stream_finish(struct ms_stream *s, uint64_t lost_pending)
{
	int err = 0, e2;

	/* The end is worth one more try at a full disk. */
	s->disk_retry_ns = 0;
	if (lost_pending || s->disk_lost) {
		if (s->len == 0 || s->len + 64 > s->cap) {
			err = ms_stream_flush(s);
			s->disk_retry_ns = 0;
			begin_frame(s); /* writes what disk_lost holds */
		}
		if (s->disk_lost) {
			put_lost(s, s->disk_lost, MS_LOST_DISK);
			s->disk_lost = 0;
		}
		if (lost_pending)
			put_lost(s, lost_pending, MS_LOST_FULL);
	}
	e2 = put_small(s, 1) == 0 ? 0 : ms_stream_flush(s);
	if (!err)
		err = e2;
	s->n.unwritten = s->disk_lost;
	if (s->w) {
		e2 = close_segment(s);
		if (!err)
			err = e2;
	}
	if (s->stacks) {
		free(s->stacks->caller);
		free(s->stacks->site);
	}
	if (s->cfg.live && s->live_thr >= 0)
		s->cfg.live->thr[s->live_thr].ended = 1;
	free(s->stacks);
	spare_leave(s);
	s->stacks = NULL;
	s->buf = NULL;
	s->pk = NULL;
	return err;
}
