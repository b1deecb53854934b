/* SPDX-License-Identifier: MIT */
/*
 * `memscope tail`: live events from a running consumer. The consumer keeps
 * a bounded queue per tail client and never waits for one; events that did
 * not fit are reported here as "... N events missed".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "proto.h"
#include "record.h"
#include "session.h"

struct tail_opts {
	const char *session;
	struct ms_msg_tail_req req;
	int json;
	int all;	/* also thread, module and clock events */
	uint64_t count; /* stop after this many events; 0: never */
};

static void help(void)
{
	printf("usage: memscope tail [--session NAME] [--pid P] [--tid T] "
	       "[--min-size N] [--json]\n"
	       "                     [--count N] [--all]\n\n"
	       "Prints the events of a running consumer's session as they "
	       "arrive:\ntime (s), pid, tid, kind, size, address, caller. "
	       "--json prints one object\nper line. --count N stops after N "
	       "events. Heap events (alloc, free, realloc,\nlost) are shown; "
	       "--all adds thread, module and clock events.\n");
}

static int num(const char *cmd, const char *opt, const char *v, uint64_t max,
	       uint64_t *out)
{
	if (!v || ms_parse_u64(v, out) < 0 || *out > max) {
		fprintf(stderr, "memscope %s: invalid value for %s\n", cmd,
			opt);
		return -1;
	}
	return 0;
}

static int parse(int argc, char **argv, struct tail_opts *t)
{
	uint64_t v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i],
			   *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		if (!strcmp(a, "--all")) {
			t->all = 1;
			continue;
		}
		if (!strcmp(a, "--json")) {
			t->json = 1;
			t->req.flags |= MS_TAIL_JSON;
			continue;
		}
		if (!strcmp(a, "--session") && val) {
			t->session = val;
		} else if (!strcmp(a, "--pid")) {
			if (num("tail", a, val, UINT32_MAX, &v))
				return -1;
			t->req.pid = (uint32_t)v;
		} else if (!strcmp(a, "--tid")) {
			if (num("tail", a, val, UINT32_MAX, &v))
				return -1;
			t->req.tid = (uint32_t)v;
		} else if (!strcmp(a, "--min-size")) {
			if (num("tail", a, val, UINT64_MAX, &t->req.min_size))
				return -1;
		} else if (!strcmp(a, "--count")) {
			if (num("tail", a, val, UINT64_MAX, &t->count))
				return -1;
		} else {
			fprintf(stderr,
				"memscope tail: unknown option or missing "
				"value "
				"'%s'; see 'memscope tail --help'\n",
				a);
			return -1;
		}
		i++;
	}
	return 0;
}

static int connect_session(const char *session)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (ms_session_socket(session, sa.sun_path, sizeof(sa.sun_path)) < 0) {
		fprintf(stderr, "memscope tail: invalid session name\n");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
			"memscope tail: no consumer at %s (%s); start one with "
			"'memscope consumer'\n",
			sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int handshake(int fd, struct tail_opts *t)
{
	struct ms_msg_hello h;
	struct ms_msg_settings s;

	ms_msg_hello_init(&h, MS_ROLE_TAIL);
	snprintf(h.exe, sizeof(h.exe), "memscope-tail");
	ms_msg_init(&t->req.hdr, MS_MSG_TAIL_REQ, sizeof(t->req));
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h) ||
	    send(fd, &t->req, sizeof(t->req), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(t->req) ||
	    !ms_msg_valid(&s.hdr, (size_t)recv(fd, &s, sizeof(s), 0),
			  MS_MSG_SETTINGS, sizeof(s))) {
		fprintf(stderr, "memscope tail: the consumer did not answer\n");
		return -1;
	}
	return 0;
}

static void print_event(const struct ms_tail_event *e, int json, uint64_t t0)
{
	const char *kind = ms_rec_type_name(e->type);
	double t = e->ts_ns >= t0 ? (double)(e->ts_ns - t0) / 1e9 : 0.0;

	if (json) {
		printf("{\"t_ns\": %" PRIu64 ", \"pid\": %u, \"tid\": %u, "
		       "\"kind\": \"%s\", \"size\": %" PRIu64
		       ", \"addr\": \"0x%" PRIx64
		       "\", \"old_addr\": \"0x%" PRIx64
		       "\", \"caller\": \"0x%" PRIx64 "\"}\n",
		       e->ts_ns, e->pid, e->tid, kind, e->size, e->addr,
		       e->old_addr, e->caller);
		return;
	}
	printf("%12.6f %7u %7u %-13s %10" PRIu64 " 0x%-14" PRIx64, t, e->pid,
	       e->tid, kind, e->size, e->addr);
	if (e->caller)
		printf(" caller 0x%" PRIx64, e->caller);
	putchar('\n');
}

static int heap_event(uint8_t type)
{
	return type == MS_REC_ALLOC || type == MS_REC_FREE ||
	       type == MS_REC_REALLOC || type == MS_REC_LOST;
}

/* Returns 0 at the consumer's end or after --count events, else -1. */
static int stream(int fd, struct tail_opts *t)
{
	static struct ms_msg_tail_events m;
	uint64_t shown = 0, t0 = 0;

	for (;;) {
		ssize_t n = recv(fd, &m, sizeof(m), 0);

		if (n == 0) {
			fprintf(stderr, "memscope tail: the consumer ended\n");
			return 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (!ms_msg_valid(&m.hdr, (size_t)n, MS_MSG_TAIL_EVENTS,
				  sizeof(m)) ||
		    m.count > MS_TAIL_BATCH) {
			fprintf(stderr, "memscope tail: bad message from the "
					"consumer\n");
			return -1;
		}
		if (m.missed)
			printf(t->json ? "{\"missed\": %" PRIu64 "}\n"
				       : "... %" PRIu64 " events missed\n",
			       m.missed);
		for (uint32_t i = 0; i < m.count; i++) {
			if (!t->all && !heap_event(m.ev[i].type))
				continue;
			if (!t0)
				t0 = m.ev[i].ts_ns;
			print_event(&m.ev[i], t->json, t0);
			if (t->count && ++shown >= t->count) {
				fflush(stdout);
				return 0;
			}
		}
		fflush(stdout);
	}
}

int ms_cmd_tail(int argc, char **argv)
{
	struct tail_opts t;
	int fd, r;

	memset(&t, 0, sizeof(t));
	r = parse(argc, argv, &t);
	if (r > 0) {
		help();
		return 0;
	}
	if (r < 0)
		return 2;
	fd = connect_session(t.session);
	if (fd < 0)
		return 1;
	if (handshake(fd, &t) < 0) {
		close(fd);
		return 1;
	}
	r = stream(fd, &t);
	close(fd);
	return r ? 1 : 0;
}
