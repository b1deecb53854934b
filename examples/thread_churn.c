/* SPDX-License-Identifier: MIT */
/*
 * thread_churn: many short-lived threads, one after another, each doing a
 * few malloc/free pairs: what a thread pool that does not keep its
 * threads, or a program that starts a thread per request, looks like to
 * memscope (issue 11, "20,000 short-lived threads").
 *
 * usage: thread_churn [--threads N] [--ops K] [--at-once P]
 *                     (defaults: 20000, 10, 1)
 *
 * N threads in all, P alive at a time (each batch joined before the next
 * starts), each doing K (malloc, free) pairs. Prints
 *
 *   memscope-expect total threads=N allocs=A frees=F
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long ops = 10;

static void *worker(void *arg)
{
	volatile char *p;

	(void)arg;
	for (long i = 0; i < ops; i++) {
		p = malloc(16 + (size_t)(i % 50) * 8);
		if (p)
			p[0] = 1;
		free((void *)p);
	}
	return NULL;
}

static int usage(int status)
{
	fprintf(stderr, "usage: thread_churn [--threads N] [--ops K] "
			"[--at-once P]\n");
	return status;
}

int main(int argc, char **argv)
{
	long threads = 20000, at_once = 1, done = 0;
	pthread_t *t;

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 == argc || !strcmp(argv[i], "--help"))
			return usage(strcmp(argv[i], "--help") ? 2 : 0);
		if (!strcmp(argv[i], "--threads"))
			threads = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--ops"))
			ops = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--at-once"))
			at_once = atol(argv[i + 1]);
		else
			return usage(2);
	}
	if (threads < 0 || ops < 0 || at_once < 1) {
		fprintf(stderr, "thread_churn: bad arguments\n");
		return 2;
	}
	t = calloc((size_t)at_once, sizeof(*t));
	if (!t)
		return 1;
	while (done < threads) {
		long n = threads - done < at_once ? threads - done : at_once;

		for (long i = 0; i < n; i++)
			if (pthread_create(&t[i], NULL, worker, NULL)) {
				perror("thread_churn: pthread_create");
				return 1;
			}
		for (long i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		done += n;
	}
	free(t);
	printf("memscope-expect total threads=%ld allocs=%ld frees=%ld\n",
	       threads, threads * ops, threads * ops);
	return 0;
}
