/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "fuzz.h"
#include "record.h"
#include "ring_abi.h"

static uint8_t buf[MS_REC_MAX];
static struct ms_event ev;

/* Decodes exactly one record spanning [buf, end) with a fresh copy of `s0`. */
static void decode_one(const struct ms_rec_state *s0, const uint8_t *end)
{
	struct ms_rec_state s = *s0;
	size_t len = (size_t)(end - buf);

	assert_int_equal(ms_rec_decode(&s, buf, len, &ev), (ssize_t)len);
	/* every strict prefix is reported as cut off, never misread */
	for (size_t k = 0; k < len; k++) {
		struct ms_rec_state t = *s0;
		struct ms_event e2;

		assert_int_equal(ms_rec_decode(&t, buf, k, &e2), -ENODATA);
		assert_memory_equal(&t, s0, sizeof(t)); /* unchanged */
	}
}

static const uint64_t edge[] = {0,
				1,
				127,
				128,
				16383,
				16384,
				UINT32_MAX,
				(uint64_t)INT64_MAX,
				(uint64_t)INT64_MAX + 1,
				UINT64_MAX - 1,
				UINT64_MAX};

static void test_alloc_free_realloc_edges(void **state)
{
	(void)state;
	for (size_t i = 0; i < MS_ARRAY_SIZE(edge); i++) {
		for (size_t j = 0; j < MS_ARRAY_SIZE(edge); j++) {
			struct ms_rec_state s = {edge[j], edge[i]}, d = s;
			uint64_t a = edge[j], v = edge[i];
			uint8_t *e;

			e = ms_rec_put_alloc(&s, buf, edge[i] ? edge[i] : 0, a,
					     v, v, v, v ? v : 1);
			assert_true(e - buf <= MS_REC_SMALL_MAX);
			decode_one(&d, e);
			assert_int_equal(ev.type, MS_REC_ALLOC);
			assert_int_equal(ev.addr, a);
			assert_int_equal(ev.size, v);
			assert_int_equal(ev.stack_id, v);
			assert_int_equal(ev.align, v);
			assert_int_equal(ev.weight, v ? v : 1);
			assert_int_equal(ev.ts, s.last_ts);

			d = s;
			e = ms_rec_put_realloc(&s, buf, UINT64_MAX, v, a, v, v,
					       MS_WEIGHT_ONE);
			assert_true(e - buf <= MS_REC_SMALL_MAX);
			decode_one(&d, e);
			assert_int_equal(ev.type, MS_REC_REALLOC);
			assert_int_equal(ev.old_addr, v);
			assert_int_equal(ev.addr, a);
			assert_int_equal(ev.weight, MS_WEIGHT_ONE);
			assert_int_equal(ev.flags, 0);
			assert_int_equal(ev.ts, UINT64_MAX);

			d = s;
			e = ms_rec_put_free(&s, buf, 0, v);
			decode_one(&d, e);
			assert_int_equal(ev.type, MS_REC_FREE);
			assert_int_equal(ev.addr, v);
			assert_int_equal(ev.ts, UINT64_MAX); /* clamped */
		}
	}
}

static void test_stream_of_every_type(void **state)
{
	struct ms_rec_state s = {0, 0}, d = {0, 0};
	uint64_t frames[MS_STACK_MAX];
	uint8_t *p = buf;
	const uint8_t *q = buf;
	static const uint8_t bid[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	ssize_t k;

	(void)state;
	for (int i = 0; i < MS_STACK_MAX; i++)
		frames[i] = 0x400000 + (uint64_t)i * 0x1111 - (i & 1) * 0x10000;
	p = ms_rec_put_clock(&s, p, 1000, 123456789, 2900000000u);
	p = ms_rec_put_thread_start(&s, p, 1001, 4242, 4243);
	p = ms_rec_put_thread_name(&s, p, 1002, "worker-1", 8);
	p = ms_rec_put_module_load(&s, p, 1003, 0x7f00, 0x1000, bid, 20,
				   "/lib/libx.so", 12);
	p = ms_rec_put_stack(&s, p, 1004, 9, frames, MS_STACK_MAX);
	p = ms_rec_put_alloc(&s, p, 1005, 0x5000, 48, 64, 9, 3 * 65536);
	p = ms_rec_put_lost(&s, p, 1006, 17, MS_LOST_FULL);
	p = ms_rec_put_module_unload(&s, p, 1007, 0x7f00);
	p = ms_rec_put_thread_exit(&s, p, 1008);
	p = ms_rec_put_sync(&s, p);
	assert_true(p - buf < (ptrdiff_t)sizeof(buf));

#define NEXT(t)                                                                \
	do {                                                                   \
		k = ms_rec_decode(&d, q, (size_t)(p - q), &ev);                \
		assert_true(k > 0);                                            \
		q += k;                                                        \
		assert_int_equal(ev.type, (t));                                \
	} while (0)

	NEXT(MS_REC_CLOCK);
	assert_int_equal(ev.ts, 1000);
	assert_int_equal(ev.mono_ns, 123456789);
	assert_int_equal(ev.tick_hz, 2900000000u);
	NEXT(MS_REC_THREAD_START);
	assert_int_equal(ev.pid, 4242);
	assert_int_equal(ev.tid, 4243);
	NEXT(MS_REC_THREAD_NAME);
	assert_int_equal(ev.str_len, 8);
	assert_memory_equal(ev.str, "worker-1", 8);
	NEXT(MS_REC_MODULE_LOAD);
	assert_int_equal(ev.addr, 0x7f00);
	assert_int_equal(ev.size, 0x1000);
	assert_int_equal(ev.build_id_len, 20);
	assert_memory_equal(ev.build_id, bid, 20);
	assert_memory_equal(ev.str, "/lib/libx.so", 12);
	NEXT(MS_REC_STACK);
	assert_int_equal(ev.stack_id, 9);
	assert_int_equal(ev.nframes, MS_STACK_MAX);
	assert_memory_equal(ev.frames, frames, sizeof(frames));
	NEXT(MS_REC_ALLOC);
	assert_int_equal(ev.ts, 1005);
	assert_int_equal(ev.align, 64);
	assert_int_equal(ev.weight, 3 * 65536);
	NEXT(MS_REC_LOST);
	assert_int_equal(ev.count, 17);
	NEXT(MS_REC_MODULE_UNLOAD);
	NEXT(MS_REC_THREAD_EXIT);
	assert_int_equal(ev.ts, 1008);
	NEXT(MS_REC_SYNC);
	assert_int_equal(ev.ts, 1008);
	assert_int_equal(ev.addr, 0x5000);
	assert_ptr_equal(q, p);
	assert_memory_equal(&d, &s, sizeof(s));
}

/* A SYNC lets a decoder with no history pick a stream up mid-way. */
static void test_sync_resumes(void **state)
{
	struct ms_rec_state s = {0, 0}, fresh = {0, 0};
	uint8_t *p = buf, *mid;

	(void)state;
	p = ms_rec_put_alloc(&s, p, 500, 0x10000, 8, 0, 1, MS_WEIGHT_ONE);
	mid = p;
	p = ms_rec_put_sync(&s, p);
	p = ms_rec_put_free(&s, p, 700, 0x10000);
	assert_true(ms_rec_decode(&fresh, mid, (size_t)(p - mid), &ev) > 0);
	assert_int_equal(ev.type, MS_REC_SYNC);
	assert_true(ms_rec_decode(&fresh, mid + 1 + 2 + 3, 0, &ev) == -ENODATA);
	{
		const uint8_t *q = mid;
		struct ms_rec_state t = {0, 0};

		q += ms_rec_decode(&t, q, (size_t)(p - q), &ev);
		assert_true(ms_rec_decode(&t, q, (size_t)(p - q), &ev) > 0);
		assert_int_equal(ev.type, MS_REC_FREE);
		assert_int_equal(ev.addr, 0x10000);
		assert_int_equal(ev.ts, 700);
	}
}

static void test_malformed(void **state)
{
	struct ms_rec_state s = {0, 0};
	uint8_t b[32];

	(void)state;
	b[0] = 0; /* type 0 */
	assert_int_equal(ms_rec_decode(&s, b, 1, &ev), -EBADMSG);
	b[0] = MS_REC_NTYPES;
	assert_int_equal(ms_rec_decode(&s, b, 1, &ev), -EBADMSG);
	b[0] = MS_REC_FREE | 0x80; /* flag not allowed on FREE */
	b[1] = 0;
	b[2] = 0;
	assert_int_equal(ms_rec_decode(&s, b, 3, &ev), -EBADMSG);
	b[0] = MS_REC_FREE | MS_RECF_SMALL | 0x80;
	assert_int_equal(ms_rec_decode(&s, b, 3, &ev), -EBADMSG);
	for (unsigned c = 1; c <= MS_REC_LEVEL_TOP; c++) { /* its levels */
		b[0] = (uint8_t)(MS_REC_FREE | c << 4);
		assert_int_equal(ms_rec_decode(&s, b, 3, &ev), 3);
		assert_int_equal(ev.type, MS_REC_FREE);
		assert_int_equal(ev.flags, c << 4);
	}
	/* an 11-byte varint */
	b[0] = MS_REC_THREAD_EXIT;
	memset(b + 1, 0x80, 10);
	b[11] = 0;
	assert_int_equal(ms_rec_decode(&s, b, 12, &ev), -EBADMSG);
	/* a 10-byte varint overflowing 64 bits */
	memset(b + 1, 0xff, 9);
	b[10] = 0x02;
	assert_int_equal(ms_rec_decode(&s, b, 11, &ev), -EBADMSG);
	b[10] = 0x01; /* exactly UINT64_MAX: fine */
	assert_int_equal(ms_rec_decode(&s, b, 11, &ev), 11);
	assert_int_equal(ev.ts, UINT64_MAX);
	/* stack claiming more frames than allowed */
	s = (struct ms_rec_state){0, 0};
	uint8_t *p = b;
	*p++ = MS_REC_STACK;
	p = ms_put_varint(p, 0);
	p = ms_put_varint(p, 1);
	p = ms_put_varint(p, MS_STACK_MAX + 1);
	assert_int_equal(ms_rec_decode(&s, b, (size_t)(p - b), &ev), -EBADMSG);
	/* a name longer than allowed, with the bytes present */
	uint8_t big[128] = {MS_REC_THREAD_NAME, 0, MS_NAME_MAX + 1};
	assert_int_equal(ms_rec_decode(&s, big, sizeof(big), &ev), -EBADMSG);
	/* a lost-cause out of range, a zero weight, a zero tick rate */
	p = b;
	*p++ = MS_REC_LOST;
	p = ms_put_varint(p, 0);
	p = ms_put_varint(p, 5);
	p = ms_put_varint(p, MS_LOST_REC_NCAUSES);
	assert_int_equal(ms_rec_decode(&s, b, (size_t)(p - b), &ev), -EBADMSG);
	p = ms_rec_put_alloc(&s, b, 0, 1, 1, 0, 0, 0);
	assert_int_equal(ms_rec_decode(&s, b, (size_t)(p - b), &ev), -EBADMSG);
	p = ms_rec_put_clock(&s, b, 0, 1, 0);
	assert_int_equal(ms_rec_decode(&s, b, (size_t)(p - b), &ev), -EBADMSG);
}

static void test_encoders_clamp_lengths(void **state)
{
	struct ms_rec_state s = {0, 0}, d = {0, 0};
	static char path[MS_PATH_MAX + 100];
	uint8_t *p;

	(void)state;
	memset(path, 'a', sizeof(path));
	p = ms_rec_put_module_load(&s, buf, 1, 2, 3, (const uint8_t *)path, 200,
				   path, sizeof(path));
	assert_true(p - buf <= MS_REC_MAX);
	assert_true(ms_rec_decode(&d, buf, (size_t)(p - buf), &ev) > 0);
	assert_int_equal(ev.build_id_len, MS_BUILD_ID_MAX);
	assert_int_equal(ev.str_len, MS_PATH_MAX);
	p = ms_rec_put_thread_name(&s, buf, 1, path, 1000);
	assert_true(ms_rec_decode(&d, buf, (size_t)(p - buf), &ev) > 0);
	assert_int_equal(ev.str_len, MS_NAME_MAX);
}

/* Random bytes: every outcome is a clean result or error, never a crash. */
static void test_random_bytes(void **state)
{
	uint64_t x = 88172645463325252ull;
	uint8_t *b = malloc(256);
	int ok = 0, bad = 0;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		struct ms_rec_state s = {0, 0};
		size_t len = 1 + round % 256;

		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[i] = (uint8_t)x;
		}
		/* heap copy of exactly len bytes: ASan catches over-reads */
		uint8_t *c = malloc(len);
		memcpy(c, b, len);
		ssize_t k = ms_rec_decode(&s, c, len, &ev);
		assert_true(k == -ENODATA || k == -EBADMSG ||
			    (k > 0 && (size_t)k <= len));
		k > 0 ? ok++ : bad++;
		free(c);
	}
	assert_true(ok > 0 && bad > 0);
	free(b);
}

/* ---- the hot records' fast path against the general decoder ---- */

/* Every ALLOC and FREE the encoders write, the fast path takes whole, and
 * ms_fuzz_hot_agrees() finds the same length, fields and bytes. */
static void test_hot_takes_encoded(void **state)
{
	(void)state;
	for (size_t i = 0; i < MS_ARRAY_SIZE(edge); i++) {
		for (size_t j = 0; j < MS_ARRAY_SIZE(edge); j++) {
			struct ms_rec_state s = {edge[j], edge[i]}, d = s;
			uint64_t v = edge[i], w = v > 1 ? v : 2;
			uint8_t *e;

			e = ms_rec_put_alloc(&s, buf, edge[i], edge[j], v, v, v,
					     w);
			assert_int_equal(ms_fuzz_hot_agrees(&d, buf, e - buf),
					 e - buf);
			s = d;
			e = ms_rec_put_alloc(&s, buf, edge[i], edge[j], v, 0, v,
					     MS_WEIGHT_ONE);
			assert_int_equal(ms_fuzz_hot_agrees(&d, buf, e - buf),
					 e - buf);
			s = d;
			e = ms_rec_put_free(&s, buf, edge[j], edge[i]);
			assert_int_equal(ms_fuzz_hot_agrees(&d, buf, e - buf),
					 e - buf);
			s = d;
			e = ms_rec_put_free_flags(&s, buf, edge[j], edge[i],
						  MS_RECF_SMALL);
			assert_int_equal(buf[0], MS_REC_FREE | MS_RECF_SMALL);
			assert_int_equal(ms_fuzz_hot_agrees(&d, buf, e - buf),
					 e - buf);
		}
	}
}

/* A record the general decoder accepts in another form than the
 * encoders' is left to it (the packer keeps it verbatim). */
static void hot_leaves(const struct ms_rec_state *s, const uint8_t *b,
		       size_t len, ssize_t general)
{
	struct ms_rec_state t = *s;
	struct ms_rec_hot h;

	assert_int_equal(ms_rec_decode_hot(b, b + len, s->last_ts, &h), 0);
	assert_int_equal(ms_rec_decode(&t, b, len, &ev), general);
}

static void test_hot_leaves_other_forms(void **state)
{
	struct ms_rec_state s = {100, 0x1000}, wrap = {UINT64_MAX - 5, 0};
	const uint8_t padded[] = {MS_REC_FREE, 0x81, 0x00, 0x02};
	const uint8_t align0[] = {MS_REC_ALLOC | MS_RECF_ALIGN, 1, 2, 8, 1, 0};
	const uint8_t one[] = {MS_REC_ALLOC | MS_RECF_WEIGHT,
			       1,
			       2,
			       8,
			       1,
			       0x80,
			       0x80,
			       0x04}; /* 65536 */
	const uint8_t wraps[] = {MS_REC_FREE, 10, 2};
	const uint8_t cut[] = {MS_REC_ALLOC, 1, 2, 8};
	uint8_t *e;

	(void)state;
	hot_leaves(&s, padded, sizeof(padded), sizeof(padded));
	hot_leaves(&s, align0, sizeof(align0), sizeof(align0));
	hot_leaves(&s, one, sizeof(one), sizeof(one));
	hot_leaves(&wrap, wraps, sizeof(wraps), sizeof(wraps));
	hot_leaves(&s, cut, sizeof(cut), -ENODATA);
	e = ms_rec_put_realloc(&s, buf, 200, 0x1000, 0x2000, 8, 1,
			       MS_WEIGHT_ONE);
	hot_leaves(&s, buf, (size_t)(e - buf), e - buf);
	e = ms_rec_put_lost(&s, buf, 300, 1, 0);
	hot_leaves(&s, buf, (size_t)(e - buf), e - buf);
}

/* Random bytes at every offset: whatever the fast path takes, the general
 * decoder reads the same way. */
static void test_hot_random_bytes(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1dull;
	uint8_t b[512];
	size_t taken = 0;

	(void)state;
	for (int round = 0; round < 4000; round++) {
		struct ms_rec_state s = {x >> 8, x};

		for (size_t i = 0; i < sizeof(b); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* mostly hot type bytes and short varints */
			b[i] = (uint8_t)(i % 5 ? x & 0x8f
					       : MS_REC_FREE + x % 2);
		}
		for (size_t i = 0; i < sizeof(b); i++)
			taken += ms_fuzz_hot_agrees(&s, b + i, sizeof(b) - i) >
				 0;
	}
	assert_true(taken > 10000);
}

/* ---- the readers' fast path against the general decoder ---- */

/* Every ALLOC, FREE and REALLOC the encoders write, at every edge value,
 * the readers' fast path takes whole (ms_fuzz_fast_agrees() compares it
 * with ms_rec_decode()). */
static void test_fast_takes_encoded(void **state)
{
	(void)state;
	for (size_t i = 0; i < MS_ARRAY_SIZE(edge); i++) {
		for (size_t j = 0; j < MS_ARRAY_SIZE(edge); j++) {
			struct ms_rec_state s = {edge[j], edge[i]}, d = s;
			uint64_t v = edge[i], w = v ? v : 1;
			uint8_t *e;

			e = ms_rec_put_alloc(&s, buf, v, edge[j], v, v, v, w);
			assert_int_equal(ms_fuzz_fast_agrees(&d, buf, e - buf),
					 e - buf);
			s = d;
			e = ms_rec_put_realloc(&s, buf, v, edge[j], v, v, v, w);
			assert_int_equal(ms_fuzz_fast_agrees(&d, buf, e - buf),
					 e - buf);
			s = d;
			e = ms_rec_put_free(&s, buf, edge[j], v);
			assert_int_equal(ms_fuzz_fast_agrees(&d, buf, e - buf),
					 e - buf);
			s = d;
			e = ms_rec_put_free_flags(&s, buf, edge[j], v,
						  MS_RECF_SMALL);
			assert_int_equal(ms_fuzz_fast_agrees(&d, buf, e - buf),
					 e - buf);
		}
	}
}

/* What the general decoder takes in other forms than the encoders', the
 * readers' fast path takes too; what it refuses, the fast path leaves. */
static void test_fast_other_forms(void **state)
{
	struct ms_rec_state s = {100, 0x1000}, wrap = {UINT64_MAX - 5, 0};
	const uint8_t padded[] = {MS_REC_FREE, 0x81, 0x00, 0x02};
	const uint8_t align0[] = {MS_REC_ALLOC | MS_RECF_ALIGN, 1, 2, 8, 1, 0};
	const uint8_t one[] = {MS_REC_REALLOC | MS_RECF_WEIGHT,
			       1,
			       2,
			       4,
			       8,
			       1,
			       0x80,
			       0x80,
			       0x04}; /* 65536 */
	const uint8_t wraps[] = {MS_REC_FREE, 10, 2};
	const uint8_t cut[] = {MS_REC_REALLOC, 1, 2, 8};
	const uint8_t zero_weight[] = {
		MS_REC_ALLOC | MS_RECF_WEIGHT, 1, 2, 8, 1, 0};
	const uint8_t bad_flag[] = {MS_REC_FREE | 0x80, 1, 2};
	const uint8_t small[] = {MS_REC_FREE | MS_RECF_LEVEL, 1, 2};
	const uint8_t long_varint[] = {MS_REC_FREE, 0xff, 0xff, 0xff,
				       0xff,	    0xff, 0xff, 0xff,
				       0xff,	    0xff, 0x02};
	uint8_t *e;

	(void)state;
	assert_int_equal(ms_fuzz_fast_agrees(&s, padded, sizeof(padded)), 4);
	assert_int_equal(ms_fuzz_fast_agrees(&s, align0, sizeof(align0)), 6);
	assert_int_equal(ms_fuzz_fast_agrees(&s, one, sizeof(one)), 9);
	assert_int_equal(ms_fuzz_fast_agrees(&wrap, wraps, sizeof(wraps)), 3);
	assert_int_equal(ms_fuzz_fast_agrees(&s, cut, sizeof(cut)), 0);
	assert_int_equal(ms_fuzz_fast_agrees(&s, zero_weight, 6), 0);
	assert_int_equal(ms_fuzz_fast_agrees(&s, bad_flag, 3), 0);
	assert_int_equal(ms_fuzz_fast_agrees(&s, small, 3), 3);
	assert_int_equal(ms_fuzz_fast_agrees(&s, long_varint, 11), 0);
	e = ms_rec_put_lost(&s, buf, 300, 1, 0);
	assert_int_equal(ms_fuzz_fast_agrees(&s, buf, (size_t)(e - buf)), 0);
}

/* Random bytes at every offset: the fast path and the general decoder
 * agree on every record, and take the same heap records. */
static void test_fast_random_bytes(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t b[512];
	size_t taken = 0;

	(void)state;
	for (int round = 0; round < 4000; round++) {
		struct ms_rec_state s = {x >> 8, x};

		for (size_t i = 0; i < sizeof(b); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* mostly heap type bytes and short varints */
			b[i] = (uint8_t)(i % 5 ? x & 0x8f
					       : (x & 0x30) | (3 + x % 3));
		}
		for (size_t i = 0; i < sizeof(b); i++)
			taken += ms_fuzz_fast_agrees(&s, b + i, sizeof(b) - i) >
				 0;
	}
	assert_true(taken > 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_free_realloc_edges),
		cmocka_unit_test(test_stream_of_every_type),
		cmocka_unit_test(test_sync_resumes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_encoders_clamp_lengths),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_hot_takes_encoded),
		cmocka_unit_test(test_hot_leaves_other_forms),
		cmocka_unit_test(test_hot_random_bytes),
		cmocka_unit_test(test_fast_takes_encoded),
		cmocka_unit_test(test_fast_other_forms),
		cmocka_unit_test(test_fast_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
