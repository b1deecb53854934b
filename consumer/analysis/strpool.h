/* SPDX-License-Identifier: MIT */
/*
 * Interned strings: each distinct string is kept once, NUL-terminated, at
 * an address that stays valid until the pool is destroyed, with a dense
 * index in order of first sight. Symbols share function and file names
 * through it; the symbol store writes strings by that index.
 */
#ifndef MS_STRPOOL_H
#define MS_STRPOOL_H

#include <stddef.h>
#include <stdint.h>

struct ms_strpool;

/* Returns 0 or -ENOMEM. */
int ms_strpool_create(struct ms_strpool **out);
void ms_strpool_destroy(struct ms_strpool *sp);

/*
 * The pool's copy of the `len` bytes at `s` (which may hold no NUL), with
 * its index in *idx when idx is not NULL. NULL when out of memory.
 */
const char *ms_strpool_intern(struct ms_strpool *sp, const char *s, size_t len,
			      uint32_t *idx);

/* Strings so far; indexes run from 0 to this - 1. */
uint32_t ms_strpool_count(const struct ms_strpool *sp);

/* String `idx` and its length in *len (when len is not NULL). */
const char *ms_strpool_at(const struct ms_strpool *sp, uint32_t idx,
			  size_t *len);

/* Bytes held by the pool's strings, for memory accounting. */
size_t ms_strpool_bytes(const struct ms_strpool *sp);

#endif
