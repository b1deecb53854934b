/* SPDX-License-Identifier: MIT */
/*
 * The analysis tests' view of symbols_fixture.c: run it and "record" what
 * the agent would (load bias, build id), and the offsets of its sites.
 * Also temporary directories and file copies for the tests' scenarios, and
 * the checks the tests share (cmocka).
 */
#ifndef MS_SYMFIX_H
#define MS_SYMFIX_H

#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

#define SYMFIX_SITES 8

struct symfix_site {
	char fn[128];	 /* the function the site is in */
	int line;	 /* the site's line */
	int caller_line; /* where it was inlined, 0 when not */
	uint64_t off;	 /* return address - 1 - load bias */
};

struct symfix {
	uint64_t bias;
	uint8_t bid[MS_BUILD_ID_MAX];
	size_t bid_len;
	struct symfix_site site[SYMFIX_SITES];
	int nsites;
};

/* Runs the program at `path` and reads its sites and its build id.
 * Returns 0 or -1 (with a message on stderr). */
int symfix_run(const char *path, struct symfix *fx);

/* The site in function `fn`; aborts when there is none. */
const struct symfix_site *symfix_site(const struct symfix *fx, const char *fn);

/* A new empty directory under /tmp; the caller frees the string. */
char *symfix_tmpdir(void);

/* Copies a file; creates the directories on the way. 0 or -1. */
int symfix_copy(const char *from, const char *to);

/* Removes a directory tree. */
void symfix_rmtree(const char *dir);

/* A new directory holding the fixture's debug file where a debug
 * directory has it: DIR/.build-id/xx/rest.debug. */
char *symfix_debug_tree(const struct symfix *fx);

/* cmocka checks of one frame, every field. */
void symfix_check_frame(const struct ms_frame *fr, const char *fn,
			const char *file, uint32_t line, int inlined,
			int source);

/* Every site of the fixture resolved with its exact function, file, line
 * and inlined chain, each frame from `source`. */
void symfix_check_names(const struct symfix *fx, struct ms_symbolizer *s,
			const struct ms_module *m, int source);

/* Every site resolved as "name+0xoffset", no file or line. */
void symfix_check_unnamed(const struct symfix *fx, struct ms_symbolizer *s,
			  const struct ms_module *m, const char *name);

#endif
