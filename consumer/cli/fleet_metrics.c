/* SPDX-License-Identifier: MIT */
/*
 * The metrics text (Prometheus text exposition format 0.0.4), written on
 * the control thread from the newest live-heap snapshot the poller
 * published and the counters it publishes with relaxed atomics
 * (ms_daemon_each_proc()). docs/fleet.md lists the series.
 *
 * Bounded: series for at most MS_FLEET_PROCS_MAX processes (the running
 * ones first, then the last to end) and for the top N threads by live
 * bytes over the session (--metrics-threads).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet_int.h"

/* A process with series, as the daemon shows it. */
struct mproc {
	struct ms_daemon_proc_info pi;
	char exe[256];
	const struct ms_snap_proc *live; /* in the snapshot, or NULL */
};

struct mprocs {
	struct mproc *v;
	size_t n, cap;
};

/* A thread among the top N. */
struct mthread {
	const struct ms_snap_proc *p;
	const struct ms_snap_thread *t;
};

static const char *const cause_names[MS_DAEMON_LOST_NCAUSES] = {
	"full", "gone", "too_big", "internal", "no_ring", "disk",
};

/* A label value, escaped as the exposition format asks. */
static void put_value(FILE *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", o);
		else if (*s == '"')
			fputs("\\\"", o);
		else if (*s == '\n')
			fputs("\\n", o);
		else
			fputc(*s, o);
	}
}

static void put_label(FILE *o, const char *name, const char *v, int first)
{
	fprintf(o, "%s%s=\"", first ? "" : ",", name);
	put_value(o, v);
	fputc('"', o);
}

static void proc_labels(FILE *o, const struct ms_fleet *f, uint32_t pid,
			const char *exe)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", pid);
	put_label(o, "session", f->session, 1);
	put_label(o, "pid", num, 0);
	put_label(o, "exe", exe, 0);
}

static void head(FILE *o, const char *name, const char *type, const char *help,
		 const char *note)
{
	fprintf(o, "# HELP %s %s%s\n# TYPE %s %s\n", name, help, note, name,
		type);
}

static void collect(void *ctx, const struct ms_daemon_proc_info *pi)
{
	struct mprocs *ps = ctx;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct mproc *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return;
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n].pi = *pi;
	snprintf(ps->v[ps->n].exe, sizeof(ps->v[ps->n].exe), "%s", pi->exe);
	ps->v[ps->n].pi.exe = NULL;
	ps->v[ps->n].live = NULL;
	ps->n++;
}

/* Keeps the running processes, then the last to end, MS_FLEET_PROCS_MAX
 * in all; returns how many were left out. */
static size_t select_procs(struct mprocs *ps)
{
	struct mproc *keep = malloc((ps->n + 1) * sizeof(*keep));
	size_t k = 0, n = ps->n;

	if (!keep) { /* out of memory: the first ones, still bounded */
		k = n > MS_FLEET_PROCS_MAX ? MS_FLEET_PROCS_MAX : n;
		ps->n = k;
		return n - k;
	}
	for (int exited = 0; exited < 2; exited++)
		for (size_t i = n; i-- > 0 && k < MS_FLEET_PROCS_MAX;)
			if (ps->v[i].pi.exited == exited)
				keep[k++] = ps->v[i];
	free(ps->v);
	ps->v = keep;
	ps->n = k;
	return n - k;
}

/* The live heap of each kept process, when the snapshot has it. */
static void match_snapshot(struct mprocs *ps, const struct ms_snap *s)
{
	for (size_t i = 0; i < ps->n; i++)
		for (uint32_t k = 0; s && k < s->h->nprocs; k++)
			if (s->procs[k].p->pid == ps->v[i].pi.pid &&
			    !ps->v[i].pi.exited)
				ps->v[i].live = s->procs[k].p;
}

/* One gauge or counter per process with a live heap. */
static void live_metric(FILE *o, const struct ms_fleet *f,
			const struct mprocs *ps, const char *name,
			const char *type, const char *help, const char *note,
			size_t field)
{
	head(o, name, type, help, note);
	for (size_t i = 0; i < ps->n; i++) {
		const struct mproc *m = &ps->v[i];
		uint64_t v;

		if (!m->live)
			continue;
		memcpy(&v, (const char *)&m->live->f + field, sizeof(v));
		fprintf(o, "%s{", name);
		proc_labels(o, f, m->pi.pid, m->exe);
		fprintf(o, "} %llu\n", (unsigned long long)v);
	}
}

static void live_metrics(FILE *o, const struct ms_fleet *f,
			 const struct mprocs *ps)
{
	int full = !strcmp(f->o.sampling ? f->o.sampling : "full", "full");
	/* allocations, frees and bytes allocated are counted in `full`
	 * mode (livesnap.c, counted()); the live figures and the bytes
	 * freed are estimates where the live heap follows some addresses
	 * only */
	const char *cnt = full ? " (exact: full sampling)"
			       : " (weighted estimates: the session samples)";
	const char *est = cnt;

	for (size_t i = 0; full && i < ps->n; i++)
		if (ps->v[i].live && (ps->v[i].live->flags & MS_SNAP_SAMPLED))
			est = " (weighted estimates for processes above 1 M "
			      "events/s: their blocks under 2 KiB are "
			      "followed at one address in 16, 64 or "
			      "256, "
			      "larger ones at more)";

	live_metric(o, f, ps, "memscope_live_heap_bytes", "gauge",
		    "Bytes in blocks allocated and not yet freed", est,
		    offsetof(struct ms_snap_fig, live_bytes));
	live_metric(o, f, ps, "memscope_live_heap_blocks", "gauge",
		    "Blocks allocated and not yet freed", est,
		    offsetof(struct ms_snap_fig, live_count));
	live_metric(o, f, ps, "memscope_allocations_total", "counter",
		    "Allocating calls", cnt,
		    offsetof(struct ms_snap_fig, alloc_count));
	live_metric(o, f, ps, "memscope_frees_total", "counter", "Blocks freed",
		    cnt, offsetof(struct ms_snap_fig, free_count));
	live_metric(o, f, ps, "memscope_allocated_bytes_total", "counter",
		    "Bytes allocated", cnt,
		    offsetof(struct ms_snap_fig, alloc_bytes));
	live_metric(o, f, ps, "memscope_freed_bytes_total", "counter",
		    "Bytes freed", est,
		    offsetof(struct ms_snap_fig, free_bytes));
}

static void proc_counter(FILE *o, const struct ms_fleet *f,
			 const struct mproc *m, const char *name, uint64_t v)
{
	fprintf(o, "%s{", name);
	proc_labels(o, f, m->pi.pid, m->exe);
	fprintf(o, "} %llu\n", (unsigned long long)v);
}

/* What the collector counted: events, losses, rings, archive. */
static void collector_metrics(FILE *o, const struct ms_fleet *f,
			      const struct mprocs *ps)
{
	head(o, "memscope_events_recorded_total", "counter",
	     "Events the consumer drained from the process's rings", "");
	for (size_t i = 0; i < ps->n; i++)
		proc_counter(o, f, &ps->v[i], "memscope_events_recorded_total",
			     ps->v[i].pi.events);
	head(o, "memscope_events_lost_total", "counter",
	     "Events lost, by cause (full, gone, too_big, internal: the "
	     "agent's; no_ring: threads refused a ring; disk: not written)",
	     "");
	for (size_t i = 0; i < ps->n; i++)
		for (int c = 0; c < MS_DAEMON_LOST_NCAUSES; c++) {
			fputs("memscope_events_lost_total{", o);
			proc_labels(o, f, ps->v[i].pi.pid, ps->v[i].exe);
			put_label(o, "cause", cause_names[c], 0);
			fprintf(o, "} %llu\n",
				(unsigned long long)ps->v[i].pi.lost[c]);
		}
	head(o, "memscope_ring_fill_ratio", "gauge",
	     "Used share of the process's fullest ring (0..1)", "");
	for (size_t i = 0; i < ps->n; i++) {
		fputs("memscope_ring_fill_ratio{", o);
		proc_labels(o, f, ps->v[i].pi.pid, ps->v[i].exe);
		fprintf(o, "} %.4f\n", ps->v[i].pi.ring_fill);
	}
	head(o, "memscope_archive_bytes_total", "counter",
	     "Compressed bytes written to the archive for the process", "");
	for (size_t i = 0; i < ps->n; i++)
		proc_counter(o, f, &ps->v[i], "memscope_archive_bytes_total",
			     ps->v[i].pi.disk_bytes);
}

static int cmp_threads(const void *x, const void *y)
{
	const struct mthread *a = x, *b = y;

	if (a->t->f.live_bytes != b->t->f.live_bytes)
		return a->t->f.live_bytes > b->t->f.live_bytes ? -1 : 1;
	return a->t->tid < b->t->tid ? -1 : a->t->tid > b->t->tid;
}

static void thread_line(FILE *o, const struct ms_fleet *f,
			const struct mthread *m, const char *name, uint64_t v)
{
	char tid[16];

	snprintf(tid, sizeof(tid), "%u", m->t->tid);
	fprintf(o, "%s{", name);
	proc_labels(o, f, m->p->pid, m->p->exe);
	put_label(o, "tid", tid, 0);
	put_label(o, "thread", m->t->name, 0);
	fprintf(o, "} %llu\n", (unsigned long long)v);
}

/* The top N threads of the session by live bytes. */
static void thread_metrics(FILE *o, const struct ms_fleet *f,
			   const struct ms_snap *s)
{
	struct mthread *v;
	size_t n = 0, cap = 0;

	for (uint32_t k = 0; s && k < s->h->nprocs; k++)
		cap += s->procs[k].p->nthreads;
	v = calloc(cap + 1, sizeof(*v));
	if (!v)
		return;
	for (uint32_t k = 0; s && k < s->h->nprocs; k++)
		for (uint32_t i = 0; i < s->procs[k].p->nthreads; i++)
			v[n++] = (struct mthread){s->procs[k].p,
						  &s->procs[k].threads[i]};
	qsort(v, n, sizeof(*v), cmp_threads);
	if (n > f->o.metrics_threads)
		n = f->o.metrics_threads;
	head(o, "memscope_thread_live_heap_bytes", "gauge",
	     "Live bytes of the threads holding the most (--metrics-threads)",
	     "");
	for (size_t i = 0; i < n; i++)
		thread_line(o, f, &v[i], "memscope_thread_live_heap_bytes",
			    v[i].t->f.live_bytes);
	head(o, "memscope_thread_allocated_bytes_total", "counter",
	     "Bytes allocated by the threads holding the most live bytes", "");
	for (size_t i = 0; i < n; i++)
		thread_line(o, f, &v[i],
			    "memscope_thread_allocated_bytes_total",
			    v[i].t->f.alloc_bytes);
	free(v);
}

/* The consumer's own CPU seconds and resident bytes. */
static void self_usage(double *cpu_s, uint64_t *rss)
{
	struct timespec ts;
	unsigned long long size = 0, res = 0;
	FILE *st = fopen("/proc/self/statm", "r");

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	*cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (st && fscanf(st, "%llu %llu", &size, &res) != 2)
		res = 0;
	if (st)
		fclose(st);
	*rss = (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void session_gauge(FILE *o, const struct ms_fleet *f, const char *name,
			  const char *type, const char *help, double v)
{
	head(o, name, type, help, "");
	fprintf(o, "%s{", name);
	put_label(o, "session", f->session, 1);
	fprintf(o, "} %.15g\n", v);
}

static void session_metrics(FILE *o, struct ms_fleet *f, size_t omitted)
{
	struct ms_daemon_totals t;
	double cpu;
	uint64_t rss;

	ms_daemon_totals(f->d, &t);
	self_usage(&cpu, &rss);
	session_gauge(o, f, "memscope_consumer_cpu_seconds_total", "counter",
		      "CPU time the consumer has used", cpu);
	session_gauge(o, f, "memscope_consumer_resident_bytes", "gauge",
		      "The consumer's resident memory", (double)rss);
	session_gauge(o, f, "memscope_archive_written_bytes_total", "counter",
		      "Compressed bytes written to the session's archive",
		      (double)t.disk_bytes);
	session_gauge(o, f, "memscope_processes", "gauge",
		      "Processes attached now", (double)t.processes_live);
	session_gauge(o, f, "memscope_processes_omitted", "gauge",
		      "Processes left without series of their own (over "
		      "64)",
		      (double)omitted);
	session_gauge(o, f, "memscope_profiles_written_total", "counter",
		      "Scheduled profiles written (--profile-every)",
		      (double)atomic_load_explicit(&f->written,
						   memory_order_relaxed));
	session_gauge(
		o, f, "memscope_profiles_pushed_total", "counter",
		"Profiles the ingest server took (--push)",
		(double)atomic_load_explicit(&f->pushed, memory_order_relaxed));
	session_gauge(o, f, "memscope_profiles_push_failed_total", "counter",
		      "Profiles not sent: retries used up, or the queue full",
		      (double)atomic_load_explicit(&f->push_failed,
						   memory_order_relaxed));
}

char *ms_fleet_metrics(struct ms_fleet *f, size_t *len)
{
	const struct ms_snap *s = f->have_snap ? &f->snap : NULL;
	struct mprocs ps = {0};
	char *buf = NULL;
	size_t omitted;
	FILE *o = open_memstream(&buf, len);

	if (!o)
		return NULL;
	ms_daemon_each_proc(f->d, collect, &ps);
	omitted = select_procs(&ps);
	match_snapshot(&ps, s);
	live_metrics(o, f, &ps);
	collector_metrics(o, f, &ps);
	thread_metrics(o, f, s);
	session_metrics(o, f, omitted);
	free(ps.v);
	if (fclose(o) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
