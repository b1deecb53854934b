/* SPDX-License-Identifier: MIT */
/*
 * Stacks: capture starts at the program's caller, and the per-thread table
 * gives each distinct stack one id (from 1), growing as needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "record.h"
#include "stack.h"

/* Stands for an interposed function: captures on behalf of its caller. */
static __attribute__((noinline)) uint32_t
fake_malloc(uint64_t *frames, uint32_t depth, uintptr_t *caller)
{
	*caller = (uintptr_t)__builtin_return_address(0);
	return ms_stack_capture(frames, depth, *caller);
}

static __attribute__((noinline)) uint32_t
level(int n, uint64_t *frames, uint32_t depth, uintptr_t *caller)
{
	uint32_t r;

	if (n == 0)
		r = fake_malloc(frames, depth, caller);
	else
		r = level(n - 1, frames, depth, caller);
	__asm__ volatile("" ::: "memory"); /* no tail call */
	return r;
}

static void test_capture(void **state)
{
	uint64_t frames[MS_STACK_MAX];
	uintptr_t caller;
	uint32_t n;

	(void)state;
	n = level(10, frames, 0, &caller);
	assert_int_equal(n, 1);
	assert_int_equal(frames[0], caller);
	n = level(10, frames, 32, &caller);
	assert_true(n >= 12); /* 11 levels + this test's frames */
	assert_int_equal(frames[0], caller);
	/* the recursion returns to one address ten times */
	for (int i = 2; i < 11; i++)
		assert_int_equal(frames[i], frames[1]);
	n = level(10, frames, 5, &caller);
	assert_int_equal(n, 5);
}

static void test_dedup(void **state)
{
	struct ms_stack_table *t = ms_stack_table_create(4);
	uint64_t frames[3] = {0x1000, 0x2000, 0x3000};
	uint64_t ids[1000];

	(void)state;
	assert_non_null(t);
	/* 1000 distinct stacks: ids 1..1000, each found again */
	for (int i = 0; i < 1000; i++) {
		uint64_t h;

		frames[2] = 0x3000 + (uint64_t)i;
		h = ms_stack_hash(frames, 3);
		assert_int_equal(ms_stack_find(t, h), 0);
		ids[i] = t->next_id++;
		assert_int_equal(ms_stack_insert(&t, h, ids[i]), 0);
		assert_int_equal(ids[i], (uint64_t)i + 1);
	}
	for (int i = 0; i < 1000; i++) {
		frames[2] = 0x3000 + (uint64_t)i;
		assert_int_equal(ms_stack_find(t, ms_stack_hash(frames, 3)),
				 ids[i]);
	}
	assert_int_equal(t->count, 1000);
	assert_true(t->cap >= 2000); /* grew, load under 1/2 */
	/* same frames, different depth: a different stack */
	assert_true(ms_stack_hash(frames, 2) != ms_stack_hash(frames, 3));
	ms_stack_table_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_dedup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
