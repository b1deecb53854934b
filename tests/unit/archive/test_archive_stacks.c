/* SPDX-License-Identifier: MIT */
/*
 * consumer/archive/archive_stacks.c: whole stacks by id, replaced in
 * place, memory by distinct ids only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "archive_stacks.h"
#include "record.h"

static void fill(uint64_t *f, uint32_t n, uint64_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		f[i] = seed * 0x1000 + i;
}

static void check(const struct ms_arc_stacks *t, uint64_t id, uint32_t n,
		  uint64_t seed)
{
	const struct ms_arc_stack *s = ms_arc_stacks_get(t, id);
	uint64_t f[MS_STACK_MAX];

	assert_non_null(s);
	assert_int_equal(s->id, id);
	assert_int_equal(s->nframes, n);
	fill(f, n, seed);
	assert_memory_equal(s->frames, f, n * sizeof(f[0]));
}

static void test_put_get(void **state)
{
	struct ms_arc_stacks t = {0};
	uint64_t f[MS_STACK_MAX];

	(void)state;
	assert_null(ms_arc_stacks_get(&t, 1));
	fill(f, 3, 1);
	assert_int_equal(ms_arc_stacks_put(&t, 1, f, 3), 0);
	fill(f, MS_STACK_MAX, 2);
	assert_int_equal(ms_arc_stacks_put(&t, 2, f, MS_STACK_MAX), 0);
	assert_int_equal(ms_arc_stacks_put(&t, 3, f, 0), 0);
	assert_int_equal(ms_arc_stacks_put(&t, 0, f, 3), 0); /* no stack */
	check(&t, 1, 3, 1);
	check(&t, 2, MS_STACK_MAX, 2);
	check(&t, 3, 0, 0);
	assert_null(ms_arc_stacks_get(&t, 0));
	assert_null(ms_arc_stacks_get(&t, 4));
	assert_int_equal(t.n, 3);
	ms_arc_stacks_clear(&t);
	assert_int_equal(t.n, 0);
	assert_null(ms_arc_stacks_get(&t, 1));
	ms_arc_stacks_free(&t);
}

/* A redefined id keeps its entry: shorter in place, longer in new room. */
static void test_redefine(void **state)
{
	struct ms_arc_stacks t = {0};
	const struct ms_arc_stack *s;
	uint64_t f[MS_STACK_MAX];

	(void)state;
	fill(f, 8, 1);
	assert_int_equal(ms_arc_stacks_put(&t, 7, f, 8), 0);
	s = ms_arc_stacks_get(&t, 7);
	fill(f, 5, 2);
	assert_int_equal(ms_arc_stacks_put(&t, 7, f, 5), 0);
	assert_ptr_equal(ms_arc_stacks_get(&t, 7), s);
	check(&t, 7, 5, 2);
	fill(f, 100, 3);
	assert_int_equal(ms_arc_stacks_put(&t, 7, f, 100), 0);
	check(&t, 7, 100, 3);
	assert_int_equal(t.n, 1);
	ms_arc_stacks_free(&t);
}

/* Many ids (the slots grow), and a million STACK records over 50 ids hold
 * 50 entries: memory follows distinct stacks, not records. */
static void test_many(void **state)
{
	struct ms_arc_stacks t = {0};
	uint64_t f[MS_STACK_MAX];

	(void)state;
	for (uint64_t id = 1; id <= 20000; id++) {
		fill(f, (uint32_t)(id % 40), id);
		assert_int_equal(
			ms_arc_stacks_put(&t, id, f, (uint32_t)(id % 40)), 0);
	}
	assert_int_equal(t.n, 20000);
	for (uint64_t id = 1; id <= 20000; id++)
		check(&t, id, (uint32_t)(id % 40), id);
	ms_arc_stacks_free(&t);
	for (uint64_t k = 0; k < 1000000; k++) {
		fill(f, (uint32_t)(k % 33), k);
		assert_int_equal(ms_arc_stacks_put(&t, 1 + k % 50, f,
						   (uint32_t)(k % 33)),
				 0);
	}
	assert_int_equal(t.n, 50);
	assert_true(t.cap <= 256);
	ms_arc_stacks_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_redefine),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
