/* SPDX-License-Identifier: MIT */
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* A (ticks, ns) pair is read within hz / MS_PAIR_SLACK_DIV ticks (20 us). */
#define MS_PAIR_SLACK_DIV 50000u
/* The time since the cached pair that checks a rate without a sleep: its
 * 20 us slack is then 2e-5 of it, 50 times under the 0.1% allowed. */
#define MS_BASELINE_NS 1000000000u

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

/* At most 16 TSC bits dropped, and 1 MHz of ticks left. */
static int shift_allowed(const struct ms_clock *c, unsigned shift)
{
	return shift <= 16 && (c->tick_hz >> shift) >= 1000000u;
}

unsigned ms_clock_resolve(const struct ms_clock *c, uint64_t res_ns,
			  unsigned min_shift)
{
	unsigned s = min_shift;

	if (!c->use_tsc)
		return min_shift;
	/* while 2^(s+1) ticks are still within res_ns */
	while (shift_allowed(c, s + 1) &&
	       ((unsigned __int128)2 << s) * 1000000000u <=
		       (unsigned __int128)res_ns * c->tick_hz)
		s++;
	return s;
}

void ms_clock_coarsen(struct ms_clock *c, unsigned shift)
{
	if (!c->use_tsc || !shift_allowed(c, shift))
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

/*
 * What the cache holds: the rate, and one (ticks, ns) pair read when it
 * was measured. The pair lets a later start check the rate against the
 * whole time since, with no sleep of its own.
 */
struct cached {
	uint64_t hz, ref_ticks, ref_ns; /* ref_ns 0: no pair (old file) */
};

/*
 * One (ticks, ns) pair: the TSC read on both sides of the clock, its
 * middle kept. 0, or -EAGAIN when every try was interrupted for longer
 * than `max_ticks` (preempted between the reads).
 */
static int read_pair(uint64_t max_ticks, uint64_t *ticks, uint64_t *ns)
{
	struct ms_clock tsc = {.use_tsc = 1};

	for (int i = 0; i < 4; i++) {
		uint64_t t0 = ms_clock_ticks(&tsc), n = ms_mono_ns();
		uint64_t t1 = ms_clock_ticks(&tsc);

		if (t1 >= t0 && t1 - t0 <= max_ticks) {
			*ticks = t0 + (t1 - t0) / 2;
			*ns = n;
			return 0;
		}
	}
	return -EAGAIN;
}

static int read_cache(const char *cache, const char *id, struct cached *c)
{
	char buf[160], got[40];
	unsigned long long hz, rt = 0, rn = 0;
	int fd = open(cache, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = 0;
	/* "BOOT_ID HZ REF_TICKS REF_NS", or the older "BOOT_ID HZ" */
	if (sscanf(buf, "%39s %llu %llu %llu", got, &hz, &rt, &rn) < 2 ||
	    strcmp(got, id) != 0 || hz == 0)
		return -ENOENT;
	c->hz = hz;
	c->ref_ticks = rt;
	c->ref_ns = rn;
	return 0;
}

static void store_rate(const char *cache, const char *id, uint64_t hz)
{
	char tmp[4200], line[128];
	uint64_t rt = 0, rn = 0;
	int fd, len;

	if (snprintf(tmp, sizeof(tmp), "%s.%d", cache, (int)getpid()) >=
	    (int)sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (read_pair(hz / MS_PAIR_SLACK_DIV, &rt, &rn) < 0)
		rt = rn = 0; /* the next start checks with a sleep */
	len = snprintf(line, sizeof(line), "%s %llu %llu %llu\n", id,
		       (unsigned long long)hz, (unsigned long long)rt,
		       (unsigned long long)rn);
	if (write(fd, line, (size_t)len) != len || close(fd) < 0 ||
	    rename(tmp, cache) < 0)
		unlink(tmp);
}

/* 1 when `now` is within 0.1% of `hz` */
static int close_to(uint64_t now, uint64_t hz)
{
	return now && (now > hz ? now - hz : hz - now) <= hz / 1000;
}

/*
 * The rate over the time since the cached pair was read, when that is long
 * enough for the pair's slack (20 us) to be far below the 0.1% allowed;
 * else 0. A TSC that went back, or ran while the monotonic clock did not
 * (a suspend), gives a rate that fails the check.
 */
static uint64_t rate_since(const struct cached *c)
{
	uint64_t t, n;

	if (!c->ref_ns || read_pair(c->hz / MS_PAIR_SLACK_DIV, &t, &n) < 0 ||
	    n < c->ref_ns + MS_BASELINE_NS || t <= c->ref_ticks)
		return 0;
	return (uint64_t)((unsigned __int128)(t - c->ref_ticks) * 1000000000u /
			  (n - c->ref_ns));
}

void ms_clock_calibrate_cached(struct ms_clock *c, unsigned window_ms,
			       const char *cache)
{
	const char *env = getenv("MEMSCOPE_CLOCK");
	struct cached got = {0};
	char id[40];
	uint64_t now;

	if ((env && strcmp(env, "monotonic") == 0) ||
	    !ms_clock_has_invariant_tsc()) {
		set_monotonic(c);
		return;
	}
	boot_id(id);
	if (!cache[0])
		id[0] = 0; /* nowhere to keep it */
	if (id[0] && read_cache(cache, id, &got) == 0) {
		/* No sleep: the time since the cached pair is the window. */
		now = rate_since(&got);
		if (close_to(now, got.hz)) {
			ms_clock_set(c, now);
			return;
		}
		/* Up to three short looks, for a cache written less than
		 * MS_BASELINE_NS ago: one preempted between its two clock
		 * reads is off by more than its window can absorb. */
		for (int i = 0; !now && i < 3; i++) {
			if (close_to(measure_once(2), got.hz)) {
				ms_clock_set(c, got.hz);
				if (!got.ref_ns) /* an older file: add a pair */
					store_rate(cache, id, got.hz);
				return;
			}
		}
	}
	ms_clock_calibrate(c, window_ms);
	if (c->use_tsc && id[0])
		store_rate(cache, id, c->tick_hz);
}
