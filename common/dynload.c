/* SPDX-License-Identifier: MIT */
#include "dynload.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

int ms_dynload(const char *what, const char *const *names,
	       const char *const *syms, void **fns, size_t n)
{
	void *h = NULL;

	for (size_t i = 0; !h && names[i]; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr,
			"memscope: %s needs %s, which cannot be loaded: %s\n",
			what, names[0], dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		fns[i] = dlsym(h, syms[i]);
		if (!fns[i]) {
			fprintf(stderr, "memscope: %s: %s has no %s\n", what,
				names[0], syms[i]);
			return -ENOENT;
		}
	}
	return 0;
}
