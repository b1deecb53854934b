/* SPDX-License-Identifier: MIT */
/*
 * `/metrics` over HTTP, served by libmicrohttpd in a thread of its own
 * (its internal polling thread, epoll on Linux). Scrapers get a copy of
 * the last text the control thread published, taken under body_lock, a
 * mutex only the control thread and this server take: a scraper never
 * reaches the poller. At most MS_HTTP_CONNS connections at once, each
 * closed after MS_HTTP_TIMEOUT_S seconds of silence: slow readers, garbage
 * and a thousand connections cost a few descriptors and this thread's
 * time, never the drain's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_int.h"
#include "fleet_libs.h"

#define MS_HTTP_CONNS	  64
#define MS_HTTP_TIMEOUT_S 10
#define MS_HTTP_TYPE	  "text/plain; version=0.0.4; charset=utf-8"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, const char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_metrics(struct ms_fleet *f,
				     struct MHD_Connection *c)
{
	enum MHD_Result ret;

	pthread_mutex_lock(&f->body_lock);
	ret = f->body ? reply(c, MHD_HTTP_OK, MS_HTTP_TYPE, f->body,
			      f->body_len)
		      : reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
			      "not ready\n", 10);
	pthread_mutex_unlock(&f->body_lock);
	return ret;
}

/* MHD's request handler: GET or HEAD of /metrics, nothing else. */
static enum MHD_Result on_request(void *ctx, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     "GET /metrics\n", 13);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
			     "memscope: see /metrics\n", 23);
	return serve_metrics(ctx, c);
}

/* "PORT", ":PORT" (127.0.0.1), "ADDR:PORT", "[ADDR6]:PORT". */
static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
	const char *colon = strrchr(s, ':');
	char host[64] = "127.0.0.1", *end;
	long port = strtol(colon ? colon + 1 : s, &end, 10);

	if (*end || port < 0 || port > 65535 || end == (colon ? colon + 1 : s))
		return -EINVAL;
	if (colon && colon > s) {
		size_t n = (size_t)(colon - s);

		if (s[0] == '[' && n > 2 && s[n - 1] == ']')
			s++, n -= 2;
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

int ms_fleet_http_start(struct ms_fleet *f)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;

	if (ms_fleet_load_mhd() < 0)
		return -ENOENT;
	if (parse_addr(f->o.metrics, &ss) < 0) {
		fprintf(stderr,
			"memscope consumer: --metrics %s: give PORT, :PORT or "
			"ADDR:PORT (an IPv4 or [IPv6] address)\n",
			f->o.metrics);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	f->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)MS_HTTP_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)MS_HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)32768, MHD_OPTION_END);
	if (!f->mhd) {
		fprintf(stderr,
			"memscope consumer: cannot serve metrics on %s (is "
			"the port taken?)\n",
			f->o.metrics);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "memscope consumer: metrics on port %u, /metrics\n",
		info ? (unsigned)info->port : 0u);
	return 0;
}

void ms_fleet_http_stop(struct ms_fleet *f)
{
	if (f->mhd)
		MHD_stop_daemon(f->mhd);
	f->mhd = NULL;
}

void ms_fleet_http_publish(struct ms_fleet *f, char *text, size_t len)
{
	char *old;

	pthread_mutex_lock(&f->body_lock);
	old = f->body;
	f->body = text;
	f->body_len = len;
	pthread_mutex_unlock(&f->body_lock);
	free(old);
}
