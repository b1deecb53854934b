/* SPDX-License-Identifier: MIT */
/*
 * Linked into e2e_got: blocks allocated by a library's constructor, before
 * the program's main (and, depending on the initialisation order, before
 * the agent's constructor), freed by the program after the agent took its
 * wrappers out of the PLT.
 */
#include <stdlib.h>
#include <string.h>

#include "e2e_got_early.h"

void *ms_e2e_early[MS_E2E_EARLY];

__attribute__((constructor)) static void early_alloc(void)
{
	char *s;

	ms_e2e_early[0] = malloc(40);
	ms_e2e_early[1] = calloc(3, 100);
	s = malloc(10);
	if (s)
		memcpy(s, "early", 6);
	ms_e2e_early[2] = realloc(s, 5000);
	ms_e2e_early[3] = strdup("allocated inside libc");
}
