/* SPDX-License-Identifier: MIT */
/* Compaction of a finished archive (archive_compact.h). */
#include "archive_compact.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "archive_json.h"
#include "fileio.h"
#include "pack.h"
#include "record.h"
#include "segment.h"

/* fsync of `path` (a file or a directory). Returns 0 or -errno. */
static int sync_path(const char *path, int dir)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* fsync of the directory that holds `path`. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash)
		return sync_path(".", 1);
	*slash = '\0';
	return sync_path(slash == dir ? "/" : dir, 1);
}

static void say(char *why, size_t why_len, const char *what)
{
	if (why_len)
		snprintf(why, why_len, "%s", what);
}

/*
 * Whether two frames' records are the same, but for the level of a FREE
 * (record.h): packed frames do not keep it (docs/format.md), so a frame
 * the consumer kept as records loses it when it is packed now, and no
 * reader gives it a meaning.
 */
static int same_records(const uint8_t *a, const uint8_t *b, size_t len)
{
	struct ms_rec_state st = {0, 0};
	struct ms_event ev;
	size_t off = 0;

	while (off < len) {
		ssize_t k = ms_rec_decode(&st, a + off, len - off, &ev);

		if (k <= 0)
			return memcmp(a + off, b + off, len - off) == 0;
		if (ms_rec_is_free(a[off]) ? !ms_rec_is_free(b[off])
					   : a[off] != b[off])
			return 0;
		if (memcmp(a + off + 1, b + off + 1, (size_t)k - 1))
			return 0;
		off += (size_t)k;
	}
	return 1;
}

/* Whether the segments at `a` and `b` hold the same frames: records,
 * counts and times. 0, or -EIO with `why` set. */
static int same_frames(const char *a, const char *b, char *why, size_t why_len)
{
	struct ms_seg_reader *ra = NULL, *rb = NULL;
	struct ms_seg_frame fa, fb;
	int ka, kb, rc = -EIO;

	if (ms_seg_open(a, &ra) || ms_seg_open(b, &rb)) {
		say(why, why_len, "the rewrite could not be read back");
		goto out;
	}
	do {
		ka = ms_seg_next(ra, &fa);
		kb = ms_seg_next(rb, &fb);
		if (ka != kb || ka < 0 ||
		    (ka == 1 &&
		     (fa.len != fb.len || fa.count != fb.count ||
		      fa.first_ts != fb.first_ts || fa.last_ts != fb.last_ts ||
		      !same_records(fa.data, fb.data, fa.len)))) {
			say(why, why_len,
			    "the rewrite did not read back the same frames");
			goto out;
		}
	} while (ka == 1);
	if (!ms_seg_finished(rb)) {
		say(why, why_len, "the rewrite did not read back finished");
		goto out;
	}
	rc = 0;
out:
	ms_seg_close(ra);
	ms_seg_close(rb);
	return rc;
}

/*
 * Writes the frames of `r` to a new segment at `tmp`. With a packer of
 * its own: the packed form depends on the packer's address map, whose
 * size follows the frames it has packed, and a packer shared with other
 * segments would make a segment's rewrite depend on which were
 * compacted before it on the same thread (a second compaction then
 * found smaller forms).
 */
static int rewrite(struct ms_seg_reader *r, const char *tmp, int level,
		   int (*go_on)(void *), void *ctx, char *why, size_t why_len)
{
	struct ms_packer *pk = ms_packer_create();
	struct ms_seg_writer *w;
	struct ms_seg_frame fr;
	int k, rc;

	if (!pk) {
		say(why, why_len, strerror(ENOMEM));
		return -ENOMEM;
	}
	rc = ms_seg_create(tmp, ms_seg_reader_info(r), level, &w);
	if (rc) {
		ms_packer_destroy(pk);
		say(why, why_len, strerror(-rc));
		return rc;
	}
	while ((k = ms_seg_next(r, &fr)) == 1) {
		if (go_on && !go_on(ctx)) {
			say(why, why_len, strerror(ECANCELED));
			rc = -ECANCELED;
			break;
		}
		rc = ms_pack(pk, fr.data, fr.len);
		if (rc == -ENOMEM)
			break;
		/* records that do not pack are stored as they are */
		rc = ms_seg_write_packed(w, fr.data, fr.len, rc ? NULL : pk,
					 fr.count, fr.first_ts, fr.last_ts);
		if (rc) {
			say(why, why_len, strerror(-rc));
			break;
		}
	}
	if (!rc && k < 0) {
		say(why, why_len, ms_seg_error(r));
		rc = -EBADMSG;
	} else if (!rc && !ms_seg_finished(r)) {
		say(why, why_len, "never finished (cut short)");
		rc = -EBADMSG;
	}
	k = ms_seg_finish(w);
	if (!rc && k) {
		say(why, why_len, strerror(-k));
		rc = k;
	}
	ms_packer_destroy(pk);
	return rc;
}

int ms_compact_segment(const char *path, int level, int (*go_on)(void *),
		       void *ctx, uint64_t *before, uint64_t *after, char *why,
		       size_t why_len)
{
	char tmp[PATH_MAX];
	struct ms_seg_reader *r;
	struct stat st;
	int rc;

	say(why, why_len, "");
	*before = *after = 0;
	if (snprintf(tmp, sizeof(tmp), "%s%s", path, MS_COMPACT_TMP) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	*before = *after = (uint64_t)st.st_size;
	rc = ms_seg_open(path, &r);
	if (rc) {
		say(why, why_len,
		    rc == -EBADMSG ? "not a readable segment" : strerror(-rc));
		return rc;
	}
	if (unlink(tmp) < 0 && errno != ENOENT) { /* one a crash left */
		rc = -errno;
		say(why, why_len, strerror(errno));
		ms_seg_close(r);
		return rc;
	}
	if (ms_seg_finished(r) && ms_seg_reader_info(r)->level >= level) {
		ms_seg_close(r);
		return MS_COMPACT_ALREADY;
	}
	rc = rewrite(r, tmp, level, go_on, ctx, why, why_len);
	ms_seg_close(r);
	/* the archive's files keep their modes (0600 unless shared) */
	if (!rc && chmod(tmp, st.st_mode & 07777) < 0) {
		rc = -errno;
		say(why, why_len, strerror(errno));
	}
	if (!rc)
		rc = same_frames(path, tmp, why, why_len);
	if (!rc && stat(tmp, &st) < 0) {
		rc = -errno;
		say(why, why_len, strerror(errno));
	}
	if (!rc && (uint64_t)st.st_size >= *before) {
		unlink(tmp);
		return 0; /* no smaller: kept */
	}
	if (!rc)
		rc = sync_path(tmp, 0);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		if (!why_len || !*why)
			say(why, why_len, strerror(-rc));
		unlink(tmp);
		return rc;
	}
	*after = (uint64_t)st.st_size;
	sync_parent(path); /* the rename is done: a failure here loses nothing
			      that was not already at risk */
	return 1;
}

void ms_compact_levels(const struct ms_archive *a, int level,
		       struct ms_compact_levels *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < a->nthreads; i++) {
		for (size_t k = 0; k < a->threads[i].nsegs; k++) {
			const struct ms_arc_seg *s = &a->threads[i].segs[k];
			struct ms_seg_info info;
			int finished;

			if (s->mem) {
				out->bundled++;
				continue;
			}
			if (ms_seg_read_header(s->path, &info, &finished)) {
				out->unread++;
				continue;
			}
			if (info.level < MS_COMPACT_LEVEL_MIN ||
			    info.level > MS_COMPACT_LEVEL_MAX)
				out->unsaid++;
			else
				out->at[info.level - MS_COMPACT_LEVEL_MIN]++;
			out->below += finished && info.level < level;
		}
	}
}

/* ---- the manifest ---- */

struct edit {
	size_t off, len; /* the number literal replaced */
	uint64_t v;
};

struct edits {
	struct edit *e;
	size_t n, cap;
};

/* Queues `node` (a count) to become its value less `less`. */
static int sub(struct edits *ed, const struct ms_json_node *node, uint64_t less)
{
	uint64_t v;

	if (!less)
		return 0;
	if (ms_json_u64(node, &v) < 0 || v < less)
		return -ENOENT;
	if (ed->n == ed->cap) {
		size_t cap = ed->cap ? 2 * ed->cap : 64;
		struct edit *e = realloc(ed->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		ed->e = e;
		ed->cap = cap;
	}
	ed->e[ed->n++] = (struct edit){node->off, node->len, v - less};
	return 0;
}

static int by_off(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Bytes saved in the threads of process `pid`. */
static uint64_t saved_of(const struct ms_archive *a, const uint64_t *saved,
			 uint64_t pid)
{
	uint64_t s = 0;

	for (size_t i = ms_archive_first_thread(a, pid);
	     i < a->nthreads && a->threads[i].pid == pid; i++)
		s += saved[i];
	return s;
}

/*
 * The per-thread entries of process `pid`. A thread may have several (a
 * ring reused after it ended is a new entry): what it saved is taken from
 * them in turn, each giving at most what it holds. `left` (per
 * a->threads[i]) is what is still to take.
 */
static int thread_edits(const struct ms_archive *a, uint64_t *left,
			uint64_t pid, const struct ms_json_node *ts,
			struct edits *ed)
{
	for (const struct ms_json_node *t = ts ? ts->child : NULL; t;
	     t = t->next) {
		const struct ms_json_node *b = ms_json_get(t, "bytes_on_disk");
		uint64_t tid, v, take;
		ssize_t i;
		int rc;

		if (ms_json_u64(ms_json_get(t, "tid"), &tid) < 0 ||
		    ms_json_u64(b, &v) < 0)
			return -ENOENT;
		i = ms_archive_find_thread(a, pid, tid);
		if (i < 0)
			continue; /* a refused ring: no segment */
		take = left[i] < v ? left[i] : v;
		rc = sub(ed, b, take);
		if (rc)
			return rc;
		left[i] -= take;
	}
	return 0;
}

/* Whether a process lists fewer threads than it had. */
static int threads_omitted(const struct ms_json_node *ps)
{
	for (const struct ms_json_node *p = ps->child; p; p = p->next) {
		uint64_t n;

		if (ms_json_u64(ms_json_get(p, "threads_not_listed"), &n) < 0 ||
		    n)
			return 1;
	}
	return 0;
}

/* The edits of every count the savings change. */
static int find_edits(const struct ms_archive *a, const uint64_t *saved,
		      const struct ms_json_node *root, struct edits *ed)
{
	const struct ms_json_node *ps = ms_json_get(root, "processes");
	uint64_t all = 0, *left;
	int rc;

	for (size_t i = 0; i < a->nthreads; i++)
		all += saved[i];
	if (!ps || ps->type != MS_JSON_ARRAY)
		return -ENOENT;
	left = malloc((a->nthreads + 1) * sizeof(*left));
	if (!left)
		return -ENOMEM;
	memcpy(left, saved, a->nthreads * sizeof(*left));
	rc = sub(ed, ms_json_get(ms_json_get(root, "totals"), "bytes_on_disk"),
		 all);
	for (const struct ms_json_node *p = ps->child; p && !rc; p = p->next) {
		uint64_t pid;

		if (ms_json_u64(ms_json_get(p, "pid"), &pid) < 0) {
			rc = -ENOENT;
			break;
		}
		rc = sub(ed, ms_json_get(p, "bytes_on_disk"),
			 saved_of(a, saved, pid));
		if (!rc)
			rc = thread_edits(a, left, pid,
					  ms_json_get(p, "per_thread"), ed);
	}
	/* a thread listed with less than it saved: counts not as written */
	for (size_t i = 0; !rc && i < a->nthreads; i++)
		if (left[i] && !threads_omitted(ps))
			rc = -ENOENT;
	free(left);
	return rc;
}

/* Writes `text` with the edits made to `path`, through a temporary file. */
static int write_edited(const char *path, mode_t mode, const char *text,
			size_t len, struct edits *ed)
{
	char tmp[PATH_MAX];
	size_t at = 0;
	FILE *f;
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s%s", path, MS_COMPACT_TMP) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	qsort(ed->e, ed->n, sizeof(*ed->e), by_off);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fchmod(fileno(f), mode) < 0)
		rc = -errno;
	for (size_t i = 0; i < ed->n; i++) {
		fwrite(text + at, 1, ed->e[i].off - at, f);
		fprintf(f, "%llu", (unsigned long long)ed->e[i].v);
		at = ed->e[i].off + ed->e[i].len;
	}
	fwrite(text + at, 1, len - at, f);
	if (!rc && (fflush(f) || ferror(f) || fsync(fileno(f)) < 0))
		rc = errno ? -errno : -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	else
		sync_parent(path);
	return rc;
}

int ms_compact_manifest(const char *dir, const struct ms_archive *a,
			const uint64_t *saved)
{
	char path[PATH_MAX];
	struct edits ed = {0};
	struct ms_json *j = NULL;
	struct stat st;
	uint64_t len;
	uint8_t *text;
	int rc;

	if (snprintf(path, sizeof(path), "%s/manifest.json", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = ms_read_regular(path, MS_JSON_MAX_INPUT, &text, &len);
	if (rc)
		return rc;
	rc = ms_json_parse((const char *)text, len, &j, NULL);
	if (rc)
		rc = -ENOENT;
	else
		rc = find_edits(a, saved, ms_json_root(j), &ed);
	for (size_t i = 0; !rc && i < ed.n; i++)
		if (ed.e[i].off + ed.e[i].len > len)
			rc = -ENOENT;
	if (!rc && ed.n && stat(path, &st) < 0)
		rc = -errno;
	if (!rc && ed.n)
		rc = write_edited(path, st.st_mode & 07777, (const char *)text,
				  len, &ed);
	free(ed.e);
	ms_json_free(j);
	free(text);
	return rc;
}
