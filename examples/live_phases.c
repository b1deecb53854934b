/* SPDX-License-Identifier: MIT */
/*
 * Three threads whose live heaps grow, hold steady and shrink at known
 * rates, each from a function of its own, in phases a driver steps
 * through: what `memscope top` is for, and what its tests check.
 *
 *   grow_site()    allocates GROW_SIZE bytes every tick and keeps them
 *   steady_site()  allocates STEADY_SIZE bytes every tick and frees the
 *                  oldest of its STEADY_N blocks: its live heap holds
 *   shrink_site()  allocated SHRINK_N blocks of SHRINK_SIZE at the start
 *                  and frees one every tick
 *
 * usage: live_phases [--tick-ms MS] [--ticks N] [--phases P] [--churn C]
 *
 * --churn C: first, C allocations of 48 bytes from churn_site(), each
 * freed at once (one address over and over), as fast as they go: enough
 * events a second for the consumer's live heap to follow only some
 * addresses. Then C / 1000 more, each shrunk to 40 bytes by realloc() (in
 * place) and kept.
 *
 * After the setup and after each phase (N ticks of MS milliseconds) every
 * thread waits, and the program prints the live bytes each site holds and
 * when the wait began (CLOCK_MONOTONIC ns):
 *   memscope-step K t_ns=T grow_site=B steady_site=B shrink_site=B
 * then reads a line from stdin to go on. After the last phase, or at the
 * end of its input, it leaves with _exit(): every block stays live.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GROW_SIZE   1000
#define STEADY_SIZE 2000
#define STEADY_N    50
#define SHRINK_SIZE 3000
#define SHRINK_N    400

static pthread_barrier_t start_bar, end_bar;
static int tick_ms = 100, ticks = 30, phases = 3;
static long churn;
static size_t grown, shrunk;
static void *steady[STEADY_N];
static void *shrinking[SHRINK_N];

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

__attribute__((noinline)) static void *grow_site(void)
{
	void *p = malloc(GROW_SIZE);

	memset(p, 1, GROW_SIZE);
	return p;
}

__attribute__((noinline)) static void *steady_site(void)
{
	void *p = malloc(STEADY_SIZE);

	memset(p, 2, STEADY_SIZE);
	return p;
}

__attribute__((noinline)) static void *shrink_site(void)
{
	void *p = malloc(SHRINK_SIZE);

	memset(p, 3, SHRINK_SIZE);
	return p;
}

__attribute__((noinline)) static void *churn_site(void)
{
	void *p = malloc(48);

	memset(p, 4, 48);
	return p;
}

/*
 * A thread's tick, by its role; the setup runs ticks too, so that each
 * site is one stack (one call path) from the first block to the last.
 */
static void tick(int role, int k, int setup)
{
	if (role == 0) {
		if (!grow_site())
			abort();
		grown++;
	} else if (role == 1) {
		free(steady[k % STEADY_N]);
		steady[k % STEADY_N] = steady_site();
	} else if (setup) {
		shrinking[k] = shrink_site();
	} else if (shrunk < SHRINK_N) {
		free(shrinking[shrunk]);
		shrinking[shrunk++] = NULL;
	}
}

static void *worker(void *arg)
{
	static const int setup_ticks[3] = {0, STEADY_N, SHRINK_N};
	int role = (int)(long)arg, k = 0;

	for (int p = -1; p < phases; p++) {
		int n = p < 0 ? setup_ticks[role] : ticks;

		if (p >= 0)
			pthread_barrier_wait(&start_bar);
		for (int t = 0; t < n; t++, k++) {
			tick(role, k, p < 0);
			if (p >= 0)
				sleep_ms(tick_ms);
		}
		pthread_barrier_wait(&end_bar);
	}
	return NULL;
}

static int step(int k)
{
	char line[64];
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("memscope-step %d t_ns=%lld grow_site=%zu steady_site=%d "
	       "shrink_site=%zu\n",
	       k, (long long)now.tv_sec * 1000000000 + now.tv_nsec,
	       grown * GROW_SIZE, STEADY_N * STEADY_SIZE,
	       (SHRINK_N - shrunk) * SHRINK_SIZE);
	fflush(stdout);
	return fgets(line, sizeof(line), stdin) != NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[3];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--tick-ms"))
			tick_ms = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ticks"))
			ticks = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--phases"))
			phases = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--churn"))
			churn = atol(argv[i + 1]);
	}
	for (long i = 0; i < churn; i++) {
		void *p = churn_site();

		if (!p)
			abort();
		free(p);
	}
	for (long i = 0; i < churn / 1000; i++)
		if (!realloc(churn_site(), 40)) /* kept */
			abort();
	pthread_barrier_init(&start_bar, NULL, 4);
	pthread_barrier_init(&end_bar, NULL, 4);
	for (long r = 0; r < 3; r++)
		pthread_create(&th[r], NULL, worker, (void *)r);
	pthread_barrier_wait(&end_bar);
	for (int p = 0; p <= phases; p++) {
		if (!step(p) || p == phases)
			break;
		pthread_barrier_wait(&start_bar);
		pthread_barrier_wait(&end_bar);
	}
	fflush(stdout);
	_exit(0);
}
