/* SPDX-License-Identifier: MIT */
/*
 * Folded stacks (export.h): the format of Brendan Gregg's stackcollapse
 * scripts, which flamegraph.pl reads, one line per distinct stack:
 * "root;caller;...;leaf N". flamegraph.pl takes the number after the last
 * space, so a frame may hold spaces but never ';' (the separator) or a
 * newline (the end of the record).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "grow.h"
#include "strpool.h"

struct ms_folded {
	struct ms_strpool *lines; /* the stacks, by index */
	uint64_t (*v)[2];	  /* their values */
	size_t nv, cap;
	char *buf; /* the line being built */
	size_t len, buf_cap;
};

int ms_folded_create(struct ms_folded **out)
{
	struct ms_folded *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t || ms_strpool_create(&t->lines) < 0) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void ms_folded_destroy(struct ms_folded *t)
{
	if (!t)
		return;
	ms_strpool_destroy(t->lines);
	free(t->v);
	free(t->buf);
	free(t);
}

static int put_char(struct ms_folded *t, char c)
{
	char *b = ms_grow(t->buf, &t->buf_cap, t->len + 1, 1);

	if (!b)
		return -ENOMEM;
	t->buf = b;
	b[t->len++] = c;
	return 0;
}

/* One frame's name, made safe for the format (see export.h). */
static int put_frame(struct ms_folded *t, const char *name)
{
	int r = 0;

	if (!*name)
		name = "[unknown]";
	for (const unsigned char *s = (const unsigned char *)name; *s && !r;
	     s++) {
		char c = (char)*s;

		if (c == ';')
			c = ':';
		else if (*s < 0x20 || *s == 0x7f)
			c = ' ';
		r = put_char(t, c);
	}
	return r;
}

/* The values of line idx, zero when new. NULL when out of memory. */
static uint64_t *values(struct ms_folded *t, uint32_t idx)
{
	if (idx >= t->nv) {
		uint64_t(*v)[2] =
			ms_grow(t->v, &t->cap, (size_t)idx + 1, sizeof(*v));

		if (!v)
			return NULL;
		t->v = v;
		memset(v + t->nv, 0, ((size_t)idx + 1 - t->nv) * sizeof(*v));
		t->nv = (size_t)idx + 1;
	}
	return t->v[idx];
}

int ms_folded_add(struct ms_folded *t, const struct ms_xframe *fr, size_t n,
		  uint64_t a, uint64_t b)
{
	uint64_t *v;
	uint32_t idx;
	int r = 0;

	t->len = 0;
	for (size_t i = n; i-- > 0 && !r;) {
		r = put_frame(t, fr[i].function);
		if (!r && i)
			r = put_char(t, ';');
	}
	if (r ||
	    !ms_strpool_intern(t->lines, t->buf ? t->buf : "", t->len, &idx) ||
	    !(v = values(t, idx)))
		return -ENOMEM;
	v[0] += a;
	v[1] += b;
	return 0;
}

static int by_line(const void *x, const void *y, void *arg)
{
	const struct ms_strpool *sp = arg;

	return strcmp(ms_strpool_at(sp, *(const uint32_t *)x, NULL),
		      ms_strpool_at(sp, *(const uint32_t *)y, NULL));
}

int ms_folded_write(FILE *f, const struct ms_folded *t, int columns)
{
	uint32_t n = ms_strpool_count(t->lines);
	uint32_t *order = malloc(((size_t)n + 1) * sizeof(*order));

	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), by_line, t->lines);
	for (uint32_t i = 0; i < n; i++) {
		const uint64_t *v = t->v[order[i]];

		if (!v[0] && (columns < 2 || !v[1]))
			continue;
		fputs(ms_strpool_at(t->lines, order[i], NULL), f);
		fprintf(f, " %" PRIu64, v[0]);
		if (columns > 1)
			fprintf(f, " %" PRIu64, v[1]);
		fputc('\n', f);
	}
	free(order);
	return ferror(f) ? -EIO : 0;
}

int ms_export_folded(FILE *f, struct ms_profile *p, enum ms_export_weight w)
{
	struct ms_folded *t;
	struct ms_strpool *names;
	struct ms_xstack st = {0};
	int r = ms_folded_create(&t);

	if (r < 0)
		return r;
	if (ms_strpool_create(&names) < 0) {
		ms_folded_destroy(t);
		return -ENOMEM;
	}
	for (uint32_t id = 0; id < p->sites.n && r == 0; id++) {
		struct ms_split_cell c;

		ms_split_of_site(ms_sites_get(&p->sites, id), id, &c);
		if (!ms_export_weight_of(&c, w))
			continue;
		r = ms_xstack_get(p, names, id, &st);
		if (r == 0)
			r = ms_folded_add(t, st.v, st.n,
					  ms_export_weight_of(&c, w), 0);
	}
	if (r == 0)
		r = ms_folded_write(f, t, 1);
	ms_xstack_fini(&st);
	ms_strpool_destroy(names);
	ms_folded_destroy(t);
	return r;
}
