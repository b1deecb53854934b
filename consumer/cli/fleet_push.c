/* SPDX-License-Identifier: MIT */
/*
 * Pushing profiles to a Pyroscope-style ingest endpoint (--push URL), with
 * libcurl in a thread of its own:
 *   POST URL/ingest?name=SERVICE{host=H,pid=P}&from=S&until=S&format=pprof
 * the gzipped pprof as the `profile` field of a multipart/form-data body,
 * the form Pyroscope's handler reads for format=pprof (docs/fleet.md).
 *
 * The profile thread queues (MS_FLEET_PUSH_QUEUE at most: when full, the
 * oldest is given up); this thread tries each up to MS_PUSH_TRIES times,
 * MS_PUSH_BACKOFF_MS doubling between tries, every try bounded by
 * connect and total timeouts. What it gives up on is counted
 * (push_failed): metrics and the consumer's last line show it.
 */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet_int.h"
#include "fleet_libs.h"

#define MS_PUSH_TRIES	      3
#define MS_PUSH_BACKOFF_MS    1000
#define MS_PUSH_CONNECT_MS    2000
#define MS_PUSH_TIMEOUT_MS    10000
#define MS_PUSH_STOP_GRACE_MS 5000 /* for the queue left at the end */

static void item_free(struct ms_fleet_item *it)
{
	free(it->url);
	free(it->body);
	memset(it, 0, sizeof(*it));
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* The ingest URL of one profile, or NULL. */
static char *ingest_url(const struct ms_fleet *f, uint32_t pid, const char *exe,
			uint64_t from_s, uint64_t until_s)
{
	char name[512], *esc, *url = NULL;
	size_t blen = strlen(f->o.push);

	while (blen && f->o.push[blen - 1] == '/')
		blen--;
	snprintf(name, sizeof(name), "%s{host=%s,pid=%u}",
		 f->o.service ? f->o.service : base_name(exe), f->host, pid);
	esc = curl_easy_escape(NULL, name, 0);
	if (!esc)
		return NULL;
	if (asprintf(&url,
		     "%.*s/ingest?name=%s&from=%llu&until=%llu&format=pprof",
		     (int)blen, f->o.push, esc, (unsigned long long)from_s,
		     (unsigned long long)until_s) < 0)
		url = NULL;
	curl_free(esc);
	return url;
}

void ms_fleet_push(struct ms_fleet *f, uint32_t pid, const char *exe,
		   uint64_t from_s, uint64_t until_s, const uint8_t *body,
		   size_t len)
{
	struct ms_fleet_item it = {0}, old = {0};

	it.url = ingest_url(f, pid, exe, from_s, until_s);
	it.body = malloc(len ? len : 1);
	it.len = len;
	if (!it.url || !it.body) {
		item_free(&it);
		atomic_fetch_add_explicit(&f->push_failed, 1,
					  memory_order_relaxed);
		return;
	}
	memcpy(it.body, body, len);
	pthread_mutex_lock(&f->push_lock);
	if (f->q_len == MS_FLEET_PUSH_QUEUE) { /* the oldest goes */
		old = f->q[f->q_head];
		f->q_head = (f->q_head + 1) % MS_FLEET_PUSH_QUEUE;
		f->q_len--;
	}
	f->q[(f->q_head + f->q_len++) % MS_FLEET_PUSH_QUEUE] = it;
	pthread_cond_signal(&f->push_cv);
	pthread_mutex_unlock(&f->push_lock);
	if (old.url) {
		item_free(&old);
		atomic_fetch_add_explicit(&f->push_failed, 1,
					  memory_order_relaxed);
	}
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* One POST; 0 when the server answered 2xx. */
static int post(CURL *c, const struct ms_fleet_item *it)
{
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part = curl_mime_addpart(mime);
	long status = 0;
	CURLcode rc;

	curl_mime_name(part, "profile");
	curl_mime_filename(part, "profile.pb.gz");
	curl_mime_type(part, "application/octet-stream");
	curl_mime_data(part, (const char *)it->body, it->len);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, it->url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)MS_PUSH_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)MS_PUSH_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "memscope");
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_mime_free(mime);
	return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -EIO;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Waits `ms` unless stopping; returns whether the consumer is stopping. */
static int backoff(struct ms_fleet *f, unsigned ms)
{
	struct timespec ts;
	int stop;

	deadline_in(&ts, ms);
	pthread_mutex_lock(&f->push_lock);
	while (!f->push_stop &&
	       pthread_cond_timedwait(&f->push_cv, &f->push_lock, &ts) == 0)
		;
	stop = f->push_stop;
	pthread_mutex_unlock(&f->push_lock);
	return stop;
}

/* Tries, backs off, tries again; at the end, one try each. */
static void deliver(struct ms_fleet *f, CURL *c, struct ms_fleet_item *it,
		    int stopping)
{
	unsigned wait = MS_PUSH_BACKOFF_MS;

	for (int t = 0; t < MS_PUSH_TRIES; t++) {
		if (post(c, it) == 0) {
			atomic_fetch_add_explicit(&f->pushed, 1,
						  memory_order_relaxed);
			return;
		}
		if (stopping || t + 1 == MS_PUSH_TRIES || backoff(f, wait))
			break;
		wait *= 2;
	}
	atomic_fetch_add_explicit(&f->push_failed, 1, memory_order_relaxed);
}

/* The next queued profile, waiting for one; 0 when stopping and empty. */
static int next_item(struct ms_fleet *f, struct ms_fleet_item *it,
		     int *stopping)
{
	pthread_mutex_lock(&f->push_lock);
	while (!f->q_len && !f->push_stop)
		pthread_cond_wait(&f->push_cv, &f->push_lock);
	*stopping = f->push_stop;
	if (!f->q_len) {
		pthread_mutex_unlock(&f->push_lock);
		return 0;
	}
	*it = f->q[f->q_head];
	f->q_head = (f->q_head + 1) % MS_FLEET_PUSH_QUEUE;
	f->q_len--;
	pthread_mutex_unlock(&f->push_lock);
	return 1;
}

static void *push_thread(void *arg)
{
	struct ms_fleet *f = arg;
	CURL *c = curl_easy_init();
	struct ms_fleet_item it;
	struct timespec end = {0}, now;
	int stopping;

	while (next_item(f, &it, &stopping)) {
		if (stopping && !end.tv_sec)
			deadline_in(&end, MS_PUSH_STOP_GRACE_MS);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!c || (end.tv_sec && (now.tv_sec > end.tv_sec ||
					  (now.tv_sec == end.tv_sec &&
					   now.tv_nsec > end.tv_nsec))))
			atomic_fetch_add_explicit(&f->push_failed, 1,
						  memory_order_relaxed);
		else
			deliver(f, c, &it, stopping);
		item_free(&it);
	}
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

int ms_fleet_push_start(struct ms_fleet *f)
{
	pthread_condattr_t ca;
	int err;

	if (ms_fleet_load_curl() < 0)
		return -ENOENT;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&f->push_cv);
	pthread_cond_init(&f->push_cv, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&f->push_thr, NULL, push_thread, f);
	f->push_started = !err;
	return -err;
}

void ms_fleet_push_stop(struct ms_fleet *f)
{
	if (!f->push_started)
		return;
	pthread_mutex_lock(&f->push_lock);
	f->push_stop = 1;
	pthread_cond_broadcast(&f->push_cv);
	pthread_mutex_unlock(&f->push_lock);
	pthread_join(f->push_thr, NULL);
	f->push_started = 0;
	while (f->q_len) { /* none: the thread empties the queue */
		item_free(&f->q[f->q_head]);
		f->q_head = (f->q_head + 1) % MS_FLEET_PUSH_QUEUE;
		f->q_len--;
	}
	curl_global_cleanup();
}
