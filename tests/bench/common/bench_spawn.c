/* SPDX-License-Identifier: MIT */
/*
 * Start-to-exit time of whole commands, alternated: what `memscope record`
 * adds to a short program (docs/benchmarks.md, "Start and stop").
 *
 * usage: bench_spawn N LABEL CMD [ARG...] [:: LABEL CMD [ARG...]]...
 * Runs each command N times, in turn (A B A B ...), with stdout and stderr
 * on /dev/null, and prints each one's median, its fastest run, and its
 * median less the first command's. The commands are spawned directly
 * (posix_spawn, no shell), and timed from the spawn to the end of waitpid.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define MS_SPAWN_CMDS 16

extern char **environ;

struct cmd {
	const char *label;
	char **argv;
	double *ms; /* one per run */
};

static int cmp_ms(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Splits argv at "::" into commands; returns how many, or -1. */
static int parse(int argc, char **argv, struct cmd *c, long runs)
{
	int k = 0;

	for (int i = 2; i < argc && k < MS_SPAWN_CMDS; k++) {
		c[k].label = argv[i++];
		c[k].argv = &argv[i];
		while (i < argc && strcmp(argv[i], "::"))
			i++;
		if (i < argc)
			argv[i++] = NULL;
		c[k].ms = calloc((size_t)runs, sizeof(double));
		if (!c[k].ms || !c[k].argv[0])
			return -1;
	}
	return k;
}

/* One run of `c`, in ms; -1 when it could not be spawned. */
static double run_one(const struct cmd *c, posix_spawn_file_actions_t *fa)
{
	double t0 = now_ms();
	pid_t pid;
	int st;

	if (posix_spawn(&pid, c->argv[0], fa, NULL, c->argv, environ))
		return -1;
	waitpid(pid, &st, 0);
	return now_ms() - t0;
}

int main(int argc, char **argv)
{
	struct cmd c[MS_SPAWN_CMDS];
	posix_spawn_file_actions_t fa;
	long runs = argc > 1 ? atol(argv[1]) : 0;
	int k = runs > 0 ? parse(argc, argv, c, runs) : -1;
	double base = 0;

	if (k <= 0) {
		fprintf(stderr, "usage: bench_spawn N LABEL CMD [ARG...] "
				"[:: LABEL CMD [ARG...]]...\n");
		return 2;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	for (long r = 0; r < runs; r++)
		for (int j = 0; j < k; j++)
			if ((c[j].ms[r] = run_one(&c[j], &fa)) < 0) {
				perror(c[j].argv[0]);
				return 1;
			}
	for (int j = 0; j < k; j++) {
		double med;

		qsort(c[j].ms, (size_t)runs, sizeof(double), cmp_ms);
		med = c[j].ms[runs / 2];
		if (j == 0)
			base = med;
		printf("%-12s median %8.2f ms  fastest %8.2f  added %8.2f\n",
		       c[j].label, med, c[j].ms[0], med - base);
	}
	return 0;
}
