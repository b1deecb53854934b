/* SPDX-License-Identifier: MIT */
/* consumer/analysis/demangle.c: C++ and Rust legacy names for people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "demangle.h"

static void check(const char *mangled, const char *want)
{
	char *d = ms_demangle(mangled);

	if (!want) {
		assert_null(d);
		return;
	}
	assert_non_null(d);
	assert_string_equal(d, want);
	free(d);
}

static void test_cxx(void **state)
{
	(void)state;
	check("_ZN5ms_fx7Counter4bumpEi", "ms_fx::Counter::bump(int)");
	check("_ZNSt6vectorIiSaIiEE9push_backERKi",
	      "std::vector<int, std::allocator<int> >::push_back(int const&)");
	check("_Z3foov.cold", "foo() [clone .cold]");
	/* not the Rust form: a hash of 15 digits stays */
	check("_ZN1a16h0123456789abcdeE", "a::h0123456789abcde");
}

static void test_rust_legacy(void **state)
{
	(void)state;
	check("_ZN4core3ptr13drop_in_place17h0123456789abcdefE",
	      "core::ptr::drop_in_place");
	check("_ZN66_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$core..ops..drop.."
	      "Drop$GT$4drop17h0123456789abcdefE",
	      "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop");
	check("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$"
	      "17h0123456789abcdefE",
	      "std::rt::lang_start::{{closure}}");
}

static void test_not_mangled(void **state)
{
	(void)state;
	check("main", NULL);
	check("ms_fx_alpha", NULL);
	check("_Zgarbage", NULL);
	check("", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cxx),
		cmocka_unit_test(test_rust_legacy),
		cmocka_unit_test(test_not_mangled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
