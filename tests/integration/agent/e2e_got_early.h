/* SPDX-License-Identifier: MIT */
#ifndef MS_E2E_GOT_EARLY_H
#define MS_E2E_GOT_EARLY_H

#define MS_E2E_EARLY 4

/* Blocks from e2e_got_early.c's constructor: malloc, calloc, realloc'ed
 * "early", strdup. */
extern void *ms_e2e_early[MS_E2E_EARLY];

#endif
