/* SPDX-License-Identifier: MIT */
/*
 * A module's code by address: its compile units, read once from their own
 * DW_AT_low_pc / high_pc / ranges, and in each unit, on first use, its
 * functions (DW_TAG_subprogram with code, also inside namespaces and
 * classes).
 *
 * libdw 0.188 finds the unit of an address through .debug_aranges only,
 * and clang (like other producers) does not write that section by
 * default: dwfl_module_addrdie() and dwfl_module_getsrc() then find
 * nothing in a clang-built binary. The units' DIEs always say what they
 * cover, so this index serves every producer the same way. Finding the
 * function by binary search, rather than walking every DIE of the unit as
 * dwarf_getscopes() does, makes a cold lookup cost the function's own
 * DIEs, not its unit's.
 */
#ifndef MS_CUINDEX_H
#define MS_CUINDEX_H

#include <elfutils/libdw.h>

struct ms_cuindex;

/* Reads the ranges of every unit of `dw` (a damaged unit is skipped).
 * Returns 0 or -ENOMEM. */
int ms_cuindex_build(Dwarf *dw, struct ms_cuindex **out);
void ms_cuindex_free(struct ms_cuindex *ci);

/*
 * The unit covering `addr` (a DWARF address) into *cu and the outermost
 * function covering it into *fn. Returns 0; -ENOENT when no unit covers
 * the address, -ESRCH when the unit has no function there; -ENOMEM.
 */
int ms_cuindex_function(struct ms_cuindex *ci, Dwarf_Addr addr, Dwarf_Die *cu,
			Dwarf_Die *fn);

#endif
