/* SPDX-License-Identifier: MIT */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ms_open_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	/* a regular file ignores O_NONBLOCK; clear it all the same */
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int ms_read_regular(const char *path, uint64_t max, uint8_t **buf,
		    uint64_t *size)
{
	int fd = ms_open_regular(path), err = 0;
	struct stat st;
	uint64_t got = 0;

	*buf = NULL;
	*size = 0;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if ((uint64_t)st.st_size > max)
		err = -EFBIG;
	else if (!(*buf = malloc((size_t)st.st_size + 1)))
		err = -ENOMEM;
	while (!err && got < (uint64_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shrank while reading: take what we have */
		got += (uint64_t)n;
	}
	close(fd);
	*size = got;
	return err;
}

int ms_write_iov(int fd, const struct iovec *iov, int n)
{
	struct iovec v[4];
	ssize_t w;

	memcpy(v, iov, sizeof(v[0]) * (size_t)n);
	while (n > 0) {
		w = writev(fd, v, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= v[0].iov_len) {
			w -= (ssize_t)v[0].iov_len;
			memmove(v, v + 1, sizeof(v[0]) * (size_t)--n);
		}
		if (n > 0) {
			v[0].iov_base = (uint8_t *)v[0].iov_base + w;
			v[0].iov_len -= (size_t)w;
		}
	}
	return 0;
}
