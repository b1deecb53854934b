/* SPDX-License-Identifier: MIT */
/* A site's stack from its label outward (export_stack.h). */
#include "export_stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "strpool.h"

struct walk {
	struct ms_profile *p;
	struct ms_strpool *pool;
	struct ms_xstack *st;
	const uint32_t *mods;
	int label;	/* expanded index of the first frame kept */
	int at;		/* expanded index of this frame */
	uint32_t depth; /* return address of this frame */
	int err;
};

static int intern(struct ms_strpool *pool, const char *s, uint32_t *idx)
{
	return ms_strpool_intern(pool, s, strlen(s), idx) ? 0 : -ENOMEM;
}

static int push(struct walk *w, const struct ms_pframe *f)
{
	struct ms_xstack *st = w->st;
	struct ms_xframe *x = ms_grow(st->v, &st->cap, st->n + 1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	st->v = x;
	x = &st->v[st->n];
	*x = (struct ms_xframe){.line = f->line,
				.inlined = f->inlined,
				.depth = w->depth,
				.mod = w->mods ? w->mods[w->depth]
					       : MS_SITE_NO_MODULE,
				.addr = f->addr,
				.offset = f->offset,
				.file_idx = MS_XSTACK_NOFILE};
	if (intern(w->pool, f->function, &x->fn) < 0 ||
	    (f->file && intern(w->pool, f->file, &x->file_idx) < 0))
		return -ENOMEM;
	st->n++;
	return 0;
}

static int frame_cb(const struct ms_pframe *f, void *arg)
{
	struct walk *w = arg;

	if (w->at >= w->label)
		w->err = push(w, f);
	else /* the allocator's frames of the label's address, so far */
		w->st->skipped = f->inlined ? w->st->skipped + 1 : 0;
	w->at++;
	if (!f->inlined)
		w->depth++;
	return w->err;
}

/* Strings by index, once the pool no longer grows for this stack. */
static void set_names(struct ms_strpool *pool, struct ms_xstack *st)
{
	for (size_t i = 0; i < st->n; i++) {
		struct ms_xframe *x = &st->v[i];

		x->function = ms_strpool_at(pool, x->fn, NULL);
		x->file = x->file_idx == MS_XSTACK_NOFILE
				  ? NULL
				  : ms_strpool_at(pool, x->file_idx, NULL);
	}
}

static int no_stack(struct walk *w)
{
	struct ms_pframe f = {MS_XSTACK_NONE, NULL, 0, 0, NULL, 0, 0};

	w->mods = NULL;
	return push(w, &f);
}

int ms_xstack_get(struct ms_profile *p, struct ms_strpool *pool, uint32_t id,
		  struct ms_xstack *st)
{
	const struct ms_site *s = ms_sites_get(&p->sites, id);
	struct walk w = {p, pool, st, ms_site_mods(&p->sites, s), 0, 0, 0, 0};
	struct ms_pframe label;
	int r;

	st->n = 0;
	st->skipped = 0;
	w.label = ms_profile_label(p, id, &label);
	if (w.label < 0)
		r = no_stack(&w);
	else
		r = ms_profile_frames(p, id, frame_cb, &w);
	if (r == 0 && w.err == 0 && st->n == 0)
		r = no_stack(&w);
	if (r < 0 || w.err < 0)
		return -ENOMEM;
	set_names(pool, st);
	return 0;
}

void ms_xstack_fini(struct ms_xstack *st)
{
	free(st->v);
	*st = (struct ms_xstack){0};
}
