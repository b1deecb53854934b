/* SPDX-License-Identifier: MIT */
/*
 * The consumer daemon's life: session socket, the control loop (epoll on
 * the listening socket, connections, signals and a wake-up eventfd), and
 * the orderly end (final drain, manifest).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "archive_compact.h"
#include "daemon_int.h"

#define MS_TICK_NS	 250000000u
#define MS_MANIFEST_NS	 1000000000u
#define MS_IDLE_GRACE_NS 200000000u
/* After `record`'s command ended: a child it forked just before has
 * attached by then, or runs on untracked (its agent says so). */
#define MS_STOP_GRACE_NS 20000000u

void ms_dlog(struct ms_daemon *d, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	(void)d;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "memscope consumer: %s\n", line);
}

void ms_daemon_opts_defaults(struct ms_daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	ms_settings_defaults(&o->set);
	o->level = 1;
	o->idle_level = MS_COMPACT_LEVEL_DEFAULT;
	o->frame_kb = 512; /* packed: 2.14 B/event as with 1024, less memory */
	o->seg_mb = 64;
	o->calib_ms = 20;
}

void ms_daemon_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A live consumer answers on the socket; a stale file does not. */
static int claim_socket_path(struct ms_daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(d->sock_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr,
			"memscope consumer: %s exists and is not a socket; "
			"remove it or choose another --session\n",
			d->sock_path);
		return -EEXIST;
	}
	memcpy(sa.sun_path, d->sock_path, strlen(d->sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		fprintf(stderr,
			"memscope consumer: session %s already has a consumer "
			"(socket %s); stop it or choose another --session\n",
			d->session, d->sock_path);
		return -EADDRINUSE;
	}
	unlink(d->sock_path); /* stale: its consumer is gone */
	return 0;
}

static int open_socket(struct ms_daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int err;

	err = claim_socket_path(d);
	if (err)
		return err;
	d->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (d->lfd < 0)
		return -errno;
	memcpy(sa.sun_path, d->sock_path, strlen(d->sock_path) + 1);
	old = umask(0177); /* the socket is born 0600 */
	err = bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	d->bound = err == 0;
	if (err < 0 || chmod(d->sock_path, 0600) < 0 ||
	    listen(d->lfd, 256) < 0) {
		err = -errno;
		fprintf(stderr, "memscope consumer: cannot listen on %s: %s\n",
			d->sock_path, strerror(-err));
		return err;
	}
	return 0;
}

static int setup_names(struct ms_daemon *d, const struct ms_daemon_opts *o)
{
	const char *name = o->session ? o->session : getenv("MEMSCOPE_SESSION");
	char dir[256], why[160];
	int err;

	snprintf(d->session, sizeof(d->session), "%s",
		 name && *name ? name : MS_DEFAULT_SESSION);
	err = ms_session_socket(o->session, d->sock_path, sizeof(d->sock_path));
	if (err) {
		fprintf(stderr,
			"memscope consumer: invalid session name '%s' (use "
			"letters, digits, '.', '_', '-', at most 64)\n",
			d->session);
		return err;
	}
	err = ms_session_mkdir(why, sizeof(why));
	if (!err && ms_session_sock_dir(d->sock_path, dir, sizeof(dir)) == 0)
		err = ms_session_dir_check(dir,
					   !ms_session_socket_named(o->session),
					   why, sizeof(why));
	if (err) {
		if (ms_session_sock_dir(d->sock_path, dir, sizeof(dir)) < 0)
			dir[0] = 0;
		fprintf(stderr,
			"memscope consumer: cannot use the session directory "
			"%s: %s (remove it, or set XDG_RUNTIME_DIR to a "
			"directory of your own)\n",
			dir, why);
		return err;
	}
	snprintf(d->out, sizeof(d->out), "%s", o->out);
	/* Heap addresses, module bases and paths: the owner's alone, as
	 * perf record keeps its data file, unless asked otherwise. */
	if (mkdir(d->out, o->share_archive ? 0755 : 0700) < 0 &&
	    errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "memscope consumer: cannot create %s: %s\n",
			d->out, strerror(-err));
		return err;
	}
	return 0;
}

static int setup_fds(struct ms_daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	d->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->efd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sfd < 0 || d->wake_fd < 0 || d->efd < 0)
		return -errno;
	/* data.ptr NULL marks the fixed fds; they are told apart by fd. */
	struct epoll_event ev = {.events = EPOLLIN};
	int fds[3] = {d->lfd, d->sfd, d->wake_fd};

	for (int i = 0; i < 3; i++) {
		ev.data.u64 = (uint64_t)i;
		if (epoll_ctl(d->efd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return -errno;
	}
	return 0;
}

/*
 * A descriptor per accepted connection and per thread's open segment: the
 * soft limit (often 1024) would cap a consumer at about a thousand
 * threads, so it goes up to the hard one. Returns the limit in force.
 * Written by ms_daemon_run() before the first connection is accepted.
 */
static uint64_t raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;

		want.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
}

int ms_daemon_open(const struct ms_daemon_opts *o, struct ms_daemon **out)
{
	struct ms_daemon *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->o = *o;
	if (o->live)
		ms_store_relaxed(&d->live_want, 1);
	d->lfd = d->efd = d->sfd = d->wake_fd = d->cfd = -1;
	d->fd_limit = 1024;
	pthread_mutex_init(&d->list_lock, NULL);
	pthread_mutex_init(&d->nap_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d->nap_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	CDS_INIT_LIST_HEAD(&d->rings);
	CDS_INIT_LIST_HEAD(&d->tails);
	CDS_INIT_LIST_HEAD(&d->procs);
	d->spares = ms_stream_spares_create(); /* none: streams go without */
	err = setup_names(d, o);
	if (!err)
		err = open_socket(d);
	if (!err)
		err = setup_fds(d);
	if (err) {
		ms_daemon_close(d);
		return err;
	}
	d->o.out = d->out;
	d->o.session = d->session;
	{
		/* The rate of this boot, kept beside the socket. */
		char cache[sizeof(d->sock_path) + 16];
		const char *slash = strrchr(d->sock_path, '/');
		int len = slash ? (int)(slash - d->sock_path) : 0;

		snprintf(cache, sizeof(cache), "%.*s/tsc-rate", len,
			 d->sock_path);
		ms_clock_calibrate_cached(&d->clk,
					  o->calib_ms ? o->calib_ms : 20,
					  len ? cache : "");
	}
	d->o.set.tick_hz = d->clk.use_tsc ? d->clk.tick_hz : 0;
	d->start_rt_ns = realtime_ns();
	d->manifest_dirty = 1;
	*out = d;
	return 0;
}

const char *ms_daemon_session(const struct ms_daemon *d)
{
	return d->session;
}

const char *ms_daemon_socket(const struct ms_daemon *d)
{
	return d->sock_path;
}

const char *ms_daemon_archive(const struct ms_daemon *d)
{
	return d->out;
}

void ms_daemon_wake(struct ms_daemon *d)
{
	uint64_t one = 1;
	ssize_t r = write(d->wake_fd, &one, sizeof(one));

	(void)r;
}

/* d->stop: 0 run, 1 stop now, 2 stop when idle after a grace for a peer
 * still to attach, 3 stop when idle (no peer can attach any more). The
 * sooner way wins: 1, then 3, then 2. */
static int stop_rank(int stop)
{
	return stop == 1 ? 3 : stop == 3 ? 2 : stop == 2 ? 1 : 0;
}

void ms_daemon_stop(struct ms_daemon *d, int when_idle)
{
	int want = when_idle == MS_STOP_IDLE_FINAL ? 3 : when_idle ? 2 : 1;
	int cur = ms_load_relaxed(&d->stop);

	if (stop_rank(want) > stop_rank(cur))
		ms_store_release(&d->stop, want);
	ms_daemon_wake(d);
}

void ms_daemon_forward_signals(struct ms_daemon *d, pid_t pid)
{
	ms_store_release(&d->fwd_pid, pid);
}

static void on_signal(struct ms_daemon *d)
{
	struct signalfd_siginfo si;
	pid_t fwd = ms_load_acquire(&d->fwd_pid);

	while (read(d->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (fwd > 0 && d->fwd_count++ == 0) {
			kill(fwd, (int)si.ssi_signo);
			continue;
		}
		ms_store_release(&d->stop, 1);
	}
}

static void add_conn(struct ms_daemon *d, struct ms_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};

	if (epoll_ctl(d->efd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		ms_conn_close(d, c);
		return;
	}
	c->next = d->conns;
	d->conns = c;
	/* Read at once: a short-lived peer may be gone by the next wait. */
	if (ms_conn_read(d, c) < 0)
		c->fd = -c->fd - 2; /* closed below, by the sweep */
}

static void sweep_conns(struct ms_daemon *d)
{
	d->top_busy = ms_topc_sweep(d);
	for (struct ms_conn **pp = &d->conns; *pp;) {
		struct ms_conn *c = *pp;

		if (c->fd < -1) {
			c->fd = -c->fd - 2;
			*pp = c->next;
			ms_conn_close(d, c);
			continue;
		}
		if (c->tail && ms_tailc_send(c->tail, c->fd, 0) < 0) {
			*pp = c->next;
			ms_conn_close(d, c);
			continue;
		}
		pp = &c->next;
	}
}

static void handle_events(struct ms_daemon *d, struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		struct ms_conn *c = evs[i].data.ptr;
		uint64_t v;

		if ((uintptr_t)c > 2) {
			if (c->fd >= 0 && ms_conn_read(d, c) < 0)
				c->fd = -c->fd - 2;
			continue;
		}
		switch (evs[i].data.u64) {
		case 0:
			for (int k = 0; k < 64; k++) {
				struct ms_conn *nc = ms_conn_accept(d);

				if (!nc)
					break;
				add_conn(d, nc);
			}
			break;
		case 1:
			on_signal(d);
			break;
		case 2:
			if (read(d->wake_fd, &v, sizeof(v)) < 0)
				v = 0;
			break;
		}
	}
	sweep_conns(d);
}

/* Marks processes whose rings are all retired; returns how many live. */
static int update_procs(struct ms_daemon *d)
{
	struct ms_proc *p;
	int live = 0;

	ms_list_for_each(p, &d->procs, node)
	{
		if (p->exited)
			continue;
		/* Pairs with the poller's release decrement in retire(). */
		if (ms_load_relaxed(&p->gone) &&
		    atomic_load_explicit(&p->rings_live,
					 memory_order_acquire) == 0) {
			p->exited = 1;
			d->manifest_dirty = 1;
			if (!d->o.quiet && p->next_image)
				ms_dlog(d,
					"pid %u: image %s drained: %llu "
					"events",
					p->pid, p->exe,
					(unsigned long long)ms_load_relaxed(
						&p->n.records));
			else if (!d->o.quiet)
				ms_dlog(d, "pid %u finished: %llu events",
					p->pid,
					(unsigned long long)ms_load_relaxed(
						&p->n.records));
			continue;
		}
		live++;
		d->manifest_dirty = 1; /* counts and threads move on */
	}
	return live;
}

static int should_stop(struct ms_daemon *d, int live, uint64_t now,
		       uint64_t *idle_since)
{
	int stop = ms_load_acquire(&d->stop);
	int idle_ok = stop >= 2 || (d->o.exit_when_idle && d->attached_ever);

	if (stop == 1)
		return 1;
	if (!idle_ok || live) {
		*idle_since = 0;
		return 0;
	}
	if (!*idle_since) {
		/* one more look at the socket before stopping */
		*idle_since = now;
		return 0;
	}
	if (stop == 3)
		return 1;
	return now - *idle_since >=
	       (stop == 2 ? MS_STOP_GRACE_NS : MS_IDLE_GRACE_NS);
}

/*
 * Once a second, or less often when writing it is slow (a session of many
 * processes and threads): at most 5% of this thread's time.
 */
static void manifest_tick(struct ms_daemon *d, uint64_t now)
{
	ms_compactor_apply(d);
	if (!d->manifest_dirty || now - d->manifest_ns < MS_MANIFEST_NS ||
	    now - d->manifest_ns < 20 * d->manifest_cost_ns)
		return;
	d->manifest_dirty = 0;
	d->manifest_ns = now;
	ms_manifest_write(d, 0);
	d->manifest_cost_ns = ms_mono_ns() - now;
}

int ms_daemon_run(struct ms_daemon *d, void (*tick)(struct ms_daemon *, void *),
		  void *tick_ctx)
{
	struct epoll_event evs[64];
	uint64_t last_tick = 0, idle_since = 0;
	int err;

	urcu_memb_register_thread();
	/* What the collector creates from now on (segments, the manifest,
	 * the symbol store) is private too. Not earlier: `record` has
	 * started its command with the user's own umask by now. */
	if (!d->o.share_archive)
		umask(077);
	/* Also not earlier: the command keeps its own limit. */
	d->fd_limit = raise_fd_limit();
	ms_manifest_reserve(d);
	/* before the poller: its streams ask whether it runs */
	if (ms_compactor_start(d) < 0)
		ms_dlog(d, "no idle compaction: cannot start its thread");
	err = ms_poller_start(d);
	if (err) {
		ms_compactor_stop(d);
		urcu_memb_unregister_thread();
		return err;
	}
	/* The first manifest ("running") now, while `record`'s command is
	 * still starting, not when its agent's HELLO wakes this thread:
	 * then it would hold the agent's ring handshake behind it. */
	manifest_tick(d, ms_mono_ns());
	for (;;) {
		/* Stopping when idle: a look every 5 ms, not 100. */
		int stop = ms_load_relaxed(&d->stop);
		int tmo = stop == 3 && idle_since			 ? 0
			  : stop >= 2					 ? 5
			  : (ms_load_relaxed(&d->ntails) || d->top_busy) ? 20
									 : 100;
		int n = epoll_wait(d->efd, evs, MS_ARRAY_SIZE(evs), tmo);
		uint64_t now = ms_mono_ns();
		int live;

		if (n > 0)
			handle_events(d, evs, n);
		else
			sweep_conns(d);
		live = update_procs(d);
		if (now - last_tick >= MS_TICK_NS) {
			last_tick = now;
			if (tick)
				tick(d, tick_ctx);
		}
		manifest_tick(d, now);
		if (should_stop(d, live, now, &idle_since))
			break;
	}
	ms_poller_join(d); /* final drain of every ring */
	ms_compactor_stop(d);
	update_procs(d);
	d->end_rt_ns = realtime_ns();
	/* The room kept for the last manifest is given back first: that
	 * manifest can use it, and its fsync commits the removal with it
	 * (removed after the fsync, the 1 MiB file waited 0.5-4 ms for the
	 * journal on this machine's disk). */
	ms_manifest_unreserve(d);
	err = ms_manifest_write(d, 1);
	urcu_memb_unregister_thread();
	return err;
}

void ms_daemon_totals(struct ms_daemon *d, struct ms_daemon_totals *t)
{
	struct ms_proc *p;

	memset(t, 0, sizeof(*t));
	ms_list_for_each(p, &d->procs, node)
	{
		/* A process is its chain of images, live while its last is. */
		t->processes += !p->prev_image;
		t->processes_live += !p->exited && !p->next_image;
		t->threads += ms_proc_threads(p);
		t->events += ms_load_relaxed(&p->n.records);
		t->allocs += ms_load_relaxed(&p->n.allocs);
		t->frees += ms_load_relaxed(&p->n.frees);
		t->dropped += ms_load_relaxed(&p->n.dropped);
		t->raw_bytes += ms_load_relaxed(&p->n.raw_bytes);
		t->disk_bytes += ms_load_relaxed(&p->n.disk_bytes) -
				 ms_load_relaxed(&p->n.compacted);
		t->discarded += ms_load_relaxed(&p->n.discarded);
		t->unwritten += ms_load_relaxed(&p->n.unwritten);
	}
	t->rings_refused = ms_load_relaxed(&d->rings_refused);
	t->unrecorded = d->unrecorded;
	t->rings_abandoned = ms_load_relaxed(&d->rings_abandoned);
	t->compacted_segments = d->compacted_segments;
	t->compacted_bytes = d->compacted_bytes;
}

void ms_daemon_close(struct ms_daemon *d)
{
	struct ms_cring *r, *rn;
	struct ms_tailc *t, *tn;
	struct ms_proc *p, *pn;

	if (!d)
		return;
	ms_poller_join(d);
	ms_compactor_stop(d);
	while (d->conns) {
		struct ms_conn *c = d->conns;

		d->conns = c->next;
		if (c->fd < -1)
			c->fd = -c->fd - 2;
		else if (c->tail) /* what is left, and what was missed */
			ms_tailc_send(c->tail, c->fd, 1);
		c->tail = NULL; /* freed below with the list */
		ms_conn_close(d, c);
	}
	if (d->rcu_calls) /* tail clients left: they are freed now */
		urcu_memb_barrier();
	ms_list_for_each_safe(r, rn, &d->rings, node) ms_cring_free_now(r);
	ms_snap_close(d); /* after the rings: their streams end in them */
	ms_list_for_each_safe(t, tn, &d->tails, node)
		ms_tailc_free_rcu(&t->rcu);
	ms_list_for_each_safe(p, pn, &d->procs, node) ms_proc_free(p);
	ms_seq_free(d);
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->bound)
		unlink(d->sock_path);
	ms_manifest_unreserve(d);
	if (d->efd >= 0)
		close(d->efd);
	if (d->sfd >= 0)
		close(d->sfd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	pthread_mutex_destroy(&d->list_lock);
	pthread_mutex_destroy(&d->nap_lock);
	pthread_cond_destroy(&d->nap_cv);
	ms_stream_spares_destroy(d->spares); /* after the streams ended */
	free(d);
}
