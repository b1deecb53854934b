/* SPDX-License-Identifier: MIT */
/*
 * Sampling is unbiased: over 1,000,000 allocations with a fixed seed, the
 * estimate sum(weight * size) is within 1% of the true total in each mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sampling.h"

#define DRAWS 1000000

/* The benchmark's size mix: mostly < 1 KiB, some medium, rare large. */
static size_t draw_size(uint64_t *x)
{
	uint64_t r;

	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	r = *x;
	if (r % 100 < 90)
		return 16 + (r >> 8) % 1000; /* small */
	if (r % 100 < 99)
		return 1024 + (r >> 8) % 9000; /* medium */
	return 10241 + (r >> 8) % 100000;      /* large */
}

struct result {
	double truth, estimate;
	uint64_t sampled;
};

static struct result run(uint32_t mode, uint64_t param)
{
	struct ms_sampler s;
	struct result r = {0, 0, 0};
	uint64_t x = 0x9e3779b97f4a7c15ull;

	ms_sampler_init(&s, mode, param, 12345);
	for (int i = 0; i < DRAWS; i++) {
		size_t size = draw_size(&x);
		/* 40 call sites, one of them hot */
		uintptr_t site = 0x400000 + 64 * (i % 3 ? 7 : i % 40);
		uint64_t w = ms_sample(&s, size, site);

		r.truth += (double)size;
		if (w) {
			r.estimate += (double)w / MS_WEIGHT_ONE * (double)size;
			r.sampled++;
		}
	}
	print_message("mode %u: truth %.0f estimate %.0f (%+.3f%%), %llu "
		      "sampled\n",
		      mode, r.truth, r.estimate,
		      100.0 * (r.estimate - r.truth) / r.truth,
		      (unsigned long long)r.sampled);
	return r;
}

static void test_full_exact(void **state)
{
	struct result r = run(MS_SAMPLING_FULL, 0);

	(void)state;
	assert_true(r.estimate == r.truth);
	assert_int_equal(r.sampled, DRAWS);
}

static void test_tiered_unbiased(void **state)
{
	struct result r = run(MS_SAMPLING_TIERED, 0);

	(void)state;
	assert_true(r.estimate > r.truth * 0.99 && r.estimate < r.truth * 1.01);
	/* and it really samples: far fewer than all, more than the large */
	assert_true(r.sampled < DRAWS / 5);
	assert_true(r.sampled > DRAWS / 100);
}

static void test_bytes_unbiased(void **state)
{
	struct result r = run(MS_SAMPLING_BYTES, 16384);

	(void)state;
	assert_true(r.estimate > r.truth * 0.99 && r.estimate < r.truth * 1.01);
	assert_true(r.sampled < DRAWS / 10);
}

/* Every class's rate is right: counts, not bytes. */
static void test_tiered_rates(void **state)
{
	struct ms_sampler s;
	uint64_t n_small = 0, n_med = 0, n_large = 0;

	(void)state;
	ms_sampler_init(&s, MS_SAMPLING_TIERED, 0, 99);
	for (int i = 0; i < DRAWS; i++) {
		/* a different site each call: none becomes hot */
		uintptr_t site = (uintptr_t)i * 0x10001;

		n_small += ms_sample(&s, 100, site) != 0;
		n_med += ms_sample(&s, 5000, site + 1) != 0;
		n_large += ms_sample(&s, 20000, site + 2) != 0;
	}
	assert_int_equal(n_large, DRAWS);
	assert_in_range(n_med, DRAWS / 10 * 97 / 100, DRAWS / 10 * 103 / 100);
	/* the small tier: 1% (sites are spread, so none is hot) */
	assert_in_range(n_small, DRAWS / 100 * 93 / 100,
			DRAWS / 100 * 107 / 100);
}

/* A site making most calls is hot: its small calls are sampled at 2%. */
static void test_hot_site_boost(void **state)
{
	struct ms_sampler s;
	uint64_t n = 0, w_sum = 0;

	(void)state;
	ms_sampler_init(&s, MS_SAMPLING_TIERED, 0, 7);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t w = ms_sample(&s, 100, 0x401234);

		n += w != 0;
		w_sum += w;
	}
	assert_in_range(n, DRAWS / 50 * 95 / 100, DRAWS / 50 * 105 / 100);
	/* estimated count stays unbiased */
	assert_in_range(w_sum / MS_WEIGHT_ONE, DRAWS * 97 / 100,
			DRAWS * 103 / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_exact),
		cmocka_unit_test(test_tiered_unbiased),
		cmocka_unit_test(test_bytes_unbiased),
		cmocka_unit_test(test_tiered_rates),
		cmocka_unit_test(test_hot_site_boost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
