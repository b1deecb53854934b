/* SPDX-License-Identifier: MIT */
/*
 * Opening files named by untrusted input (an archive's paths, its own
 * files): a FIFO or a device in their place must not hang the reader.
 * And whole reads and writes of the archive's files.
 */
#ifndef MS_FILEIO_H
#define MS_FILEIO_H

#include <stdint.h>
#include <sys/uio.h>

/*
 * Opens `path` read-only if it is a regular file: without blocking (a
 * FIFO's open waits for a writer), then checked with fstat. Returns the
 * descriptor (close-on-exec), -EINVAL when the path is not a regular
 * file, or -errno.
 */
int ms_open_regular(const char *path);

/*
 * Reads the whole regular file `path` (opened as above) into *buf
 * (malloc'd, one byte to spare), *size bytes: fewer than its size when it
 * shrank while being read. Returns 0, -EFBIG (nothing read) when it is
 * larger than `max` bytes, -EINVAL when it is not a regular file, -ENOMEM
 * or -errno. *buf is NULL unless 0 is returned.
 */
int ms_read_regular(const char *path, uint64_t max, uint8_t **buf,
		    uint64_t *size);

/* Writes the `n` (at most 4) buffers of `iov` whole. Returns 0 or -errno. */
int ms_write_iov(int fd, const struct iovec *iov, int n);

#endif
