/* SPDX-License-Identifier: MIT */
/*
 * The level a recorded free gives its block (agent.h, ms_free_flags();
 * record.h): never below the level of the size asked for, from any
 * allocating function (else the live heap would drop the free of a block
 * it follows); from malloc, calloc or realloc at most the level of 23
 * bytes more (the chunk's rounding), so 0 ("small") for every block of at
 * most 2032 bytes; none when the consumer did not ask, or when the real
 * allocator is not glibc's (as under ASan or TSan, whose allocators these
 * builds check instead).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent.h"

static int setup(void **state)
{
	(void)state;
	ms_boot_resolve();
	ms_g.set.free_level = 1;
	return 0;
}

/* The level code (record.h) of a block of `size` bytes. */
static unsigned code_of(size_t size)
{
	unsigned level =
		size < MS_REC_SMALL_BYTES
			? 0
			: 63u - (unsigned)__builtin_clzll(
					size / (MS_REC_SMALL_BYTES / 2));

	return level + 1 < MS_REC_LEVEL_TOP ? level + 1 : MS_REC_LEVEL_TOP;
}

/* The level of a block of `size` bytes from each allocating function of
 * the real allocator, as the agent's wrappers get them (the test's own
 * malloc may be a sanitizer's). */
static void check_size(size_t size)
{
	void *b[5];
	int n = 0;

	b[n++] = ms_real.malloc(size);
	b[n++] = ms_real.calloc(1, size);
	b[n++] = ms_real.realloc(ms_real.malloc(1), size ? size : 1);
	b[n++] = ms_real.memalign(64, size);
	if (ms_real.posix_memalign(&b[n], 4096, size) == 0)
		n++;
	for (int i = 0; i < n; i++) {
		uint8_t f;

		assert_non_null(b[i]);
		memset(b[i], 0, size); /* (for the compiler's warnings) */
		f = ms_free_flags(b[i]);
		if ((f & ~MS_RECF_LEVEL) || f >> 4 < code_of(size))
			fail_msg("block %d of %zu bytes: level code %u, at "
				 "least %u expected",
				 i, size, f >> 4, code_of(size));
		/* aligned blocks may keep more than asked for */
		if (i < 3 && f >> 4 > code_of(size + 23))
			fail_msg("block %d of %zu bytes: level code %u, at "
				 "most %u expected",
				 i, size, f >> 4, code_of(size + 23));
		if (i < 3 && size <= 2032 && f != MS_RECF_SMALL)
			fail_msg("block %d of %zu bytes not small", i, size);
		ms_real.free(b[i]);
	}
}

static void test_sizes(void **state)
{
	(void)state;
	if (!ms_real.glibc) {
		/* a sanitizer's allocator: no chunk word, never a flag */
		void *p = ms_real.calloc(1, 16);

		assert_non_null(p);
		assert_int_equal(ms_free_flags(p), 0);
		ms_real.free(p);
		skip();
	}
	for (size_t s = 0; s <= 4200; s++)
		check_size(s);
	for (size_t s = 4200; s < (8u << 20); s = s * 5 / 4)
		check_size(s); /* up to mmapped chunks */
}

static void test_not_asked(void **state)
{
	void *p = ms_real.calloc(1, 16);

	(void)state;
	assert_non_null(p);
	if (!ms_real.glibc) {
		ms_real.free(p);
		skip();
	}
	assert_int_equal(ms_free_flags(p), MS_RECF_SMALL);
	ms_g.set.free_level = 0; /* a consumer that does not read it */
	assert_int_equal(ms_free_flags(p), 0);
	ms_g.set.free_level = 1;
	ms_real.glibc = 0; /* another allocator: no chunk word to read */
	assert_int_equal(ms_free_flags(p), 0);
	ms_real.glibc = 1;
	ms_real.free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_not_asked),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
