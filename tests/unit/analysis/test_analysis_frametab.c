/* SPDX-License-Identifier: MIT */
/*
 * consumer/analysis/frametab.c and strpool.c, the symbolizer's memo and
 * strings: many keys through several growths, runs that stay where they
 * were stored, duplicates refused, strings kept once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "frametab.h"
#include "strpool.h"

#define KEYS 50000

static void test_frametab(void **state)
{
	static const struct ms_frame *first[KEYS];
	struct ms_frame fr[3] = {{.function = "f", .line = 1, .inlined = 1},
				 {.function = "g", .line = 2, .inlined = 1},
				 {.function = "h", .line = 3}};
	const struct ms_frame *got;
	struct ms_frametab t;

	(void)state;
	assert_int_equal(ms_frametab_init(&t), 0);
	for (uint32_t k = 0; k < KEYS; k++) {
		unsigned n = 1 + k % 3;

		fr[0].line = k;
		/* keys alike but for the module, or the offset */
		assert_int_equal(ms_frametab_add(&t, k % 7, k / 7 * 16, fr, n,
						 &first[k]),
				 0);
	}
	assert_int_equal(ms_frametab_count(&t), KEYS);
	for (uint32_t k = 0; k < KEYS; k++) {
		assert_int_equal(ms_frametab_find(&t, k % 7, k / 7 * 16, &got),
				 1 + k % 3);
		assert_ptr_equal(got, first[k]);
		assert_int_equal(got[0].line, k);
		assert_string_equal(got[1 + k % 3 - 1].function,
				    k % 3 == 0	 ? "f"
				    : k % 3 == 1 ? "g"
						 : "h");
	}
	assert_int_equal(ms_frametab_find(&t, 7, 0, &got), 0);
	assert_int_equal(ms_frametab_find(&t, 0, 8, &got), 0);
	assert_int_equal(ms_frametab_add(&t, 0, 0, fr, 1, &got), -EINVAL);
	assert_int_equal(ms_frametab_add(&t, 9, 0, fr, 0, &got), -EINVAL);
	assert_int_equal(ms_frametab_add(&t, 9, 0, fr, MS_FRAMES_MAX + 1, &got),
			 -EINVAL);
	ms_frametab_fini(&t);
}

static void test_strpool(void **state)
{
	static const char *first[KEYS];
	struct ms_strpool *sp;
	char buf[32];
	uint32_t idx;
	size_t len;

	(void)state;
	assert_int_equal(ms_strpool_create(&sp), 0);
	for (uint32_t k = 0; k < KEYS; k++) {
		int n = snprintf(buf, sizeof(buf), "name%u", k);

		first[k] = ms_strpool_intern(sp, buf, (size_t)n, &idx);
		assert_non_null(first[k]);
		assert_int_equal(idx, k);
	}
	for (uint32_t k = 0; k < KEYS; k++) {
		int n = snprintf(buf, sizeof(buf), "name%u", k);

		assert_ptr_equal(ms_strpool_intern(sp, buf, (size_t)n, &idx),
				 first[k]);
		assert_int_equal(idx, k);
		assert_string_equal(ms_strpool_at(sp, k, &len), buf);
		assert_int_equal(len, n);
	}
	/* bytes, not C strings: a NUL inside is kept, a prefix differs */
	assert_ptr_not_equal(ms_strpool_intern(sp, "na\0me", 5, NULL),
			     ms_strpool_intern(sp, "na", 2, NULL));
	assert_int_equal(ms_strpool_count(sp), KEYS + 2);
	assert_null(ms_strpool_at(sp, KEYS + 2, NULL));
	/* a string longer than a block */
	{
		static char big[200000];

		memset(big, 'x', sizeof(big) - 1);
		assert_string_equal(
			ms_strpool_intern(sp, big, sizeof(big) - 1, NULL), big);
		assert_ptr_equal(ms_strpool_intern(sp, "name7", 5, NULL),
				 first[7]);
	}
	ms_strpool_destroy(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frametab),
		cmocka_unit_test(test_strpool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
