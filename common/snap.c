/* SPDX-License-Identifier: MIT */
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rd {
	const uint8_t *p, *end;
};

/* The next `n` structs of `size` bytes, or NULL when they do not fit. */
static const void *take(struct rd *r, uint64_t n, size_t size)
{
	const uint8_t *p = r->p;

	if (n > (uint64_t)(r->end - r->p) / size)
		return NULL;
	r->p += n * size;
	return p;
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

static int parse_sites(struct rd *r, struct ms_snap_proc_v *pv)
{
	uint32_t n = pv->p->nsites;

	pv->sites = calloc(n ? n : 1, sizeof(*pv->sites));
	if (!pv->sites)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct ms_snap_site *s = take(r, 1, sizeof(*s));

		if (!s || s->nhist > MS_SNAP_HIST)
			return -EBADMSG;
		pv->sites[i].s = s;
		pv->sites[i].frames = take(r, s->nframes, sizeof(uint64_t));
		if (!pv->sites[i].frames)
			return -EBADMSG;
	}
	return 0;
}

static int parse_mods(struct rd *r, struct ms_snap_proc_v *pv)
{
	uint32_t n = pv->p->nmods;

	pv->mods = calloc(n ? n : 1, sizeof(*pv->mods));
	if (!pv->mods)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const struct ms_snap_mod *m = take(r, 1, sizeof(*m));

		if (!m || m->build_id_len > sizeof(m->build_id) ||
		    m->path_len > 4096)
			return -EBADMSG;
		pv->mods[i].m = m;
		pv->mods[i].path = take(r, (m->path_len + 7u) / 8, 8);
		if (!pv->mods[i].path)
			return -EBADMSG;
	}
	return 0;
}

static int parse_proc(struct rd *r, struct ms_snap_proc_v *pv)
{
	int err;

	pv->p = take(r, 1, sizeof(*pv->p));
	if (!pv->p || !terminated(pv->p->exe, sizeof(pv->p->exe)))
		return -EBADMSG;
	pv->threads = take(r, pv->p->nthreads, sizeof(*pv->threads));
	if (!pv->threads)
		return -EBADMSG;
	for (uint32_t i = 0; i < pv->p->nthreads; i++)
		if (!terminated(pv->threads[i].name,
				sizeof(pv->threads[i].name)))
			return -EBADMSG;
	err = parse_sites(r, pv);
	return err ? err : parse_mods(r, pv);
}

int ms_snap_parse(const uint8_t *buf, size_t len, struct ms_snap *out)
{
	struct rd r = {buf, buf + len};
	int err = 0;

	memset(out, 0, sizeof(*out));
	if ((uintptr_t)buf % 8)
		return -EINVAL;
	out->h = take(&r, 1, sizeof(*out->h));
	if (!out->h || out->h->magic != MS_SNAP_MAGIC ||
	    out->h->version != MS_SNAP_VERSION ||
	    out->h->hdr_size != sizeof(*out->h) ||
	    out->h->nhist != MS_SNAP_HIST ||
	    out->h->nprocs > len / sizeof(struct ms_snap_proc))
		return -EBADMSG;
	out->procs = calloc(out->h->nprocs + 1u, sizeof(*out->procs));
	out->nprocs = out->procs ? out->h->nprocs : 0;
	if (!out->procs)
		return -ENOMEM;
	for (uint32_t i = 0; i < out->h->nprocs && !err; i++)
		err = parse_proc(&r, &out->procs[i]);
	if (!err && r.p != r.end)
		err = -EBADMSG;
	if (err)
		ms_snap_free(out);
	return err;
}

void ms_snap_free(struct ms_snap *s)
{
	if (s->procs)
		for (uint32_t i = 0; i < s->nprocs; i++) {
			free(s->procs[i].sites);
			free(s->procs[i].mods);
		}
	free(s->procs);
	s->procs = NULL;
}
