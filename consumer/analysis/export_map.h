/* SPDX-License-Identifier: MIT */
/*
 * A map from a key of three words to a dense id, as the export writers
 * number what they write once: (site, thread) cells, pprof's mappings,
 * locations and functions, speedscope's frames. Ids run from 0 in order
 * of first sight; memory grows with distinct keys.
 */
#ifndef MS_EXPORT_MAP_H
#define MS_EXPORT_MAP_H

#include <stddef.h>
#include <stdint.h>

struct ms_xmap_slot {
	uint64_t k[3];
	uint32_t id; /* id + 1; 0: empty */
};

struct ms_xmap {
	struct ms_xmap_slot *slots;
	unsigned bits;
	uint32_t n; /* keys */
};

/* An empty map (no allocation until the first key). */
static inline void ms_xmap_init(struct ms_xmap *m)
{
	*m = (struct ms_xmap){0};
}

void ms_xmap_fini(struct ms_xmap *m);

/*
 * The id of key (a, b, c), given the next id (m->n) when new, with *fresh
 * set to 1 then (else 0). Returns the id, or -ENOMEM.
 */
int64_t ms_xmap_id(struct ms_xmap *m, uint64_t a, uint64_t b, uint64_t c,
		   int *fresh);

#endif
