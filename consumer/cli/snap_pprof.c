/* SPDX-License-Identifier: MIT */
/* A live-heap snapshot as gzipped pprof (snap_pprof.h). */
#include "snap_pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_profile.h"
#include "export.h"
#include "profile.h"
#include "proto_abi.h"

struct cells {
	struct ms_profile *p;
	struct ms_split_cell *v;
	size_t n;
};

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

int ms_snap_pprof(FILE *f, struct ms_cli_snap *snap,
		  const struct ms_top_opts *m)
{
	struct ms_top *t = NULL;
	struct cells c = {0};
	int err = ms_top_create(m, &t);

	if (!err)
		err = ms_top_update(t, snap);
	ms_cli_snap_free(snap); /* when the model did not take it */
	if (!err) {
		c.p = ms_top_profile(t);
		describe(c.p, ms_top_snap(t)->h);
		err = cells_of(&c, ms_top_snap(t), m->pid);
	}
	if (!err)
		err = write_pprof(f, &c);
	free(c.v);
	ms_top_destroy(t);
	return err;
}

struct write_arg {
	struct ms_cli_snap *snap;
	const struct ms_top_opts *m;
};

static int write_one(FILE *f, void *arg)
{
	struct write_arg *w = arg;

	return ms_snap_pprof(f, w->snap, w->m);
}

int ms_snap_pprof_write(const char *cmd, const char *path,
			struct ms_cli_snap *snap, const struct ms_top_opts *m)
{
	struct write_arg w = {snap, m};

	return ms_cli_write(cmd, path && strcmp(path, "-") ? path : NULL,
			    write_one, &w);
}
