/* SPDX-License-Identifier: MIT */
/*
 * Taking the wrappers out of the call path of a process that will never be
 * tracked: PLT slots (R_X86_64_JUMP_SLOT) of the loaded objects that lead
 * to one of our exported functions are rewritten to lead straight to the
 * function that wrapper would call. See docs/agent.md ("No consumer").
 */
#ifndef MS_GOTPATCH_H
#define MS_GOTPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

/* One exported symbol: the wrapper `from` and where it leads, `to`. */
struct ms_got_redirect {
	const char *name;
	uintptr_t from;
	uintptr_t to;
};

#define MS_GOT_LAZY 1 /* also bind unresolved (lazy) slots, by name */
#define MS_GOT_MAX  9 /* entries ms_got_bypass_table() may fill */

/*
 * For every loaded object except the one containing `self`: each
 * JUMP_SLOT entry whose symbol is r[i].name and whose value is exactly
 * r[i].from becomes r[i].to, one aligned 8-byte store (a concurrent call
 * takes either path; both are the same function in effect). A RELRO
 * page is written only once ld.so has made it read-only (an object still
 * being loaded is left alone): writable for the store, read-only again;
 * if that fails the entry is left alone. With MS_GOT_LAZY, an unresolved slot
 * of an object of the base namespace (value inside its own code, symbol
 * undefined there) is set to r[i].to when the global lookup of the name gives
 * r[i].from, i.e. when the dynamic linker would have bound it to the
 * wrapper. GLOB_DAT entries (a function's address, which the program may
 * compare) and every other value are left alone.
 * Returns the number of entries rewritten, or -EINVAL if n > MS_GOT_MAX.
 * Must not be called while holding a dynamic-linker lock.
 */
int ms_got_redirect(const struct ms_got_redirect *r, size_t n, uintptr_t self,
		    int flags) MS_HIDDEN;

/*
 * The malloc family's table for a process that stays untracked: each
 * wrapper of `wrap` to its ms_real function. free and realloc only when
 * the bootstrap arena never handed out a block (an arena block must reach
 * the wrapper, which never passes it to the real free/realloc); the
 * allocating functions in any case. `out` has room for MS_GOT_MAX.
 * Returns the number of entries (0 if ms_real is not resolved).
 */
size_t ms_got_bypass_table(const struct ms_real_fns *wrap,
			   struct ms_got_redirect *out) MS_HIDDEN;

#endif
