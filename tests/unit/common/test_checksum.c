/* SPDX-License-Identifier: MIT */
/* CRC-32C: the known answer, and the CPU's instruction equal to the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checksum.h"

static void test_known_answer(void **state)
{
	(void)state;
	assert_int_equal(ms_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(ms_crc32c_sw(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(ms_crc32c(0, "", 0), 0);
}

static void test_same_as_table(void **state)
{
	static uint8_t buf[4096 + 16];
	uint64_t r = 88172645463325252ull;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		buf[i] = (uint8_t)r;
	}
	/* every length up to 100 at every alignment, then long ones, and
	 * a CRC carried on over two pieces */
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= 100; len++)
			assert_int_equal(ms_crc32c(0, buf + off, len),
					 ms_crc32c_sw(0, buf + off, len));
	assert_int_equal(ms_crc32c(0, buf, 4096), ms_crc32c_sw(0, buf, 4096));
	assert_int_equal(ms_crc32c(ms_crc32c(0, buf, 1000), buf + 1000, 3000),
			 ms_crc32c_sw(0, buf, 4000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_same_as_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
