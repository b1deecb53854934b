/* SPDX-License-Identifier: MIT */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_json.h"
#include "clock.h"
#include "segment.h"
#include "segment_abi.h"

/* ---- errors ---- */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void ms_archive_error(struct ms_archive *a, const char *file, int has_offset,
		      uint64_t offset, const char *fmt, ...)
{
	struct ms_arc_error e = {.has_offset = has_offset, .offset = offset};
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e.file = (char *)file;
	e.msg = msg;
	if (a->on_error)
		a->on_error(&e, a->on_error_arg);
	if (a->nerrors == MS_ARC_MAX_ERRORS) {
		a->errors_dropped++;
		return;
	}
	if (!a->errors) {
		a->errors = calloc(MS_ARC_MAX_ERRORS, sizeof(*a->errors));
		if (!a->errors) {
			a->errors_dropped++;
			return;
		}
	}
	e.file = xstrdup(file);
	e.msg = strdup(msg);
	a->errors[a->nerrors++] = e;
}

/* ---- listing ---- */

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
			};
			l->e[k].path = NULL;
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
	for (size_t i = 0; i < a->nerrors; i++) {
		free(a->errors[i].file);
		free(a->errors[i].msg);
	}
	free(a->errors);
	ms_json_free(a->manifest);
	free(a->dir);
	free(a);
}

/* ---- stack table: stack id -> first frame, per stream ---- */

struct stack_ent {
	uint64_t id; /* 0 = empty slot */
	uint64_t caller;
	int has_caller;
};

struct stack_map {
	struct stack_ent *e;
	size_t cap, n; /* cap: power of two */
};

static size_t stack_slot(const struct stack_map *m, uint64_t id)
{
	size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);

	while (m->e[i].id && m->e[i].id != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int stack_grow(struct stack_map *m)
{
	struct stack_map n = {.cap = m->cap ? m->cap * 2 : 256};

	n.e = calloc(n.cap, sizeof(*n.e));
	if (!n.e)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].id)
			n.e[stack_slot(&n, m->e[i].id)] = m->e[i];
	n.n = m->n;
	free(m->e);
	*m = n;
	return 0;
}

static int stack_put(struct stack_map *m, const struct ms_event *ev)
{
	size_t i;

	if (ev->stack_id == 0)
		return 0;
	if ((m->n + 1) * 2 > m->cap && stack_grow(m))
		return -ENOMEM;
	i = stack_slot(m, ev->stack_id);
	if (!m->e[i].id)
		m->n++;
	m->e[i].id = ev->stack_id;
	m->e[i].has_caller = ev->nframes > 0;
	m->e[i].caller = ev->nframes ? ev->frames[0] : 0;
	return 0;
}

static const struct stack_ent *stack_get(const struct stack_map *m, uint64_t id)
{
	size_t i;

	if (id == 0 || m->cap == 0)
		return NULL;
	i = stack_slot(m, id);
	return m->e[i].id ? &m->e[i] : NULL;
}

static void stack_clear(struct stack_map *m)
{
	if (m->e)
		memset(m->e, 0, m->cap * sizeof(*m->e));
	m->n = 0;
}

/* ---- stream iterator ---- */

struct ms_arc_iter {
	struct ms_archive *a;
	struct ms_arc_thread *t;
	size_t seg;		 /* next segment to open */
	struct ms_seg_reader *r; /* open segment, or NULL */
	const char *path;	 /* of the open segment */
	uint64_t seg_hz;	 /* tick rate from the segment header */
	struct ms_seg_frame fr;
	int in_frame;
	size_t pos;	  /* next record in fr.data */
	uint32_t decoded; /* records of this frame so far */
	struct ms_rec_state st;
	int have_clock;
	uint64_t ref_ticks, ref_ns, hz;
	struct stack_map stacks;
	struct ms_arc_counts c;
	char name[MS_NAME_MAX + 1];
	struct ms_arc_event out;
	struct ms_event ev;
};

int ms_arc_iter_open(struct ms_archive *a, struct ms_arc_thread *t,
		     struct ms_arc_iter **out)
{
	struct ms_arc_iter *it = calloc(1, sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->a = a;
	it->t = t;
	it->out.pid = t->pid;
	it->out.tid = t->tid;
	it->out.ev = &it->ev;
	it->c.segments = t->nsegs;
	for (size_t i = 0; i < t->nsegs; i++)
		it->c.disk_bytes += t->segs[i].size;
	*out = it;
	return 0;
}

void ms_arc_iter_close(struct ms_arc_iter *it)
{
	if (!it)
		return;
	ms_seg_close(it->r);
	free(it->stacks.e);
	free(it);
}

const struct ms_arc_counts *ms_arc_iter_counts(const struct ms_arc_iter *it)
{
	return &it->c;
}

const char *ms_arc_iter_name(const struct ms_arc_iter *it)
{
	return it->name;
}

/* Opens the next segment; 0 when there is none left. */
static int open_segment(struct ms_arc_iter *it)
{
	const struct ms_arc_seg *s;
	const struct ms_seg_info *info;
	int err;

	while (it->seg < it->t->nsegs) {
		s = &it->t->segs[it->seg++];
		err = ms_seg_open(s->path, &it->r);
		if (err == -EBADMSG) {
			ms_archive_error(it->a, s->path, 1, 0,
					 "not a segment file (bad or short "
					 "header, %llu bytes)",
					 (unsigned long long)s->size);
			continue;
		}
		if (err) {
			ms_archive_error(it->a, s->path, 0, 0,
					 "cannot read: %s", strerror(-err));
			continue;
		}
		it->path = s->path;
		info = ms_seg_reader_info(it->r);
		if (info->pid != it->t->pid || info->tid != it->t->tid ||
		    info->seq != s->seq)
			ms_archive_error(it->a, s->path, 1, 0,
					 "header says pid %u tid %u segment "
					 "%u; read as named",
					 info->pid, info->tid, info->seq);
		it->seg_hz = info->tick_hz;
		return 1;
	}
	return 0;
}

/* Loads the next frame and decodes its opening SYNC. 1: a frame is
 * ready, 0: this segment is done, -1: damage skipped, try again. */
static int load_frame(struct ms_arc_iter *it)
{
	struct ms_rec_state st = {0};
	ssize_t n;
	int rc = ms_seg_next(it->r, &it->fr);

	if (rc == 0)
		return 0;
	if (rc < 0) {
		ms_archive_error(it->a, it->path, 0, 0, "%s",
				 ms_seg_error(it->r));
		return -1;
	}
	it->c.frames++;
	it->c.raw_bytes += it->fr.len;
	it->a->bytes_read += MS_SEG_FRAME_HDR_SIZE + it->fr.comp_size;
	if (it->a->on_progress)
		it->a->on_progress(it->a, it->a->on_progress_arg);
	n = ms_rec_decode(&st, it->fr.data, it->fr.len, &it->ev);
	if (n < 0 || it->ev.type != MS_REC_SYNC) {
		ms_archive_error(it->a, it->path, 1, it->fr.offset,
				 "frame does not start with a SYNC record; "
				 "frame skipped (%u records)",
				 it->fr.count);
		return -1;
	}
	it->st = st;
	it->pos = (size_t)n;
	it->decoded = 0;
	it->in_frame = 1;
	return 1;
}

/* `damaged`: an error for this frame was reported already. */
static void frame_done(struct ms_arc_iter *it, int damaged)
{
	it->in_frame = 0;
	if (!damaged && it->decoded != it->fr.count)
		ms_archive_error(it->a, it->path, 1, it->fr.offset,
				 "frame header says %u records, %u decoded",
				 it->fr.count, it->decoded);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t to_ns(const struct ms_arc_iter *it, uint64_t ticks)
{
	if (it->have_clock)
		return ms_ticks_to_ns(ticks, it->ref_ticks, it->ref_ns, it->hz);
	if (it->seg_hz == 0 || it->seg_hz == 1000000000u)
		return ticks;
	return ms_ticks_to_ns(ticks, 0, 0, it->seg_hz);
}

static void count_weighted(struct ms_arc_counts *c, const struct ms_event *ev)
{
	unsigned __int128 w = (unsigned __int128)ev->size * ev->weight;

	c->weighted_size = c->weighted_size + w < c->weighted_size
				   ? ~(unsigned __int128)0
				   : c->weighted_size + w;
}

static void thread_start(struct ms_arc_iter *it, const struct ms_event *ev)
{
	stack_clear(&it->stacks);
	if (ev->pid != it->t->pid || ev->tid != it->t->tid)
		ms_archive_error(it->a, it->path, 1, it->fr.offset,
				 "THREAD_START says pid %llu tid %llu",
				 (unsigned long long)ev->pid,
				 (unsigned long long)ev->tid);
}

/* Updates the stream's state and counts with one record. */
static int apply(struct ms_arc_iter *it, const struct ms_event *ev)
{
	struct ms_arc_counts *c = &it->c;

	c->events++;
	switch (ev->type) {
	case MS_REC_ALLOC:
		c->allocs++;
		count_weighted(c, ev);
		break;
	case MS_REC_REALLOC:
		c->allocs++;
		c->frees++;
		count_weighted(c, ev);
		break;
	case MS_REC_FREE:
		c->frees++;
		break;
	case MS_REC_LOST:
		c->dropped = sat_add(c->dropped, ev->count);
		break;
	case MS_REC_CLOCK:
		it->have_clock = 1;
		it->ref_ticks = ev->ts;
		it->ref_ns = ev->mono_ns;
		it->hz = ev->tick_hz;
		break;
	case MS_REC_STACK:
		return stack_put(&it->stacks, ev);
	case MS_REC_THREAD_START:
		thread_start(it, ev);
		break;
	case MS_REC_THREAD_NAME:
		memcpy(it->name, ev->str, ev->str_len);
		it->name[ev->str_len] = '\0';
		break;
	default:
		break;
	}
	return 0;
}

static void fill_out(struct ms_arc_iter *it)
{
	const struct stack_ent *s = NULL;

	it->out.ns = to_ns(it, it->ev.ts);
	if (it->ev.type == MS_REC_ALLOC || it->ev.type == MS_REC_REALLOC)
		s = stack_get(&it->stacks, it->ev.stack_id);
	it->out.has_caller = s && s->has_caller;
	it->out.caller = it->out.has_caller ? s->caller : 0;
}

/* The next record of the current frame: 1, or 0 when the frame is over. */
static int frame_record(struct ms_arc_iter *it)
{
	const uint8_t *d = it->fr.data;
	ssize_t n;

	while (it->pos < it->fr.len) {
		n = ms_rec_decode(&it->st, d + it->pos, it->fr.len - it->pos,
				  &it->ev);
		if (n < 0) {
			ms_archive_error(
				it->a, it->path, 1, it->fr.offset,
				"bad record at byte %zu of the frame's %zu "
				"(%s); rest of the frame skipped",
				it->pos, it->fr.len,
				n == -ENODATA ? "cut short" : "invalid");
			frame_done(it, 1);
			return 0;
		}
		it->pos += (size_t)n;
		if (it->ev.type == MS_REC_SYNC)
			continue;
		it->decoded++;
		return 1;
	}
	frame_done(it, 0);
	return 0;
}

int ms_arc_iter_next(struct ms_arc_iter *it, const struct ms_arc_event **out)
{
	int rc;

	for (;;) {
		if (!it->r && !open_segment(it))
			return 0;
		if (!it->in_frame) {
			rc = load_frame(it);
			if (rc == 0) {
				ms_seg_close(it->r);
				it->r = NULL;
			}
			continue;
		}
		if (!frame_record(it))
			continue;
		if (apply(it, &it->ev))
			return -ENOMEM;
		fill_out(it);
		*out = &it->out;
		return 1;
	}
}

/* ---- whole archive ---- */

/*
 * A finished manifest states the session's totals: when the segments hold
 * other numbers, files were lost or changed after the session ended. (A
 * running session's manifest lags behind by design: not checked.)
 */
static void check_manifest_totals(struct ms_archive *a)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
		{"events", offsetof(struct ms_arc_counts, events)},
		{"allocs", offsetof(struct ms_arc_counts, allocs)},
		{"frees", offsetof(struct ms_arc_counts, frees)},
		{"dropped", offsetof(struct ms_arc_counts, dropped)},
	};
	const struct ms_json_node *m = ms_archive_manifest(a);
	const struct ms_json_node *st = ms_json_get(m, "state");
	const struct ms_json_node *t = ms_json_get(m, "totals");
	char diff[256] = "", *path;
	struct ms_arc_counts c;
	uint64_t want, got;
	size_t n = 0;

	if (!st || st->type != MS_JSON_STRING || strcmp(st->str, "finished"))
		return;
	ms_archive_totals(a, &c);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (ms_json_u64(ms_json_get(t, fields[i].key), &want))
			continue;
		memcpy(&got, (const char *)&c + fields[i].off, sizeof(got));
		if (got != want && n < sizeof(diff))
			n += (size_t)snprintf(diff + n, sizeof(diff) - n,
					      "%s%s %llu, not %llu",
					      n ? "; " : "", fields[i].key,
					      (unsigned long long)got,
					      (unsigned long long)want);
	}
	if (!n)
		return;
	path = path_join(a->dir, "manifest.json");
	ms_archive_error(a, path, 0, 0,
			 "the segments hold other totals than the finished "
			 "session counted (segment files missing or "
			 "changed?): %s",
			 diff);
	free(path);
}

static void add_counts(struct ms_arc_counts *d, const struct ms_arc_counts *s)
{
	d->events = sat_add(d->events, s->events);
	d->allocs = sat_add(d->allocs, s->allocs);
	d->frees = sat_add(d->frees, s->frees);
	d->dropped = sat_add(d->dropped, s->dropped);
	d->raw_bytes = sat_add(d->raw_bytes, s->raw_bytes);
	d->disk_bytes = sat_add(d->disk_bytes, s->disk_bytes);
	d->frames = sat_add(d->frames, s->frames);
	d->segments = sat_add(d->segments, s->segments);
	d->weighted_size =
		d->weighted_size + s->weighted_size < d->weighted_size
			? ~(unsigned __int128)0
			: d->weighted_size + s->weighted_size;
}

void ms_archive_totals(const struct ms_archive *a, struct ms_arc_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < a->nthreads; i++)
		add_counts(out, &a->threads[i].c);
}

uint64_t ms_arc_estimated_bytes(const struct ms_arc_counts *c)
{
	unsigned __int128 v = c->weighted_size / MS_WEIGHT_ONE;

	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

int ms_archive_scan(struct ms_archive *a)
{
	for (size_t i = 0; i < a->nthreads; i++) {
		struct ms_arc_thread *t = &a->threads[i];
		const struct ms_arc_event *ev;
		struct ms_arc_iter *it;
		int rc;

		rc = ms_arc_iter_open(a, t, &it);
		if (rc)
			return rc;
		while ((rc = ms_arc_iter_next(it, &ev)) > 0)
			;
		t->c = it->c;
		memcpy(t->name, it->name, sizeof(t->name));
		ms_arc_iter_close(it);
		if (rc < 0)
			return rc;
	}
	check_manifest_totals(a);
	return 0;
}

/* ---- output helpers ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void ms_arc_json_string(FILE *f, const void *s, size_t len)
{
	const uint8_t *p = s;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t k = utf8_len(p + i, len - i);

		if (k == 0) {
			fputs("\\ufffd", f);
			i++;
		} else if (k > 1) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else {
			uint8_t c = p[i++];

			if (c == '"' || c == '\\')
				fprintf(f, "\\%c", c);
			else if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

void ms_arc_text_string(FILE *f, const void *s, size_t len)
{
	const uint8_t *p = s;

	for (size_t i = 0; i < len;) {
		size_t k = utf8_len(p + i, len - i);

		if (k > 1) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else if (k == 1 && p[i] > 0x20 && p[i] < 0x7f &&
			   p[i] != '\\') {
			fputc(p[i++], f);
		} else {
			fprintf(f, "\\x%02x", p[i++]);
		}
	}
}

static void json_scalar(FILE *f, const struct ms_json_node *n)
{
	switch (n->type) {
	case MS_JSON_NUMBER:
		fwrite(n->str, 1, n->len, f);
		break;
	case MS_JSON_STRING:
		ms_arc_json_string(f, n->str, n->len);
		break;
	case MS_JSON_BOOL:
		fputs(n->boolean ? "true" : "false", f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

void ms_arc_json_scalars(FILE *f, const struct ms_json_node *obj, int nested)
{
	int first = 1;

	fputc('{', f);
	for (const struct ms_json_node *c = obj ? obj->child : NULL; c;
	     c = c->next) {
		if (c->type == MS_JSON_ARRAY ||
		    (c->type == MS_JSON_OBJECT && !nested))
			continue;
		fputs(first ? "" : ",", f);
		first = 0;
		ms_arc_json_string(f, c->key, c->key_len);
		fputc(':', f);
		if (c->type == MS_JSON_OBJECT)
			ms_arc_json_scalars(f, c, 0);
		else
			json_scalar(f, c);
	}
	fputc('}', f);
}

void ms_arc_text_scalars(FILE *f, const struct ms_json_node *obj,
			 const char *prefix)
{
	for (const struct ms_json_node *c = obj ? obj->child : NULL; c;
	     c = c->next) {
		if (c->type == MS_JSON_ARRAY || c->type == MS_JSON_OBJECT)
			continue;
		fprintf(f, " %s", prefix);
		ms_arc_text_string(f, c->key, c->key_len);
		fputc('=', f);
		if (c->type == MS_JSON_STRING)
			ms_arc_text_string(f, c->str, c->len);
		else
			json_scalar(f, c);
	}
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

/* ---- command-line reporting ---- */

static void progress_clear(struct ms_arc_cli *c)
{
	if (c->shown) {
		fputs("\r\033[K", stderr);
		c->shown = 0;
	}
}

void ms_arc_cli_init(struct ms_arc_cli *c, const char *cmd)
{
	memset(c, 0, sizeof(*c));
	c->cmd = cmd;
	c->tty = isatty(STDERR_FILENO);
	c->start_ns = ms_mono_ns();
}

void ms_arc_cli_error(const struct ms_arc_error *e, void *arg)
{
	struct ms_arc_cli *c = arg;

	progress_clear(c);
	fprintf(stderr, "memscope %s: ", c->cmd);
	if (e->file)
		fprintf(stderr, "%s: ", e->file);
	if (e->has_offset)
		fprintf(stderr, "offset %llu: ", (unsigned long long)e->offset);
	fprintf(stderr, "%s\n", e->msg);
}

void ms_arc_cli_progress(struct ms_archive *a, void *arg)
{
	struct ms_arc_cli *c = arg;
	uint64_t now;

	if (!c->tty || ++c->calls % 16)
		return;
	now = ms_mono_ns();
	/* Quiet for the first second; then at most 4 updates a second. */
	if (now - c->start_ns < 1000000000u || now - c->last_ns < 250000000u)
		return;
	c->last_ns = now;
	c->shown = 1;
	fprintf(stderr, "\rmemscope %s: read %.1f of %.1f MiB (%.0f%%)", c->cmd,
		a->bytes_read / 1048576.0, a->disk_bytes / 1048576.0,
		a->disk_bytes ? 100.0 * a->bytes_read / a->disk_bytes : 100.0);
}

void ms_arc_cli_done(struct ms_arc_cli *c)
{
	progress_clear(c);
}
