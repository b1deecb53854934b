/* SPDX-License-Identifier: MIT */
/*
 * `memscope diff`: how the allocations of one program changed between two
 * profiles (profile.h): two archives of the same program (a new build, a
 * new input), or two windows of one archive.
 *
 * Sites are matched by their stacks from the label outward
 * (export_stack.h), frame by frame on the function's name and the source
 * file's name (without its directories), never on addresses, lines or
 * build ids, which differ between two builds of the same code. Sites of
 * one side with the same such stack count as one. A frame without a name
 * ("module+0x...") matches only itself: the same offset in the same
 * module, so only the same build.
 *
 * Memory grows with the distinct stacks of both sides.
 */
#ifndef MS_DIFF_H
#define MS_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"

enum { MS_DIFF_BASE, MS_DIFF_NEW };

/* One stack, matched: the figures of each side (export_split.h cells,
 * summed over that side's matching sites). */
struct ms_diff_entry {
	struct ms_split_cell v[2];
	size_t frames_at; /* its frames in ms_diff.frames, innermost first */
	uint32_t nframes;
	uint32_t sites[2]; /* matching sites on each side */
	int shown;	   /* the side its frames are from */
};

struct ms_diff {
	struct ms_profile *side[2];
	struct ms_strpool *names; /* frames' strings */
	struct ms_strpool *keys;  /* stacks as matched: index = entry */
	struct ms_diff_entry *v;
	size_t n, cap;
	struct ms_xframe *frames; /* as the newer side has them */
	size_t nframes, frames_cap;
};

/* Matches the sites of `base` and `new`. Returns 0 or -ENOMEM. */
int ms_diff_build(struct ms_profile *base, struct ms_profile *new,
		  struct ms_diff **out);
void ms_diff_free(struct ms_diff *d);

struct ms_diff_opts {
	unsigned top;		 /* rows per text table */
	enum ms_export_weight w; /* the folded columns */
};

/*
 * The writers (docs/export.md, "diff"): text for a terminal, one JSON
 * object, or folded stacks with two columns ("stack base new", as
 * difffolded.pl writes them for flamegraph.pl's differential mode).
 * Return 0, or -EIO (the output) or -ENOMEM.
 */
int ms_diff_text(FILE *f, const struct ms_diff *d,
		 const struct ms_diff_opts *o);
int ms_diff_json(FILE *f, const struct ms_diff *d);
int ms_diff_folded(FILE *f, const struct ms_diff *d,
		   const struct ms_diff_opts *o);

/* The entry's change of `w`: new - base. */
int64_t ms_diff_delta(const struct ms_diff_entry *e, enum ms_export_weight w);

/*
 * Entry indexes with a nonzero change of `w`, growing (sign > 0: the
 * largest growth first) or shrinking (sign < 0: the largest fall first),
 * at most `max` into ids[]. Returns how many.
 */
size_t ms_diff_rank(const struct ms_diff *d, enum ms_export_weight w, int sign,
		    size_t *ids, size_t max);

#endif
