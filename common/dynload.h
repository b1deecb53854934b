/* SPDX-License-Identifier: MIT */
/*
 * Libraries loaded with dlopen() when a command first needs them, not
 * linked: every library linked is loaded and relocated at the start of
 * every memscope command, `record` included, whether it is used or not.
 * A user keeps a table of function pointers (declared with __typeof__ of
 * the library's own prototypes) and fills it with ms_dynload().
 */
#ifndef MS_DYNLOAD_H
#define MS_DYNLOAD_H

#include <stddef.h>

/*
 * Opens the first of the NULL-terminated `names` that loads and fills
 * `fns[0..n)` from the symbols `syms` (looked up in that library and the
 * ones it depends on). Returns 0, or -ENOENT after one line on stderr:
 * "memscope: WHAT needs NAME, which cannot be loaded: why". Not
 * thread-safe: callers serialise (pthread_once).
 */
int ms_dynload(const char *what, const char *const *names,
	       const char *const *syms, void **fns, size_t n);

#endif
