/* SPDX-License-Identifier: MIT */
/*
 * Agent overhead: nanoseconds added per malloc+free pair.
 *
 *   bench_agent [--pairs N] [--rounds R] [--phase K]
 *
 * The in-process measurements drive the agent's own fast path (hooks.h,
 * the code the interposed malloc/free run) against plain libc malloc/free,
 * alternating tracked and untracked batches in one thread and reporting
 * medians. A minimal consumer in a second thread drains the rings (block
 * mode: nothing is lost, and a slow drain would show as cost).
 *
 *   tiered, unsampled   small blocks; the sampler never fires: the pure
 *                       fast path (sampler countdown + address-table miss)
 *   tiered, mix         the default mode on a realistic mix of sizes and
 *                       64 call sites, samples included
 *   full, no stacks     every call recorded, stack depth 0 (caller only)
 *   full, depth 32      every call recorded with a 32-frame stack, called
 *                       through a 10-deep call chain
 *
 * Then the no-consumer cost: this program re-runs itself as a child doing
 * a malloc-heavy loop, alternately plain and with LD_PRELOAD=libmemscope.so
 * and no consumer listening, and reports the ratio of median wall times.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "memscope.h"
#include "mini_consumer.h"

#ifndef MS_AGENT_PATH
#define MS_AGENT_PATH "libmemscope.so"
#endif

static long pairs = 200000;
static int rounds = 15;
static int force_unsampled;
static int nsites = 1;
static int only_phase = -1;

/*
 * Batches are timed in this thread's CPU time: on a shared machine wall
 * time would also count the time the scheduler gave to others.
 */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* What interpose.c's malloc and free do, as out-of-line calls. */
static __attribute__((noinline)) void *t_malloc(size_t size, uintptr_t site)
{
	void *p = ms_real.malloc(size);

	if (force_unsampled)
		ms_tls.smp.skip[0] = ms_tls.smp.skip[1] = 1 << 30;
	ms_on_alloc(p, size, 0, site ? site : MS_CALLER);
	return p;
}

static __attribute__((noinline)) void t_free(void *p)
{
	if (!p)
		return;
	ms_on_free(p, 1);
	ms_real.free(p);
}

static __attribute__((noinline)) void *u_malloc(size_t size, uintptr_t site)
{
	(void)site;
	return malloc(size);
}

static __attribute__((noinline)) void u_free(void *p)
{
	free(p);
}

typedef void *(*alloc_fn)(size_t, uintptr_t);
typedef void (*free_fn)(void *);

static size_t mix_size(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	if (*x % 100 < 95)
		return 16 + *x % 1000;
	return *x % 100 < 99 ? 1024 + *x % 9000 : 10241 + *x % 50000;
}

/* One batch of pairs; small fixed sizes unless `mix`. */
static __attribute__((noinline)) uint64_t batch(alloc_fn a, free_fn f, int mix)
{
	uint64_t x = 88172645463325252ull, t0 = cpu_ns();

	for (long i = 0; i < pairs; i++) {
		size_t size = mix ? mix_size(&x) : 64;
		uintptr_t site = 0x400000 + 64 * (uintptr_t)(i % nsites);
		void *p = a(size, site);

		*(volatile char *)p = 1;
		f(p);
	}
	return cpu_ns() - t0;
}

/* A 10-deep call chain in front of a batch. */
static __attribute__((noinline)) uint64_t chain(int depth, alloc_fn a,
						free_fn f, int mix)
{
	uint64_t r = depth ? chain(depth - 1, a, f, mix) : batch(a, f, mix);

	__asm__ volatile("" ::: "memory"); /* keep the frame: no tail call */
	return r;
}

struct phase {
	const char *name;
	uint32_t sampling, depth;
	int unsampled, mix, sites, chain;
	double target;
};

struct job {
	const struct phase *ph;
	double tracked, untracked;
};

static void *run_phase(void *arg)
{
	struct job *j = arg;
	const struct phase *ph = j->ph;
	uint64_t tr[64], un[64];

	force_unsampled = ph->unsampled;
	nsites = ph->sites;
	for (int r = 0; r < rounds; r++) {
		/* alternate, so drift hits both sides alike */
		un[r] = ph->chain ? chain(10, u_malloc, u_free, ph->mix)
				  : batch(u_malloc, u_free, ph->mix);
		tr[r] = ph->chain ? chain(10, t_malloc, t_free, ph->mix)
				  : batch(t_malloc, t_free, ph->mix);
	}
	j->untracked = median(un, rounds) / (double)pairs;
	j->tracked = median(tr, rounds) / (double)pairs;
	return NULL;
}

static int in_process(void)
{
	static const struct phase phases[] = {
		{"tiered, unsampled pair", MS_SAMPLING_TIERED, 32, 1, 0, 64, 0,
		 5},
		{"tiered, size mix, 64 sites", MS_SAMPLING_TIERED, 32, 0, 1, 64,
		 0, 0},
		{"full, no stacks", MS_SAMPLING_FULL, 0, 0, 0, 1, 0, 40},
		{"full, depth 32, 10-deep chain", MS_SAMPLING_FULL, 32, 0, 0, 1,
		 1, 150},
	};
	struct ms_settings s;
	struct ms_mini *m;
	struct ms_addrtab *tab;
	char path[64];
	int err;

	ms_settings_defaults(&s);
	s.sampling = MS_SAMPLING_TIERED;
	s.ring_kb = 16384;
	s.on_full = MS_ON_FULL_BLOCK;
	{
		/* as the real consumer does: TSC ticks where invariant */
		struct ms_clock clk;

		ms_clock_calibrate(&clk, 20);
		s.tick_hz = clk.use_tsc ? clk.tick_hz : 0;
	}
	/* A directory of our own: the agent trusts no other (issue 11). */
	char dir[] = "/tmp/ms-bench-agent-XXXXXX";

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/bench.sock", dir);
	m = ms_mini_start(path, &s);
	if (!m)
		return 1;
	setenv("MEMSCOPE_SOCKET", path, 1);
	ms_boot_resolve();
	ms_agent_init();
	err = ms_attach(NULL, NULL, 0);
	if (err) {
		fprintf(stderr, "bench: attach failed (%s)\n", strerror(-err));
		return 1;
	}
	tab = ms_g.tab;
	printf("%-32s %10s %10s %10s %8s\n", "case (ns per malloc+free)",
	       "untracked", "tracked", "added", "target");
	for (size_t i = 0; i < MS_ARRAY_SIZE(phases); i++) {
		struct job j = {&phases[i], 0, 0};
		pthread_t th;

		if (only_phase >= 0 && (size_t)only_phase != i)
			continue;
		ms_g.set.sampling = phases[i].sampling;
		ms_g.set.stack_depth = phases[i].depth;
		ms_g.tab = phases[i].sampling == MS_SAMPLING_FULL ? NULL : tab;
		/* a fresh thread: fresh sampler, stack table and ring */
		pthread_create(&th, NULL, run_phase, &j);
		pthread_join(th, NULL);
		printf("%-32s %10.1f %10.1f %10.1f %8s\n", phases[i].name,
		       j.untracked, j.tracked, j.tracked - j.untracked,
		       phases[i].target ? (phases[i].target == 5    ? "<= 5"
					   : phases[i].target == 40 ? "<= 40"
								    : "<= 150")
					: "-");
	}
	memscope_finalize();
	ms_mini_wait_idle(m, 2000);
	ms_mini_stop(m);
	{
		uint32_t n;
		const struct ms_mini_thread *t = ms_mini_threads(m, &n);
		uint64_t ev = 0, lost = 0;

		for (uint32_t i = 0; i < n; i++) {
			ev += t[i].events;
			lost += t[i].dropped;
		}
		printf("consumer drained %llu events, %llu lost\n",
		       (unsigned long long)ev, (unsigned long long)lost);
	}
	ms_mini_free(m);
	unlink(path);
	return 0;
}

/*
 * The child: a malloc-heavy loop; prints its CPU time in ns. `touch`
 * bytes of each block are written, as a program would use its blocks
 * (0: a bare malloc/free loop, the worst case for any interposer).
 */
static int loop_child(long n, size_t touch)
{
	void *live[256] = {0};
	uint64_t x = 1, t0 = cpu_ns();

	for (long i = 0; i < n; i++) {
		size_t k = (size_t)(i * 7919) % 256, size = mix_size(&x);

		free(live[k]);
		live[k] = malloc(size);
		memset(live[k], (int)i, size < touch ? size : touch);
	}
	for (int k = 0; k < 256; k++)
		free(live[k]);
	printf("%llu\n", (unsigned long long)(cpu_ns() - t0));
	return 0;
}

static uint64_t spawn_loop(const char *self, const char *agent, long n,
			   size_t touch)
{
	char arg[32], targ[32], out[64] = {0};
	int fds[2], st;
	ssize_t got;
	pid_t pid;

	snprintf(arg, sizeof(arg), "%ld", n);
	snprintf(targ, sizeof(targ), "%zu", touch);
	if (pipe(fds))
		return 0;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		if (agent) {
			setenv("LD_PRELOAD", agent, 1);
			setenv("MEMSCOPE_SOCKET", "/nonexistent/memscope.sock",
			       1);
			if (!freopen("/dev/null", "w", stderr))
				_exit(1);
		}
		execl(self, self, "--loop", arg, targ, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	got = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	waitpid(pid, &st, 0);
	return got > 0 ? strtoull(out, NULL, 10) : 0;
}

static void no_consumer(const char *self, size_t touch)
{
	const char *agent = getenv("MEMSCOPE_AGENT");
	uint64_t plain[64], pre[64];
	long n = pairs * 25;
	double a, b;

	if (!agent)
		agent = MS_AGENT_PATH;
	for (int r = 0; r < rounds; r++) {
		plain[r] = spawn_loop(self, NULL, n, touch);
		pre[r] = spawn_loop(self, agent, n, touch);
	}
	a = median(plain, rounds);
	b = median(pre, rounds);
	printf("no consumer, %ld pairs, %3zu bytes touched: untracked "
	       "%.1f ms, preloaded %.1f ms, ratio %.4f (target <= 1.02)\n",
	       n, touch, a / 1e6, b / 1e6, b / a);
}

int main(int argc, char **argv)
{
	char self[4096];
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--loop") && i + 2 < argc)
			return loop_child(atol(argv[i + 1]),
					  (size_t)atol(argv[i + 2]));
		if (!strcmp(argv[i], "--pairs") && i + 1 < argc)
			pairs = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--phase") && i + 1 < argc)
			only_phase = atoi(argv[++i]);
	}
	if (rounds < 1 || rounds > 64 || pairs < 1)
		return 2;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	printf("bench_agent: %ld pairs per batch, %d alternating rounds, "
	       "medians\n",
	       pairs, rounds);
	if (in_process())
		return 1;
	if (only_phase < 0 || only_phase == 4) {
		no_consumer(self, 0);
		no_consumer(self, 64);
	}
	return 0;
}
