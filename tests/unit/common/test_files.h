/* SPDX-License-Identifier: MIT */
/* Helpers of the common room's tests that read files (cmocka asserts). */
#ifndef MS_TEST_FILES_H
#define MS_TEST_FILES_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The whole file at `p` (malloc'd), its size in *len. */
static inline uint8_t *ms_test_slurp(const char *p, size_t *len)
{
	struct stat st;
	int fd = open(p, O_RDONLY);
	uint8_t *b;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

#endif
