/* SPDX-License-Identifier: MIT */
/* Arrays of the daemon that grow by doubling up to a bound. */
#ifndef MS_BOUNDED_H
#define MS_BOUNDED_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Room for element `n` in the array at *(void **)arr of *cap elements of
 * `size` bytes: doubles the capacity (from 16) up to `max`. Returns 0, or
 * -1 when n is at the bound or memory runs out (the array is unchanged).
 */
static inline int ms_grow_bounded(void *arr, uint32_t n, uint32_t *cap,
				  size_t size, uint32_t max)
{
	uint32_t c = *cap ? *cap * 2 : 16;
	void *a;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -1;
	if (c > max)
		c = max;
	a = realloc(*(void **)arr, (size_t)c * size);
	if (!a)
		return -1;
	*(void **)arr = a;
	*cap = c;
	return 0;
}

#endif
