/* SPDX-License-Identifier: MIT */
/*
 * The writer's loss accounting: drop mode counts every event that found
 * the ring full, and the next record that fits is preceded by LOST with
 * that exact count; block mode waits for room while the consumer shows
 * signs of life and gives up (cause GONE) when it stays silent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "emit.h"

static struct ms_tstate ts; /* a thread's state, outside TLS */

static int setup(void **state)
{
	(void)state;
	memset(&ts, 0, sizeof(ts));
	ms_clock_set(&ms_g.clk, 0);
	return ms_ring_create(MS_RING_MIN_DATA, 1, 2, &ts.ring) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	ms_ring_unmap(&ts.ring);
	return 0;
}

/* Writes one FREE record; 1 when it went in. */
static int put_free(uint64_t addr)
{
	uint8_t *p = ms_emit_reserve(&ts, MS_REC_SMALL_MAX);

	if (!p)
		return 0;
	ms_emit_commit(&ts, ms_rec_put_free(&ts.rs, p, ms_now(), addr));
	return 1;
}

/* The consumer's side: decodes everything, counts FREEs and LOSTs. */
static void drain(struct ms_rec_state *rs, uint64_t *frees, uint64_t *lost,
		  uint64_t *cause)
{
	struct ms_ring c = ts.ring; /* same mapping, consumer's indices */
	struct ms_event ev;
	const uint8_t *p;
	ssize_t n, off = 0;

	c.pos = ms_load_acquire(&ts.ring.hdr->tail);
	c.other = c.pos;
	n = ms_ring_peek(&c, &p);
	assert_true(n >= 0);
	while (off < n) {
		ssize_t k = ms_rec_decode(rs, p + off, (size_t)(n - off), &ev);

		assert_true(k > 0);
		if (ev.type == MS_REC_FREE)
			(*frees)++;
		if (ev.type == MS_REC_LOST) {
			*lost += ev.count;
			*cause = ev.cause;
		}
		off += k;
	}
	ms_ring_release(&c, (uint64_t)n);
}

static void test_drop_exact(void **state)
{
	struct ms_rec_state rs = {0, 0};
	uint64_t written = 0, frees = 0, lost = 0, cause = 99;
	const uint64_t attempts = 5000;

	(void)state;
	ms_g.set.on_full = MS_ON_FULL_DROP;
	for (uint64_t i = 0; i < attempts; i++)
		written += put_free(0x1000 + 16 * i);
	assert_true(written < attempts);
	assert_int_equal(ts.ring.hdr->lost[MS_LOST_FULL], attempts - written);
	assert_int_equal(ts.ring.hdr->lost_pending, attempts - written);
	drain(&rs, &frees, &lost, &cause);
	assert_int_equal(frees, written);
	assert_int_equal(lost, 0);
	/* room again: LOST{count} first, then the record */
	assert_int_equal(put_free(0x42), 1);
	assert_int_equal(ts.ring.hdr->lost_pending, 0);
	drain(&rs, &frees, &lost, &cause);
	assert_int_equal(frees, written + 1);
	assert_int_equal(lost, attempts - written);
	assert_int_equal(cause, MS_LOST_FULL);
	/* archived + dropped == attempted */
	assert_int_equal(frees + lost, attempts + 1);
}

static void test_block_gives_up(void **state)
{
	struct ms_rec_state rs = {0, 0};
	uint64_t written = 0, frees = 0, lost = 0, cause = 99;
	uint64_t t0;

	(void)state;
	ms_g.set.on_full = MS_ON_FULL_BLOCK;
	while (put_free(0x2000 + 16 * written))
		written++;
	/* the call above waited ~2 s for a consumer that never came */
	assert_int_equal(ts.gone, 1);
	assert_int_equal(ts.ring.hdr->lost[MS_LOST_GONE], 1);
	t0 = ms_mono_ns();
	assert_int_equal(put_free(0x99), 0); /* drop mode from now on */
	assert_true(ms_mono_ns() - t0 < 100000000ull);
	drain(&rs, &frees, &lost, &cause);
	assert_int_equal(put_free(0x98), 1);
	drain(&rs, &frees, &lost, &cause);
	assert_int_equal(lost, 2);
	assert_int_equal(cause, MS_LOST_GONE);
	assert_int_equal(frees, written + 1);
}

static void test_too_big(void **state)
{
	(void)state;
	ms_g.set.on_full = MS_ON_FULL_DROP;
	assert_null(ms_emit_reserve(&ts, MS_RING_MIN_DATA + 1));
	assert_int_equal(ts.ring.hdr->lost[MS_LOST_TOO_BIG], 1);
	assert_int_equal(put_free(0x1), 1); /* LOST + FREE fit */
	assert_int_equal(ts.lost_pending, 0);
}

/* Records around the events never count as lost events. */
static void test_meta_not_counted_as_events(void **state)
{
	struct ms_rec_state rs = {0, 0};
	uint64_t written = 0, frees = 0, lost = 0, cause = 99;

	(void)state;
	ms_g.set.on_full = MS_ON_FULL_DROP;
	while (put_free(0x3000 + 16 * written))
		written++;
	assert_null(ms_emit_reserve_meta(&ts, MS_REC_SMALL_MAX));
	assert_null(ms_emit_reserve_meta(&ts, MS_RING_MIN_DATA + 1));
	assert_int_equal(ts.ring.hdr->lost_meta, 2);
	assert_int_equal(ts.lost_pending, 1); /* only the failed FREE */
	drain(&rs, &frees, &lost, &cause);
	assert_int_equal(put_free(0x97), 1);
	drain(&rs, &frees, &lost, &cause);
	assert_int_equal(lost, 1);
	assert_int_equal(frees, written + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_drop_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_block_gives_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_not_counted_as_events,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
