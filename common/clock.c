/* SPDX-License-Identifier: MIT */
#include "clock.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

int ms_clock_has_invariant_tsc(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return 0;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return (d >> 8) & 1;
#else
	return 0;
#endif
}

static void set_monotonic(struct ms_clock *c)
{
	c->use_tsc = 0;
	c->shift = 0;
	c->tick_hz = 1000000000u;
}

void ms_clock_set(struct ms_clock *c, uint64_t tick_hz)
{
	if (tick_hz == 0 || tick_hz == 1000000000u ||
	    !ms_clock_has_invariant_tsc()) {
		set_monotonic(c);
		return;
	}
	c->use_tsc = 1;
	c->shift = 0;
	c->tick_hz = tick_hz;
}

void ms_clock_coarsen(struct ms_clock *c, unsigned shift)
{
	if (!c->use_tsc || shift > 16 || (c->tick_hz >> shift) < 1000000u)
		return;
	c->shift = shift;
	c->tick_hz >>= shift;
}

static uint64_t measure_once(unsigned window_ms)
{
	struct timespec pause = {0, (long)window_ms * 1000000L};
	struct ms_clock tsc = {.use_tsc = 1};
	uint64_t t0 = ms_clock_ticks(&tsc), n0 = ms_mono_ns();
	uint64_t t1, n1;

	nanosleep(&pause, NULL);
	t1 = ms_clock_ticks(&tsc);
	n1 = ms_mono_ns();
	if (n1 <= n0 || t1 <= t0)
		return 0;
	return (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000u /
			  (n1 - n0));
}

void ms_clock_calibrate(struct ms_clock *c, unsigned window_ms)
{
	const char *env = getenv("MEMSCOPE_CLOCK");
	uint64_t r[3], t;

	if ((env && strcmp(env, "monotonic") == 0) ||
	    !ms_clock_has_invariant_tsc()) {
		set_monotonic(c);
		return;
	}
	for (int i = 0; i < 3; i++)
		r[i] = measure_once(window_ms);
	/* median of three */
	if (r[0] > r[1]) {
		t = r[0];
		r[0] = r[1];
		r[1] = t;
	}
	if (r[1] > r[2]) {
		t = r[1];
		r[1] = r[2];
		r[2] = t;
	}
	if (r[0] > r[1]) {
		t = r[0];
		r[0] = r[1];
		r[1] = t;
	}
	/* Plausible TSC rates: 100 MHz .. 10 GHz. */
	if (r[1] < 100000000u || r[1] > 10000000000u) {
		set_monotonic(c);
		return;
	}
	c->use_tsc = 1;
	c->shift = 0;
	c->tick_hz = r[1];
}
