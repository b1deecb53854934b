/* SPDX-License-Identifier: MIT */
/*
 * fork, then exec: the parent, the forked child and the exec'd image each
 * allocate on a worker thread and print their expected counts. The child
 * attaches as a new process; the exec'd image attaches through the
 * environment it inherited.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e_expect.h"

static void *work(void *arg)
{
	struct e2e_counts *c = arg;
	void *keep[64];

	c->tid = e2e_gettid();
	for (unsigned long i = 0; i < c->allocs; i++) {
		keep[i % 64] = malloc(24 + i % 100);
		if (i % 64 == 63)
			for (int k = 0; k < 64; k++)
				free(keep[k]);
	}
	for (unsigned long k = 0; k < c->allocs % 64; k++)
		free(keep[k]);
	c->frees = c->allocs;
	return NULL;
}

static int stage(unsigned long n)
{
	struct e2e_counts c = {.allocs = n};
	pthread_t th;

	if (pthread_create(&th, NULL, work, &c) || pthread_join(th, NULL))
		return 1;
	e2e_print(&c, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	pid_t pid;
	int st;

	if (argc > 1 && !strcmp(argv[1], "exec-stage"))
		return stage(300);
	if (stage(1000))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (stage(500))
			_exit(1);
		execl("/proc/self/exe", argv[0], "exec-stage", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 1;
	return WEXITSTATUS(st);
}
