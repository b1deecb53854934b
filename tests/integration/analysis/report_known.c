/* SPDX-License-Identifier: MIT */
/*
 * report_known: a program whose heap is known exactly, for the report
 * tests (report_test.py). Built -g -O1 -fno-optimize-sibling-calls
 * -fno-inline -fno-builtin (CMakeLists.txt): every site below is a frame
 * of its own at its own line, and no malloc/free pair is optimised away;
 * known_inline_alloc() alone is inlined (always_inline) into its caller.
 *
 * `report_known` (main thread M, one worker W), in this order:
 *   leaks      known_leak_alpha: 1 x 1111, _beta: 2 x 2222, _gamma: 3 x 3333
 *   temporary  known_temp_loop: 100 x (malloc(48); free)
 *   realloc    known_realloc_chain: malloc(100), realloc to 200, 400, ...,
 *              3200 (one call site), then free: all 6 blocks temporary
 *   inlined    known_inline_alloc (always_inline) in known_inline_caller:
 *              5555 bytes, freed at the end of main
 *   peak       known_peak_hold: 8,000,123 bytes held for 20 ms between two
 *              CLOCK_MONOTONIC readings, 5 ms of nothing on either side
 *              of each
 *   cross      known_handoff_alloc: 4444 bytes on M, freed on W by
 *              known_handoff_free; W also makes 3 temporaries of 777
 *              (known_worker_temp)
 * `report_known fork`: known_fork_parent leaks 1 x 1212 in the parent,
 *   the child's known_fork_child leaks 2 x 3434, then it exits; then a
 *   thread of the parent makes one temporary of 99 (known_fork_thread).
 *
 * Nothing else here allocates: stdout has a static buffer. What glibc
 * allocates on its own (pthread_create's thread control data) is not
 * the program's, and the test tells it apart by its label line.
 *
 * Output: one fact per line, "known KIND key=value ...", every value
 * without spaces; times are CLOCK_MONOTONIC ns, lines __LINE__.
 * REPORT_KNOWN_SALT changes the build id and nothing else.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef REPORT_KNOWN_SALT
#define REPORT_KNOWN_SALT 1
#endif

#define BIG	  8000123u
#define N_TEMP	  100
#define N_REALLOC 5

void known_leak_alpha(void);
void known_leak_beta(void);
void known_leak_gamma(void);
void known_temp_loop(void);
void known_realloc_chain(void);
void *known_inline_caller(void);
void known_peak_hold(void);
struct handoff;
void known_handoff_free(struct handoff *h);
void known_worker_temp(struct handoff *h);
void *known_handoff_alloc(void);
void known_handoff(void);
void known_fork_parent(void);
void known_fork_child(void);
void *known_fork_thread(void *arg);

/* Written after each call, so no call is a tail call. */
volatile int known_sink;
/* Loop counts the compiler cannot see: no loop is unrolled into several
 * call sites of one line. */
static volatile int two = 2, three = 3, n_temp = N_TEMP;
static const volatile int known_salt = REPORT_KNOWN_SALT;
static void *volatile kept[16];
static int nkept;

/* The program's own calls, as the report should count them. */
static struct {
	uint64_t allocs, bytes, frees, freed_bytes, temps, reallocs, live;
} own;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void *own_alloc(void *p, size_t size)
{
	if (!p)
		abort();
	((volatile char *)p)[0] = 1;
	own.allocs++;
	own.bytes += size;
	own.live += size;
	return p;
}

static void own_free(size_t size, int temporary)
{
	own.frees++;
	own.freed_bytes += size;
	own.live -= size;
	own.temps += temporary != 0;
}

static void keep(void *p)
{
	kept[nkept++] = p;
}

/* `call`, with the line it is on in `line`: a site's line is its call's. */
#define AT(line, call) ((line) = __LINE__, (call))

__attribute__((noinline)) void known_leak_alpha(void)
{
	int line;

	keep(own_alloc(AT(line, malloc(1111)), 1111));
	printf("known leak fn=known_leak_alpha line=%d size=1111 count=1\n",
	       line);
	known_sink++;
}

__attribute__((noinline)) void known_leak_beta(void)
{
	int line = 0;

	for (int i = 0; i < two; i++)
		keep(own_alloc(AT(line, malloc(2222)), 2222));
	printf("known leak fn=known_leak_beta line=%d size=2222 count=2\n",
	       line);
	known_sink++;
}

__attribute__((noinline)) void known_leak_gamma(void)
{
	int line = 0;

	for (int i = 0; i < three; i++)
		keep(own_alloc(AT(line, malloc(3333)), 3333));
	printf("known leak fn=known_leak_gamma line=%d size=3333 count=3\n",
	       line);
	known_sink++;
}

__attribute__((noinline)) void known_temp_loop(void)
{
	int line = 0;

	for (int i = 0; i < n_temp; i++) {
		void *p = own_alloc(AT(line, malloc(48)), 48);

		free(p);
		own_free(48, 1);
	}
	printf("known temp fn=known_temp_loop line=%d size=48 count=%d\n", line,
	       N_TEMP);
	known_sink++;
}

__attribute__((noinline)) void known_realloc_chain(void)
{
	int malloc_line, realloc_line = 0;
	size_t size = 100;
	char *p = own_alloc(AT(malloc_line, malloc(size)), size);

	for (int i = 0; i < N_REALLOC; i++) {
		char *q = AT(realloc_line, realloc(p, size * 2));

		own_free(size, 1);
		size *= 2;
		p = own_alloc(q, size);
		own.reallocs++;
	}
	free(p);
	own_free(size, 1);
	printf("known realloc fn=known_realloc_chain malloc_line=%d "
	       "realloc_line=%d first=100 last=%zu calls=%d\n",
	       malloc_line, realloc_line, size, N_REALLOC);
	known_sink++;
}

static inline __attribute__((always_inline)) void *
known_inline_alloc(size_t size, int caller_line)
{
	int line;
	void *p = AT(line, malloc(size));

	printf("known inline fn=known_inline_alloc line=%d "
	       "caller=known_inline_caller call_line=%d size=%zu\n",
	       line, caller_line, size);
	return p;
}

__attribute__((noinline)) void *known_inline_caller(void)
{
	void *p = known_inline_alloc(5555, __LINE__);

	known_sink++;
	return own_alloc(p, 5555);
}

__attribute__((noinline)) void known_peak_hold(void)
{
	uint64_t t0, t1, before;
	int line;
	void *p;

	/* 5 ms of nothing on either side of each reading: the archive's
	 * times run some tens of us ahead of the program's clock */
	sleep_ms(5);
	t0 = mono_ns();
	sleep_ms(5);
	before = own.live;
	p = own_alloc(AT(line, malloc(BIG)), BIG);
	memset(p, 1, 4096);
	sleep_ms(20);
	free(p);
	own_free(BIG, 1); /* nothing allocated while it was held */
	sleep_ms(5);
	t1 = mono_ns();
	sleep_ms(5);
	printf("known peak fn=known_peak_hold line=%d size=%u t0=%llu t1=%llu "
	       "live_before=%llu\n",
	       line, BIG, (unsigned long long)t0, (unsigned long long)t1,
	       (unsigned long long)before);
	known_sink++;
}

struct handoff {
	void *block;
	pid_t tid;
	int free_line, temp_line;
};

static int handoff_line;

__attribute__((noinline)) void known_handoff_free(struct handoff *h)
{
	AT(h->free_line, free(h->block));
	known_sink++;
}

__attribute__((noinline)) void known_worker_temp(struct handoff *h)
{
	for (int i = 0; i < three; i++) {
		void *p = AT(h->temp_line, malloc(777));

		((volatile char *)p)[0] = 1;
		free(p);
	}
	known_sink++;
}

static void *worker(void *arg)
{
	struct handoff *h = arg;

	h->tid = gettid();
	known_handoff_free(h);
	known_worker_temp(h);
	return NULL;
}

__attribute__((noinline)) void *known_handoff_alloc(void)
{
	void *p = AT(handoff_line, malloc(4444));

	known_sink++;
	return p;
}

__attribute__((noinline)) void known_handoff(void)
{
	struct handoff h = {own_alloc(known_handoff_alloc(), 4444), 0, 0, 0};
	int create_line;
	pthread_t t;

	if (AT(create_line, pthread_create(&t, NULL, worker, &h)) ||
	    pthread_join(t, NULL))
		abort();
	own_free(4444, 0);
	/* the worker's own: 3 temporaries */
	own.allocs += 3;
	own.bytes += 3 * 777;
	own.frees += 3;
	own.freed_bytes += 3 * 777;
	own.temps += 3;
	printf("known cross fn=known_handoff_alloc line=%d size=4444 "
	       "free_fn=known_handoff_free free_line=%d alloc_tid=%d "
	       "free_tid=%d\n",
	       handoff_line, h.free_line, (int)gettid(), (int)h.tid);
	printf("known worker fn=known_worker_temp line=%d size=777 count=3 "
	       "tid=%d\n",
	       h.temp_line, (int)h.tid);
	printf("known glibc fn=known_handoff line=%d what=pthread_create\n",
	       create_line);
	known_sink++;
}

static int scenario_main(void)
{
	void *inl;

	known_leak_alpha();
	known_leak_beta();
	known_leak_gamma();
	known_temp_loop();
	known_realloc_chain();
	inl = known_inline_caller();
	known_peak_hold();
	known_handoff();
	free(inl);
	own_free(5555, 0);
	printf("known own allocs=%llu bytes=%llu frees=%llu freed_bytes=%llu "
	       "temporary=%llu reallocs=%llu leaked=%llu leaked_blocks=%d "
	       "pid=%d tid=%d\n",
	       (unsigned long long)own.allocs, (unsigned long long)own.bytes,
	       (unsigned long long)own.frees,
	       (unsigned long long)own.freed_bytes,
	       (unsigned long long)own.temps, (unsigned long long)own.reallocs,
	       (unsigned long long)own.live, nkept, (int)getpid(),
	       (int)gettid());
	return 0;
}

__attribute__((noinline)) void known_fork_parent(void)
{
	int line;

	keep(AT(line, malloc(1212)));
	printf("known fork_parent fn=known_fork_parent line=%d size=1212 "
	       "count=1 pid=%d\n",
	       line, (int)getpid());
	known_sink++;
}

__attribute__((noinline)) void known_fork_child(void)
{
	int line = 0;

	for (int i = 0; i < two; i++)
		keep(AT(line, malloc(3434)));
	printf("known fork_child fn=known_fork_child line=%d size=3434 "
	       "count=2 pid=%d\n",
	       line, (int)getpid());
	known_sink++;
}

__attribute__((noinline)) void *known_fork_thread(void *arg)
{
	int line;
	void *p = AT(line, malloc(99));

	((volatile char *)p)[0] = 1;
	free(p);
	printf("known fork_thread fn=known_fork_thread line=%d size=99 "
	       "count=1 pid=%d tid=%d\n",
	       line, (int)getpid(), (int)gettid());
	known_sink++;
	return arg;
}

/* The parent, its child, then a thread of the parent: the report's
 * threads come in that order, and there are two processes. */
static int scenario_fork(void)
{
	pthread_t t;
	int status;
	pid_t pid;

	known_fork_parent();
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		known_fork_child();
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 1;
	if (pthread_create(&t, NULL, known_fork_thread, NULL) ||
	    pthread_join(t, NULL))
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	int r;

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf)); /* no malloc */
	r = argc > 1 && !strcmp(argv[1], "fork") ? scenario_fork()
						 : scenario_main();
	known_sink += known_salt;
	fflush(stdout);
	return r;
}
