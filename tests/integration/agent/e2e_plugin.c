/* SPDX-License-Identifier: MIT */
/* The library e2e_dlopen loads: it allocates when loaded and when used. */
#include <stdlib.h>

static void *at_load[3];

__attribute__((constructor)) static void plugin_init(void)
{
	for (int i = 0; i < 3; i++)
		at_load[i] = malloc(100);
}

__attribute__((destructor)) static void plugin_fini(void)
{
	for (int i = 0; i < 3; i++)
		free(at_load[i]);
}

void *e2e_plugin_work(int n);

/* n allocations, n - 1 frees; the last block is returned. */
void *e2e_plugin_work(int n)
{
	void *p = NULL;

	for (int i = 0; i < n; i++) {
		free(p);
		p = malloc((size_t)i + 1);
	}
	return p;
}
