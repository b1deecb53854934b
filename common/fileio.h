/* SPDX-License-Identifier: MIT */
/*
 * Opening files named by untrusted input (an archive's paths, its own
 * files): a FIFO or a device in their place must not hang the reader.
 */
#ifndef MS_FILEIO_H
#define MS_FILEIO_H

/*
 * Opens `path` read-only if it is a regular file: without blocking (a
 * FIFO's open waits for a writer), then checked with fstat. Returns the
 * descriptor (close-on-exec), -EINVAL when the path is not a regular
 * file, or -errno.
 */
int ms_open_regular(const char *path);

#endif
