/* SPDX-License-Identifier: MIT */
/*
 * A stand-in agent that speaks the consumer's protocol with exactly known
 * events, so the consumer's end-to-end, stress and fault tests run without
 * the real agent. Each thread gets a ring (common/ring.h), writes CLOCK,
 * THREAD_START, then ALLOC/FREE pairs over a live window, THREAD_EXIT, and
 * closes the ring. Losses follow the brief's protocol (lost_pending, LOST
 * before the next record; block mode gives up after 2 s without progress).
 *
 * Prints "memscope-expect total attempted=A allocs=N frees=M lost=L" and
 * one "memscope-expect thread tid=T allocs=a frees=f lost=l" per thread;
 * allocs/frees count the records written, lost those dropped.
 *
 * Faults (--fault): small-ring, unsealed (bad rings sent first, then the
 * normal run), garbage-msg (junk on a second connection first),
 * garbage-ring (thread 0 commits random bytes, thread 1 publishes an
 * impossible head and stops, thread 2 ends on half a record), crash (each
 * thread writes its events, then the process SIGKILLs itself without closing),
 * peer (connect and expect no SETTINGS: for the other-uid test), stall (stop
 * after HELLO for --stall-ms before writing), unread-acks (one ring refused
 * and its RING_ACK left unread; the consumer --stop-pid is SIGSTOPped while
 * the threads send their rings and write, and continued after this process
 * closed its socket: the kernel then reports ECONNRESET to the consumer
 * before the queued rings).
 *
 * --name N: each thread also names itself N (THREAD_NAME) and reports a
 * module /opt/N/lib.so (MODULE_LOAD), N as raw bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "proto.h"
#include "record.h"
#include "ring.h"
#include "session.h"

struct cfg {
	const char *session;
	int threads;
	long ops;
	uint64_t ring_kb; /* 0: the consumer's */
	int drop;	  /* -1: the consumer's */
	const char *fault;
	const char *name; /* THREAD_NAME and module path; NULL: none */
	int window;
	long rings_per_thread; /* >1: thread exits and new threads reuse */
	pid_t stop_pid;	       /* unread-acks: the consumer, stopped */
};

struct worker {
	struct cfg *c;
	int idx, sock;
	struct ms_ring r;
	struct ms_rec_state st;
	struct ms_clock clk;
	uint32_t tid;
	uint64_t allocs, frees, lost, attempted;
	uint64_t last_hb, hb_ns;
};

static struct ms_msg_settings g_set;
static volatile int g_failed; /* a thread could not send its ring */

static int connect_sock(const char *session)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (ms_session_socket(session, sa.sun_path, sizeof(sa.sun_path)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int hello(int fd)
{
	struct ms_msg_hello h;

	ms_msg_hello_init(&h, MS_ROLE_AGENT);
	snprintf(h.exe, sizeof(h.exe), "fake_agent");
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return -1;
	if (recv(fd, &g_set, sizeof(g_set), 0) != (ssize_t)sizeof(g_set) ||
	    g_set.hdr.type != MS_MSG_SETTINGS)
		return -1;
	return 0;
}

static int send_fd(int sock, int fd, uint32_t tid, uint32_t index)
{
	struct ms_msg_ring m;
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} cb;
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cb.b,
			    .msg_controllen = sizeof(cb.b)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	ms_msg_init(&m.hdr, MS_MSG_RING, sizeof(m));
	m.tid = tid;
	m.index = index;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Waits for `n` bytes of room in block mode; returns NULL when giving up
 * (2 s). */
static uint8_t *reserve_n(struct worker *w, int droppable, size_t n)
{
	uint8_t *p;
	unsigned spins = 0;

	while (!(p = ms_ring_reserve(&w->r, n))) {
		uint64_t hb = ms_load_relaxed(&w->r.hdr->heartbeat);
		uint64_t now = ms_mono_ns();

		if (droppable && w->c->drop)
			return NULL;
		if (hb != w->last_hb) {
			w->last_hb = hb;
			w->hb_ns = now;
		} else if (w->hb_ns && now - w->hb_ns > 2000000000u) {
			return NULL; /* consumer gone */
		} else if (!w->hb_ns) {
			w->hb_ns = now;
		}
		if (++spins < 64)
			ms_cpu_relax();
		else if (spins < 256)
			sched_yield();
		else
			nanosleep(&(struct timespec){0, 50000}, NULL);
	}
	return p;
}

static uint8_t *reserve(struct worker *w, int droppable)
{
	return reserve_n(w, droppable, MS_REC_SMALL_MAX);
}

static void lose(struct worker *w, unsigned cause)
{
	struct ms_ring_hdr *h = w->r.hdr;

	ms_store_relaxed(&h->lost[cause], ms_load_relaxed(&h->lost[cause]) + 1);
	ms_store_relaxed(&h->lost_pending,
			 ms_load_relaxed(&h->lost_pending) + 1);
	w->lost++;
}

/* Room for one record, with the pending LOST written first. */
static uint8_t *room(struct worker *w)
{
	uint64_t pend = ms_load_relaxed(&w->r.hdr->lost_pending);
	uint8_t *p = reserve(w, 1);

	if (!p)
		return NULL;
	if (pend) {
		uint8_t *e = ms_rec_put_lost(&w->st, p, ms_clock_ticks(&w->clk),
					     pend, MS_LOST_FULL);

		ms_store_relaxed(&w->r.hdr->lost_pending, 0);
		ms_ring_commit(&w->r, (uint64_t)(e - p));
		p = reserve(w, 1);
	}
	return p;
}

static void put_alloc(struct worker *w, uint64_t addr, uint64_t size)
{
	uint8_t *p = room(w), *e;

	w->attempted++;
	if (!p) {
		lose(w, w->c->drop ? MS_LOST_FULL : MS_LOST_GONE);
		return;
	}
	e = ms_rec_put_alloc(&w->st, p, ms_clock_ticks(&w->clk), addr, size, 0,
			     0, MS_WEIGHT_ONE);
	ms_ring_commit(&w->r, (uint64_t)(e - p));
	w->allocs++;
}

static void put_free(struct worker *w, uint64_t addr)
{
	uint8_t *p = room(w), *e;

	w->attempted++;
	if (!p) {
		lose(w, w->c->drop ? MS_LOST_FULL : MS_LOST_GONE);
		return;
	}
	e = ms_rec_put_free(&w->st, p, ms_clock_ticks(&w->clk), addr);
	ms_ring_commit(&w->r, (uint64_t)(e - p));
	w->frees++;
}

/* Control records wait for room (never dropped in this fake). */
static void put_start(struct worker *w)
{
	uint8_t *p = reserve(w, 0), *e;

	if (!p)
		return;
	e = ms_rec_put_clock(&w->st, p, ms_clock_ticks(&w->clk), ms_mono_ns(),
			     w->clk.tick_hz);
	e = ms_rec_put_thread_start(&w->st, e, ms_clock_ticks(&w->clk),
				    (uint64_t)getpid(), w->tid);
	ms_ring_commit(&w->r, (uint64_t)(e - p));
}

/* --name: the thread's name, and a module in a folder of that name. */
static void put_name(struct worker *w)
{
	static const uint8_t bid[4] = {0xca, 0xfe, 0xba, 0xbe};
	const char *n = w->c->name;
	char path[128];
	uint8_t *p = reserve(w, 0), *e;
	int len = snprintf(path, sizeof(path), "/opt/%s/lib.so", n);

	if (!p)
		return;
	e = ms_rec_put_thread_name(&w->st, p, ms_clock_ticks(&w->clk), n,
				   (uint32_t)strlen(n));
	ms_ring_commit(&w->r, (uint64_t)(e - p));
	if (!(p = reserve_n(w, 0, 2 * sizeof(path))))
		return;
	e = ms_rec_put_module_load(&w->st, p, ms_clock_ticks(&w->clk),
				   0x7f0000000000ull, 0x1000, bid, sizeof(bid),
				   path, (uint32_t)len);
	ms_ring_commit(&w->r, (uint64_t)(e - p));
}

static void put_exit(struct worker *w)
{
	uint8_t *p = room(w), *e;

	if (!p)
		return;
	e = ms_rec_put_thread_exit(&w->st, p, ms_clock_ticks(&w->clk));
	ms_ring_commit(&w->r, (uint64_t)(e - p));
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t size_of(uint64_t r)
{
	unsigned k = (unsigned)(r % 1000);

	if (k < 900)
		return 8 + r % 1000;
	if (k < 995)
		return 1024 + r % 30000;
	return 65536 + r % 1000000;
}

static void garbage(struct worker *w)
{
	uint8_t *p = ms_ring_reserve(&w->r, 512);
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (int i = 0; p && i < 512; i++)
		p[i] = (uint8_t)rnd(&s);
	if (p)
		ms_ring_commit(&w->r, 512);
}

static void work(struct worker *w, long ops)
{
	uint64_t live[512] = {0}, s = 0x1234567ull + (uint64_t)w->idx * 77;
	int win = w->c->window;

	for (long i = 0; i < ops; i++) {
		uint64_t r = rnd(&s);
		int k = (int)(r % (uint64_t)win);

		if (live[k]) {
			put_free(w, live[k]);
			live[k] = 0;
		} else {
			live[k] = 0x10000000ull + ((uint64_t)w->idx << 32) +
				  (uint64_t)i * 16;
			put_alloc(w, live[k], size_of(r >> 8));
		}
	}
	for (int k = 0; k < win && strcmp(w->c->fault, "crash"); k++)
		if (live[k])
			put_free(w, live[k]);
}

static int ring_size_kb(const struct cfg *c)
{
	return (int)(c->ring_kb ? c->ring_kb : g_set.ring_kb);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	long per = w->c->ops / w->c->rings_per_thread;

	w->tid = (uint32_t)syscall(SYS_gettid);
	ms_clock_set(&w->clk, g_set.tick_hz);
	if (ms_ring_create(ms_ring_size_from_kb((uint64_t)ring_size_kb(w->c)),
			   (uint32_t)getpid(), w->tid, &w->r) < 0 ||
	    send_fd(w->sock, w->r.fd, w->tid, (uint32_t)w->idx) < 0) {
		fprintf(stderr, "fake_agent: no ring: %s\n", strerror(errno));
		g_failed = 1;
		return NULL;
	}
	for (long g = 0; g < w->c->rings_per_thread; g++) {
		if (g) {
			/* Wait for DRAINED, then reuse as a "new thread". */
			while (ms_ring_reuse(&w->r, w->tid) == -EBUSY)
				nanosleep(&(struct timespec){0, 100000}, NULL);
			memset(&w->st, 0, sizeof(w->st));
		}
		put_start(w);
		if (w->c->name)
			put_name(w);
		if (w->idx == 0 && !strcmp(w->c->fault, "garbage-ring"))
			garbage(w);
		if (w->idx == 2 && !strcmp(w->c->fault, "garbage-ring")) {
			/* half a record, then the thread ends */
			uint8_t *p;

			work(w, per / 2);
			p = reserve(w, 0);
			p[0] = MS_REC_ALLOC;
			p[1] = 0x85; /* a varint that goes on */
			ms_ring_commit(&w->r, 2);
			ms_ring_close(&w->r);
			return NULL;
		}
		if (w->idx == 1 && !strcmp(w->c->fault, "garbage-ring")) {
			/* an impossible head: more than a ring ahead */
			work(w, per / 2);
			ms_store_release(&w->r.hdr->head,
					 w->r.pos + 3 * w->r.size + 5);
			return NULL;
		}
		work(w, per);
		if (!strcmp(w->c->fault, "crash"))
			return NULL;
		put_exit(w);
		ms_ring_close(&w->r);
	}
	return NULL;
}

static void bad_rings(int sock, int sealed)
{
	int fd = memfd_create("bad", MFD_ALLOW_SEALING);

	if (sealed) {
		/* a header alone: too small for any data */
		ftruncate(fd, 4096);
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	} else {
		struct ms_ring r;

		/* A valid ring's bytes in an unsealed memfd. */
		ms_ring_create(4096, (uint32_t)getpid(), 1, &r);
		ftruncate(fd, 8192);
		pwrite(fd, r.hdr, 4096, 0);
	}
	send_fd(sock, fd, 1, 999);
	close(fd);
}

/*
 * A refused ring whose answer stays unread, then the consumer stopped:
 * everything the threads send queues up behind a socket that will close
 * with unread data.
 */
static int unread_acks_begin(int sock, const struct cfg *c)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};

	if (c->stop_pid <= 0) {
		fprintf(stderr, "fake_agent: unread-acks needs --stop-pid\n");
		return -1;
	}
	bad_rings(sock, 1);
	if (poll(&pfd, 1, 10000) != 1) {
		fprintf(stderr, "fake_agent: no RING_ACK in 10 s\n");
		return -1;
	}
	return kill(c->stop_pid, SIGSTOP);
}

static void junk(const char *session)
{
	uint64_t s = 0xdeadbeefull;
	uint8_t buf[600];

	for (int c = 0; c < 20; c++) {
		int fd = connect_sock(session);

		if (fd < 0)
			continue;
		for (int m = 0; m < 20; m++) {
			size_t n = (size_t)(rnd(&s) % sizeof(buf)) + 1;

			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rnd(&s);
			if (m == 0 && c % 2) { /* a valid header, bad body */
				ms_msg_init((struct ms_msg_hdr *)buf,
					    MS_MSG_HELLO, (uint32_t)n);
			}
			send(fd, buf, n, MSG_NOSIGNAL);
		}
		close(fd);
	}
}

static int parse(int argc, char **argv, struct cfg *c)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];

		if (!strcmp(o, "--session"))
			c->session = v;
		else if (!strcmp(o, "--threads"))
			c->threads = atoi(v);
		else if (!strcmp(o, "--ops"))
			c->ops = atol(v);
		else if (!strcmp(o, "--ring-kb"))
			c->ring_kb = (uint64_t)atol(v);
		else if (!strcmp(o, "--on-full"))
			c->drop = !strcmp(v, "drop");
		else if (!strcmp(o, "--fault"))
			c->fault = v;
		else if (!strcmp(o, "--reuse"))
			c->rings_per_thread = atol(v);
		else if (!strcmp(o, "--name") && strlen(v) < 64)
			c->name = v;
		else if (!strcmp(o, "--stop-pid"))
			c->stop_pid = (pid_t)atol(v);
		else
			return -1;
	}
	return c->threads > 0 && c->ops >= 0 && c->rings_per_thread > 0 ? 0
									: -1;
}

static int peer_test(const char *session)
{
	int fd = connect_sock(session);

	if (fd < 0) {
		printf("peer: connect refused\n");
		return 0;
	}
	if (hello(fd) == 0) {
		printf("peer: ACCEPTED\n");
		return 1;
	}
	printf("peer: no settings\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct cfg c = {.threads = 4,
			.ops = 10000,
			.drop = -1,
			.fault = "",
			.window = 256,
			.rings_per_thread = 1};
	struct worker *w;
	pthread_t *th;
	uint64_t a = 0, f = 0, l = 0, att = 0;
	int sock;

	if (parse(argc, argv, &c) < 0) {
		fprintf(stderr,
			"usage: fake_agent [--session S] [--threads T] "
			"[--ops N] [--ring-kb K] [--on-full drop|block] "
			"[--reuse G] [--fault F] [--name N]\n");
		return 2;
	}
	if (!strcmp(c.fault, "peer"))
		return peer_test(c.session);
	if (!strcmp(c.fault, "garbage-msg"))
		junk(c.session);
	sock = connect_sock(c.session);
	if (sock < 0 || hello(sock) < 0) {
		fprintf(stderr, "fake_agent: no consumer\n");
		return 1;
	}
	if (c.drop < 0)
		c.drop = g_set.on_full == MS_ON_FULL_DROP;
	if (!strcmp(c.fault, "small-ring") || !strcmp(c.fault, "unsealed"))
		bad_rings(sock, !strcmp(c.fault, "small-ring"));
	if (!strcmp(c.fault, "unread-acks") && unread_acks_begin(sock, &c) < 0)
		return 1;
	w = calloc((size_t)c.threads, sizeof(*w));
	th = calloc((size_t)c.threads, sizeof(*th));
	for (int i = 0; i < c.threads; i++) {
		w[i].c = &c;
		w[i].idx = i;
		w[i].sock = sock;
		pthread_create(&th[i], NULL, thread_main, &w[i]);
	}
	for (int i = 0; i < c.threads; i++)
		pthread_join(th[i], NULL);
	if (c.stop_pid > 0) {
		close(sock); /* with the RING_ACK unread */
		kill(c.stop_pid, SIGCONT);
	}
	for (int i = 0; i < c.threads; i++) {
		printf("memscope-expect thread tid=%u allocs=%llu frees=%llu "
		       "lost=%llu\n",
		       w[i].tid, (unsigned long long)w[i].allocs,
		       (unsigned long long)w[i].frees,
		       (unsigned long long)w[i].lost);
		a += w[i].allocs;
		f += w[i].frees;
		l += w[i].lost;
		att += w[i].attempted;
	}
	printf("memscope-expect total attempted=%llu allocs=%llu frees=%llu "
	       "lost=%llu\n",
	       (unsigned long long)att, (unsigned long long)a,
	       (unsigned long long)f, (unsigned long long)l);
	fflush(stdout);
	if (!strcmp(c.fault, "crash"))
		raise(SIGKILL);
	free(w);
	free(th);
	return g_failed;
}
