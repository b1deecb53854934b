/* SPDX-License-Identifier: MIT */
/*
 * Opening an archive: the listing of ARCHIVE/<pid>/<tid>-<n>.mseg grouped
 * into thread streams, and the manifest read (never trusted for a count).
 */
#include "archive.h"
#include "archive_compact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "archive_json.h"
#include "bundle.h"
#include "fileio.h"

/* Strict decimal: digits only, no leading zero, fits in 32 bits. */
static int parse_u32(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "<tid>-<n>.mseg" */
static int parse_seg_name(const char *name, uint32_t *tid, uint32_t *seq)
{
	const char *dash = strchr(name, '-');
	size_t len = strlen(name);

	if (!dash || len < 5 || strcmp(name + len - 5, ".mseg"))
		return -EINVAL;
	if (parse_u32(name, (size_t)(dash - name), tid))
		return -EINVAL;
	return parse_u32(dash + 1, (size_t)(name + len - 5 - dash - 1), seq);
}

struct seg_entry {
	uint32_t pid, tid, seq;
	uint64_t size;
	char *path;
	const uint8_t *mem;
	uint64_t mem_len;
};

struct listing {
	struct seg_entry *e;
	size_t n, cap;
};

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

static int listing_add(struct listing *l, const struct seg_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct seg_entry *n = realloc(l->e, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->e = n;
		l->cap = cap;
	}
	l->e[l->n++] = *e;
	return 0;
}

/* What an interrupted `memscope compact` left (archive_compact.h): the
 * segment beside it is whole, and compact removes it the next time. */
static int is_compact_tmp(const char *name)
{
	size_t len = strlen(name), k = strlen(MS_COMPACT_TMP);

	return len > k && !strcmp(name + len - k, MS_COMPACT_TMP);
}

/* "bundle-<k>.msbun" */
static int is_bundle_name(const char *name)
{
	size_t len = strlen(name);
	uint32_t k;

	return len > 13 && !strncmp(name, "bundle-", 7) &&
	       !strcmp(name + len - 6, ".msbun") &&
	       !parse_u32(name + 7, len - 13, &k);
}

/*
 * A bundle: each segment in it listed as if it were a file, its share of
 * the bundle's bytes as its size. A bundle that cannot be read is damage,
 * reported; what it held is lost.
 */
static int list_bundle(struct ms_archive *a, struct listing *l, uint32_t pid,
		       const char *path)
{
	uint8_t *file, *raw, **nb;
	uint64_t size;
	size_t raw_len, pos = 0;
	struct ms_bundle_entry be;
	char why[160];
	int64_t count;
	int err, rc;
	uint32_t seen = 0;

	/* no valid bundle is larger: a bigger file is not read at all */
	err = ms_read_regular(path,
			      MS_BUNDLE_HDR_SIZE +
				      ZSTD_compressBound(MS_BUNDLE_RAW_MAX),
			      &file, &size);
	if (err == -ENOMEM)
		return err;
	if (err == -EFBIG)
		ms_archive_error(a, path, 0, 0,
				 "larger than any bundle; not read, its "
				 "segments are lost");
	else if (err == -EINVAL) /* a FIFO, a device: never waited on */
		ms_archive_error(a, path, 0, 0, "not a regular file; ignored");
	else if (err)
		ms_archive_error(a, path, 0, 0, "cannot read: %s",
				 strerror(-err));
	if (err)
		return 0;
	count = ms_bundle_open(file, size, &raw, &raw_len, why, sizeof(why));
	free(file);
	if (count == -ENOMEM)
		return -ENOMEM;
	a->disk_bytes += size;
	if (count < 0) {
		ms_archive_error(a, path, 1, 0, "%s; its segments are lost",
				 why);
		return 0;
	}
	nb = realloc(a->bundles, (a->nbundles + 1) * sizeof(*nb));
	if (!nb) {
		free(raw);
		return -ENOMEM;
	}
	a->bundles = nb;
	a->bundles[a->nbundles++] = raw;
	while ((rc = ms_bundle_next(raw, raw_len, &pos, &be)) == 1) {
		struct seg_entry e = {
			.pid = pid,
			.tid = be.tid,
			.seq = be.seq,
			.size = ms_bundle_share(size, raw_len, be.off, be.span),
			.mem = be.seg,
			.mem_len = be.len,
		};

		if (asprintf(&e.path, "%s#%u-%u", path, be.tid, be.seq) < 0)
			return -ENOMEM;
		err = listing_add(l, &e);
		if (err) {
			free(e.path);
			return err;
		}
		seen++;
	}
	if (rc < 0 || seen != count)
		ms_archive_error(a, path, 1, pos,
				 "bundle holds %u readable segments of %lld",
				 seen, (long long)count);
	return 0;
}

/* One entry of ARCHIVE/<pid>/. */
static int list_seg(struct ms_archive *a, struct listing *l, uint32_t pid,
		    const char *pdir, const char *name)
{
	struct seg_entry e = {.pid = pid};
	struct stat st;
	int err;

	e.path = path_join(pdir, name);
	if (!e.path)
		return -ENOMEM;
	if (is_bundle_name(name)) {
		err = list_bundle(a, l, pid, e.path);
		free(e.path);
		return err;
	}
	if (is_compact_tmp(name))
		goto out_free;
	if (parse_seg_name(name, &e.tid, &e.seq)) {
		ms_archive_error(
			a, e.path, 0, 0,
			"not a segment file (expected <tid>-<n>.mseg); "
			"ignored");
		goto out_free;
	}
	if (stat(e.path, &st) < 0 || !S_ISREG(st.st_mode)) {
		ms_archive_error(a, e.path, 0, 0,
				 "not a regular file; ignored");
		goto out_free;
	}
	e.size = (uint64_t)st.st_size;
	err = listing_add(l, &e);
	if (err)
		goto out_err;
	return 0;
out_free:
	err = 0;
out_err:
	free(e.path);
	return err;
}

static int list_pid(struct ms_archive *a, struct listing *l, uint32_t pid,
		    const char *pdir)
{
	DIR *d = opendir(pdir);
	struct dirent *de;
	int err = 0;

	if (!d) {
		ms_archive_error(a, pdir, 0, 0, "cannot read: %s",
				 strerror(errno));
		return 0;
	}
	while (!err && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		err = list_seg(a, l, pid, pdir, de->d_name);
	}
	closedir(d);
	return err;
}

/* Top level: numeric directories are processes; manifest.json is read
 * separately; anything else (temporary files, logs) is not ours. */
static int list_top(struct ms_archive *a, struct listing *l)
{
	DIR *d = opendir(a->dir);
	struct dirent *de;
	int err = 0;

	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		struct stat st;
		uint32_t pid;
		char *p;

		if (parse_u32(de->d_name, strlen(de->d_name), &pid))
			continue;
		p = path_join(a->dir, de->d_name);
		if (!p) {
			err = -ENOMEM;
			break;
		}
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			ms_archive_error(a, p, 0, 0,
					 "not a process directory; ignored");
		else
			err = list_pid(a, l, pid, p);
		free(p);
	}
	closedir(d);
	return err;
}

static int seg_cmp(const void *x, const void *y)
{
	const struct seg_entry *a = x, *b = y;

	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

/* Reports segment numbers missing before each present one. */
static void check_gaps(struct ms_archive *a, const struct ms_arc_thread *t)
{
	uint32_t want = 0;

	for (size_t i = 0; i < t->nsegs; i++) {
		uint32_t seq = t->segs[i].seq;

		if (seq > want)
			ms_archive_error(
				a, t->segs[i].path, 0, 0,
				"segments %u-%u .. %u-%u missing before "
				"this one",
				t->tid, want, t->tid, seq - 1);
		else if (i && seq < want)
			ms_archive_error(a, t->segs[i].path, 0, 0,
					 "segment %u-%u twice (also %s); its "
					 "frames are read after the other's",
					 t->tid, seq, t->segs[i - 1].path);
		want = seq + 1;
	}
}

/* Groups the sorted listing into threads; takes the paths over. */
static int group(struct ms_archive *a, struct listing *l)
{
	size_t i = 0;

	qsort(l->e, l->n, sizeof(*l->e), seg_cmp);
	a->threads = calloc(l->n ? l->n : 1, sizeof(*a->threads));
	if (!a->threads)
		return -ENOMEM;
	while (i < l->n) {
		struct ms_arc_thread *t = &a->threads[a->nthreads++];
		size_t j = i;

		while (j < l->n && l->e[j].pid == l->e[i].pid &&
		       l->e[j].tid == l->e[i].tid)
			j++;
		t->pid = l->e[i].pid;
		t->tid = l->e[i].tid;
		t->segs = calloc(j - i, sizeof(*t->segs));
		if (!t->segs)
			return -ENOMEM;
		for (size_t k = i; k < j; k++) {
			t->segs[t->nsegs++] = (struct ms_arc_seg){
				.path = l->e[k].path,
				.seq = l->e[k].seq,
				.size = l->e[k].size,
				.mem = l->e[k].mem,
				.mem_len = l->e[k].mem_len,
			};
			l->e[k].path = NULL;
			if (!l->e[k].mem) /* a bundle is counted whole */
				a->disk_bytes += l->e[k].size;
		}
		if (a->nthreads == 1 || t[-1].pid != t->pid)
			a->nprocesses++;
		check_gaps(a, t);
		i = j;
	}
	return 0;
}

/* ---- manifest ---- */

static int read_small_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *b = NULL;
	int err = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (n == cap || !b) {
			char *nb;

			cap = b ? cap * 2 : cap;
			if (cap > MS_JSON_MAX_INPUT + 1) {
				err = -E2BIG;
				break;
			}
			nb = realloc(b, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

static void read_manifest(struct ms_archive *a)
{
	char *path = path_join(a->dir, "manifest.json"), *text = NULL;
	size_t len = 0, off = 0;
	int err;

	if (!path)
		return;
	err = read_small_file(path, &text, &len);
	if (err == -ENOENT) {
		ms_archive_error(a, path, 0, 0,
				 "missing: no session information (all counts "
				 "come from the segments)");
	} else if (err) {
		ms_archive_error(a, path, 0, 0, "cannot read: %s",
				 strerror(-err));
	} else {
		err = ms_json_parse(text, len, &a->manifest, &off);
		if (err == -EBADMSG)
			ms_archive_error(a, path, 1, off,
					 "not valid JSON (%zu bytes); ignored",
					 len);
		else if (err)
			ms_archive_error(a, path, 0, 0, "cannot parse: %s",
					 strerror(-err));
		else if (ms_json_root(a->manifest)->type != MS_JSON_OBJECT)
			ms_archive_error(a, path, 0, 0,
					 "not a JSON object; ignored");
	}
	free(text);
	free(path);
}

const struct ms_json_node *ms_archive_manifest(const struct ms_archive *a)
{
	const struct ms_json_node *r;

	if (!a->manifest)
		return NULL;
	r = ms_json_root(a->manifest);
	return r->type == MS_JSON_OBJECT ? r : NULL;
}

/* $MEMSCOPE_READ_THREADS: a count of threads, else -1 (as many as pay). */
static int read_threads_env(void)
{
	const char *s = getenv("MEMSCOPE_READ_THREADS");
	uint32_t n;

	if (!s || parse_u32(s, strlen(s), &n) || n > 64)
		return -1;
	return (int)n;
}

int ms_archive_open(const char *dir, ms_arc_error_fn on_error, void *arg,
		    struct ms_archive **out)
{
	struct ms_archive *a = calloc(1, sizeof(*a));
	struct listing l = {0};
	int err;

	if (!a)
		return -ENOMEM;
	a->on_error = on_error;
	a->on_error_arg = arg;
	a->read_threads = read_threads_env();
	a->dir = strdup(dir);
	if (!a->dir) {
		err = -ENOMEM;
		goto out;
	}
	err = list_top(a, &l);
	if (!err)
		err = group(a, &l);
	if (!err)
		read_manifest(a);
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.e[i].path);
	free(l.e);
	if (err) {
		ms_archive_close(a);
		return err;
	}
	*out = a;
	return 0;
}

void ms_archive_close(struct ms_archive *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nthreads; i++) {
		for (size_t k = 0; k < a->threads[i].nsegs; k++)
			free(a->threads[i].segs[k].path);
		free(a->threads[i].segs);
	}
	free(a->threads);
	for (size_t i = 0; i < a->nbundles; i++)
		free(a->bundles[i]);
	free(a->bundles);
	for (size_t i = 0; i < a->nerrors; i++) {
		free(a->errors[i].file);
		free(a->errors[i].msg);
	}
	free(a->errors);
	ms_json_free(a->manifest);
	free(a->dir);
	free(a);
}

size_t ms_archive_first_thread(const struct ms_archive *a, uint64_t pid)
{
	size_t lo = 0, hi = a->nthreads;

	while (lo < hi) { /* a->threads is sorted by (pid, tid) */
		size_t mid = lo + (hi - lo) / 2;

		if (a->threads[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t ms_archive_find_thread(const struct ms_archive *a, uint64_t pid,
			       uint64_t tid)
{
	size_t lo = ms_archive_first_thread(a, pid), hi = a->nthreads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ms_arc_thread *t = &a->threads[mid];

		if (t->pid == pid && t->tid == tid)
			return (ssize_t)mid;
		if (t->pid == pid && t->tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct ms_json_node *ms_arc_manifest_process(const struct ms_archive *a,
						   uint32_t pid)
{
	const struct ms_json_node *ps =
		ms_json_get(ms_archive_manifest(a), "processes");
	uint64_t v;

	if (!ps || ps->type != MS_JSON_ARRAY)
		return NULL;
	for (const struct ms_json_node *p = ps->child; p; p = p->next)
		if (!ms_json_u64(ms_json_get(p, "pid"), &v) && v == pid)
			return p;
	return NULL;
}
