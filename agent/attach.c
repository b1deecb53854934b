/* SPDX-License-Identifier: MIT */
/*
 * Attaching to a consumer: HELLO/SETTINGS over the session's SEQPACKET
 * socket, the MEMSCOPE_* overlay, and handing ring memfds over.
 *
 * Whatever goes wrong, the program keeps running: untracked, with exactly
 * one "memscope: ..." line on stderr saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "nocancel.h"
#include "proto.h"
#include "stack.h"

#define MS_HANDSHAKE_MS	    1000 /* connect, HELLO, SETTINGS */
#define MS_SEND_MS	    2000 /* a RING message once attached */
#define MS_AGENT_TICK_SHIFT 6	 /* TSC ticks in units of 64 */
#define MS_ADDRTAB_FIRST    14	 /* sampled addresses, first table: 128 KiB */
#define MS_ADDRTAB_LOG2	    20	 /* and the large one: 8 MiB */
#define MS_SOCK_FD_MIN	    200 /* keep our socket away from the program's fds */

static dev_t sock_dev;
static ino_t sock_ino;

void ms_warn_once(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (ms_g.warned)
		return;
	ms_g.warned = 1;
	memcpy(buf, "memscope: ", 10);
	va_start(ap, fmt);
	n = vsnprintf(buf + 10, sizeof(buf) - 11, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += 10;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* Not stdio: no lock, no allocation, no buffering. */
	ms_nc_write(2, buf, (size_t)n);
}

static void set_timeout(int fd, unsigned ms)
{
	struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int send_hello(int fd)
{
	struct ms_msg_hello m;
	ssize_t n;

	ms_msg_hello_init(&m, MS_ROLE_AGENT);
	n = readlink("/proc/self/exe", m.exe, sizeof(m.exe) - 1);
	if (n < 0)
		m.exe[0] = 0;
	n = ms_nc_send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)sizeof(m) ? 0 : -EPROTO;
}

static int recv_settings(int fd, struct ms_settings *s)
{
	struct ms_msg_settings m;
	ssize_t n = ms_nc_recv(fd, &m, sizeof(m), MSG_TRUNC);

	if (n < 0)
		return n == -EAGAIN ? -ETIMEDOUT : (int)n;
	if (n == 0)
		return -ECONNRESET;
	if (!ms_msg_valid(&m.hdr, (size_t)n, MS_MSG_SETTINGS, sizeof(m)))
		return -EPROTO;
	if (m.sampling < MS_SAMPLING_FULL || m.sampling > MS_SAMPLING_BYTES ||
	    m.stack_depth > MS_MAX_STACK_DEPTH ||
	    (m.on_full != MS_ON_FULL_DROP && m.on_full != MS_ON_FULL_BLOCK) ||
	    (m.sampling == MS_SAMPLING_BYTES && m.sampling_param == 0))
		return -EPROTO;
	s->sampling = m.sampling;
	s->stack_depth = m.stack_depth;
	s->sampling_param = m.sampling_param;
	s->ring_kb = m.ring_kb < 4 ? 4 : m.ring_kb;
	s->on_full = m.on_full;
	s->tick_hz = m.tick_hz;
	s->ring_acks = (m.flags & MS_SET_RING_ACKS) != 0;
	s->free_level = (m.flags & MS_SET_FREE_LEVEL) != 0;
	if (m.flags >> MS_SET_TIME_RES_SHIFT)
		s->time_res_ns = m.flags >> MS_SET_TIME_RES_SHIFT;
	return 0;
}

static int connect_session(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_timeout(fd, MS_HANDSHAKE_MS);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	err = ms_nc_connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (err < 0) {
		ms_nc_close(fd);
		return err;
	}
	return fd;
}

/* The MEMSCOPE_* overlay; names the malformed ones in `bad`. */
static void overlay_env(struct ms_settings *s, char *bad, size_t len)
{
	static const struct {
		const char *name;
		int (*parse)(const char *, struct ms_settings *);
	} vars[] = {
		{"MEMSCOPE_SAMPLING", ms_parse_sampling},
		{"MEMSCOPE_STACK_DEPTH", ms_parse_stack_depth},
		{"MEMSCOPE_RING_KB", ms_parse_ring_kb},
		{"MEMSCOPE_ON_FULL", ms_parse_on_full},
		{"MEMSCOPE_TIME_RESOLUTION", ms_parse_time_res},
	};
	size_t used = 0;

	bad[0] = 0;
	for (size_t i = 0; i < MS_ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i].name);
		int n;

		if (!v || vars[i].parse(v, s) == 0)
			continue;
		n = snprintf(bad + used, len - used, "%s%s='%.40s'",
			     used ? ", " : "", vars[i].name, v);
		if (n > 0 && (size_t)n < len - used)
			used += (size_t)n;
	}
}

static void apply_api(struct ms_settings *s, const struct ms_settings *api,
		      int mask)
{
	if (!api)
		return;
	if (mask & MS_API_SAMPLING) {
		s->sampling = api->sampling;
		s->sampling_param = api->sampling_param;
	}
	if (mask & MS_API_DEPTH)
		s->stack_depth = api->stack_depth;
}

/*
 * Moves the socket to a high descriptor number and remembers its identity:
 * a program that closes descriptors it does not own (daemons do) must not
 * have its own socket, reusing our number, receive our messages.
 */
static int settle_socket(int fd)
{
	struct stat st;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, MS_SOCK_FD_MIN);

	if (hi >= 0) {
		ms_nc_close(fd);
		fd = hi;
	}
	if (fstat(fd, &st) == 0) {
		sock_dev = st.st_dev;
		sock_ino = st.st_ino;
	}
	return fd;
}

/* Everything after SETTINGS: clock, table, state ON. */
static int go_on(int fd, const struct ms_settings *s)
{
	ms_g.set = *s;
	ms_clock_set(&ms_g.clk, s->tick_hz);
	/* ~20-30 ns resolution is plenty for a heap profile; the dropped low
	 * bits were near-random and cost ~0.5 archive bytes per event. A
	 * coarser unit when asked for (--time-resolution). */
	ms_clock_coarsen(&ms_g.clk, ms_clock_resolve(&ms_g.clk, s->time_res_ns,
						     MS_AGENT_TICK_SHIFT));
	ms_g.ring_size = ms_ring_size_from_kb(s->ring_kb);
	/* Per-thread unwind caches where libunwind was built with them
	 * (Debian's is not: it keeps its global cache and mutex, see
	 * stackwalk.h on ms_stackwalk_in_phdr). */
	if (s->stack_depth > 1)
		unw_set_caching_policy(unw_local_addr_space,
				       UNW_CACHE_PER_THREAD);
	if (s->sampling != MS_SAMPLING_FULL && !ms_g.tab) {
		ms_g.tab = ms_addrtab_create(MS_ADDRTAB_FIRST, MS_ADDRTAB_LOG2);
		if (!ms_g.tab)
			return -ENOMEM;
	}
	set_timeout(fd, MS_SEND_MS);
	ms_g.sock = settle_socket(fd);
	ms_g.pid = (uint32_t)getpid();
	ms_agent_set_state(MS_AGENT_ON);
	return 0;
}

/*
 * Only a consumer of our own user may receive our rings: the directory
 * must be ours and closed (anyone who can write there can listen in the
 * consumer's place), and the peer must run as us. Returns 0 or -EPERM
 * (the warning written).
 */
static int check_dir(const char *session, const char *path)
{
	char dir[108], why[160];
	int err = ms_session_sock_dir(path, dir, sizeof(dir));

	if (err == 0)
		err = ms_session_dir_check(dir,
					   !ms_session_socket_named(session),
					   why, sizeof(why));
	if (err == -ENOENT) /* no consumer yet: connect says so */
		return 0;
	if (err == 0)
		return 0;
	ms_warn_once("not using the session directory %s: %s; running "
		     "untracked",
		     dir, err == -ENAMETOOLONG ? "path too long" : why);
	return -EPERM;
}

static int check_peer(int fd, const char *path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		ms_warn_once("cannot tell who listens on %s (%s); running "
			     "untracked",
			     path, strerrordesc_np(errno));
		return -EPERM;
	}
	if (cred.uid == geteuid())
		return 0;
	ms_warn_once("the listener on %s runs as uid %u, not as this user "
		     "(%u); running untracked",
		     path, (unsigned)cred.uid, (unsigned)geteuid());
	return -EPERM;
}

static int handshake(const char *session, const char *path,
		     struct ms_settings *s)
{
	int fd, err;

	if (check_dir(session, path) < 0)
		return -EPERM;
	fd = connect_session(path);
	if (fd >= 0 && (err = check_peer(fd, path)) < 0) {
		ms_nc_close(fd);
		return err;
	}
	if (fd < 0) {
		ms_warn_once("no consumer at %s (%s); running untracked", path,
			     strerrordesc_np(-fd));
		return fd;
	}
	err = send_hello(fd);
	if (!err)
		err = recv_settings(fd, s);
	if (err) {
		ms_warn_once("consumer at %s did not accept this process "
			     "(%s); running untracked",
			     path, strerrordesc_np(-err));
		ms_nc_close(fd);
		return err;
	}
	return fd;
}

int ms_attach_locked(const char *session, const struct ms_settings *api,
		     int api_mask)
{
	struct ms_settings s;
	char path[108], bad[256];
	int fd, err;

	ms_g.attach_tried = 1;
	err = ms_session_socket(session, path, sizeof(path));
	if (err == -EINVAL) {
		ms_warn_once("bad session name '%.64s' (letters, digits, "
			     "'.', '_', '-'); running untracked",
			     session ? session : getenv("MEMSCOPE_SESSION"));
		return ms_g.attach_err = err;
	}
	if (err) {
		ms_warn_once("session socket path too long (MEMSCOPE_SOCKET "
			     "or XDG_RUNTIME_DIR); running untracked");
		return ms_g.attach_err = err;
	}
	ms_settings_defaults(&s);
	fd = handshake(session, path, &s);
	if (fd < 0)
		return ms_g.attach_err = fd;
	apply_api(&s, api, api_mask);
	overlay_env(&s, bad, sizeof(bad));
	if (bad[0])
		ms_warn_once("ignoring malformed %s; using the consumer's "
			     "settings for them",
			     bad);
	err = go_on(fd, &s);
	if (err) {
		ms_warn_once("cannot set up tracking (%s); running untracked",
			     strerrordesc_np(-err));
		ms_nc_close(fd);
	}
	return ms_g.attach_err = err;
}

int ms_attach(const char *session, const struct ms_settings *api, int api_mask)
{
	struct ms_tstate *t = &ms_tls;
	int err, guard = t->guard;

	t->guard = 1;
	pthread_mutex_lock(&ms_g.lock);
	err = ms_g.attach_tried ? ms_g.attach_err
				: ms_attach_locked(session, api, api_mask);
	if (ms_agent_state() == MS_AGENT_EARLY)
		ms_agent_set_state(MS_AGENT_OFF); /* no early events any more */
	pthread_mutex_unlock(&ms_g.lock);
	t->guard = guard;
	if (!err && t->state == MS_T_UNINIT)
		err = ms_thread_start(t);
	return err;
}

void ms_attach_pending(void)
{
	struct ms_tstate *t = &ms_tls;
	int guard = t->guard;

	t->guard = 1;
	pthread_mutex_lock(&ms_g.lock);
	if (ms_agent_state() == MS_AGENT_PENDING) {
		ms_agent_set_state(MS_AGENT_OFF);
		ms_g.attach_tried = 0;
		ms_attach_locked(NULL, NULL, 0);
	}
	pthread_mutex_unlock(&ms_g.lock);
	t->guard = guard;
}

void ms_attach_close_socket(void)
{
	struct stat st;

	/* Only if it is still ours: never close a descriptor of the program. */
	if (ms_g.sock >= 0 && fstat(ms_g.sock, &st) == 0 &&
	    st.st_dev == sock_dev && st.st_ino == sock_ino)
		ms_nc_close(ms_g.sock);
	ms_g.sock = -1;
}

int ms_attach_consumer_gone(void)
{
	struct pollfd pfd = {.fd = ms_g.sock, .events = POLLRDHUP};
	struct stat st;

	/* Not our socket any more (the program closed it): cannot tell. */
	if (ms_g.sock < 0 || fstat(ms_g.sock, &st) < 0 ||
	    st.st_dev != sock_dev || st.st_ino != sock_ino)
		return 1;
	if (ms_nc_poll(&pfd, 1, 0) < 0)
		return 1;
	return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/*
 * The consumer's answer to the RING just sent. The caller holds ms_g.lock,
 * so no other thread waits on the socket; an answer left over from a wait
 * that timed out names another ring and is skipped. Returns 0 (accepted),
 * -ECONNREFUSED with *status set (refused), or -errno (no answer: the
 * socket's receive timeout, or the consumer gone).
 */
static int recv_ring_ack(uint32_t tid, uint32_t index, uint32_t *status)
{
	for (int tries = 0; tries < 64; tries++) {
		struct ms_msg_ring_ack m;
		ssize_t n = ms_nc_recv(ms_g.sock, &m, sizeof(m), MSG_TRUNC);

		if (n < 0)
			return n == -EAGAIN ? -ETIMEDOUT : (int)n;
		if (n == 0)
			return -ECONNRESET;
		if (!ms_msg_valid(&m.hdr, (size_t)n, MS_MSG_RING_ACK,
				  sizeof(m)) ||
		    m.tid != tid || m.index != index)
			continue;
		*status = m.status;
		return m.status ? -ECONNREFUSED : 0;
	}
	return -EPROTO;
}

void ms_attach_send_unrecorded(uint32_t tid, uint32_t reason, uint64_t events)
{
	struct ms_msg_unrecorded m;

	if (!events || ms_g.sock < 0)
		return;
	memset(&m, 0, sizeof(m));
	ms_msg_init(&m.hdr, MS_MSG_UNRECORDED, sizeof(m));
	m.tid = tid;
	m.reason = reason;
	m.events = events;
	/* Whole SEQPACKET messages: concurrent senders need no lock. */
	(void)ms_nc_send(ms_g.sock, &m, sizeof(m), MSG_NOSIGNAL);
}

int ms_attach_send_ring(int fd, uint32_t tid, uint32_t index, uint32_t *status)
{
	struct ms_msg_ring m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {0};
	struct cmsghdr *c;
	struct stat st;
	ssize_t n;

	/* Still our socket? The program may have closed it behind our back. */
	if (fstat(ms_g.sock, &st) < 0 || st.st_dev != sock_dev ||
	    st.st_ino != sock_ino)
		return -EBADF;
	memset(&m, 0, sizeof(m));
	ms_msg_init(&m.hdr, MS_MSG_RING, sizeof(m));
	m.tid = tid;
	m.index = index;
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	/* Whole SEQPACKET messages: concurrent senders need no lock. */
	n = ms_nc_sendmsg(ms_g.sock, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return (int)n;
	if (n != (ssize_t)sizeof(m))
		return -EPROTO;
	return ms_g.set.ring_acks ? recv_ring_ack(tid, index, status) : 0;
}
