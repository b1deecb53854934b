/* SPDX-License-Identifier: MIT */
/*
 * Live tail clients: each has a bounded single-producer (poller) /
 * single-consumer (control thread) queue of events. A full queue never
 * waits: the event is counted as missed and the client is told.
 */
#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "daemon_int.h"
#include "proto.h"
#include "record.h"

struct ms_tailc *ms_tailc_new(const struct ms_msg_tail_req *req)
{
	struct ms_tailc *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->q = calloc(MS_TAILQ_CAP, sizeof(*t->q));
	if (!t->q) {
		free(t);
		return NULL;
	}
	t->pid = req->pid;
	t->tid = req->tid;
	t->min_size = req->min_size;
	return t;
}

void ms_tailc_free_rcu(struct rcu_head *h)
{
	struct ms_tailc *t = ms_container_of(h, struct ms_tailc, rcu);

	free(t->q);
	free(t);
}

static int wanted(const struct ms_tailc *t, const struct ms_tail_event *ev)
{
	if (t->pid && t->pid != ev->pid)
		return 0;
	if (t->tid && t->tid != ev->tid)
		return 0;
	if (t->min_size && ev->type != MS_REC_FREE && ev->size < t->min_size)
		return 0;
	if (t->min_size && ev->type == MS_REC_FREE)
		return 0; /* sizes of frees are unknown here */
	return 1;
}

/* Poller thread, inside an RCU read-side critical section. */
void ms_tailc_push(struct ms_daemon *d, const struct ms_tail_event *ev)
{
	struct ms_tailc *t;

	ms_list_for_each_rcu(t, &d->tails, node)
	{
		uint64_t head = ms_load_relaxed(&t->head);

		if (!wanted(t, ev))
			continue;
		/* Pairs with the control thread's store_release(tail). */
		if (head - ms_load_acquire(&t->tail) >= MS_TAILQ_CAP) {
			ms_fetch_add_relaxed(&t->missed, 1);
			continue;
		}
		t->q[head % MS_TAILQ_CAP] = *ev;
		/* Pairs with the control thread's load_acquire(head). */
		ms_store_release(&t->head, head + 1);
	}
}

/*
 * How many more messages of `len` bytes the socket's send buffer takes
 * (each also costs the kernel's per-packet overhead); INT_MAX when that
 * cannot be known.
 */
static int room_for(int fd, size_t len)
{
	int sndbuf, queued;
	socklen_t l = sizeof(sndbuf);
	long per = (long)len + 1024;

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l) < 0 ||
	    ioctl(fd, SIOCOUTQ, &queued) < 0)
		return INT_MAX;
	return sndbuf > queued ? (int)((sndbuf - queued) / per) : 0;
}

int ms_tailc_send(struct ms_tailc *t, int fd, int final)
{
	struct ms_msg_tail_events m;

	for (;;) {
		/* Pairs with the poller's store_release(head). */
		uint64_t head = ms_load_acquire(&t->head);
		uint64_t tail = ms_load_relaxed(&t->tail);
		uint64_t missed = ms_load_relaxed(&t->missed);
		uint32_t n = 0;
		int room;
		ssize_t w;

		if (head == tail && missed == 0)
			return 0;
		/*
		 * The last message the socket can take is kept for the count
		 * of missed events: a stopped client learns it when it reads
		 * again, even after the consumer has gone. Only the final
		 * send uses it, for that count and what is still queued.
		 */
		room = room_for(fd, sizeof(m));
		if (room < (final ? 1 : 2))
			return 0;
		if (final && room == 1 && head != tail) {
			ms_fetch_add_relaxed(&t->missed, head - tail);
			ms_store_release(&t->tail, head);
			continue;
		}
		memset(&m, 0, sizeof(m));
		while (tail + n < head && n < MS_TAIL_BATCH) {
			m.ev[n] = t->q[(tail + n) % MS_TAILQ_CAP];
			n++;
		}
		ms_msg_init(&m.hdr, MS_MSG_TAIL_EVENTS, sizeof(m));
		m.missed = missed;
		m.count = n;
		w = send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0
								       : -errno;
		atomic_fetch_sub_explicit(&t->missed, missed,
					  memory_order_relaxed);
		/* Pairs with the poller's load_acquire(tail). */
		ms_store_release(&t->tail, tail + n);
	}
}
