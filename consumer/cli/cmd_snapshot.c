/* SPDX-License-Identifier: MIT */
/*
 * `memscope snapshot`: the live heap of a running session now, written as
 * gzipped pprof by the export's writer (export_pprof.c): inuse_* are the
 * blocks live now, alloc_* the allocations since the live heap began,
 * one sample per call site and process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_live.h"
#include "cli_profile.h"
#include "export.h"
#include "profile.h"
#include "proto_abi.h"
#include "top_model.h"

struct snap_opts {
	const char *session, *out;
	struct ms_top_opts m;
};

struct cells {
	struct ms_profile *p;
	struct ms_split_cell *v;
	size_t n;
};

static void help(void)
{
	printf("usage: memscope snapshot [--session NAME] -o FILE [--pid P] "
	       "[--no-symbols]\n\n"
	       "Writes the live heap of a running consumer's session as "
	       "gzipped pprof\n(profile.proto): inuse_space/inuse_objects are "
	       "the blocks live now,\nalloc_space/alloc_objects the "
	       "allocations since the live heap began (the\nconsumer's start "
	       "if it keeps it from there, else its first top or\nsnapshot "
	       "client). One "
	       "sample per call site and process (label pid); sampled "
	       "sessions give\nweighted estimates. -o - writes to stdout.\n");
}

static int parse(int argc, char **argv, struct snap_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		if (!strcmp(a, "--no-symbols")) {
			o->m.no_symbols = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "memscope snapshot: %s needs a value\n",
				a);
			return -1;
		}
		if (!strcmp(a, "--session")) {
			o->session = v;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			o->out = v;
		} else if (!strcmp(a, "--pid")) {
			if (ms_cli_parse_u32(v, &o->m.pid) < 0 || !o->m.pid)
				return ms_cli_bad("snapshot", a, v,
						  "a process id");
		} else {
			fprintf(stderr,
				"memscope snapshot: unknown option '%s'; see "
				"'memscope snapshot --help'\n",
				a);
			return -1;
		}
		i++;
	}
	if (!o->out) {
		fprintf(stderr, "memscope snapshot: where to? give -o FILE "
				"(or -o - for stdout)\n");
		return -1;
	}
	return 0;
}

static int add_cell(struct cells *c, uint32_t site, uint32_t thread,
		    const struct ms_snap_fig *f)
{
	struct ms_split_cell *v = realloc(c->v, (c->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->v = v;
	v = &c->v[c->n++];
	memset(v, 0, sizeof(*v));
	v->site = site;
	v->thread = thread;
	v->allocs_q16 = f->alloc_count << 16;
	v->bytes = f->alloc_bytes;
	v->live_q16 = f->live_count << 16;
	v->live = f->live_bytes;
	return 0;
}

/* The profile's threads: one per process, all its threads together. */
static int cells_of(struct cells *c, const struct ms_snap *s, uint32_t pid)
{
	struct ms_profile *p = c->p;

	p->threads = calloc(s->h->nprocs + 1u, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->h->nprocs; i++) {
		const struct ms_snap_proc_v *pv = &s->procs[i];
		struct ms_profile_thread *t = &p->threads[p->nthreads];

		if (pid && pv->p->pid != pid)
			continue;
		t->h.pid = pv->p->pid;
		snprintf(t->name, sizeof(t->name), "all threads of %u",
			 pv->p->pid);
		p->estimated |= !!(pv->p->flags & MS_SNAP_SAMPLED);
		for (uint32_t k = 0; k < pv->p->nsites; k++) {
			const struct ms_snap_site_v *sv = &pv->sites[k];
			uint32_t id = ms_profile_live_site(
				p, pv->p->pid, sv->frames, sv->s->nframes);

			if (!id || add_cell(c, id, (uint32_t)p->nthreads,
					    &sv->s->f) < 0)
				return -ENOMEM;
		}
		p->nthreads++;
	}
	return 0;
}

static void describe(struct ms_profile *p, const struct ms_snap_hdr *h)
{
	struct timespec rt;

	if (h->sampling == MS_SAMPLING_FULL)
		snprintf(p->sampling, sizeof(p->sampling), "full");
	else if (h->sampling == MS_SAMPLING_BYTES)
		snprintf(p->sampling, sizeof(p->sampling), "bytes:%llu",
			 (unsigned long long)h->sampling_param);
	else
		snprintf(p->sampling, sizeof(p->sampling), "tiered");
	clock_gettime(CLOCK_REALTIME, &rt);
	p->start_ns = h->since_ns;
	p->end_ns = h->mono_ns;
	/* the realtime of since_ns, as near as the two clocks tell */
	p->start_rt_ns = (uint64_t)rt.tv_sec * 1000000000u +
			 (uint64_t)rt.tv_nsec - (h->mono_ns - h->since_ns);
}

static int write_pprof(FILE *f, void *arg)
{
	struct cells *c = arg;

	return ms_export_pprof(f, c->p, c->v, c->n);
}

int ms_cmd_snapshot(int argc, char **argv)
{
	struct snap_opts o = {0};
	struct ms_cli_snap snap;
	struct ms_top *t = NULL;
	struct cells c = {0};
	int r = parse(argc, argv, &o), fd, err;

	if (r)
		return r > 0 ? (help(), 0) : 2;
	fd = ms_cli_top_connect("snapshot", o.session);
	if (fd < 0)
		return 1;
	err = ms_cli_snap_get(fd, 10000, &snap);
	close(fd);
	if (err) {
		fprintf(stderr, "memscope snapshot: %s\n",
			err == -ETIMEDOUT ? "the consumer did not answer"
					  : "the consumer's answer is invalid");
		return 1;
	}
	r = 1;
	if (ms_top_create(&o.m, &t) < 0 || ms_top_update(t, &snap) < 0)
		goto out;
	c.p = ms_top_profile(t);
	describe(c.p, ms_top_snap(t)->h);
	if (cells_of(&c, ms_top_snap(t), o.m.pid) < 0)
		goto out;
	r = ms_cli_write("snapshot", o.out, write_pprof, &c);
out:
	if (r == 1 && !c.p)
		fprintf(stderr, "memscope snapshot: out of memory\n");
	ms_cli_snap_free(&snap);
	free(c.v);
	ms_top_destroy(t);
	return r;
}
