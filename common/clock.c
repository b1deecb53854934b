/* SPDX-License-Identifier: MIT */
#include "clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* The kernel's id of this boot: 36 characters, or "" */
static void boot_id(char out[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, out, 36);

	if (fd >= 0)
		close(fd);
	out[n == 36 ? 36 : 0] = 0;
}

static uint64_t cached_rate(const char *cache, const char *id)
{
	char buf[128], got[40];
	unsigned long long hz;
	int fd = open(cache, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "%39s %llu", got, &hz) != 2 || strcmp(got, id) != 0)
		return 0;
	return hz;
}

static void store_rate(const char *cache, const char *id, uint64_t hz)
{
	char tmp[4200], line[96];
	int fd, len;

	if (snprintf(tmp, sizeof(tmp), "%s.%d", cache, (int)getpid()) >=
	    (int)sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	len = snprintf(line, sizeof(line), "%s %llu\n", id,
		       (unsigned long long)hz);
	if (write(fd, line, (size_t)len) != len || close(fd) < 0 ||
	    rename(tmp, cache) < 0)
		unlink(tmp);
}

void ms_clock_calibrate_cached(struct ms_clock *c, unsigned window_ms,
			       const char *cache)
{
	const char *env = getenv("MEMSCOPE_CLOCK");
	char id[40];
	uint64_t hz, now;

	if ((env && strcmp(env, "monotonic") == 0) ||
	    !ms_clock_has_invariant_tsc()) {
		set_monotonic(c);
		return;
	}
	boot_id(id);
	if (!cache[0])
		id[0] = 0; /* nowhere to keep it */
	hz = id[0] ? cached_rate(cache, id) : 0;
	/* Up to three looks: one preempted between its two clock reads is
	 * off by more than its window can absorb. */
	for (int i = 0; hz && i < 3; i++) {
		now = measure_once(2);
		if (now && (now > hz ? now - hz : hz - now) <= hz / 1000) {
			c->use_tsc = 1;
			c->shift = 0;
			c->tick_hz = hz;
			return;
		}
	}
	ms_clock_calibrate(c, window_ms);
	if (c->use_tsc && id[0])
		store_rate(cache, id, c->tick_hz);
}
