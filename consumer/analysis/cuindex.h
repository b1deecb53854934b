/* SPDX-License-Identifier: MIT */
/*
 * A module's compile units by address, read once from the units' own
 * DW_AT_low_pc / high_pc / ranges.
 *
 * libdw 0.188 finds the unit of an address through .debug_aranges only,
 * and clang (like other producers) does not write that section by
 * default: dwfl_module_addrdie() and dwfl_module_getsrc() then find
 * nothing in a clang-built binary. The units' DIEs always say what they
 * cover, so this index serves every producer the same way.
 */
#ifndef MS_CUINDEX_H
#define MS_CUINDEX_H

#include <elfutils/libdw.h>

struct ms_cuindex;

/* Reads the ranges of every unit of `dw` (a damaged unit is skipped).
 * Returns 0 or -ENOMEM. */
int ms_cuindex_build(Dwarf *dw, struct ms_cuindex **out);
void ms_cuindex_free(struct ms_cuindex *ci);

/* The DIE of the unit that covers `addr` (a DWARF address) into *cu;
 * 0, or -ENOENT when no unit does. */
int ms_cuindex_find(const struct ms_cuindex *ci, Dwarf_Addr addr,
		    Dwarf_Die *cu);

#endif
