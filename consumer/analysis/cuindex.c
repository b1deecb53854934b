/* SPDX-License-Identifier: MIT */
#include "cuindex.h"

#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>

struct cu_range {
	Dwarf_Addr start, end;
	Dwarf_Addr max_end; /* of this range and all before it */
	Dwarf_Die cu;
};

struct ms_cuindex {
	struct cu_range *r; /* by start */
	size_t n, cap;
};

static int add(struct ms_cuindex *ci, Dwarf_Addr start, Dwarf_Addr end,
	       const Dwarf_Die *cu)
{
	if (ci->n == ci->cap) {
		size_t cap = ci->cap ? 2 * ci->cap : 64;
		struct cu_range *r = realloc(ci->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		ci->r = r;
		ci->cap = cap;
	}
	ci->r[ci->n++] = (struct cu_range){start, end, 0, *cu};
	return 0;
}

static int add_unit(struct ms_cuindex *ci, Dwarf_Die *cu)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(cu, off, &base, &start, &end)) > 0)
		if (start < end && add(ci, start, end, cu))
			return -ENOMEM;
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
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
	if (ci->n > 1) /* r is NULL without units */
		qsort(ci->r, ci->n, sizeof(*ci->r), by_start);
	for (size_t i = 0; i < ci->n; i++)
		ci->r[i].max_end = i && ci->r[i - 1].max_end > ci->r[i].end
					   ? ci->r[i - 1].max_end
					   : ci->r[i].end;
	*out = ci;
	return 0;
}

void ms_cuindex_free(struct ms_cuindex *ci)
{
	if (!ci)
		return;
	free(ci->r);
	free(ci);
}

int ms_cuindex_find(const struct ms_cuindex *ci, Dwarf_Addr addr, Dwarf_Die *cu)
{
	size_t lo = 0, hi = ci->n;

	while (lo < hi) { /* the first range starting after addr */
		size_t mid = lo + (hi - lo) / 2;

		if (ci->r[mid].start > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* ranges rarely overlap; max_end stops the walk back at once when
	 * they do not */
	for (size_t i = lo; i-- > 0 && ci->r[i].max_end > addr;) {
		if (ci->r[i].end > addr) {
			*cu = ci->r[i].cu;
			return 0;
		}
	}
	return -ENOENT;
}
