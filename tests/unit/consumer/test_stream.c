/* SPDX-License-Identifier: MIT */
/*
 * consumer/daemon/stream.c: frame building from ring bytes, partial
 * records, the final LOST, rotation, and garbage input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "live.h"
#include "record.h"
#include "ring_abi.h"
#include "segment.h"
#include "segment_abi.h"
#include "stream.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ms-test-stream-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void cfg(struct ms_stream_cfg *c, size_t frame, uint64_t seg_max)
{
	memset(c, 0, sizeof(*c));
	c->dir = dir;
	c->pid = 7;
	c->tid = 8;
	c->tick_hz = 1000000000u;
	c->level = 1;
	c->frame_target = frame;
	c->seg_max = seg_max;
}

/* n (alloc, free) pairs with a fresh encoder state: a ring's bytes. */
static size_t make_events(uint8_t *buf, int n, uint64_t lost)
{
	struct ms_rec_state s = {0, 0};
	uint8_t *p = buf;

	p = ms_rec_put_clock(&s, p, 100, 5000, 1000000000u);
	p = ms_rec_put_thread_start(&s, p, 100, 7, 8);
	for (int i = 0; i < n; i++) {
		uint64_t a = 0x100000 + (uint64_t)i * 48;

		p = ms_rec_put_alloc(&s, p, 200 + (uint64_t)i * 3, a,
				     16 + (uint64_t)(i % 100), 0, 1 + i % 5,
				     MS_WEIGHT_ONE);
		p = ms_rec_put_free(&s, p, 201 + (uint64_t)i * 3, a);
	}
	if (lost)
		p = ms_rec_put_lost(&s, p, 999999, lost, MS_LOST_FULL);
	return (size_t)(p - buf);
}

struct counts {
	uint64_t records, allocs, frees, dropped, frames, segs;
};

/* Reads every segment in dir back through the segment reader. */
static void read_back(struct counts *c)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	memset(c, 0, sizeof(*c));
	assert_non_null(d);
	while ((e = readdir(d))) {
		struct ms_seg_reader *r;
		struct ms_seg_frame fr;
		char path[400];
		int k;

		if (!strstr(e->d_name, ".mseg"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(ms_seg_open(path, &r), 0);
		assert_true(ms_seg_finished(r));
		c->segs++;
		while ((k = ms_seg_next(r, &fr)) == 1) {
			struct ms_rec_state s = {0, 0};
			struct ms_event ev;
			size_t off = 0;
			uint32_t n = 0;

			c->frames++;
			while (off < fr.len) {
				ssize_t m = ms_rec_decode(&s, fr.data + off,
							  fr.len - off, &ev);
				assert_true(m > 0);
				if (off == 0)
					assert_int_equal(ev.type, MS_REC_SYNC);
				else
					n++;
				c->allocs += ev.type == MS_REC_ALLOC;
				c->frees += ev.type == MS_REC_FREE;
				if (ev.type == MS_REC_LOST)
					c->dropped += ev.count;
				off += (size_t)m;
			}
			assert_int_equal(n, fr.count);
			c->records += n;
		}
		assert_int_equal(k, 0);
		ms_seg_close(r);
	}
	closedir(d);
}

static void test_roundtrip_in_pieces(void **state)
{
	static uint8_t buf[1 << 20];
	size_t len = make_events(buf, 20000, 0), done = 0, step = 1;
	struct ms_stream_cfg c;
	struct ms_stream s;
	struct counts n;

	(void)state;
	cfg(&c, 16 << 10, 64 << 20);
	assert_int_equal(ms_stream_init(&s, &c), 0);
	/* Odd-sized pieces: records are cut anywhere and must wait whole. */
	while (done < len) {
		size_t give = len - done < step ? len - done : step;
		ssize_t k = ms_stream_feed(&s, buf + done, give, NULL, NULL);

		assert_true(k >= 0);
		done += (size_t)k;
		if ((size_t)k < give)
			step += 7; /* the tail was partial: offer more */
		else
			step = step * 3 % 1000 + 1;
	}
	assert_int_equal(s.n.allocs, 20000);
	assert_int_equal(s.n.frees, 20000);
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	read_back(&n);
	assert_int_equal(n.allocs, 20000);
	assert_int_equal(n.frees, 20000);
	assert_int_equal(n.records, 40002);
	assert_true(n.frames >= 8); /* ~170 KB in 16 KiB frames */
	assert_int_equal(n.segs, 1);
}

static void test_final_lost_and_rotation(void **state)
{
	static uint8_t buf[1 << 20];
	size_t len = make_events(buf, 30000, 17);
	struct ms_stream_cfg c;
	struct ms_stream s;
	struct counts n;

	(void)state;
	cfg(&c, 4 << 10, 1); /* every frame closes its segment */
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_int_equal(ms_stream_feed(&s, buf, len, NULL, NULL),
			 (ssize_t)len);
	assert_int_equal(ms_stream_finish(&s, 5), 0);
	read_back(&n);
	assert_int_equal(n.dropped, 22); /* the producer's 17 + final 5 */
	assert_int_equal(n.allocs, 30000);
	assert_int_equal(n.segs, n.frames);
	assert_true(n.segs > 10);
}

static void test_garbage_is_refused(void **state)
{
	uint8_t buf[4096];
	struct ms_stream_cfg c;
	struct ms_stream s;
	uint64_t seed = 12345;
	int refused = 0;

	(void)state;
	cfg(&c, 1 << 20, 64 << 20);
	for (int round = 0; round < 60; round++) {
		size_t good = make_events(buf, 10, 0);
		ssize_t k;

		for (size_t i = good; i < sizeof(buf); i++) {
			seed = seed * 6364136223846793005ull +
			       1442695040888963407ull;
			buf[i] = (uint8_t)(seed >> 56);
		}
		assert_int_equal(ms_stream_init(&s, &c), 0);
		k = ms_stream_feed(&s, buf, sizeof(buf), NULL, NULL);
		/* Either stops at bad bytes, or waits on a partial record. */
		assert_true(k == -EBADMSG || (k >= (ssize_t)good && k < 4096));
		refused += k == -EBADMSG;
		assert_true(s.n.allocs >= 10);
		/* A dead stream stays dead. */
		if (k < 0)
			assert_int_equal(
				ms_stream_feed(&s, buf, good, NULL, NULL), k);
		ms_stream_finish(&s, 0);
	}
	assert_true(refused > 45);
}

static void test_overlong_partial_is_refused(void **state)
{
	uint8_t buf[MS_REC_MAX + 16];
	struct ms_stream_cfg c;
	struct ms_stream s;

	(void)state;
	/* A varint that never ends looks partial; beyond MS_REC_MAX it
	 * cannot be a record. */
	memset(buf, 0x80, sizeof(buf));
	buf[0] = MS_REC_MODULE_LOAD;
	buf[1] = 1;
	buf[2] = 1;
	buf[3] = 1;
	buf[4] = 0;
	buf[5] = 0xff; /* path length: huge varint, cut off */
	cfg(&c, 1 << 20, 64 << 20);
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_true(ms_stream_feed(&s, buf, sizeof(buf), NULL, NULL) < 0);
	ms_stream_finish(&s, 0);
}

struct tapped {
	int allocs, frees, other;
	uint64_t last_caller;
};

static void tap(void *ctx, const struct ms_tail_event *ev)
{
	struct tapped *t = ctx;

	if (ev->type == MS_REC_ALLOC) {
		t->allocs++;
		t->last_caller = ev->caller;
	} else if (ev->type == MS_REC_FREE) {
		t->frees++;
	} else {
		t->other++;
	}
	assert_int_equal(ev->pid, 7);
	assert_int_equal(ev->tid, 8);
}

static void test_tap_sees_events_and_callers(void **state)
{
	uint8_t buf[8192], *p = buf;
	struct ms_rec_state rs = {0, 0};
	uint64_t frames[3] = {0x401000, 0x402000, 0x403000};
	struct tapped t = {0};
	struct ms_stream_cfg c;
	struct ms_stream s;

	(void)state;
	p = ms_rec_put_clock(&rs, p, 1000, 1, 1000000000u);
	p = ms_rec_put_stack(&rs, p, 1000, 1, frames, 3);
	p = ms_rec_put_alloc(&rs, p, 1001, 0x5000, 64, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&rs, p, 1002, 0x5000);
	cfg(&c, 1 << 20, 64 << 20);
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_int_equal(ms_stream_feed(&s, buf, (size_t)(p - buf), tap, &t),
			 p - buf);
	assert_int_equal(t.allocs, 1);
	assert_int_equal(t.frees, 1);
	assert_int_equal(t.last_caller, 0x401000);
	ms_stream_finish(&s, 0);
}

/*
 * Frames are packed as the stream checks them, with or without a live view
 * (which decodes every record itself): every frame is stored packed, and
 * reading the archive back gives the ring's bytes exactly, odd records
 * (non-canonical, REALLOC, weights, alignment) included.
 */
/*
 * An ended stream leaves its frame buffer and packer to the next one
 * (stream.h, spares), whose archive is exact; spares are freed once old,
 * and at most MS_STREAM_SPARES are kept.
 */
static void test_spares_reused(void **state)
{
	static uint8_t ring[64 << 10];
	struct ms_stream_spares *sp = ms_stream_spares_create();
	struct ms_stream_cfg c;
	struct ms_stream s, *many;
	struct counts n;
	size_t len = make_events(ring, 1000, 0);
	uint8_t *buf;
	uint64_t t0 = ms_mono_ns();

	(void)state;
	assert_non_null(sp);
	cfg(&c, 4096, 64 << 20);
	c.spares = sp;
	assert_int_equal(ms_stream_init(&s, &c), 0);
	buf = s.buf;
	assert_int_equal(ms_stream_feed(&s, ring, len, NULL, NULL), len);
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	/* the next stream starts with the memory the last one left */
	c.tid = 9;
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_ptr_equal(s.buf, buf);
	assert_int_equal(ms_stream_feed(&s, ring, len, NULL, NULL), len);
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	read_back(&n);
	assert_int_equal(n.allocs, 2000);
	assert_int_equal(n.frees, 2000);
	assert_int_equal(n.records, 2 * (2 + 2000));
	/* kept while young, freed once old */
	assert_int_equal(ms_stream_spares_expire(sp, t0, 10000000000ull), 0);
	assert_int_equal(ms_stream_spares_expire(sp, ms_mono_ns() + 2000000000u,
						 1000000000u),
			 1);
	assert_int_equal(ms_stream_spares_expire(sp, UINT64_MAX, 0), 0);
	/* the oldest go beyond MS_STREAM_SPARES */
	many = calloc(MS_STREAM_SPARES + 8, sizeof(*many));
	assert_non_null(many);
	for (unsigned i = 0; i < MS_STREAM_SPARES + 8; i++) {
		c.tid = 100 + i;
		assert_int_equal(ms_stream_init(&many[i], &c), 0);
	}
	for (unsigned i = 0; i < MS_STREAM_SPARES + 8; i++)
		assert_int_equal(ms_stream_finish(&many[i], 0), 0);
	assert_int_equal(ms_stream_spares_expire(sp, UINT64_MAX, 0),
			 MS_STREAM_SPARES);
	free(many);
	ms_stream_spares_destroy(sp);
}

static void test_packed_exactly(void **state)
{
	static uint8_t ring[1 << 20], got[1 << 20];
	struct ms_rec_state rs = {0, 0};
	struct tapped t = {0};
	uint8_t *p = ring;
	size_t len, done = 0, glen = 0, step = 1;
	struct ms_stream_cfg c;
	struct ms_stream s;
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	char path[400];
	uint8_t fh[MS_SEG2_F_VARINTS + 1]; /* codecs < 128: one byte */
	FILE *f;
	int k, i = 0, packed = 0, frames = 0;

	(void)state;
	p = ms_rec_put_clock(&rs, p, 100, 5000, 1000000000u);
	for (uint64_t n = 0; n < 30000; n++) {
		uint64_t a = 0x7f0000100000ull + (n * 7919 % 512) * 64;

		p = ms_rec_put_alloc(&rs, p, 200 + n * 3, a, 24 + n % 200,
				     n % 97 == 0 ? 64 : 0, 1 + n % 3,
				     n % 5 ? MS_WEIGHT_ONE : 3 * MS_WEIGHT_ONE);
		if (n % 1000 ==
		    7) { /* a FREE with a two-byte time delta of 1 */
			*p++ = MS_REC_FREE;
			*p++ = 0x81;
			*p++ = 0x00;
			p = ms_put_varint(p, 0);
		} else if (n % 1000 == 8) {
			p = ms_rec_put_realloc(&rs, p, 200 + n * 3 + 1, a,
					       a + 0x100000, 99, 1,
					       MS_WEIGHT_ONE);
		} else {
			p = ms_rec_put_free(&rs, p, 200 + n * 3 + 1, a);
		}
	}
	len = (size_t)(p - ring);
	cfg(&c, 64 << 10, 64 << 20);
	assert_int_equal(ms_stream_init(&s, &c), 0);
	while (done < len) {
		size_t give = len - done < step ? len - done : step;
		/* a live view on every other piece */
		ssize_t n = ms_stream_feed(&s, ring + done, give,
					   i++ % 2 ? tap : NULL, &t);

		assert_true(n >= 0);
		done += (size_t)n;
		step = (size_t)n < give ? step + 7 : step * 5 % 3000 + 1;
	}
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	assert_true(t.allocs > 0);

	snprintf(path, sizeof(path), "%s/8-0.mseg", dir);
	assert_int_equal(ms_seg_open(path, &r), 0);
	while ((k = ms_seg_next(r, &fr)) == 1) {
		struct ms_rec_state st = {0, 0};
		struct ms_event ev;
		ssize_t m = ms_rec_decode(&st, fr.data, fr.len, &ev);

		assert_true(m > 0); /* the SYNC, then the ring's bytes */
		assert_int_equal(ev.type, MS_REC_SYNC);
		assert_true(glen + fr.len - (size_t)m <= sizeof(got));
		memcpy(got + glen, fr.data + m, fr.len - (size_t)m);
		glen += fr.len - (size_t)m;
		/* stored packed */
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fseek(f, (long)fr.offset, SEEK_SET), 0);
		assert_int_equal(fread(fh, 1, sizeof(fh), f), sizeof(fh));
		fclose(f);
		/* packed, unless the records through zstd were smaller */
		packed += fh[MS_SEG2_F_VARINTS] == MS_SEG_CODEC_PACKED;
		frames++;
	}
	assert_int_equal(k, 0);
	if (packed < frames - 1)
		fail_msg("%d of %d frames packed", packed, frames);
	ms_seg_close(r);
	assert_int_equal(glen, len);
	assert_memory_equal(got, ring, len);
}

/*
 * The live heap is fed as the stream packs: the records the packer hands
 * on are gathered over its runs and applied a batch at a time, before any
 * record the general decoder takes and at the end of each piece. After
 * every piece fed, in pieces of every length, the thread's figures are
 * exactly those of the whole records taken so far.
 */
static void test_live_fed_in_pieces(void **state)
{
	enum { N = 6000 };
	static uint8_t ring[1 << 18];
	static size_t end[2 * N + 2]; /* each record's end */
	static uint64_t alloc_b[2 * N + 2], free_b[2 * N + 2]; /* up to it */
	struct ms_rec_state rs = {0, 0};
	uint64_t ab = 0, fb = 0, ts = 200;
	size_t nrec = 1, done = 0, step = 1, len, k = 0; /* end[0]: none */
	struct ms_live *l = ms_live_create(7);
	struct ms_stream_cfg c;
	struct ms_stream s;
	uint8_t *p = ring;

	(void)state;
	assert_non_null(l);
	ms_live_enable(l, ms_mono_ns());
	l->exact = 1; /* else its rate here would have it follow fewer */
	p = ms_rec_put_clock(&rs, p, 100, 5000, 1000000000u);
	end[nrec++] = (size_t)(p - ring);
	for (uint64_t n = 0; n < N; n++) {
		uint64_t a = 0x7f0000000000ull + n * 64, size = 16 + n % 300;

		p = ms_rec_put_alloc(&rs, p, ts++, a, size, 0, 0,
				     MS_WEIGHT_ONE);
		ab += size;
		alloc_b[nrec] = ab;
		free_b[nrec] = fb;
		end[nrec++] = (size_t)(p - ring);
		if (n % 500 == 499) { /* moved: the general decoder's */
			p = ms_rec_put_realloc(&rs, p, ts++, a,
					       a + 0x10000000000ull, size + 1,
					       0, MS_WEIGHT_ONE);
			ab += size + 1;
			fb += size;
		} else if (n % 3 == 0) {
			p = ms_rec_put_free(&rs, p, ts++, a);
			fb += size;
		} else {
			continue;
		}
		alloc_b[nrec] = ab;
		free_b[nrec] = fb;
		end[nrec++] = (size_t)(p - ring);
	}
	len = (size_t)(p - ring);
	assert_true(len <= sizeof(ring));
	cfg(&c, 64 << 10, 64 << 20);
	c.live = l;
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_true(s.live_thr >= 0);
	while (done < len) {
		size_t give = len - done < step ? len - done : step;
		ssize_t n = ms_stream_feed(&s, ring + done, give, NULL, NULL);
		const struct ms_live_fig *f = &l->thr[s.live_thr].f;

		assert_true(n >= 0);
		done += (size_t)n;
		while (k + 1 < nrec && end[k + 1] <= done)
			k++;
		assert_int_equal(end[k], done); /* whole records */
		assert_int_equal(f->alloc_bytes, alloc_b[k]);
		assert_int_equal(f->free_bytes, free_b[k]);
		step = (size_t)n < give ? step + 7 : step * 5 % 9000 + 1;
	}
	assert_int_equal(l->thr[s.live_thr].f.alloc_bytes, ab);
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	ms_live_destroy(l);
}

/*
 * The age bound closes a frame open for a second, and only then: a tick
 * whose `now` was read before the frame began (the poller reads the clock
 * once per pass) must not see it as 2^64 ns old.
 */
static void test_tick_age(void **state)
{
	static uint8_t buf[1 << 16];
	size_t len = make_events(buf, 100, 0);
	struct ms_stream_cfg c;
	struct ms_stream s;
	uint64_t before = ms_mono_ns();
	struct counts n;

	(void)state;
	cfg(&c, 1 << 20, 64 << 20);
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_int_equal(ms_stream_feed(&s, buf, len, NULL, NULL),
			 (ssize_t)len);
	assert_int_equal(ms_stream_tick(&s, before, 1000000000u), 0);
	assert_int_equal(s.n.frames, 0); /* still open */
	assert_int_equal(
		ms_stream_tick(&s, s.frame_open_ns + 999999999u, 1000000000u),
		0);
	assert_int_equal(s.n.frames, 0);
	assert_int_equal(
		ms_stream_tick(&s, s.frame_open_ns + 1000000000u, 1000000000u),
		0);
	assert_int_equal(s.n.frames, 1); /* a second old: closed */
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	read_back(&n);
	assert_int_equal(n.frames, 1);
	assert_int_equal(n.allocs, 100);
}

/* What put_small() handed over. */
struct small {
	int calls;
	uint32_t seq;
	uint8_t seg[8192];
	size_t len;
};

static int take_small(void *ctx, uint32_t seq, const uint8_t *seg, size_t len)
{
	struct small *t = ctx;

	t->calls++;
	t->seq = seq;
	assert_true(len <= sizeof(t->seg));
	memcpy(t->seg, seg, len);
	t->len = len;
	return 0;
}

/*
 * A stream that ends within its one small frame hands its whole segment
 * over instead of writing a file, numbered past the files of its thread id
 * already there (and from cfg.first_seq); the segment reads back with
 * every record. A longer stream writes files as before.
 */
static void test_small_stream_handed_over(void **state)
{
	struct ms_stream_cfg c;
	struct ms_stream s;
	struct small t = {0};
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	uint8_t buf[65536];
	char path[160];
	size_t n = make_events(buf, 20, 0);
	FILE *f;

	(void)state;
	/* files 8-1.mseg and 8-2.mseg from before; numbers kept from 1 */
	for (int k = 1; k <= 2; k++) {
		snprintf(path, sizeof(path), "%s/8-%d.mseg", dir, k);
		f = fopen(path, "w");
		assert_non_null(f);
		fclose(f);
	}
	cfg(&c, 64 << 10, 1 << 20);
	c.put_small = take_small;
	c.small_ctx = &t;
	c.first_seq = 1;
	assert_int_equal(ms_stream_init(&s, &c), 0);
	assert_int_equal(ms_stream_feed(&s, buf, n, NULL, NULL), (ssize_t)n);
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.seq, 3);
	assert_int_equal(s.seq, 4);
	assert_int_equal(s.n.segments, 1);
	assert_int_equal(s.n.frames, 1);
	assert_int_equal(s.n.disk_bytes, 0); /* the bundle's, when written */
	assert_int_equal(ms_seg_open_mem(t.seg, t.len, &r), 0);
	assert_int_equal(ms_seg_reader_info(r)->seq, 3);
	assert_int_equal(ms_seg_reader_info(r)->tid, 8);
	assert_int_equal(ms_seg_next(r, &fr), 1);
	assert_int_equal(fr.count, s.n.records);
	assert_int_equal(fr.len, s.n.raw_bytes);
	assert_int_equal(ms_seg_next(r, &fr), 0);
	assert_true(ms_seg_finished(r));
	ms_seg_close(r);
	/* no file of its own */
	snprintf(path, sizeof(path), "%s/8-3.mseg", dir);
	assert_int_equal(access(path, F_OK), -1);

	/* more than one frame (fed in pieces, as a poller visits): files,
	 * not handed over */
	t.calls = 0;
	n = make_events(buf, 400, 0);
	cfg(&c, 256, 1 << 20);
	c.put_small = take_small;
	c.small_ctx = &t;
	assert_int_equal(ms_stream_init(&s, &c), 0);
	for (size_t done = 0; done < n;) {
		size_t give = n - done < 300 ? n - done : 300;
		ssize_t k = ms_stream_feed(&s, buf + done, give, NULL, NULL);

		assert_true(k > 0);
		done += (size_t)k;
	}
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	assert_int_equal(t.calls, 0);
	assert_true(s.n.frames > 1);
	snprintf(path, sizeof(path), "%s/8-0.mseg", dir);
	assert_int_equal(access(path, F_OK), 0);
}

/* What put_small() handed over, part by part. */
struct parts {
	int calls;
	uint32_t first_seq, last_seq;
	uint64_t records;
};

static int take_part(void *ctx, uint32_t seq, const uint8_t *seg, size_t len)
{
	struct parts *t = ctx;
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;

	if (t->calls++ == 0)
		t->first_seq = seq;
	else
		assert_int_equal(seq, t->last_seq + 1);
	t->last_seq = seq;
	assert_int_equal(ms_seg_open_mem(seg, len, &r), 0);
	assert_int_equal(ms_seg_reader_info(r)->seq, seq);
	while (ms_seg_next(r, &fr) == 1)
		t->records += fr.count;
	assert_true(ms_seg_finished(r));
	ms_seg_close(r);
	return 0;
}

/*
 * A stream that has written no file hands over each small frame the age
 * bound closes, numbered one after another, MS_STREAM_PARTS_MAX of them;
 * the next aged frame opens a file, and the stream's end goes there too.
 * Every record is in a part or in the file.
 */
static void test_small_parts_handed_over(void **state)
{
	static uint8_t buf[1 << 16];
	size_t n = make_events(buf, 1000, 0), done = 0;
	struct ms_stream_cfg c;
	struct ms_stream s;
	struct parts t = {0};
	struct counts back;
	int ticks = 0;

	(void)state;
	cfg(&c, 64 << 10, 1 << 20);
	c.put_small = take_part;
	c.small_ctx = &t;
	assert_int_equal(ms_stream_init(&s, &c), 0);
	while (done < n) {
		size_t give = n - done < 400 ? n - done : 400;
		ssize_t k = ms_stream_feed(&s, buf + done, give, NULL, NULL);

		assert_true(k > 0);
		done += (size_t)k;
		if (ticks++ <= MS_STREAM_PARTS_MAX)
			assert_int_equal(
				ms_stream_tick(&s,
					       s.frame_open_ns + 1000000000u,
					       1000000000u),
				0);
	}
	assert_true(ticks > MS_STREAM_PARTS_MAX + 1); /* more after it */
	assert_int_equal(t.calls, MS_STREAM_PARTS_MAX);
	assert_int_equal(s.parts, MS_STREAM_PARTS_MAX);
	assert_int_equal(t.first_seq, 0);
	assert_int_equal(s.n.segments, MS_STREAM_PARTS_MAX + 1); /* a file */
	assert_int_equal(ms_stream_finish(&s, 0), 0);
	assert_int_equal(t.calls, MS_STREAM_PARTS_MAX); /* not the end */
	read_back(&back);
	assert_int_equal(back.segs, 1);
	assert_int_equal(t.records + back.records, s.n.records);
	assert_int_equal(s.n.allocs, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_in_pieces, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spares_reused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_packed_exactly, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_final_lost_and_rotation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_overlong_partial_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tap_sees_events_and_callers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tick_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_fed_in_pieces, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_small_stream_handed_over,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_parts_handed_over,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
