/* SPDX-License-Identifier: MIT */
#include "archive_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "record.h"
#include "ring_abi.h"
#include "segment.h"

void fx_add(struct fx_counts *a, const struct fx_counts *b)
{
	a->events += b->events;
	a->allocs += b->allocs;
	a->frees += b->frees;
	a->dropped += b->dropped;
	a->raw_bytes += b->raw_bytes;
	a->frames += b->frames;
	a->weighted += b->weighted;
}

/* State of one synthetic thread while its stream is written. */
struct gen {
	struct ms_rec_state st;
	uint64_t ts, hz;
	uint64_t next_addr, live[4];
	uint64_t stack_id;
	uint32_t op;
	uint8_t *buf, *p;
	struct fx_counts c; /* of the frame being built */
	uint64_t first_ts;
	uint64_t *first_caller;
	uint32_t clock_at; /* clock_mid: after this many ops of a frame */
	uint64_t clock_off;
};

static void rec(struct gen *g)
{
	g->c.events++;
	g->ts += 100;
}

static void prelude(struct gen *g, uint32_t pid, uint32_t tid, const char *name)
{
	static const uint8_t bid[4] = {0xde, 0xad, 0xbe, 0xef};
	static const char path[] = "/usr/lib/libfake.so";

	g->p = ms_rec_put_clock(&g->st, g->p, g->ts, 5000000000ull, g->hz);
	rec(g);
	g->p = ms_rec_put_thread_start(&g->st, g->p, g->ts, pid, tid);
	rec(g);
	if (name[0]) {
		g->p = ms_rec_put_thread_name(&g->st, g->p, g->ts, name,
					      (uint32_t)strlen(name));
		rec(g);
	}
	g->p = ms_rec_put_module_load(&g->st, g->p, g->ts, 0x7f0000000000ull,
				      0x21000, bid, sizeof(bid), path,
				      sizeof(path) - 1);
	rec(g);
}

static void stack(struct gen *g)
{
	uint64_t frames[3];

	g->stack_id++;
	for (int i = 0; i < 3; i++)
		frames[i] =
			0x401000 + g->stack_id * 0x40 + (uint64_t)i * 0x1000;
	g->p = ms_rec_put_stack(&g->st, g->p, g->ts, g->stack_id, frames, 3);
	if (g->first_caller && !*g->first_caller)
		*g->first_caller = frames[0];
	rec(g);
}

static void alloc(struct gen *g, uint32_t i)
{
	uint64_t size = 16 + (i % 50) * 8, w = MS_WEIGHT_ONE;
	uint64_t align = i % 11 == 0 ? 64 : 0;

	if (i % 7 == 0)
		w = 10 * MS_WEIGHT_ONE + MS_WEIGHT_ONE / 2; /* 10.5 */
	g->next_addr += 0x40;
	g->p = ms_rec_put_alloc(&g->st, g->p, g->ts, g->next_addr, size, align,
				g->stack_id, w);
	g->live[i % 4] = g->next_addr;
	g->c.allocs++;
	g->c.weighted += (unsigned __int128)size * w;
	rec(g);
}

/* One operation: sometimes a new stack, an ALLOC, and some of FREE,
 * REALLOC, LOST. */
static void op(struct gen *g)
{
	uint32_t i = g->op++;

	if (i % 4 == 0)
		stack(g);
	alloc(g, i);
	if (i % 3 == 1) {
		g->p = ms_rec_put_free(&g->st, g->p, g->ts, g->live[i % 4]);
		g->c.frees++;
		rec(g);
	}
	if (i % 5 == 2) {
		g->next_addr += 0x40;
		g->p = ms_rec_put_realloc(&g->st, g->p, g->ts, g->live[i % 4],
					  g->next_addr, 333, g->stack_id,
					  MS_WEIGHT_ONE);
		g->c.allocs++;
		g->c.frees++;
		g->c.weighted += (unsigned __int128)333 * MS_WEIGHT_ONE;
		rec(g);
	}
	if (i % 13 == 6) {
		g->p = ms_rec_put_lost(&g->st, g->p, g->ts, 3, MS_LOST_FULL);
		g->c.dropped += 3;
		rec(g);
	}
}

static int write_frame(struct gen *g, struct ms_seg_writer *w, struct fx_seg *s)
{
	struct fx_frame *f = &s->f[s->nframes++];
	size_t len = (size_t)(g->p - g->buf);
	int err;

	f->offset = ms_seg_file_size(w);
	err = ms_seg_write_frame(w, g->buf, len, (uint32_t)g->c.events,
				 g->first_ts, g->ts);
	f->end = ms_seg_file_size(w);
	g->c.raw_bytes = len;
	g->c.frames = 1;
	f->c = g->c;
	return err;
}

static int frame(struct gen *g, const struct fx_spec *sp, struct fx_thread *t,
		 struct ms_seg_writer *w, uint32_t seg, uint32_t fi)
{
	memset(&g->c, 0, sizeof(g->c));
	g->p = ms_rec_put_sync(&g->st, g->buf);
	g->first_ts = g->ts;
	if (seg == 0 && fi == 0)
		prelude(g, t->pid, t->tid, t->name);
	for (uint32_t k = 0; k < sp->ops; k++) {
		if (sp->clock_mid && (seg || fi) && k == g->clock_at) {
			g->p = ms_rec_put_clock(&g->st, g->p, g->ts,
						g->ts * 1000000000ull / g->hz +
							g->clock_off,
						g->hz);
			rec(g);
		}
		op(g);
	}
	if (seg + 1 == sp->nsegs && fi + 1 == sp->nframes) {
		g->p = ms_rec_put_thread_exit(&g->st, g->p, g->ts);
		rec(g);
	}
	return write_frame(g, w, &t->s[seg]);
}

/* Notes where each frame's data begins, as the reader finds it. */
static int find_data(struct fx_seg *seg)
{
	struct ms_seg_reader *r;
	struct ms_seg_frame fr;
	int err = ms_seg_open(seg->path, &r);

	for (uint32_t k = 0; !err && k < seg->nframes; k++) {
		if (ms_seg_next(r, &fr) != 1 || fr.offset != seg->f[k].offset)
			err = -EBADMSG;
		seg->f[k].data = fr.offset + fr.hdr_size;
	}
	if (r)
		ms_seg_close(r);
	return err;
}

static int write_thread(const char *dir, const struct fx_spec *sp,
			struct fx_thread *t, struct gen *g)
{
	struct ms_seg_info info = {.pid = t->pid,
				   .tid = t->tid,
				   .tick_hz = g->hz,
				   .created_ns = 1};
	struct ms_seg_writer *w;
	struct stat st;
	int err = 0;

	for (uint32_t s = 0; s < sp->nsegs && !err; s++) {
		struct fx_seg *seg = &t->s[s];

		info.seq = s;
		snprintf(seg->path, sizeof(seg->path), "%s/%u/%u-%u.mseg", dir,
			 t->pid, t->tid, s);
		err = ms_seg_create(seg->path, &info, 3, &w);
		for (uint32_t f = 0; !err && f < sp->nframes; f++) {
			err = frame(g, sp, t, w, s, f);
			fx_add(&t->c, &seg->f[f].c);
		}
		if (!err)
			err = ms_seg_finish(w);
		if (!err)
			err = find_data(seg);
		if (!err && stat(seg->path, &st) < 0)
			err = -errno;
		seg->size = err ? 0 : (uint64_t)st.st_size;
		t->nsegs++;
	}
	return err;
}

static int write_manifest(const char *dir, const struct fx_spec *sp,
			  const struct fx_counts *c)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"format\": 1, \"session\": \"fixture\", "
		   "\"settings\": {\"sampling\": \"full\", \"ring_kb\": 64},\n"
		   " \"processes\": [");
	for (uint32_t p = 0; p < sp->nproc; p++)
		fprintf(f,
			"%s{\"pid\": %u, \"exe\": \"/bin/fake\\u00e9\", "
			"\"status\": \"exited\", \"exit_code\": 0}",
			p ? ", " : "", 1000 + p);
	fprintf(f, "]");
	if (sp->finished)
		fprintf(f,
			",\n \"state\": \"finished\", \"totals\": "
			"{\"events\": %llu, \"allocs\": %llu, \"frees\": %llu, "
			"\"dropped\": %llu}",
			(unsigned long long)c->events,
			(unsigned long long)c->allocs,
			(unsigned long long)c->frees,
			(unsigned long long)c->dropped);
	fprintf(f, "}\n");
	return fclose(f) ? -errno : 0;
}

static int one_thread(const char *dir, const struct fx_spec *sp,
		      struct fx_archive *a, uint32_t p, uint32_t k)
{
	struct fx_thread *t = &a->t[a->nthreads++];
	struct gen g = {.hz = sp->tick_hz ? sp->tick_hz : 1000000000u,
			/* one TSC for all threads: their records tie */
			.ts = 1000000,
			.next_addr = 0x10000000ull * (k + 1)};
	int err;

	t->pid = 1000 + p;
	t->tid = t->pid * 10 + 1 + k;
	if (k % 2 == 0)
		snprintf(t->name, sizeof(t->name), "worker-%u", k);
	if (a->nthreads == 1)
		g.first_caller = &a->first_caller;
	/* later threads' CLOCK records come earlier */
	g.clock_at =
		(sp->ops / 2 + 1) - (uint32_t)a->nthreads % (sp->ops / 2 + 1);
	g.clock_off = 37 * a->nthreads;
	g.buf = malloc(64 + (size_t)sp->ops * 4 * MS_REC_SMALL_MAX +
		       MS_PATH_MAX + MS_REC_STACK_MAX * sp->ops);
	if (!g.buf)
		return -ENOMEM;
	err = write_thread(dir, sp, t, &g);
	free(g.buf);
	fx_add(&a->c, &t->c);
	for (uint32_t s = 0; s < t->nsegs; s++)
		a->disk_bytes += t->s[s].size;
	return err;
}

int fx_write(const char *dir, const struct fx_spec *sp, struct fx_archive *a)
{
	char path[512];
	int err = 0;

	memset(a, 0, sizeof(*a));
	if (sp->nsegs > FX_MAX_SEGS || sp->nframes > FX_MAX_FRAMES)
		return -EINVAL;
	a->t = calloc((size_t)sp->nproc * sp->nthreads + 1, sizeof(*a->t));
	if (!a->t)
		return -ENOMEM;
	for (uint32_t p = 0; p < sp->nproc && !err; p++) {
		snprintf(path, sizeof(path), "%s/%u", dir, 1000 + p);
		if (mkdir(path, 0755) < 0)
			return -errno;
		for (uint32_t k = 0; k < sp->nthreads && !err; k++)
			err = one_thread(dir, sp, a, p, k);
	}
	if (!err && sp->manifest)
		err = write_manifest(dir, sp, &a->c);
	return err;
}

void fx_free(struct fx_archive *a)
{
	free(a->t);
	a->t = NULL;
}

int fx_setup(void **state, const struct fx_spec *sp)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (!f || fx_tempdir(f->dir, sizeof(f->dir)))
		return -1;
	return fx_write(f->dir, sp, &f->a) ? -1 : 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	ms_archive_close(f->arc);
	if (f->dir[0])
		fx_rmtree(f->dir);
	fx_free(&f->a);
	free(f);
	return 0;
}

int fx_tempdir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, len, "%s/ms-archive-XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(buf) ? 0 : -errno;
}

static void rm_entries(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[1024];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (depth < 3)
			rm_entries(p, depth + 1);
		if (rmdir(p) < 0)
			unlink(p);
	}
	closedir(d);
}

void fx_rmtree(const char *dir)
{
	rm_entries(dir, 0);
	rmdir(dir);
}

int fx_truncate(const char *path, uint64_t size)
{
	return truncate(path, (off_t)size) < 0 ? -errno : 0;
}

int fx_flip(const char *path, uint64_t offset)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	int err = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, &b, 1, (off_t)offset) != 1) {
		err = -EIO;
	} else {
		b ^= 0x5a;
		if (pwrite(fd, &b, 1, (off_t)offset) != 1)
			err = -EIO;
	}
	close(fd);
	return err;
}
