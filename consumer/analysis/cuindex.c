/* SPDX-License-Identifier: MIT */
#include "cuindex.h"

#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>

#include "dwlibs.h"
#include "grow.h"

/* Address ranges sorted by start, each with the DIE that covers it. */
struct range {
	Dwarf_Addr start, end;
	Dwarf_Addr max_end; /* of this range and all before it */
	Dwarf_Die die;
	size_t unit; /* units' ranges: the unit's index */
};

struct ranges {
	struct range *r;
	size_t n, cap;
};

struct unit {
	Dwarf_Die cu;
	int read; /* fns is what there is */
	struct ranges fns;
};

struct ms_cuindex {
	struct unit *units;
	size_t nunits, cap;
	struct ranges cus;
};

/* Adds every range the DIE covers. */
static int add_die(struct ranges *rs, Dwarf_Die *die, size_t unit)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		struct range *r;

		if (start >= end)
			continue;
		r = ms_grow(rs->r, &rs->cap, rs->n + 1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->r[rs->n++] = (struct range){start, end, 0, *die, unit};
	}
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static void sort_ranges(struct ranges *rs)
{
	if (rs->n > 1) /* r is NULL without ranges */
		qsort(rs->r, rs->n, sizeof(*rs->r), by_start);
	for (size_t i = 0; i < rs->n; i++)
		rs->r[i].max_end = i && rs->r[i - 1].max_end > rs->r[i].end
					   ? rs->r[i - 1].max_end
					   : rs->r[i].end;
}

/* A range covering addr; NULL when none does. */
static const struct range *find(const struct ranges *rs, Dwarf_Addr addr)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) { /* the first range starting after addr */
		size_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid].start > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* ranges rarely overlap; max_end ends the walk back at once when
	 * they do not */
	for (size_t i = lo; i-- > 0 && rs->r[i].max_end > addr;)
		if (rs->r[i].end > addr)
			return &rs->r[i];
	return NULL;
}

static int add_unit(struct ms_cuindex *ci, Dwarf_Die *cu)
{
	struct unit *u =
		ms_grow(ci->units, &ci->cap, ci->nunits + 1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	ci->units = u;
	ci->units[ci->nunits] = (struct unit){.cu = *cu};
	return add_die(&ci->cus, cu, ci->nunits++);
}

int ms_cuindex_build(Dwarf *dw, struct ms_cuindex **out)
{
	struct ms_cuindex *ci = calloc(1, sizeof(*ci));
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	Dwarf_Half version;
	uint8_t type;

	if (!ci)
		return -ENOMEM;
	while (dw && dwarf_get_units(dw, cu, &cu, &version, &type, &cudie,
				     NULL) == 0) {
		if (type != DW_UT_compile && type != DW_UT_partial)
			continue;
		if (add_unit(ci, &cudie)) {
			ms_cuindex_free(ci);
			return -ENOMEM;
		}
	}
	sort_ranges(&ci->cus);
	*out = ci;
	return 0;
}

void ms_cuindex_free(struct ms_cuindex *ci)
{
	if (!ci)
		return;
	for (size_t i = 0; i < ci->nunits; i++)
		free(ci->units[i].fns.r);
	free(ci->units);
	free(ci->cus.r);
	free(ci);
}

/* The functions among the children of `parent`, and in the namespaces and
 * types there (C++ writes member functions inside them). */
static int add_functions(struct ranges *fns, Dwarf_Die *parent, int depth)
{
	Dwarf_Die d;

	if (depth > 16 || dwarf_child(parent, &d) != 0)
		return 0;
	do {
		switch (dwarf_tag(&d)) {
		case DW_TAG_subprogram:
			if (add_die(fns, &d, 0))
				return -ENOMEM;
			break;
		case DW_TAG_namespace:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_module:
			if (add_functions(fns, &d, depth + 1))
				return -ENOMEM;
			break;
		}
	} while (dwarf_siblingof(&d, &d) == 0);
	return 0;
}

int ms_cuindex_function(struct ms_cuindex *ci, Dwarf_Addr addr, Dwarf_Die *cu,
			Dwarf_Die *fn)
{
	const struct range *r = find(&ci->cus, addr);
	struct unit *u;

	if (!r)
		return -ENOENT;
	u = &ci->units[r->unit];
	if (!u->read) {
		if (add_functions(&u->fns, &u->cu, 0)) {
			u->fns.n = 0; /* tried again next time */
			return -ENOMEM;
		}
		sort_ranges(&u->fns);
		u->read = 1;
	}
	*cu = u->cu;
	r = find(&u->fns, addr);
	if (!r)
		return -ESRCH;
	*fn = r->die;
	return 0;
}
