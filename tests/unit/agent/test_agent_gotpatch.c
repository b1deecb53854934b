/* SPDX-License-Identifier: MIT */
/*
 * PLT slot rewriting (gotpatch.c) on two libraries that call this
 * program's gt_target_* functions (the "wrappers", x + 1) through their
 * PLT: one lazily bound, one BIND_NOW with its GOT in RELRO. A rewritten
 * slot leads to gt_real (x + 1000). Also the malloc family's table: no
 * free/realloc once the bootstrap arena handed out a block.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "got_victim.h"
#include "gotpatch.h"

/* Exported (ENABLE_EXPORTS): the victims' PLT slots bind to these. */
#define TARGET(n)                                                              \
	int gt_target_##n(int x)                                               \
	{                                                                      \
		return x + 1;                                                  \
	}
TARGET(a)
TARGET(b)
TARGET(c)
TARGET(d)
TARGET(e)

static int gt_real(int x)
{
	return x + 1000;
}

static int gt_decoy(int x)
{
	return x - 1;
}

static struct ms_got_redirect entry(const char *name, int (*from)(int))
{
	return (struct ms_got_redirect){name, (uintptr_t)from,
					(uintptr_t)gt_real};
}

static int redirect(const char *name, int (*from)(int), uintptr_t self,
		    int flags)
{
	struct ms_got_redirect r = entry(name, from);

	return ms_got_redirect(&r, 1, self, flags);
}

/* The program itself holds the wrappers: it is never patched. */
static uintptr_t self(void)
{
	return (uintptr_t)gt_real;
}

/* BIND_NOW: the slot is in RELRO, already bound to the wrapper. */
static void test_resolved_relro(void **state)
{
	(void)state;
	assert_int_equal(victim_now_a(1), 2);
	assert_int_equal(redirect("gt_target_a", gt_target_a, self(), 0), 1);
	assert_int_equal(victim_now_a(1), 1001);
	/* Still callable after the page went back to read-only. */
	assert_int_equal(victim_now_a(2), 1002);
}

/* Lazy, already called once: bound to the wrapper, outside RELRO. */
static void test_resolved_lazy(void **state)
{
	(void)state;
	assert_int_equal(victim_lazy_c(1), 2);
	/* the lazy library's slot and the BIND_NOW one */
	assert_int_equal(redirect("gt_target_c", gt_target_c, self(), 0), 2);
	assert_int_equal(victim_lazy_c(1), 1001);
	assert_int_equal(victim_now_c(1), 1001);
}

/* Never called: the slot is bound by name, with MS_GOT_LAZY only. */
static void test_unresolved(void **state)
{
	(void)state;
	assert_int_equal(redirect("gt_target_b", gt_target_b, self(), 0), 1);
	assert_int_equal(
		redirect("gt_target_b", gt_target_b, self(), MS_GOT_LAZY), 1);
	assert_int_equal(victim_lazy_b(1), 1001);
	assert_int_equal(victim_now_b(1), 1001);
}

/* A slot that does not lead to `from` is left alone, bound or not. */
static void test_other_value(void **state)
{
	(void)state;
	assert_int_equal(redirect("gt_target_d", gt_decoy, self(), MS_GOT_LAZY),
			 0);
	assert_int_equal(victim_lazy_d(1), 2);
	assert_int_equal(victim_now_d(1), 2);
}

/* The object holding `self` is skipped. */
static void test_self_skipped(void **state)
{
	(void)state;
	assert_int_equal(redirect("gt_target_e", gt_target_e,
				  (uintptr_t)victim_now_e, MS_GOT_LAZY),
			 1);
	assert_int_equal(victim_now_e(1), 2);
	assert_int_equal(victim_lazy_e(1), 1001);
}

static void test_too_many(void **state)
{
	struct ms_got_redirect r[MS_GOT_MAX + 1];

	(void)state;
	for (size_t i = 0; i < MS_GOT_MAX + 1; i++)
		r[i] = entry("gt_target_a", gt_target_a);
	assert_int_equal(ms_got_redirect(r, MS_GOT_MAX + 1, self(), 0),
			 -EINVAL);
}

static int has(const struct ms_got_redirect *r, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(r[i].name, name))
			return 1;
	return 0;
}

/* Stand-ins for the interposed functions (only their addresses count). */
static void *fake_malloc(size_t size)
{
	(void)size;
	return NULL;
}

static void fake_free(void *p)
{
	(void)p;
}

static void *fake_realloc(void *p, size_t size)
{
	(void)size;
	return p;
}

static void *fake_calloc(size_t n, size_t size)
{
	(void)n;
	(void)size;
	return NULL;
}

/* Runs last: it makes the bootstrap arena used for the whole process. */
static void test_table(void **state)
{
	struct ms_real_fns wrap;
	struct ms_got_redirect r[MS_GOT_MAX];
	size_t n;

	(void)state;
	memset(&wrap, 0, sizeof(wrap));
	wrap.malloc = fake_malloc;
	wrap.free = fake_free;
	wrap.realloc = fake_realloc;
	wrap.calloc = fake_calloc;
	assert_int_equal(ms_got_bypass_table(&wrap, r), 0); /* unresolved */
	ms_boot_resolve();
	n = ms_got_bypass_table(&wrap, r);
	assert_int_equal(n, 4);
	assert_true(has(r, n, "free") && has(r, n, "realloc"));
	assert_int_equal(r[0].to, (uintptr_t)ms_real.malloc);
	assert_int_equal(r[0].from, (uintptr_t)fake_malloc);
	/* An arena block exists: it must keep reaching the wrappers. */
	assert_non_null(ms_boot_alloc(32, 16));
	n = ms_got_bypass_table(&wrap, r);
	assert_int_equal(n, 2);
	assert_true(has(r, n, "malloc") && has(r, n, "calloc"));
	assert_false(has(r, n, "free") || has(r, n, "realloc"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolved_relro),
		cmocka_unit_test(test_resolved_lazy),
		cmocka_unit_test(test_unresolved),
		cmocka_unit_test(test_other_value),
		cmocka_unit_test(test_self_skipped),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
