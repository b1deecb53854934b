/* SPDX-License-Identifier: MIT */
/*
 * The three ways of stackbounds.h to a thread's stack: what its trampoline
 * recorded, the main thread's from __libc_stack_end, and the mapping that
 * holds the stack pointer.
 */
#include "stackbounds.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/resource.h>

#include "agent.h"
#include "nocancel.h"

/* Set by the dynamic linker to the stack pointer at process entry. */
extern void *__libc_stack_end;

#define MAIN_STACK_MAX (1ull << 30) /* RLIM_INFINITY: look no further */
#define PAGE_MIN       4096ull

/* struct procmap_query of <linux/fs.h> (Linux 6.11), which Debian 12's
 * headers predate; the kernel checks `size`. */
struct procmap_query_abi {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
_Static_assert(sizeof(struct procmap_query_abi) == 104, "procmap_query");
/* _IOWR('f', 17, struct procmap_query) */
#define PROCMAP_QUERY_IOCTL 0xc0686611ul

static MS_TLS uintptr_t known_lo, known_hi;

void ms_stack_bounds_set(uintptr_t lo, uintptr_t hi)
{
	known_lo = lo;
	known_hi = hi;
}

void ms_stack_bounds_learn(void)
{
	int saved_errno = errno;
	pthread_attr_t a;
	size_t size;
	void *addr;

	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &addr, &size) == 0 && size)
			ms_stack_bounds_set((uintptr_t)addr,
					    (uintptr_t)addr + size);
		pthread_attr_destroy(&a);
	}
	errno = saved_errno;
}

/* The main thread's stack, if `sp` is on it. */
static int main_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
	uintptr_t top = (uintptr_t)__libc_stack_end;
	uint64_t max = MAIN_STACK_MAX;
	struct rlimit rl;
	int saved_errno = errno;

	/* argv and the environment fill the rest of the top page */
	top = (top + PAGE_MIN - 1) & ~(uintptr_t)(PAGE_MIN - 1);
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur < max)
		max = rl.rlim_cur;
	errno = saved_errno;
	if (!__libc_stack_end || sp >= top || top - sp >= max)
		return -ENOENT;
	*lo = top - max;
	*hi = top;
	return 0;
}

static int vma_ioctl(int fd, uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	struct procmap_query_abi q = {.size = sizeof(q), .query_addr = addr};
	int err = ms_nc_ioctl(fd, PROCMAP_QUERY_IOCTL, &q);

	if (err < 0)
		return err;
	*lo = q.vma_start;
	*hi = q.vma_end;
	return 0;
}

/* A "start-end ..." line scanner whose state survives buffer ends. */
struct maps_scan {
	uintptr_t addr, start, end;
	int field; /* 0: start, 1: end, 2: the rest of the line */
	int found;
};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void scan_char(struct maps_scan *m, char c)
{
	int v;

	if (c == '\n') {
		m->field = 0;
		m->start = m->end = 0;
	} else if (m->field == 0 && c == '-') {
		m->field = 1;
	} else if (m->field == 1 && c == ' ') {
		m->field = 2;
		m->found = m->addr >= m->start && m->addr < m->end;
	} else if (m->field < 2) {
		v = hex_digit(c);
		if (v < 0)
			m->field = 2; /* not a range: skip the line */
		else if (m->field == 0)
			m->start = m->start << 4 | (uintptr_t)v;
		else
			m->end = m->end << 4 | (uintptr_t)v;
	}
}

static int vma_text(int fd, uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	struct maps_scan m = {.addr = addr};
	char buf[1024];
	ssize_t n;

	while (!m.found && (n = ms_nc_read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n && !m.found; i++)
			scan_char(&m, buf[i]);
	if (!m.found)
		return -ENOENT;
	*lo = m.start;
	*hi = m.end;
	return 0;
}

int ms_maps_find(int fd, uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	int err = vma_ioctl(fd, addr, lo, hi);

	if (err < 0 && err != -ENOENT) /* no PROCMAP_QUERY: the text */
		err = vma_text(fd, addr, lo, hi);
	return err;
}

int ms_stack_bounds_vma(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	int fd = ms_nc_open("/proc/self/maps", O_RDONLY), err;

	if (fd < 0)
		return fd;
	err = ms_maps_find(fd, addr, lo, hi);
	ms_nc_close(fd);
	return err;
}

int ms_stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
	uintptr_t self = (uintptr_t)pthread_self();

	if (known_hi) {
		*lo = known_lo;
		*hi = known_hi;
		return 0;
	}
	if (main_bounds(sp, lo, hi) == 0)
		return 0;
	/* glibc keeps the thread's descriptor at the top of its stack */
	if (ms_stack_bounds_vma(sp, lo, hi) == 0 && self >= *lo && self < *hi)
		return 0;
	return -ENOENT;
}
