/* SPDX-License-Identifier: MIT */
/*
 * A thread's stack bounds without pthread_getattr_np() on the allocation
 * path (agent/stackbounds.c): the main thread's from __libc_stack_end, a
 * thread's from the mapping holding its stack pointer, a thread running on
 * a stack the program gave it, what a trampoline recorded; and the
 * /proc/self/maps text scanner on lines cut across its read buffer,
 * long and malformed lines.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stackbounds.h"
#include "stackwalk.h"

static uintptr_t here(void)
{
	return (uintptr_t)__builtin_frame_address(0);
}

/* What pthread_getattr_np() says, outside any allocation path. */
static void attr_bounds(uintptr_t *lo, uintptr_t *hi)
{
	pthread_attr_t a;
	size_t size;
	void *addr;

	assert_int_equal(pthread_getattr_np(pthread_self(), &a), 0);
	assert_int_equal(pthread_attr_getstack(&a, &addr, &size), 0);
	pthread_attr_destroy(&a);
	*lo = (uintptr_t)addr;
	*hi = (uintptr_t)addr + size;
}

static void test_main_thread(void **state)
{
	uintptr_t lo, hi, alo, ahi, sp = here();

	(void)state;
	assert_int_equal(ms_stack_bounds(sp, &lo, &hi), 0);
	assert_true(lo <= sp && sp < hi);
	attr_bounds(&alo, &ahi);
	/* The top is the page of __libc_stack_end, inside glibc's own
	 * answer (which runs to the end of the mapping). */
	assert_true(hi <= ahi && ahi - hi < (64u << 10));
	assert_true(hi - lo >= (1u << 20));
}

struct result {
	uintptr_t sp, lo, hi, alo, ahi, self;
	int err, walked;
};

static void *thread_probe(void *arg)
{
	struct result *r = arg;
	void *buf[16];

	r->sp = here();
	r->self = (uintptr_t)pthread_self();
	r->err = ms_stack_bounds(r->sp, &r->lo, &r->hi);
	attr_bounds(&r->alo, &r->ahi);
	r->walked = ms_stackwalk(buf, 16) > 0;
	return NULL;
}

static void run_thread(const pthread_attr_t *attr, struct result *r)
{
	pthread_t th;

	assert_int_equal(pthread_create(&th, attr, thread_probe, r), 0);
	pthread_join(th, NULL);
}

/* Not started through a trampoline: the mapping holding the stack. */
static void test_other_thread(void **state)
{
	struct result r = {0};

	(void)state;
	run_thread(NULL, &r);
	assert_int_equal(r.err, 0);
	assert_true(r.lo <= r.sp && r.sp < r.hi);
	assert_true(r.lo <= r.self && r.self < r.hi);
	/* glibc's block is the mapping plus its guard page below */
	assert_true(r.hi == r.ahi && r.lo >= r.alo && r.lo - r.alo <= 65536);
	assert_true(r.walked);
}

/* A stack the program allocated (pthread_attr_setstack). */
static void test_program_stack(void **state)
{
	size_t size = 1u << 20;
	void *mem = aligned_alloc(4096, size);
	struct result r = {0};
	pthread_attr_t a;

	(void)state;
	assert_non_null(mem);
	pthread_attr_init(&a);
	assert_int_equal(pthread_attr_setstack(&a, mem, size), 0);
	run_thread(&a, &r);
	pthread_attr_destroy(&a);
	assert_int_equal(r.err, 0);
	assert_true(r.lo <= (uintptr_t)mem && (uintptr_t)mem + size <= r.hi);
	assert_true(r.walked);
	free(mem);
}

static void *recorded_probe(void *arg)
{
	uintptr_t *out = arg;

	ms_stack_bounds_learn();
	return (void *)(intptr_t)ms_stack_bounds(here(), &out[0], &out[1]);
}

/* What the trampoline records is what pthread_getattr_np() said. */
static void test_recorded(void **state)
{
	uintptr_t b[2] = {0, 0};
	struct result r = {0};
	pthread_t th;
	void *ret;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, recorded_probe, b), 0);
	pthread_join(th, &ret);
	assert_int_equal((intptr_t)ret, 0);
	run_thread(NULL, &r); /* a thread like it, for glibc's sizes */
	assert_int_equal(b[1] - b[0], r.ahi - r.alo);
}

/* A maps file with `filler` bytes of long lines before the target line. */
static int maps_file(size_t filler, const char *target)
{
	FILE *f = tmpfile();
	char name[300];

	assert_non_null(f);
	memset(name, 'p', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	for (size_t n = 0; n < filler;)
		n += (size_t)fprintf(
			f, "1000-2000 r--p 00000000 08:01 1234 /%s\n", name);
	fputs("not-a-range at all\n", f);
	fputs("zz00-3000 rw-p 00000000 00:00 0\n", f);
	fputs(target, f);
	fputs("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 [x]\n", f);
	fflush(f);
	rewind(f);
	return dup(fileno(f)); /* tmpfile: gone at exit */
}

static void test_maps_text(void **state)
{
	uintptr_t lo = 0, hi = 0;

	(void)state;
	/* the target line cut at every offset of the 1024-byte buffer */
	for (size_t filler = 0; filler < 2200; filler += 37) {
		int fd = maps_file(filler, "55d1c2a1f000-55d1c2a40000 r-xp "
					   "00001000 08:01 99 /bin/prog\n");

		assert_int_equal(ms_maps_find(fd, 0x55d1c2a20000, &lo, &hi), 0);
		assert_true(lo == 0x55d1c2a1f000 && hi == 0x55d1c2a40000);
		close(fd);
	}
	{
		int fd = maps_file(3000, "10000-20000 rw-p 0 0:0 0\n");

		/* end is exclusive; no mapping holds 0x5000 */
		assert_int_equal(ms_maps_find(fd, 0x20000, &lo, &hi), -ENOENT);
		close(fd);
		fd = maps_file(0, "10000-20000 rw-p 0 0:0 0\n");
		assert_int_equal(ms_maps_find(fd, 0x1ffff, &lo, &hi), 0);
		close(fd);
	}
}

/* The kernel's own file: the ioctl where there is one, else the text. */
static void test_maps_self(void **state)
{
	uintptr_t lo, hi, sp = here();

	(void)state;
	assert_int_equal(ms_stack_bounds_vma(sp, &lo, &hi), 0);
	assert_true(lo <= sp && sp < hi);
	assert_int_equal(ms_stack_bounds_vma(8, &lo, &hi), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_thread),
		cmocka_unit_test(test_other_thread),
		cmocka_unit_test(test_program_stack),
		cmocka_unit_test(test_recorded),
		cmocka_unit_test(test_maps_text),
		cmocka_unit_test(test_maps_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
