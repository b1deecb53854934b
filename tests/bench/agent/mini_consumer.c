/* SPDX-License-Identifier: MIT */
#include "mini_consumer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "record.h"
#include "ring.h"

#define MAX_CONNS 256

struct mring {
	struct ms_ring r;
	struct ms_rec_state rs;
	uint32_t gen;
	int conn; /* -1: its process is gone */
	int done; /* abandoned or fully drained after EOF */
	struct ms_mini_thread *th;
};

struct ms_mini {
	int lfd;
	int conns[MAX_CONNS];
	uint32_t conn_pid[MAX_CONNS];
	struct ms_settings set;
	struct mring rings[MS_MINI_MAX_RINGS];
	uint32_t nrings;
	struct ms_mini_thread threads[MS_MINI_MAX_THREADS];
	uint32_t nthreads;
	uint64_t beat;
	volatile int stop;
	volatile int idle;
	int had_conn;
	pthread_t th;
};

static struct ms_mini_thread *thread_of(struct ms_mini *m, uint32_t pid,
					uint32_t tid)
{
	for (uint32_t i = 0; i < m->nthreads; i++)
		if (m->threads[i].pid == pid && m->threads[i].tid == tid)
			return &m->threads[i];
	if (m->nthreads == MS_MINI_MAX_THREADS)
		return &m->threads[MS_MINI_MAX_THREADS - 1];
	m->threads[m->nthreads].pid = pid;
	m->threads[m->nthreads].tid = tid;
	return &m->threads[m->nthreads++];
}

static void count(struct ms_mini *m, struct mring *mr, const struct ms_event *e)
{
	struct ms_mini_thread *t = mr->th;

	if (e->type == MS_REC_THREAD_START)
		t = mr->th = thread_of(m, (uint32_t)e->pid, (uint32_t)e->tid);
	if (!t)
		t = mr->th = thread_of(m, mr->r.hdr->pid, mr->r.hdr->tid);
	t->events++;
	switch (e->type) {
	case MS_REC_ALLOC:
		t->allocs++;
		break;
	case MS_REC_FREE:
		t->frees++;
		break;
	case MS_REC_REALLOC:
		t->allocs++;
		t->frees++;
		break;
	case MS_REC_LOST:
		t->dropped += e->count;
		break;
	case MS_REC_STACK:
		t->stacks++;
		break;
	case MS_REC_MODULE_LOAD:
		t->modules++;
		break;
	case MS_REC_THREAD_NAME:
		memcpy(t->name, e->str, e->str_len);
		t->name[e->str_len] = 0;
		break;
	}
}

/* Decodes and releases everything committed. Returns bytes consumed. */
static size_t drain_ring(struct ms_mini *m, struct mring *mr)
{
	static __thread struct ms_event ev;
	const uint8_t *p;
	ssize_t n = ms_ring_peek(&mr->r, &p), off = 0;

	if (n < 0) {
		mr->done = 1;
		return 0;
	}
	while (off < n) {
		ssize_t k =
			ms_rec_decode(&mr->rs, p + off, (size_t)(n - off), &ev);
		if (k < 0) {
			mr->done = 1; /* corrupt: give the ring up */
			return 0;
		}
		count(m, mr, &ev);
		off += k;
	}
	ms_ring_release(&mr->r, (uint64_t)n);
	return (size_t)n;
}

static void finish_generation(struct mring *mr)
{
	uint64_t lost = ms_load_relaxed(&mr->r.hdr->lost_pending);

	if (lost && mr->th)
		mr->th->dropped += lost;
	mr->th = NULL;
}

static size_t poll_ring(struct ms_mini *m, struct mring *mr)
{
	uint32_t st;
	size_t got;

	if (mr->done)
		return 0;
	ms_store_relaxed(&mr->r.hdr->heartbeat, ++m->beat);
	st = ms_load_acquire(&mr->r.hdr->state);
	if (st == MS_RING_DRAINED) {
		if (mr->conn < 0)
			mr->done = 1;
		return 0;
	}
	if (st == MS_RING_ACTIVE && mr->r.hdr->generation != mr->gen) {
		mr->gen = mr->r.hdr->generation;
		memset(&mr->rs, 0, sizeof(mr->rs));
		mr->th = NULL;
	}
	got = drain_ring(m, mr);
	if (st == MS_RING_CLOSED) {
		got += drain_ring(m, mr);
		finish_generation(mr);
		ms_ring_mark_drained(&mr->r);
	} else if (mr->conn < 0 && got == 0) {
		finish_generation(mr);
		mr->done = 1;
	}
	return got;
}

static void send_settings(struct ms_mini *m, int fd)
{
	struct ms_msg_settings s;

	memset(&s, 0, sizeof(s));
	ms_msg_init(&s.hdr, MS_MSG_SETTINGS, sizeof(s));
	s.sampling = m->set.sampling;
	s.stack_depth = m->set.stack_depth;
	s.sampling_param = m->set.sampling_param;
	s.ring_kb = m->set.ring_kb;
	s.on_full = m->set.on_full;
	s.tick_hz = m->set.tick_hz;
	send(fd, &s, sizeof(s), MSG_NOSIGNAL);
}

static void add_ring(struct ms_mini *m, int c, int fd)
{
	struct mring *mr;

	if (m->nrings == MS_MINI_MAX_RINGS || fd < 0) {
		close(fd);
		return;
	}
	mr = &m->rings[m->nrings];
	memset(mr, 0, sizeof(*mr));
	if (ms_ring_attach(fd, &mr->r) < 0) {
		close(fd);
		return;
	}
	mr->gen = mr->r.hdr->generation;
	mr->conn = c;
	m->nrings++;
}

/* One message from connection c; returns 0, or -1 at EOF. */
static int serve(struct ms_mini *m, int c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} ctl;
	uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct ms_msg_hdr h;
	struct cmsghdr *cm;
	int fd = -1;
	ssize_t n = recvmsg(m->conns[c], &mh, MSG_CMSG_CLOEXEC);

	if (n <= 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if ((size_t)n < sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	if (h.type == MS_MSG_HELLO && n == sizeof(struct ms_msg_hello)) {
		memcpy(&m->conn_pid[c], buf + 20, 4);
		send_settings(m, m->conns[c]);
	} else if (h.type == MS_MSG_RING) {
		add_ring(m, c, fd);
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

static void close_conn(struct ms_mini *m, int c)
{
	close(m->conns[c]);
	m->conns[c] = -1;
	for (uint32_t i = 0; i < m->nrings; i++)
		if (m->rings[i].conn == c)
			m->rings[i].conn = -1;
}

static void accept_and_serve(struct ms_mini *m, int timeout_ms)
{
	struct pollfd pf[MAX_CONNS + 1];
	int n = 0, idx[MAX_CONNS + 1];

	pf[n].fd = m->lfd;
	pf[n].events = POLLIN;
	idx[n++] = -1;
	for (int c = 0; c < MAX_CONNS; c++) {
		if (m->conns[c] < 0)
			continue;
		pf[n].fd = m->conns[c];
		pf[n].events = POLLIN;
		idx[n++] = c;
	}
	if (poll(pf, (nfds_t)n, timeout_ms) <= 0)
		return;
	for (int i = 1; i < n; i++)
		if (pf[i].revents && serve(m, idx[i]) < 0)
			close_conn(m, idx[i]);
	if (pf[0].revents & POLLIN) {
		int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);

		for (int c = 0; c < MAX_CONNS && fd >= 0; c++) {
			if (m->conns[c] < 0) {
				m->conns[c] = fd;
				m->had_conn = 1;
				fd = -1;
			}
		}
		if (fd >= 0)
			close(fd);
	}
}

static int any_conn(struct ms_mini *m)
{
	for (int c = 0; c < MAX_CONNS; c++)
		if (m->conns[c] >= 0)
			return 1;
	return 0;
}

static void *loop(void *arg)
{
	struct ms_mini *m = arg;

	while (!m->stop) {
		size_t got = 0;

		for (uint32_t i = 0; i < m->nrings; i++)
			got += poll_ring(m, &m->rings[i]);
		accept_and_serve(m, got ? 0 : 1);
		if (got) {
			/* Let data pile up a little: polling a producer's
			 * head on every record would bounce its cache line. */
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
		}
		m->idle = m->had_conn && !any_conn(m) && got == 0;
	}
	for (uint32_t i = 0; i < m->nrings; i++) {
		m->rings[i].conn = -1;
		while (poll_ring(m, &m->rings[i]))
			;
	}
	return NULL;
}

struct ms_mini *ms_mini_start(const char *path, const struct ms_settings *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ms_mini *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->set = *s;
	for (int c = 0; c < MAX_CONNS; c++)
		m->conns[c] = -1;
	m->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (m->lfd < 0 || bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(m->lfd, 64) || pthread_create(&m->th, NULL, loop, m)) {
		free(m);
		return NULL;
	}
	return m;
}

void ms_mini_wait_idle(struct ms_mini *m, unsigned timeout_ms)
{
	struct timespec ts = {0, 1000000};

	for (unsigned i = 0; i < timeout_ms && !m->idle; i++)
		nanosleep(&ts, NULL);
}

void ms_mini_stop(struct ms_mini *m)
{
	m->stop = 1;
	pthread_join(m->th, NULL);
}

const struct ms_mini_thread *ms_mini_threads(struct ms_mini *m, uint32_t *n)
{
	*n = m->nthreads;
	return m->threads;
}

uint64_t ms_mini_total_events(struct ms_mini *m)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < m->nthreads; i++)
		n += m->threads[i].events;
	return n;
}

void ms_mini_free(struct ms_mini *m)
{
	for (uint32_t i = 0; i < m->nrings; i++)
		ms_ring_unmap(&m->rings[i].r);
	for (int c = 0; c < MAX_CONNS; c++)
		if (m->conns[c] >= 0)
			close(m->conns[c]);
	close(m->lfd);
	free(m);
}
