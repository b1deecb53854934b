/* SPDX-License-Identifier: MIT */
/*
 * Idle compaction: each segment the poller finishes (rotated, or its
 * thread ended) is written again at d->o.idle_level by a thread of the
 * SCHED_IDLE class, which runs only on a CPU that nothing else wants, and
 * only while the poller has been quiet for a second (docs/architecture.md,
 * "Idle compaction"). The rewrite is
 * ms_compact_segment()'s, `memscope compact`'s: read back and compared
 * before it replaces the file, so a segment is always whole.
 *
 * Neither the poller nor the control thread ever waits on this thread: a
 * thread of the idle class may not run for seconds on a busy machine,
 * and holding a lock they take it would hold them (and so the traced
 * program) too. Jobs and results pass through two lock-free stacks: the
 * poller pushes jobs, the compactor takes them all at once; the
 * compactor pushes results, the control thread takes them all at once
 * (ms_compactor_apply()) and subtracts what was saved from the counts
 * the manifest lists.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "archive_compact.h"
#include "daemon_int.h"
#include "segment.h"

/* How often an idle compactor looks for jobs, or whether the consumer
 * is still busy. */
#define MS_COMPACTOR_NAP_MS 200
/* The consumer counts as idle once its poller has moved no large round
 * (poller.c, MS_BUSY_BYTES) for this long: while the traced programs
 * allocate at full speed, compressing beside them costs them more than
 * the CPU a thread of the idle class takes (its caches, the memory bus).
 * Make of 48 files under a warm consumer, three alternated pairs
 * compacting without waiting for this: 1.03-1.13x the wall time; with
 * the wait, 0.90-0.98x. */
#define MS_COMPACTOR_QUIET_NS 1000000000ull

struct ms_cjob {
	struct ms_cjob *next;
	struct ms_proc *proc;
	int64_t sum;	/* index in proc->thr, or -1 */
	uint64_t saved; /* bytes the rewrite took off (results) */
	char path[];
};

static void push(struct ms_cjob *_Atomic *top, struct ms_cjob *j)
{
	struct ms_cjob *old = atomic_load_explicit(top, memory_order_relaxed);

	do
		j->next = old;
	while (!atomic_compare_exchange_weak_explicit(
		top, &old, j, memory_order_release, memory_order_relaxed));
}

/* Takes the whole stack, oldest first. */
static struct ms_cjob *take_all(struct ms_cjob *_Atomic *top)
{
	struct ms_cjob *j =
		atomic_exchange_explicit(top, NULL, memory_order_acquire);
	struct ms_cjob *fifo = NULL;

	while (j) {
		struct ms_cjob *next = j->next;

		j->next = fifo;
		fifo = j;
		j = next;
	}
	return fifo;
}

static void free_all(struct ms_cjob *j)
{
	while (j) {
		struct ms_cjob *next = j->next;

		free(j);
		j = next;
	}
}

/* Until the next look for jobs, or the stop (an event on d->cfd, which
 * the stopper writes without a lock). */
static void nap(struct ms_daemon *d)
{
	struct pollfd pfd = {.fd = d->cfd, .events = POLLIN};

	(void)poll(&pfd, 1, MS_COMPACTOR_NAP_MS);
}

/* Between two frames of a rewrite, and before each job: waits while the
 * consumer is busy; 0 once it stops. */
static int go_on(void *arg)
{
	struct ms_daemon *d = arg;

	while (!atomic_load_explicit(&d->cstop, memory_order_relaxed)) {
		uint64_t busy = ms_load_relaxed(&d->busy_ns);

		if (ms_mono_ns() - busy >= MS_COMPACTOR_QUIET_NS)
			return 1;
		nap(d);
	}
	return 0;
}

static void *compactor_main(void *arg)
{
	struct ms_daemon *d = arg;
	struct sched_param sp = {0};
	struct ms_cjob *todo = NULL;

	/* this thread alone (0: the caller); else the lowest niceness */
	if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0)
		(void)setpriority(PRIO_PROCESS, 0, 19);
	while (!atomic_load_explicit(&d->cstop, memory_order_relaxed)) {
		struct ms_cjob *j;
		uint64_t before, after;
		int rc;

		if (!todo)
			todo = take_all(&d->cjobs);
		if (!todo) {
			/* its level-15 zstd context would hold megabytes */
			ms_seg_thread_idle();
			nap(d);
			continue;
		}
		j = todo;
		todo = j->next;
		rc = ms_compact_segment(j->path, d->o.idle_level, go_on, d,
					&before, &after, NULL, 0);
		if (rc != -ECANCELED)
			ms_fetch_add_relaxed(&d->cfinished, 1);
		if (rc == 1) {
			j->saved = before - after;
			push(&d->cdone, j);
			continue;
		}
		/* kept as it is: nothing to count (a failure is not the
		 * archive's; `memscope compact` says why if asked) */
		free(j);
	}
	free_all(todo);
	return NULL;
}

int ms_compactor_start(struct ms_daemon *d)
{
	int err;

	if (d->o.idle_level <= d->o.level)
		return 0; /* nothing to gain */
	d->cfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->cfd < 0)
		return -errno;
	err = pthread_create(&d->compactor, NULL, compactor_main, d);
	if (err) {
		close(d->cfd);
		d->cfd = -1;
		return -err;
	}
	d->compactor_started = 1;
	return 0;
}

void ms_compactor_add(struct ms_daemon *d, struct ms_proc *p, int64_t sum,
		      uint32_t tid, uint32_t seq)
{
	char path[4300];
	struct ms_cjob *j;
	int n;

	if (!d->compactor_started ||
	    atomic_load_explicit(&d->cstop, memory_order_relaxed))
		return;
	n = ms_seg_path(path, sizeof(path), p->dir, tid, seq);
	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	j = malloc(sizeof(*j) + (size_t)n + 1);
	if (!j)
		return; /* the segment stays as the poller wrote it */
	j->proc = p;
	j->sum = sum;
	j->saved = 0;
	memcpy(j->path, path, (size_t)n + 1);
	ms_fetch_add_relaxed(&d->cqueued, 1);
	push(&d->cjobs, j);
}

void ms_compactor_apply(struct ms_daemon *d)
{
	struct ms_cjob *j = take_all(&d->cdone);
	uint64_t done = ms_load_relaxed(&d->cfinished);

	if (done != d->cfinished_seen) { /* the manifest says what is left */
		d->cfinished_seen = done;
		d->manifest_dirty = 1;
	}
	if (!j)
		return;
	for (struct ms_cjob *x = j; x; x = x->next) {
		struct ms_proc *p = x->proc;

		pthread_mutex_lock(&p->info_lock);
		if (x->sum >= 0 && (uint64_t)x->sum < p->nthr)
			p->thr[x->sum].compacted += x->saved;
		pthread_mutex_unlock(&p->info_lock);
		ms_fetch_add_relaxed(&p->n.compacted, x->saved);
		d->compacted_segments++;
		d->compacted_bytes += x->saved;
	}
	free_all(j);
	d->manifest_dirty = 1;
}

uint64_t ms_compactor_pending(struct ms_daemon *d)
{
	uint64_t done, queued;

	if (!d->compactor_started)
		return 0;
	done = ms_load_acquire(&d->cfinished);
	queued = ms_load_acquire(&d->cqueued);
	return queued > done ? queued - done : 0;
}

void ms_compactor_stop(struct ms_daemon *d)
{
	if (d->compactor_started) {
		uint64_t one = 1;

		atomic_store_explicit(&d->cstop, 1, memory_order_relaxed);
		(void)!write(d->cfd, &one, sizeof(one));
		pthread_join(d->compactor, NULL);
		d->compactor_started = 0;
		close(d->cfd);
		d->cfd = -1;
	}
	ms_compactor_apply(d);
	free_all(take_all(&d->cjobs));
}
