/* SPDX-License-Identifier: MIT */
/*
 * The control side of the session socket: accepting peers of our own uid,
 * validating every message (magic, version, type, exact size), agents'
 * HELLO and RING messages, tail clients. Runs on the control thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon_int.h"
#include "proto.h"

#define MS_MAX_FDS 8

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void send_settings(struct ms_daemon *d, int fd)
{
	struct ms_msg_settings m;

	memset(&m, 0, sizeof(m));
	ms_msg_init(&m.hdr, MS_MSG_SETTINGS, sizeof(m));
	m.sampling = d->o.set.sampling;
	m.stack_depth = d->o.set.stack_depth;
	m.sampling_param = d->o.set.sampling_param;
	m.ring_kb = d->o.set.ring_kb;
	m.on_full = d->o.set.on_full;
	m.flags = MS_SET_RING_ACKS | MS_SET_FREE_LEVEL |
		  d->o.set.time_res_ns << MS_SET_TIME_RES_SHIFT;
	m.tick_hz = d->clk.use_tsc ? d->clk.tick_hz : 0;
	if (send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		ms_dlog(d, "could not answer a client: %s", strerror(errno));
}

/* Copies an untrusted, maybe unterminated string, keeping it printable. */
static void copy_name(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < cap && i < n && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = 0;
}

/* The kernel's start time of `pid` (clock ticks since boot), which exec
 * keeps and a reused pid does not; 0 when it cannot be read. */
static uint64_t proc_starttime(uint32_t pid)
{
	char path[64], buf[1024], *s;
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* After the command name's last ')': state is field 3, and the
	 * start time field 22, so 19 fields on. */
	s = strrchr(buf, ')');
	if (!s)
		return 0;
	for (int field = 2; field < 22 && s; field++)
		s = strchr(s + 1, ' ');
	if (!s || sscanf(s + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

/* The last image of the process that `p` is a new image of, if any. */
static struct ms_proc *earlier_image(struct ms_daemon *d,
				     const struct ms_proc *p)
{
	struct ms_proc *q;

	if (!p->starttime)
		return NULL;
	ms_list_for_each(q, &d->procs, node)
	{
		if (q->pid == p->pid && q->starttime == p->starttime &&
		    !q->next_image)
			return q;
	}
	return NULL;
}

static int on_hello(struct ms_daemon *d, struct ms_conn *c,
		    const struct ms_msg_hello *m)
{
	struct ms_proc *p, *prev;

	if (c->hello_seen)
		return -EPROTO;
	c->hello_seen = 1;
	if (m->role == MS_ROLE_TAIL) {
		c->role = MS_CONN_TAIL;
		return 0;
	}
	if (m->role == MS_ROLE_TOP) {
		c->role = MS_CONN_TOP;
		c->top = ms_topc_new();
		return c->top ? 0 : -ENOMEM;
	}
	if (m->role != MS_ROLE_AGENT)
		return -EPROTO;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ms_proc_init_info(p);
	c->role = MS_CONN_AGENT;
	c->proc = p;
	/* The kernel's word on the pid, not the message's. */
	p->pid = (uint32_t)c->cred_pid;
	p->ppid = m->ppid;
	copy_name(p->exe, sizeof(p->exe), m->exe, sizeof(m->exe));
	p->start_rt_ns = realtime_ns();
	p->starttime = proc_starttime(p->pid);
	prev = earlier_image(d, p);
	snprintf(p->dir, sizeof(p->dir), "%s/%u", d->out, p->pid);
	if (mkdir(p->dir, d->o.share_archive ? 0755 : 0700) < 0 &&
	    errno != EEXIST)
		ms_dlog(d, "cannot create %s: %s", p->dir, strerror(errno));
	cds_list_add_tail(&p->node, &d->procs);
	if (prev) {
		prev->next_image = p;
		p->prev_image = prev;
		p->ppid = prev->ppid;
	} else {
		d->nprocs++;
	}
	d->attached_ever = 1;
	d->manifest_dirty = 1;
	if (!d->o.quiet && prev)
		ms_dlog(d, "pid %u exec'd %s", p->pid, p->exe);
	else if (!d->o.quiet)
		ms_dlog(d, "pid %u attached (%s)", p->pid, p->exe);
	send_settings(d, c->fd);
	return 0;
}

static int on_tail_req(struct ms_daemon *d, struct ms_conn *c,
		       const struct ms_msg_tail_req *m)
{
	struct ms_tailc *t;

	if (c->role != MS_CONN_TAIL || c->tail)
		return -EPROTO;
	t = ms_tailc_new(m);
	if (!t)
		return -ENOMEM;
	c->tail = t;
	pthread_mutex_lock(&d->list_lock);
	ms_rcu_add_tail(&t->node, &d->tails);
	pthread_mutex_unlock(&d->list_lock);
	ms_fetch_add_relaxed(&d->ntails, 1);
	send_settings(d, c->fd);
	return 0;
}

static int on_top_req(struct ms_daemon *d, struct ms_conn *c,
		      const struct ms_msg_top_req *m)
{
	if (c->role != MS_CONN_TOP || m->flags || m->reserved)
		return -EPROTO;
	ms_topc_ask(d, c->top);
	return 0;
}

static const char *ring_error(int err)
{
	switch (err) {
	case -EPROTO:
		return "not a sealed memscope ring of a valid size";
	case -EMFILE:
		return "the consumer is out of file descriptors (raise "
		       "`ulimit -n`)";
	case -ENOSPC:
		return "the consumer maps too many rings already";
	default:
		return strerror(-err);
	}
}

/* Maps the ring in `fd` (taken in every case). Returns 0 or -errno. */
static int take_ring(struct ms_daemon *d, struct ms_proc *p, int fd)
{
	struct ms_cring *r;
	int err;

	if (fd < 0)
		return -EMFILE; /* the kernel could not give us the memfd */
	/* The descriptor the ring's segment will need, and one to spare. */
	/* Each live ring may hold its segment file open. */
	if (ms_load_relaxed(&d->rings_live) + d->nconns + MS_FD_RESERVE + 2 >
	    d->fd_limit) {
		close(fd);
		return -EMFILE;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return -ENOMEM;
	}
	r->sum = -1;
	err = ms_ring_attach(fd, &r->ring);
	if (err) {
		close(fd);
		free(r);
		return err;
	}
	if (ms_load_relaxed(&d->mapped_bytes) + r->ring.map_len >
	    MS_MAX_MAPPED_BYTES) {
		ms_ring_unmap(&r->ring);
		free(r);
		return -ENOSPC;
	}
	/* The mapping keeps the memory: the descriptor is not needed. */
	close(r->ring.fd);
	r->ring.fd = -1;
	ms_fetch_add_relaxed(&d->mapped_bytes, r->ring.map_len);
	r->d = d;
	r->proc = p;
	p->nrings++;
	ms_fetch_add_relaxed(&p->rings_live, 1);
	ms_fetch_add_relaxed(&d->rings_live, 1);
	pthread_mutex_lock(&d->list_lock);
	ms_rcu_add_tail(&r->node, &d->rings);
	pthread_mutex_unlock(&d->list_lock);
	ms_poller_kick(d);
	d->manifest_dirty = 1;
	return 0;
}

static void send_ring_ack(struct ms_daemon *d, struct ms_conn *c,
			  const struct ms_msg_ring *m, int err)
{
	struct ms_msg_ring_ack a;

	memset(&a, 0, sizeof(a));
	ms_msg_init(&a.hdr, MS_MSG_RING_ACK, sizeof(a));
	a.tid = m->tid;
	a.index = m->index;
	a.status = (uint32_t)-err;
	/* The thread waits for this under its process's lock: a full socket
	 * (a program that stopped reading) only costs it its timeout. */
	if (send(c->fd, &a, sizeof(a), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		ms_dlog(d, "pid %u: could not answer a ring: %s", c->proc->pid,
			strerror(errno));
}

#define MS_REFUSALS_LOGGED 10 /* a process's refused rings logged */

/*
 * A thread's ring, or its announcement without the memfd (fd -1: the
 * kernel had no descriptor to give us). Takes `fd` in every case. A
 * refused ring is counted and the thread told: it runs untracked and
 * reports how many events it could not record.
 */
static int on_ring(struct ms_daemon *d, struct ms_conn *c,
		   const struct ms_msg_ring *m, int fd)
{
	struct ms_proc *p = c->proc;
	int err;

	if (c->role != MS_CONN_AGENT) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	if (p->nrings >= MS_MAX_RINGS_PER_PROC) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	err = take_ring(d, p, fd);
	if (err) {
		/* A process at the limit has its threads refused by the
		 * thousand: a few lines say why, the manifest counts all. */
		uint64_t k = ms_load_relaxed(&p->n.refused);

		if (k < MS_REFUSALS_LOGGED)
			ms_dlog(d, "pid %u: refused the ring of thread %u: %s",
				p->pid, m->tid, ring_error(err));
		else if (k == MS_REFUSALS_LOGGED)
			ms_dlog(d,
				"pid %u: refused the ring of thread %u: %s; "
				"more refusals of this process are counted, "
				"not logged",
				p->pid, m->tid, ring_error(err));
		ms_fetch_add_relaxed(&d->rings_refused, 1);
		ms_fetch_add_relaxed(&p->n.refused, 1);
		d->manifest_dirty = 1;
	}
	send_ring_ack(d, c, m, err);
	return 0; /* the agent may still send good rings */
}

static int on_unrecorded(struct ms_daemon *d, struct ms_conn *c,
			 const struct ms_msg_unrecorded *m)
{
	struct ms_proc *p = c->proc;

	if (c->role != MS_CONN_AGENT)
		return -EPROTO;
	/* Untrusted: a count that would wrap is a broken peer. */
	if (m->events > UINT64_MAX / 4 - d->unrecorded)
		return -EPROTO;
	ms_fetch_add_relaxed(&p->n.unrecorded, m->events);
	d->unrecorded += m->events;
	d->manifest_dirty = 1;
	return 0;
}

static int hdr_ok(const struct ms_msg_hdr *h, size_t len)
{
	static const uint32_t sizes[] = {
		[MS_MSG_HELLO] = sizeof(struct ms_msg_hello),
		[MS_MSG_RING] = sizeof(struct ms_msg_ring),
		[MS_MSG_TAIL_REQ] = sizeof(struct ms_msg_tail_req),
		[MS_MSG_UNRECORDED] = sizeof(struct ms_msg_unrecorded),
		[MS_MSG_TOP_REQ] = sizeof(struct ms_msg_top_req),
	};

	return len >= sizeof(*h) && h->type < MS_ARRAY_SIZE(sizes) &&
	       sizes[h->type] && ms_msg_valid(h, len, h->type, sizes[h->type]);
}

/*
 * One message with the fds that came with it. Takes the fds. `cut`: the
 * kernel dropped descriptors that came with it (MSG_CTRUNC: we had no
 * free descriptor), which only a RING may carry.
 */
static int dispatch(struct ms_daemon *d, struct ms_conn *c, const void *buf,
		    size_t len, int *fds, int nfds, int cut)
{
	const struct ms_msg_hdr *h = buf;
	int err = -EPROTO, ring_fd = -1;

	if (!hdr_ok(h, len) || (cut && h->type != MS_MSG_RING))
		goto out;
	if (h->type != MS_MSG_HELLO && !c->hello_seen)
		goto out;
	switch (h->type) {
	case MS_MSG_HELLO:
		err = on_hello(d, c, buf);
		break;
	case MS_MSG_TAIL_REQ:
		err = on_tail_req(d, c, buf);
		break;
	case MS_MSG_TOP_REQ:
		err = on_top_req(d, c, buf);
		break;
	case MS_MSG_RING:
		if (nfds == 1) {
			ring_fd = fds[0];
			nfds = 0;
		} else if (nfds || !cut) {
			break; /* a RING has its memfd */
		}
		err = on_ring(d, c, buf, ring_fd);
		break;
	case MS_MSG_UNRECORDED:
		err = on_unrecorded(d, c, buf);
		break;
	}
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (nfds && !err)
		err = -EPROTO; /* fds where none belong */
	return err;
}

static int take_fds(struct msghdr *mh, int *fds)
{
	int n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (n < MS_MAX_FDS)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

/*
 * Reads every queued message. Returns 0 while the connection lives, or
 * -errno / -EPIPE (end of file) when it must be closed.
 */
int ms_conn_read(struct ms_daemon *d, struct ms_conn *c)
{
	union {
		struct ms_msg_hello hello;
		uint8_t b[4096];
	} buf;
	union {
		char b[CMSG_SPACE(MS_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	int reset = 0; /* ECONNRESET seen: the queued messages come next */

	for (;;) {
		struct iovec iov = {.iov_base = buf.b, .iov_len = sizeof(buf)};
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf.b,
			.msg_controllen = sizeof(cbuf),
		};
		int fds[MS_MAX_FDS], nfds, err;
		ssize_t n;

		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/*
			 * A peer that closed with our messages unread (a
			 * RING_ACK it did not wait for) leaves ECONNRESET,
			 * which the kernel reports once, before the messages
			 * it sent that are still queued here: read those.
			 */
			if (errno == ECONNRESET && !reset++)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		nfds = take_fds(&mh, fds);
		if (n == 0 && nfds == 0)
			return -EPIPE;
		if (mh.msg_flags & MSG_TRUNC) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			err = -EPROTO;
		} else {
			err = dispatch(d, c, buf.b, (size_t)n, fds, nfds,
				       (mh.msg_flags & MSG_CTRUNC) != 0);
		}
		if (err) {
			ms_dlog(d, "pid %d: %s; closing its connection",
				(int)c->cred_pid,
				err == -EPROTO ? "invalid message"
					       : strerror(-err));
			return err;
		}
	}
}

/* Accepts one peer; refuses other users. Returns the conn or NULL. */
struct ms_conn *ms_conn_accept(struct ms_daemon *d)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ms_conn *c;
	int fd;

	fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.uid != geteuid()) {
		ms_dlog(d,
			"refused a connection from uid %d (pid %d): only "
			"processes of the consumer's user may attach",
			(int)cred.uid, (int)cred.pid);
		close(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	d->nconns++;
	c->uid = cred.uid;
	c->cred_pid = cred.pid;
	c->role = MS_CONN_NEW;
	return c;
}

/* Closes a connection: an agent's process is gone, a tail client leaves. */
void ms_conn_close(struct ms_daemon *d, struct ms_conn *c)
{
	if (c->proc) {
		/* Pairs with the poller's load_acquire(gone). */
		ms_store_release(&c->proc->gone, 1);
		c->proc->end_rt_ns = realtime_ns();
		d->manifest_dirty = 1;
		ms_poller_kick(d); /* drain and retire its rings now */
	}
	if (c->tail) {
		pthread_mutex_lock(&d->list_lock);
		ms_rcu_del(&c->tail->node);
		pthread_mutex_unlock(&d->list_lock);
		atomic_fetch_sub_explicit(&d->ntails, 1, memory_order_relaxed);
		urcu_memb_call_rcu(&c->tail->rcu, ms_tailc_free_rcu);
		d->rcu_calls++;
	}
	ms_topc_free(c->top);
	epoll_ctl(d->efd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	d->nconns--;
	free(c);
}
