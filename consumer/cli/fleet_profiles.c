/* SPDX-License-Identifier: MIT */
/*
 * Scheduled profiles (--profile-every S): the control thread offers the
 * newest live-heap snapshot every S seconds through a one-slot mailbox;
 * this thread writes one gzipped pprof per process with the same writer
 * as `memscope snapshot` (snap_pprof.h), symbolizing in its own time, into
 * --profile-dir (a temporary file renamed into place, the oldest beyond
 * --profile-keep removed) and hands each to the pusher (fleet_push.c).
 * A slow disk or symbolizer delays only the next profile: an offer not
 * taken yet is replaced by the newer one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet_int.h"
#include "snap_pprof.h"

#define MS_PROFILE_PREFIX "memscope-heap-"
#define MS_PROFILE_SUFFIX ".pb.gz"

void ms_fleet_profiles_offer(struct ms_fleet *f, const void *blob, size_t len)
{
	uint64_t *copy = malloc((len + 7) & ~(size_t)7);
	uint64_t *old;

	if (!copy)
		return;
	memcpy(copy, blob, len);
	pthread_mutex_lock(&f->prof_lock);
	old = f->prof_buf;
	f->prof_buf = copy;
	f->prof_len = len;
	pthread_cond_signal(&f->prof_cv);
	pthread_mutex_unlock(&f->prof_lock);
	free(old);
}

/* Process `pid` of the snapshot [buf, len) as gzipped pprof in memory. */
static int one_pprof(const uint64_t *buf, size_t len, uint32_t pid, char **out,
		     size_t *out_len)
{
	struct ms_top_opts m = {.pid = pid};
	struct ms_cli_snap snap = {0};
	FILE *mf;
	int err;

	snap.buf = malloc((len + 7) & ~(size_t)7);
	if (!snap.buf)
		return -ENOMEM;
	memcpy(snap.buf, buf, len);
	snap.len = len;
	err = ms_snap_parse((const uint8_t *)snap.buf, len, &snap.s);
	if (err) {
		ms_cli_snap_free(&snap);
		return err;
	}
	mf = open_memstream(out, out_len);
	if (!mf) {
		ms_cli_snap_free(&snap);
		return -errno;
	}
	err = ms_snap_pprof(mf, &snap, &m); /* takes the snapshot over */
	if (fclose(mf) != 0 && !err)
		err = -errno;
	return err;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_profile(const struct dirent *e)
{
	size_t n = strlen(e->d_name), s = strlen(MS_PROFILE_SUFFIX);

	return !strncmp(e->d_name, MS_PROFILE_PREFIX,
			strlen(MS_PROFILE_PREFIX)) &&
	       n > s && !strcmp(e->d_name + n - s, MS_PROFILE_SUFFIX);
}

/* Removes the oldest profiles beyond --profile-keep (names sort by time). */
static void prune(const struct ms_fleet *f)
{
	struct dirent **v;
	int n = scandir(f->o.profile_dir, &v, is_profile, by_name);
	char path[4352];

	for (int i = 0; i < n; i++) {
		if ((unsigned)(n - i) > f->o.profile_keep) {
			snprintf(path, sizeof(path), "%s/%s", f->o.profile_dir,
				 v[i]->d_name);
			unlink(path);
		}
		free(v[i]);
	}
	if (n >= 0)
		free(v);
}

/* Writes the profile to a temporary file and renames it into place. */
static int save(struct ms_fleet *f, uint32_t pid, uint64_t now_s, uint64_t seq,
		const char *body, size_t len)
{
	char tmp[4352], path[4352];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s/.%s%u.tmp", f->o.profile_dir,
		 MS_PROFILE_PREFIX, pid);
	snprintf(path, sizeof(path), "%s/%s%llu-%06llu-%u%s", f->o.profile_dir,
		 MS_PROFILE_PREFIX, (unsigned long long)now_s,
		 (unsigned long long)seq, pid, MS_PROFILE_SUFFIX);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, body, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* Every process of one snapshot: a profile each, saved and pushed. */
static void write_all(struct ms_fleet *f, const uint64_t *buf, size_t len,
		      uint64_t *seq)
{
	struct ms_snap s;
	uint64_t now_s = (uint64_t)time(NULL);

	if (ms_snap_parse((const uint8_t *)buf, len, &s) < 0)
		return;
	for (uint32_t i = 0; i < s.h->nprocs; i++) {
		const struct ms_snap_proc *p = s.procs[i].p;
		char *body = NULL;
		size_t n = 0;
		int err = one_pprof(buf, len, p->pid, &body, &n);

		if (!err && f->o.profile_dir)
			err = save(f, p->pid, now_s, ++*seq, body, n);
		if (!err && f->o.push)
			ms_fleet_push(f, p->pid, p->exe,
				      now_s - f->o.profile_every, now_s,
				      (const uint8_t *)body, n);
		atomic_fetch_add_explicit(err ? &f->write_failed : &f->written,
					  1, memory_order_relaxed);
		free(body);
	}
	ms_snap_free(&s);
	if (f->o.profile_dir)
		prune(f);
}

static void *profile_thread(void *arg)
{
	struct ms_fleet *f = arg;
	uint64_t seq = 0;

	for (;;) {
		uint64_t *buf;
		size_t len;

		pthread_mutex_lock(&f->prof_lock);
		while (!f->prof_buf && !f->prof_stop)
			pthread_cond_wait(&f->prof_cv, &f->prof_lock);
		buf = f->prof_buf;
		len = f->prof_len;
		f->prof_buf = NULL;
		pthread_mutex_unlock(&f->prof_lock);
		if (!buf)
			return NULL; /* stopping, nothing left */
		write_all(f, buf, len, &seq);
		free(buf);
	}
}

int ms_fleet_profiles_start(struct ms_fleet *f)
{
	int err = pthread_create(&f->prof_thr, NULL, profile_thread, f);

	f->prof_started = !err;
	return -err;
}

/* Writes the offer still waiting, if any, then ends the thread. */
void ms_fleet_profiles_stop(struct ms_fleet *f)
{
	if (!f->prof_started)
		return;
	pthread_mutex_lock(&f->prof_lock);
	f->prof_stop = 1;
	pthread_cond_signal(&f->prof_cv);
	pthread_mutex_unlock(&f->prof_lock);
	pthread_join(f->prof_thr, NULL);
	f->prof_started = 0;
}
