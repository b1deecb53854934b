/* SPDX-License-Identifier: MIT */
/*
 * Frame packing (common/pack.c). The first input byte picks the property:
 *   even: the rest are records; the packer's fast path for the hot
 *         records must agree with ms_rec_decode() on each of them, and
 *         when ms_pack() takes them, ms_unpack() must give them back byte
 *         for byte, but FREE records without their level (pack.h);
 *         packed a run at a time with a tap, as the consumer does, the
 *         same bytes come out, and the tap gets what it follows;
 *   odd:  the rest (after a 2-byte record length) are packed bytes;
 *         ms_unpack() must refuse or fill exactly that length, never
 *         more, never crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pack.h"
#include "record.h"

#define RAW_MAX 65536

static struct ms_packer *pk;
static uint8_t joined[16 * RAW_MAX + 256], back[RAW_MAX + 1], want[RAW_MAX];

/* The parts of packer `from`'s frame, one after another at `to` (of the
 * size of `joined`); their length. */
static size_t join_parts(const struct ms_packer *from, uint8_t *to)
{
	const uint8_t *const *part;
	const size_t *len;
	unsigned n = ms_pack_parts(from, &part, &len);
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		MS_FUZZ_CHECK(off + len[i] <= sizeof(joined));
		memcpy(to + off, part[i], len[i]);
		off += len[i];
	}
	return off;
}

static size_t join(void)
{
	return join_parts(pk, joined);
}

/* The packer's fast path on each record it would see (from zero state,
 * as ms_pack() reads a frame) agrees with the general decoder. */
static void hot_vs_general(const uint8_t *p, size_t len)
{
	static struct ms_event ev;
	struct ms_rec_state st = {0, 0};
	size_t pos = 0;
	ssize_t n;

	while (pos < len) {
		ms_fuzz_hot_agrees(&st, p + pos, len - pos);
		n = ms_rec_decode(&st, p + pos, len - pos, &ev);
		if (n <= 0)
			return;
		pos += (size_t)n;
	}
}

/*
 * The same records packed a run at a time with a tap of `cap` records
 * following at `bits` (pack.h), as the consumer's streams do: the packed
 * bytes are ms_pack()'s (`packed`, `npacked`), no run hands on more than
 * the tap's room or stops before a record it has room for, and what the
 * runs hand on is, in order, each ALLOC and FREE the runs take (those the
 * fast path reads) that ms_pack_tap_alloc() and ms_pack_tap_free() follow.
 */
static void tap_agrees(const uint8_t *raw, size_t len, unsigned bits,
		       size_t cap, const uint8_t *packed, size_t npacked)
{
	static struct ms_packer *pk2;
	static struct ms_tap_rec got[RAW_MAX / 3 + 1], rec[8];
	static uint8_t joined2[sizeof(joined)];
	struct ms_rec_state s = {0, 0}, w = {0, 0};
	const uint8_t *p = raw, *end = raw + len;
	size_t ngot = 0, k = 0, off;
	struct ms_event ev;

	if (!pk2 && !(pk2 = ms_packer_create()))
		abort();
	MS_FUZZ_CHECK(ms_pack_begin(pk2, len) == 0);
	while (p < end) {
		struct ms_pack_tap tap = {bits, rec, 0, cap};
		struct ms_rec_hot h;
		size_t f = ms_pack_run(pk2, &s, p, end, NULL, &tap);
		ssize_t r;

		MS_FUZZ_CHECK(tap.n <= cap);
		memcpy(got + ngot, rec, tap.n * sizeof(*rec));
		ngot += tap.n;
		p += f;
		if (p == end)
			break;
		/* stopped at a record the fast path does not read */
		MS_FUZZ_CHECK(f > 0 ||
			      !ms_rec_decode_hot(p, end, s.last_ts, &h));
		if (f)
			continue;
		r = ms_rec_decode(&s, p, (size_t)(end - p), &ev);
		MS_FUZZ_CHECK(r > 0 &&
			      ms_pack_other(pk2, p, (size_t)r, &ev) == 0);
		p += r;
	}
	MS_FUZZ_CHECK(ms_pack_end(pk2) == 0);
	off = join_parts(pk2, joined2);
	MS_FUZZ_CHECK(off == npacked && memcmp(joined2, packed, off) == 0);
	/* what should have been handed on */
	for (p = raw; p < end;) {
		struct ms_rec_hot h;
		int hot = ms_rec_decode_hot(p, end, w.last_ts, &h) > 0;
		ssize_t r = ms_rec_decode(&w, p, (size_t)(end - p), &ev);
		struct ms_tap_rec exp = {ev.ts, ev.addr, 0, 0, 0, MS_TAP_FREE};
		int kind;

		MS_FUZZ_CHECK(r > 0);
		p += r;
		if (!hot)
			continue;
		if (ev.type == MS_REC_FREE) {
			if (!ms_pack_tap_free(ev.addr, ev.flags, bits))
				continue;
		} else {
			kind = ms_pack_tap_alloc(ev.addr, ev.size, bits);
			if (kind < 0)
				continue;
			exp = (struct ms_tap_rec){
				ev.ts,
				ev.addr,
				ev.size,
				ev.weight,
				ev.stack_id > UINT32_MAX
					? UINT32_MAX
					: (uint32_t)ev.stack_id,
				(uint32_t)kind};
		}
		MS_FUZZ_CHECK(k < ngot);
		MS_FUZZ_CHECK(got[k].ts == exp.ts && got[k].addr == exp.addr &&
			      got[k].size == exp.size &&
			      got[k].weight == exp.weight &&
			      got[k].stack == exp.stack &&
			      got[k].kind == exp.kind);
		k++;
	}
	MS_FUZZ_CHECK(k == ngot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!pk && !(pk = ms_packer_create()))
		abort();
	if (size < 1 || size > RAW_MAX)
		return 0;
	if (!(data[0] & 1)) {
		const uint8_t *raw = data + 1;
		size_t len = size - 1, n;

		hot_vs_general(raw, len);
		if (ms_pack(pk, raw, len) != 0)
			return 0;
		n = join();
		/* bits 0-6 and a tap of 1-8 records, from the input's size */
		tap_agrees(raw, len, (unsigned)(len % 7), 1 + len % 8, joined,
			   n);
		MS_FUZZ_CHECK(ms_unpack(pk, joined, n, back, len) == 0);
		ms_fuzz_unpacked_form(raw, len, want);
		MS_FUZZ_CHECK(memcmp(back, want, len) == 0);
	} else if (size >= 3) {
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;
		int err;

		back[len] = 0xa5; /* a guard just past what may be written */
		err = ms_unpack(pk, data + 3, size - 3, back, len);
		MS_FUZZ_CHECK(err == 0 || err == -EBADMSG);
		MS_FUZZ_CHECK(back[len] == 0xa5);
	}
	return 0;
}

/* Emits the records at buf + 1 (buf[0] = 0), then the same packed. */
static void emit_both(ms_fuzz_emit emit, void *arg, uint8_t *buf, size_t len)
{
	size_t n;
	uint8_t *q;

	buf[0] = 0;
	emit(buf, len, arg);
	if (!pk && !(pk = ms_packer_create()))
		abort();
	if (ms_pack(pk, buf + 1, len - 1) != 0)
		abort();
	n = join();
	q = malloc(n + 3);
	if (!q)
		abort();
	q[0] = 1;
	q[1] = (uint8_t)(len - 1);
	q[2] = (uint8_t)((len - 1) >> 8);
	memcpy(q + 3, joined, n);
	emit(q, n + 3, arg);
	free(q);
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static uint8_t buf[1 + 4096];
	struct ms_rec_state st = {0};
	static const uint64_t frames[2] = {0x401000, 0x402000};
	uint8_t *p = buf + 1;
	uint64_t ts = 100;

	p = ms_rec_put_sync(&st, p);
	p = ms_rec_put_clock(&st, p, 10, 99, 1000);
	p = ms_rec_put_stack(&st, p, 11, 1, frames, 2);
	for (uint64_t k = 0; k < 40; k++) {
		p = ms_rec_put_alloc(&st, p, 20 + k, 0x10000 + 0x40 * (k % 7),
				     16 * (k % 5) + 8, k == 3 ? 64 : 0, 1,
				     k == 5 ? 3 * MS_WEIGHT_ONE
					    : MS_WEIGHT_ONE);
		if (k % 3) /* some flagged small, as the agent flags them */
			p = ms_rec_put_free_flags(&st, p, 21 + k,
						  0x10000 + 0x40 * (k % 7),
						  k % 2 ? MS_RECF_SMALL : 0);
	}
	p = ms_rec_put_realloc(&st, p, 90, 0x10000, 0x20000, 100, 1,
			       MS_WEIGHT_ONE);
	p = ms_rec_put_lost(&st, p, 91, 4, 0);
	emit_both(emit, arg, buf, (size_t)(p - buf));
	/* values that take the high columns of packing version 2: time
	 * deltas, addresses and distances of two bytes and more */
	st = (struct ms_rec_state){0};
	p = buf + 1;
	p = ms_rec_put_sync(&st, p);
	for (uint64_t k = 0; k < 150; k++) {
		ts += k % 3 ? 300 : 70000;
		p = ms_rec_put_alloc(&st, p, ts, 0x55d84b000000 + 0x1230 * k,
				     24, 0, 1, MS_WEIGHT_ONE);
		if (k % 4 == 3)
			p = ms_rec_put_free(&st, p, ts + 200,
					    0x55d84b000000 + 0x1230 * (k / 2));
		if (k % 9 == 8)
			p = ms_rec_put_free(&st, p, ts + 9000,
					    0x7f0000000000 + 0x10 * k);
	}
	emit_both(emit, arg, buf, (size_t)(p - buf));
	/* REALLOCs in each form packing version 3 has: in place, moved with
	 * the old block named and later reused, moved into a block just
	 * freed, of a block the frame never saw, weighted */
	st = (struct ms_rec_state){0};
	p = buf + 1;
	p = ms_rec_put_sync(&st, p);
	for (uint64_t k = 0; k < 60; k++) {
		uint64_t a = 0x55d84b000000 + 0x100 * (k % 9);

		ts += 40 + k;
		p = ms_rec_put_alloc(&st, p, ts, a, 24, 0, 1, MS_WEIGHT_ONE);
		p = ms_rec_put_realloc(&st, p, ts + 1, a,
				       k % 2 ? a : a + 0x10000, 40 + k, 2,
				       k % 7 ? MS_WEIGHT_ONE : 5);
		p = ms_rec_put_free(&st, p, ts + 2, k % 2 ? a : a + 0x10000);
		if (k % 5 == 4)
			p = ms_rec_put_realloc(&st, p, ts + 3,
					       0x7f0000000000 + k, a, 24, 3,
					       MS_WEIGHT_ONE);
	}
	emit_both(emit, arg, buf, (size_t)(p - buf));
}
