/* SPDX-License-Identifier: MIT */
/*
 * Arrays that grow by doubling, as every table of the analysis room keeps
 * one (modules, ranges, units, strings, keys, frames).
 */
#ifndef MS_GROW_H
#define MS_GROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * `p` (an array of *cap elements of `size` bytes) with room for `need`:
 * p itself when it has it, else reallocated to twice its capacity (at
 * least 16) or more, *cap updated. NULL when out of memory: p and *cap
 * are then unchanged.
 */
static inline void *ms_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (n < need && n <= SIZE_MAX / 2)
		n *= 2;
	if (n < need || n > SIZE_MAX / size)
		return NULL;
	p = realloc(p, n * size);
	if (p)
		*cap = n;
	return p;
}

#endif
