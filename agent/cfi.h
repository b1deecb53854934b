/* SPDX-License-Identifier: MIT */
/*
 * The unwind rule of one x86-64 code address, read from the .eh_frame of
 * the object that contains it (DWARF call frame information, as libunwind
 * and libgcc read it). Only the rules a plain frame needs are kept; every
 * other case is reported as MS_CFI_OTHER and left to libunwind.
 */
#ifndef MS_CFI_H
#define MS_CFI_H

#include <stdint.h>

enum {
	MS_CFI_OTHER = 0, /* no info, or not the plain frame: ask libunwind */
	MS_CFI_PLAIN = 1, /* CFA = reg + off, RA at CFA-8, RBP as below */
	MS_CFI_LAST = 2,  /* outermost frame: RA or RBP undefined */
};

#define MS_CFI_CFA_RBP	 1 /* the CFA is RBP + cfa_off (else RSP + cfa_off) */
#define MS_CFI_RBP_SAVED 2 /* the caller's RBP is at CFA + rbp_off */

struct ms_cfi_rule {
	int32_t cfa_off;
	int16_t rbp_off;
	uint8_t flags; /* MS_CFI_CFA_RBP | MS_CFI_RBP_SAVED */
	uint8_t kind;  /* MS_CFI_* */
};

/*
 * The rule in force at `pc` (a return address minus one, or the exact
 * address of an instruction). Fills *r; kind MS_CFI_OTHER when pc has no
 * unwind info or its frame is not a plain one. Finds the object with
 * _dl_find_object(): no lock, no allocation.
 */
void ms_cfi_rule(uintptr_t pc, struct ms_cfi_rule *r);

/*
 * The same from a CIE and FDE in memory (the FDE at `fde`, its CIE where
 * its CIE pointer says): for tests. Returns 0, or -ENOENT when pc is not
 * in the FDE's range, -EINVAL when the data cannot be read.
 */
int ms_cfi_rule_fde(const uint8_t *fde, uintptr_t pc, struct ms_cfi_rule *r);

#endif
