/* SPDX-License-Identifier: MIT */
/*
 * Shared by the agent's end-to-end programs: a worker thread does the
 * counted calls (libc's own start-up allocations happen on the main
 * thread), and the program prints what the archive must hold for it:
 *   EXPECT pid=P tid=T allocs=A frees=F [name=N]
 */
#ifndef MS_E2E_EXPECT_H
#define MS_E2E_EXPECT_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct e2e_counts {
	unsigned long allocs, frees;
	long tid;
	int failed; /* a libc contract did not hold */
};

static inline long e2e_gettid(void)
{
	return syscall(SYS_gettid);
}

static inline void e2e_print(const struct e2e_counts *c, const char *name)
{
	printf("EXPECT pid=%ld tid=%ld allocs=%lu frees=%lu", (long)getpid(),
	       c->tid, c->allocs, c->frees);
	if (name)
		printf(" name=%s", name);
	printf("\n");
	fflush(stdout);
}

/* Stores through this keep the compiler from eliding malloc/free pairs;
 * one per thread, or threads would free each other's blocks. */
static __thread void *volatile e2e_sink;

static inline void e2e_pair(size_t size)
{
	e2e_sink = malloc(size);
	free(e2e_sink);
}

#define E2E_CHECK(c, cond)                                                     \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "contract failed: %s (line %d)\n",     \
				#cond, __LINE__);                              \
			(c)->failed = 1;                                       \
		}                                                              \
	} while (0)

#endif
