/* SPDX-License-Identifier: MIT */
/*
 * System calls made from inside the traced program's calls (the agent's
 * allocation path, its thread start and exit), through syscall(2) rather
 * than libc's wrappers, for two reasons:
 *
 * - libc's open, read, close, write, sendmsg, connect, recv, fallocate and
 *   nanosleep are cancellation points. Reached from inside malloc, they
 *   would act on a cancellation request the program has not yet reached
 *   a cancellation point for, and unwind the thread out of malloc -- with
 *   the agent's lock held, when it happens while a ring is handed over.
 *   syscall(2) is never a cancellation point.
 * - the program's errno: a successful malloc() should not change it, so
 *   these return -errno and leave errno as it was.
 *
 * Each returns what the system call returns, or -errno.
 */
#ifndef MS_NOCANCEL_H
#define MS_NOCANCEL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline long ms_nc_ret(long r, int saved)
{
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

/* errno is read before the call: argument order would not promise it. */
#define MS_NC(...)                                                             \
	({                                                                     \
		int saved_ = errno;                                            \
		long r_ = syscall(__VA_ARGS__);                                \
		ms_nc_ret(r_, saved_);                                         \
	})

static inline int ms_nc_open(const char *path, int flags)
{
	return (int)MS_NC(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}

static inline ssize_t ms_nc_read(int fd, void *buf, size_t len)
{
	return MS_NC(SYS_read, fd, buf, len);
}

static inline ssize_t ms_nc_write(int fd, const void *buf, size_t len)
{
	return MS_NC(SYS_write, fd, buf, len);
}

static inline int ms_nc_close(int fd)
{
	return (int)MS_NC(SYS_close, fd);
}

static inline int ms_nc_ioctl(int fd, unsigned long req, void *arg)
{
	return (int)MS_NC(SYS_ioctl, fd, req, arg);
}

static inline ssize_t ms_nc_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return MS_NC(SYS_sendmsg, fd, m, flags);
}

static inline ssize_t ms_nc_send(int fd, const void *buf, size_t len, int flags)
{
	return MS_NC(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

static inline ssize_t ms_nc_recv(int fd, void *buf, size_t len, int flags)
{
	return MS_NC(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

static inline int ms_nc_connect(int fd, const struct sockaddr *sa,
				socklen_t len)
{
	return (int)MS_NC(SYS_connect, fd, sa, len);
}

static inline int ms_nc_fallocate(int fd, int mode, off_t off, off_t len)
{
	return (int)MS_NC(SYS_fallocate, fd, mode, off, len);
}

static inline int ms_nc_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec ts = {timeout_ms / 1000,
			      (timeout_ms % 1000) * 1000000L};

	return (int)MS_NC(SYS_ppoll, fds, n, timeout_ms < 0 ? NULL : &ts, NULL,
			  (size_t)8);
}

static inline int ms_nc_nanosleep(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	return (int)MS_NC(SYS_nanosleep, &ts, NULL);
}

#endif
