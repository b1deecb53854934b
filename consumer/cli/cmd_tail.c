/* SPDX-License-Identifier: MIT */
/*
 * `memscope tail`: live events from a running consumer. The consumer keeps
 * a bounded queue per tail client and never waits for one; events that did
 * not fit are reported here as "... N events missed".
 *
 * Events arrive thread by thread, as the consumer drains each ring; tail
 * holds them for a short window and prints them in time order across
 * threads (the consumer side's one min-heap, minheap.h, on the timestamp
 * and arrival). An event that arrives later than the window is printed
 * when it comes, out of order; so may one that arrives after more newer
 * events than tail holds (--held).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "cli_live.h"
#include "minheap.h"
#include "proto.h"
#include "record.h"
#include "session.h"

struct tail_opts {
	const char *session;
	struct ms_msg_tail_req req;
	int json;
	int all;	    /* also thread, module and clock events */
	uint64_t count;	    /* stop after this many events; 0: never */
	uint64_t window_ms; /* held this long to print in time order */
	uint64_t held_max;  /* events held at most */
};

#define TAIL_DEFAULT_WINDOW_MS 100
#define TAIL_HELD_DEFAULT      262144 /* events held at most: 16 MiB */
#define TAIL_HELD_MAX	       (1u << 24)

static void help(void)
{
	printf("usage: memscope tail [--session NAME] [--pid P] [--tid T] "
	       "[--min-size N] [--json]\n"
	       "                     [--count N] [--all] [--window MS] "
	       "[--held N]\n\n"
	       "Prints the events of a running consumer's session as they "
	       "arrive:\ntime (s), pid, tid, kind, size, address, caller. "
	       "--json prints one object\nper line. --count N stops after N "
	       "events. Heap events (alloc, free, realloc,\nlost) are shown; "
	       "--all adds thread, module and clock events. Events are\n"
	       "held for --window MS (default %d) and printed in time order "
	       "across threads;\n--window 0 prints them as they arrive. "
	       "At most --held N events\n(default %d, 64 bytes each) are "
	       "held; when more arrive within one window,\nthe oldest are "
	       "printed early and tail says so.\n",
	       TAIL_DEFAULT_WINDOW_MS, TAIL_HELD_DEFAULT);
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
		} else if (!strcmp(a, "--window")) {
			if (num("tail", a, val, 60000, &t->window_ms))
				return -1;
		} else if (!strcmp(a, "--held")) {
			if (num("tail", a, val, TAIL_HELD_MAX, &t->held_max))
				return -1;
			if (!t->held_max) {
				fprintf(stderr, "memscope tail: --held must be "
						"at least 1\n");
				return -1;
			}
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

/* Events held for the time window, in a min-heap on (time, arrival). */
struct held {
	struct ms_tail_event ev;
	uint64_t seq;
};

struct reorder {
	struct ms_minheap h; /* of struct held */
	uint64_t seq, max_ts, shown, t0;
	uint64_t missed; /* told by the consumer, not printed yet */
	int early_told;	 /* the held events' limit was reached */
	struct tail_opts *t;
};

/* One line for all the consumer said was missed since the last one. */
static void print_missed(struct reorder *r)
{
	if (!r->missed)
		return;
	printf(r->t->json ? "{\"missed\": %" PRIu64 "}\n"
			  : "... %" PRIu64 " events missed\n",
	       r->missed);
	r->missed = 0;
}

static int before(const void *x, const void *y)
{
	const struct held *a = x, *b = y;

	return a->ev.ts_ns != b->ev.ts_ns ? a->ev.ts_ns < b->ev.ts_ns
					  : a->seq < b->seq;
}

/* Prints the earliest held event; 1 when --count is reached. */
static int pop_one(struct reorder *r)
{
	struct held e;

	ms_minheap_pop(&r->h, &e);
	print_missed(r);
	if (!r->t0)
		r->t0 = e.ev.ts_ns;
	print_event(&e.ev, r->t->json, r->t0);
	return r->t->count && ++r->shown >= r->t->count;
}

static int push(struct reorder *r, const struct ms_tail_event *ev)
{
	struct held e = {*ev, r->seq++};

	if (ms_minheap_len(&r->h) == r->t->held_max) {
		/* The window holds more than we keep: the oldest goes out
		 * now, and an older event still in a ring would follow it. */
		if (!r->early_told) {
			fprintf(stderr,
				"memscope tail: more than %" PRIu64
				" events within the window; printing the "
				"oldest early, so the time order may break "
				"(a shorter --window, a larger --held or a "
				"filter keeps it)\n",
				r->t->held_max);
			r->early_told = 1;
		}
		if (pop_one(r))
			return 1;
	}
	ms_minheap_push(&r->h, &e);
	if (ev->ts_ns > r->max_ts)
		r->max_ts = ev->ts_ns;
	return 0;
}

static const struct held *oldest(const struct reorder *r)
{
	return ms_minheap_top(&r->h);
}

/* Prints what is older than the window (all: everything); 1 at --count. */
static int release(struct reorder *r, int all)
{
	uint64_t w = r->t->window_ms * 1000000u;

	while (oldest(r) && (all || oldest(r)->ev.ts_ns + w <= r->max_ts))
		if (pop_one(r))
			return 1;
	if (all)
		print_missed(r);
	return 0;
}

/* Returns 0 at the consumer's end or after --count events, else -1. */
static int stream(int fd, struct reorder *r)
{
	static struct ms_msg_tail_events m;
	struct tail_opts *t = r->t;

	for (;;) {
		/* Nothing new for a window: what is held is in order. */
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int ready = poll(
			&pf, 1, ms_minheap_len(&r->h) ? (int)t->window_ms : -1);
		ssize_t n;

		if (ready == 0) {
			int done = release(r, 1);

			fflush(stdout);
			if (done)
				return 0;
			continue;
		}
		n = recv(fd, &m, sizeof(m), 0);
		if (n == 0) {
			release(r, 1);
			fflush(stdout);
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
		r->missed += m.missed;
		for (uint32_t i = 0; i < m.count; i++) {
			if (!t->all && !heap_event(m.ev[i].type))
				continue;
			if (push(r, &m.ev[i]) || release(r, 0)) {
				fflush(stdout);
				return 0;
			}
		}
		fflush(stdout);
	}
}

static int open_reorder(struct reorder *r, struct tail_opts *t)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	if (ms_minheap_init(&r->h, sizeof(struct held), t->held_max, before) <
	    0) {
		fprintf(stderr, "memscope tail: out of memory\n");
		return -1;
	}
	return 0;
}

int ms_cmd_tail(int argc, char **argv)
{
	struct tail_opts t;
	struct reorder ro;
	int fd, r;

	memset(&t, 0, sizeof(t));
	t.window_ms = TAIL_DEFAULT_WINDOW_MS;
	t.held_max = TAIL_HELD_DEFAULT;
	r = parse(argc, argv, &t);
	if (r > 0) {
		help();
		return 0;
	}
	if (r < 0)
		return 2;
	fd = ms_cli_connect("tail", t.session);
	if (fd < 0)
		return 1;
	if (handshake(fd, &t) < 0) {
		close(fd);
		return 1;
	}
	r = open_reorder(&ro, &t);
	if (!r)
		r = stream(fd, &ro);
	ms_minheap_free(&ro.h);
	close(fd);
	return r ? 1 : 0;
}
