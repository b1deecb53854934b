/* SPDX-License-Identifier: MIT */
/*
 * Per-process figures for the metrics a scraper reads (ms_daemon_each_proc):
 * the counters the poller publishes with relaxed atomics, and what each of
 * the process's rings says now (losses by cause, fill). Runs on the control
 * thread; the poller is never waited for.
 */
#include <string.h>

#include "daemon_int.h"

/* A ring's used share, from the agent's head (untrusted) and our tail. */
static double ring_fill(const struct ms_cring *r)
{
	uint64_t head = ms_load_relaxed(&r->ring.hdr->head);
	uint64_t tail = ms_load_relaxed(&r->ring.hdr->tail);
	uint64_t used = head - tail;

	if (!r->ring.size || used > r->ring.size)
		return used ? 1.0 : 0.0; /* a lying head shows as full */
	return (double)used / (double)r->ring.size;
}

/* Losses the agent counts in its rings' headers, and the fullest ring. */
static void ring_figures(struct ms_daemon *d, const struct ms_proc *p,
			 uint64_t *lost, double *fill)
{
	struct ms_cring *r;

	urcu_memb_read_lock();
	ms_list_for_each_rcu(r, &d->rings, node)
	{
		double f;

		if (r->proc != p)
			continue;
		for (int c = 0; c < MS_LOST_NCAUSES; c++)
			lost[c] += ms_load_relaxed(&r->ring.hdr->lost[c]);
		f = ring_fill(r);
		if (f > *fill)
			*fill = f;
	}
	urcu_memb_read_unlock();
}

/*
 * The causes, kept from decreasing: a retired ring takes its header's
 * counts with it, so the process shows the most it has ever shown.
 */
static void lost_causes(struct ms_daemon *d, struct ms_proc *p,
			struct ms_daemon_proc_info *pi)
{
	uint64_t now[MS_DAEMON_LOST_NCAUSES] = {0};

	if (!p->exited)
		ring_figures(d, p, now, &pi->ring_fill);
	now[MS_DAEMON_LOST_NO_RING] = ms_load_relaxed(&p->n.unrecorded);
	now[MS_DAEMON_LOST_DISK] = ms_load_relaxed(&p->n.discarded);
	for (int c = 0; c < MS_DAEMON_LOST_NCAUSES; c++) {
		if (now[c] > p->lost_seen[c])
			p->lost_seen[c] = now[c];
		pi->lost[c] = p->lost_seen[c];
	}
}

void ms_daemon_each_proc(struct ms_daemon *d,
			 void (*fn)(void *ctx,
				    const struct ms_daemon_proc_info *pi),
			 void *ctx)
{
	struct ms_proc *p;

	ms_list_for_each(p, &d->procs, node)
	{
		struct ms_daemon_proc_info pi;

		memset(&pi, 0, sizeof(pi));
		pi.pid = p->pid;
		pi.exited = p->exited;
		pi.exe = p->exe;
		pi.end_rt_ns = p->end_rt_ns;
		pi.events = ms_load_relaxed(&p->n.records);
		pi.allocs = ms_load_relaxed(&p->n.allocs);
		pi.frees = ms_load_relaxed(&p->n.frees);
		pi.raw_bytes = ms_load_relaxed(&p->n.raw_bytes);
		pi.disk_bytes = ms_load_relaxed(&p->n.disk_bytes);
		lost_causes(d, p, &pi);
		fn(ctx, &pi);
	}
}
