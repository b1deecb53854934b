/* SPDX-License-Identifier: MIT */
/*
 * `memscope export`: a profile (profile.h) in the formats other tools
 * read (docs/export.md):
 *   folded      "frame;frame;... N" lines, root first (flamegraph.pl)
 *   pprof       profile.proto, gzipped (go tool pprof)
 *   speedscope  its JSON file format, one profile per thread
 * Stacks run from each site's label outward (export_stack.h). Figures
 * from sampled archives are weighted estimates, as in the report.
 */
#ifndef MS_EXPORT_H
#define MS_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export_split.h"
#include "export_stack.h"
#include "profile.h"

/* What a stack's number is. */
enum ms_export_weight {
	MS_XW_BYTES,	 /* bytes allocated in the window */
	MS_XW_COUNT,	 /* allocations in the window */
	MS_XW_LEAKED,	 /* bytes allocated in the window, live at its end */
	MS_XW_PEAK,	 /* bytes live at the window's peak */
	MS_XW_TEMPORARY, /* allocations freed before the thread's next call */
};

/* "bytes", "count", "leaked", "peak", "temporary". 0 or -EINVAL. */
int ms_export_weight_parse(const char *s, enum ms_export_weight *w);
const char *ms_export_weight_name(enum ms_export_weight w);
/* 1: the weight is bytes; 0: a count. */
int ms_export_weight_is_bytes(enum ms_export_weight w);
/* The cell's figure for w, counts rounded (ms_q16_count()). */
uint64_t ms_export_weight_of(const struct ms_split_cell *c,
			     enum ms_export_weight w);

/*
 * Folded stacks: lines "frame;frame;... A" (or "... A B", the two columns
 * of flamegraph.pl's differential mode), root first, one line per
 * distinct stack with its values summed, sorted. A frame is its function
 * name with ';' made ':' and control characters (a newline would end the
 * line) made ' '; spaces are kept, and an empty name is "[unknown]".
 */
struct ms_folded;

/* Returns 0 or -ENOMEM. */
int ms_folded_create(struct ms_folded **out);
void ms_folded_destroy(struct ms_folded *t);
/* Adds (a, b) to the line of the stack fr[0..n), innermost first.
 * Returns 0 or -ENOMEM. */
int ms_folded_add(struct ms_folded *t, const struct ms_xframe *fr, size_t n,
		  uint64_t a, uint64_t b);
/* Writes the lines whose values are not all 0, with `columns` (1 or 2)
 * values each. Returns 0 or -EIO. */
int ms_folded_write(FILE *f, const struct ms_folded *t, int columns);

/* The writers. Return 0, or -EIO (the output) or -ENOMEM. */
int ms_export_folded(FILE *f, struct ms_profile *p, enum ms_export_weight w);
/* s: the profile's split (export_split.h), finished. */
int ms_export_speedscope(FILE *f, struct ms_profile *p,
			 const struct ms_split *s, enum ms_export_weight w);
/*
 * pprof takes its samples as cells (export_split.h): an archive's split
 * (ms_split_cells()), or the cells of a live snapshot, whose profile is a
 * live one (ms_profile_live(): no heap model, `dir` NULL).
 */
int ms_export_pprof(FILE *f, struct ms_profile *p,
		    const struct ms_split_cell *cells, size_t ncells);

#endif
