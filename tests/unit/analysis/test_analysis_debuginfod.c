/* SPDX-License-Identifier: MIT */
/*
 * debuginfod: the fixture stripped of everything, its debug file served by
 * a small HTTP server on 127.0.0.1 in this test (GET
 * /buildid/<hex>/debuginfo, as debuginfod serves it). With DEBUGINFOD_URLS
 * naming the server the names come back from DWARF; without it, or when the
 * server has nothing, there are none.
 *
 * elfutils 0.188 loads libdebuginfod.so.1 itself on first need; without
 * that library (Debian package libdebuginfod1) DEBUGINFOD_URLS does
 * nothing: no request, no name, no error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "atomics.h"
#include "symbols.h"
#include "symfix.h"

struct server {
	int fd;
	int port;
	char want[160]; /* the path it serves */
	const char *file;
	_Atomic int serving; /* 0: 404 for everything */
	_Atomic int hits, misses;
	pthread_t thread;
};

static struct symfix run;
static struct server srv;
static char *tmp;
static int have_libdebuginfod;

static void send_all(int c, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

static void send_file(int c, const char *path)
{
	char hdr[128], buf[65536];
	FILE *f = fopen(path, "rb");
	long size;
	size_t n;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		abort();
	n = (size_t)snprintf(hdr, sizeof(hdr),
			     "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n"
			     "Connection: close\r\n\r\n",
			     size);
	send_all(c, hdr, n);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		send_all(c, buf, n);
	fclose(f);
}

/* One request a connection: the debug file, or 404. */
static void serve(struct server *s, int c)
{
	static const char not_found[] = "HTTP/1.1 404 Not Found\r\n"
					"Content-Length: 0\r\n"
					"Connection: close\r\n\r\n";
	char req[4096] = "", path[512];
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		r = recv(c, req + n, sizeof(req) - 1 - n, 0);
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = 0;
	}
	if (sscanf(req, "GET %511s ", path) == 1 && !strcmp(path, s->want) &&
	    ms_load_relaxed(&s->serving)) {
		ms_fetch_add_relaxed(&s->hits, 1);
		send_file(c, s->file);
	} else {
		ms_fetch_add_relaxed(&s->misses, 1);
		send_all(c, not_found, sizeof(not_found) - 1);
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		serve(s, c);
		close(c);
	}
	return NULL;
}

static void server_start(struct server *s, const char *file)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int n;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	s->file = file;
	n = snprintf(s->want, sizeof(s->want), "/buildid/");
	for (size_t i = 0; i < run.bid_len; i++)
		n += snprintf(s->want + n, sizeof(s->want) - (size_t)n, "%02x",
			      run.bid[i]);
	snprintf(s->want + n, sizeof(s->want) - (size_t)n, "/debuginfo");
	ms_store_relaxed(&s->serving, 1);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR); /* accept() returns */
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* A symbolizer with no local debug file, debuginfod as the environment
 * says, its cache in a directory of its own. */
static struct ms_symbolizer *symbolizer(const char *urls, const char *cache)
{
	struct ms_sym_opts o = {.debug_dirs = tmp};
	struct ms_symbolizer *s;
	char dir[1024];

	if (urls)
		setenv("DEBUGINFOD_URLS", urls, 1);
	else
		unsetenv("DEBUGINFOD_URLS");
	snprintf(dir, sizeof(dir), "%s/%s", tmp, cache);
	setenv("DEBUGINFOD_CACHE_PATH", dir, 1);
	assert_int_equal(ms_sym_create(&o, &s), 0);
	return s;
}

static const struct ms_module *stripped(struct ms_modtab *t)
{
	const struct ms_module *m;

	assert_int_equal(ms_modtab_get(t, run.bid, run.bid_len,
				       MS_SYMFIX_STRIPPED,
				       strlen(MS_SYMFIX_STRIPPED), &m),
			 0);
	return m;
}

static void test_debuginfod(void **state)
{
	char urls[64];
	struct ms_symbolizer *s;
	struct ms_modtab *t;

	(void)state;
	assert_int_equal(ms_modtab_create(&t), 0);
	server_start(&srv, MS_SYMFIX_DEBUG);
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", srv.port);

	/* not asked: no request, no name */
	s = symbolizer(NULL, "cache0");
	symfix_check_unnamed(&run, s, stripped(t), "ms_symfix.stripped");
	ms_sym_destroy(s);
	assert_int_equal(ms_load_relaxed(&srv.hits), 0);
	assert_int_equal(ms_load_relaxed(&srv.misses), 0);

	/* asked: the debug file comes from the server */
	s = symbolizer(urls, "cache1");
	if (have_libdebuginfod) {
		symfix_check_names(&run, s, stripped(t), MS_SYM_DWARF);
		assert_int_equal(ms_load_relaxed(&srv.hits), 1);
	} else {
		symfix_check_unnamed(&run, s, stripped(t),
				     "ms_symfix.stripped");
		assert_int_equal(ms_load_relaxed(&srv.misses), 0);
	}
	ms_sym_destroy(s);
	if (!have_libdebuginfod)
		goto out;

	/* a server that has nothing for it */
	ms_store_relaxed(&srv.serving, 0);
	s = symbolizer(urls, "cache2");
	symfix_check_unnamed(&run, s, stripped(t), "ms_symfix.stripped");
	ms_sym_destroy(s);
	assert_true(ms_load_relaxed(&srv.misses) > 0);
	assert_int_equal(ms_load_relaxed(&srv.hits), 1);
out:
	server_stop(&srv);
	ms_modtab_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debuginfod),
	};
	void *lib = dlopen("libdebuginfod.so.1", RTLD_LAZY);
	int rc;

	have_libdebuginfod = lib != NULL;
	if (lib)
		dlclose(lib);
	else
		printf("libdebuginfod.so.1 not installed: DEBUGINFOD_URLS "
		       "must do nothing\n");
	if (symfix_run(MS_SYMFIX, &run))
		return 1;
	tmp = symfix_tmpdir();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	symfix_rmtree(tmp);
	free(tmp);
	return rc;
}
