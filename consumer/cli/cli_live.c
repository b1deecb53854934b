/* SPDX-License-Identifier: MIT */
#include "cli_live.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "proto.h"
#include "session.h"

int ms_cli_connect(const char *cmd, const char *session)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (ms_session_socket(session, sa.sun_path, sizeof(sa.sun_path)) < 0) {
		fprintf(stderr, "memscope %s: invalid session name\n", cmd);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
			"memscope %s: no consumer at %s (%s); start one with "
			"'memscope consumer'\n",
			cmd, sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int ms_cli_top_connect(const char *cmd, const char *session)
{
	struct ms_msg_hello h;
	int fd = ms_cli_connect(cmd, session);

	if (fd < 0)
		return -1;
	ms_msg_hello_init(&h, MS_ROLE_TOP);
	snprintf(h.exe, sizeof(h.exe), "memscope-%s", cmd);
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		fprintf(stderr, "memscope %s: the consumer did not answer\n",
			cmd);
		close(fd);
		return -1;
	}
	return fd;
}

/* Checks one SNAP_PART against what came before; copies its bytes. */
static int take_part(const struct ms_msg_snap_part *m, size_t n,
		     struct ms_cli_snap *out, uint64_t *seq, size_t *got)
{
	size_t head = offsetof(struct ms_msg_snap_part, data);

	if (n < head || m->hdr.magic != MS_MSG_MAGIC ||
	    m->hdr.version != MS_PROTO_VERSION ||
	    m->hdr.type != MS_MSG_SNAP_PART || m->hdr.size != n ||
	    m->len != n - head || m->total > MS_SNAP_MAX || m->total == 0)
		return -EBADMSG;
	if (m->offset == 0) { /* a new snapshot begins */
		free(out->buf);
		out->buf = malloc((m->total + 7) & ~7ull);
		if (!out->buf)
			return -ENOMEM;
		out->len = m->total;
		*seq = m->seq;
		*got = 0;
	}
	if (!out->buf || m->seq != *seq || m->total != out->len ||
	    m->offset != *got || m->len > out->len - *got)
		return -EBADMSG;
	memcpy((uint8_t *)out->buf + *got, m->data, m->len);
	*got += m->len;
	return 0;
}

int ms_cli_snap_get(int fd, int timeout_ms, struct ms_cli_snap *out)
{
	static struct ms_msg_snap_part m;
	struct ms_msg_top_req req;
	uint64_t deadline = ms_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	uint64_t seq = 0;
	size_t got = 0;
	int err;

	memset(out, 0, sizeof(*out));
	memset(&req, 0, sizeof(req));
	ms_msg_init(&req.hdr, MS_MSG_TOP_REQ, sizeof(req));
	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -EPIPE;
	do {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = ms_mono_ns();
		ssize_t n;

		if (now >= deadline) {
			err = -ETIMEDOUT;
			goto out_free;
		}
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = recv(fd, &m, sizeof(m), 0);
		if (n <= 0) {
			err = n < 0 && errno == EINTR ? 0 : -EPIPE;
			if (err)
				goto out_free;
			continue;
		}
		err = take_part(&m, (size_t)n, out, &seq, &got);
		if (err)
			goto out_free;
	} while (!out->buf || got < out->len);
	err = ms_snap_parse((const uint8_t *)out->buf, out->len, &out->s);
	if (!err)
		return 0;
out_free:
	ms_cli_snap_free(out);
	return err;
}

void ms_cli_snap_free(struct ms_cli_snap *s)
{
	ms_snap_free(&s->s);
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
}
