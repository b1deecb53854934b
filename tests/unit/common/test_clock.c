/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static void test_calibrated_rate_tracks_monotonic(void **state)
{
	struct ms_clock c;
	struct timespec pause = {0, 50 * 1000000L};
	uint64_t t0, n0, t1, n1, est;

	(void)state;
	ms_clock_calibrate(&c, 10);
	assert_true(c.tick_hz >= 100000000u);
	t0 = ms_clock_ticks(&c);
	n0 = ms_mono_ns();
	nanosleep(&pause, NULL);
	t1 = ms_clock_ticks(&c);
	n1 = ms_mono_ns();
	assert_true(t1 > t0);
	/* ticks converted with the calibrated rate agree within 2% */
	est = ms_ticks_to_ns(t1, t0, n0, c.tick_hz);
	assert_true(est > n0);
	double ratio = (double)(est - n0) / (double)(n1 - n0);
	assert_true(ratio > 0.98 && ratio < 1.02);
}

/* Coarse ticks keep their rate consistent with their resolution. */
static void test_coarsen(void **state)
{
	struct ms_clock c;
	struct timespec pause = {0, 50 * 1000000L};
	uint64_t t0, n0, t1, n1, hz;

	(void)state;
	ms_clock_calibrate(&c, 10);
	if (!c.use_tsc) {
		ms_clock_coarsen(&c, 6); /* no effect on ns */
		assert_int_equal(c.tick_hz, 1000000000u);
		assert_int_equal(c.shift, 0);
		return;
	}
	hz = c.tick_hz;
	ms_clock_coarsen(&c, 6);
	assert_int_equal(c.shift, 6);
	assert_int_equal(c.tick_hz, hz >> 6);
	t0 = ms_clock_ticks(&c);
	n0 = ms_mono_ns();
	nanosleep(&pause, NULL);
	t1 = ms_clock_ticks(&c);
	n1 = ms_mono_ns();
	double ratio = (double)(ms_ticks_to_ns(t1, t0, n0, c.tick_hz) - n0) /
		       (double)(n1 - n0);
	assert_true(ratio > 0.98 && ratio < 1.02);
	ms_clock_set(&c, hz); /* back to full resolution */
	assert_int_equal(c.shift, 0);
}

/*
 * A resolution becomes the largest power of two of TSC ticks within it, at
 * least the default unit, never under 1 MHz of ticks.
 */
static void test_resolve(void **state)
{
	struct ms_clock c = {.use_tsc = 1, .tick_hz = 2096000000u};
	struct ms_clock ns = {.use_tsc = 0, .tick_hz = 1000000000u};

	(void)state;
	/* 64 ticks are 30.5 ns at 2.096 GHz */
	assert_int_equal(ms_clock_resolve(&c, 1, 6), 6);
	assert_int_equal(ms_clock_resolve(&c, 61, 6), 6);
	assert_int_equal(ms_clock_resolve(&c, 62, 6), 7);    /* 128: 61.07 ns */
	assert_int_equal(ms_clock_resolve(&c, 250, 6), 9);   /* 512: 244 ns */
	assert_int_equal(ms_clock_resolve(&c, 976, 6), 10);  /* 488 ns */
	assert_int_equal(ms_clock_resolve(&c, 1000, 6), 11); /* 977 ns */
	/* 2^11 ticks leave 1.02 MHz, 2^12 would leave 0.51 */
	assert_int_equal(ms_clock_resolve(&c, 1000000, 6), 11);
	c.tick_hz = 1000000000u; /* 1 GHz: 2^9 ticks = 512 ns */
	assert_int_equal(ms_clock_resolve(&c, 1000, 6), 9);
	assert_int_equal(ms_clock_resolve(&c, 1024, 6), 9);
	c.tick_hz = 5000000000u; /* 2^12 ticks = 819 ns */
	assert_int_equal(ms_clock_resolve(&c, 1000, 6), 12);
	c.tick_hz = 90000000u; /* slow: 64 ticks leave 1.4 MHz, no more */
	assert_int_equal(ms_clock_resolve(&c, 1000, 6), 6);
	assert_int_equal(ms_clock_resolve(&ns, 1000, 6), 6); /* no TSC */
	/* what ms_clock_coarsen() then takes */
	c.tick_hz = 2096000000u;
	ms_clock_coarsen(&c, ms_clock_resolve(&c, 1000, 6));
	assert_int_equal(c.shift, 11);
	assert_int_equal(c.tick_hz, 2096000000u >> 11);
}

static void test_monotonic_fallback(void **state)
{
	struct ms_clock c;
	uint64_t a, b;

	(void)state;
	setenv("MEMSCOPE_CLOCK", "monotonic", 1);
	ms_clock_calibrate(&c, 1);
	unsetenv("MEMSCOPE_CLOCK");
	assert_int_equal(c.use_tsc, 0);
	assert_int_equal(c.tick_hz, 1000000000u);
	a = ms_clock_ticks(&c);
	b = ms_mono_ns();
	assert_true(b >= a && b - a < 1000000000u);
	ms_clock_set(&c, 0);
	assert_int_equal(c.use_tsc, 0);
}

/* Writes a cache whose pair was read `ago_ns` before now, at rate `hz`. */
static void write_cache(const char *path, const char *id, uint64_t hz,
			uint64_t true_hz, uint64_t ago_ns)
{
	struct ms_clock tsc = {.use_tsc = 1};
	uint64_t t = ms_clock_ticks(&tsc), n = ms_mono_ns();
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "%s %llu %llu %llu\n", id, (unsigned long long)hz,
		(unsigned long long)(t - (uint64_t)((unsigned __int128)ago_ns *
						    true_hz / 1000000000u)),
		(unsigned long long)(n - ago_ns));
	fclose(f);
}

static void boot_id(char id[40])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%39s", id), 1);
	fclose(f);
}

/*
 * A cached rate with a pair old enough is checked against the time since,
 * with no sleep; one that fails the check is measured again and the cache
 * rewritten.
 */
static void test_cached_rate(void **state)
{
	char dir[] = "/tmp/ms-test-clock-XXXXXX", path[64], id[40];
	struct ms_clock ref, c;
	uint64_t t0, hz;
	unsigned long long got_hz;
	FILE *f;

	(void)state;
	ms_clock_calibrate(&ref, 20);
	if (!ref.use_tsc)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tsc-rate", dir);
	boot_id(id);
	hz = ref.tick_hz;

	write_cache(path, id, hz, hz, 5000000000u); /* 5 s ago */
	t0 = ms_mono_ns();
	ms_clock_calibrate_cached(&c, 20, path);
	assert_true(ms_mono_ns() - t0 < 2000000u); /* no 2 ms sleep */
	assert_true(c.use_tsc);
	assert_true(c.tick_hz > hz - hz / 500 && c.tick_hz < hz + hz / 500);

	/* a rate 5% off: measured again (3 x 20 ms), and kept */
	write_cache(path, id, hz + hz / 20, hz, 5000000000u);
	t0 = ms_mono_ns();
	ms_clock_calibrate_cached(&c, 20, path);
	assert_true(ms_mono_ns() - t0 >= 60000000u);
	assert_true(c.tick_hz > hz - hz / 500 && c.tick_hz < hz + hz / 500);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%*s %llu", &got_hz), 1);
	fclose(f);
	assert_int_equal(got_hz, c.tick_hz);

	/* another boot's cache is not used */
	write_cache(path, "00000000-0000-0000-0000-000000000000", hz + hz / 20,
		    hz, 5000000000u);
	ms_clock_calibrate_cached(&c, 20, path);
	assert_true(c.tick_hz > hz - hz / 500 && c.tick_hz < hz + hz / 500);
	unlink(path);
	rmdir(dir);
}

static void test_ticks_to_ns(void **state)
{
	(void)state;
	assert_int_equal(ms_ticks_to_ns(3000, 1000, 500, 2000000000u), 1500);
	/* before the reference point */
	assert_int_equal(ms_ticks_to_ns(0, 2000, 5000, 2000000000u), 4000);
	/* never negative */
	assert_int_equal(ms_ticks_to_ns(0, 2000000000u, 0, 1000000000u), 0);
	/* no overflow on large spans */
	assert_int_equal(ms_ticks_to_ns(UINT64_MAX, 0, 0, 4000000000u),
			 (uint64_t)((unsigned __int128)UINT64_MAX *
				    1000000000u / 4000000000u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calibrated_rate_tracks_monotonic),
		cmocka_unit_test(test_coarsen),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_monotonic_fallback),
		cmocka_unit_test(test_ticks_to_ns),
		cmocka_unit_test(test_cached_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
