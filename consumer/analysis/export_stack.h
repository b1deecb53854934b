/* SPDX-License-Identifier: MIT */
/*
 * A site's stack as the export writers and the diff use it: symbolized
 * (ms_profile_frames(), inlined frames expanded), innermost first, from
 * the site's label outward. The label is the first frame outside the
 * allocator (ms_profile_label()), as the report shows sites: malloc,
 * operator new and their like would otherwise be every stack's leaf and
 * the top function of every profile. A site with no frame gets one frame
 * named "[no stack]".
 *
 * Names are interned in a string pool (strpool.h) given by the caller, so
 * they stay valid, compare by index, and pprof's string table is the pool.
 */
#ifndef MS_EXPORT_STACK_H
#define MS_EXPORT_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct ms_strpool;

#define MS_XSTACK_NONE	 "[no stack]"
#define MS_XSTACK_NOFILE UINT32_MAX

struct ms_xframe {
	const char *function;  /* never NULL: a name or "module+0x..." */
	const char *file;      /* NULL when unknown */
	uint32_t fn, file_idx; /* pool indexes; file_idx MS_XSTACK_NOFILE */
	uint32_t line;	       /* 0 when unknown */
	int inlined;	       /* inlined into the next frame */
	uint32_t depth;	       /* the site's return address it belongs to,
				  0 the innermost */
	uint32_t mod;	       /* module id, or MS_SITE_NO_MODULE */
	uint64_t addr, offset; /* the return address, its module offset */
};

struct ms_xstack {
	struct ms_xframe *v;
	size_t n, cap;
	/* frames of v[0]'s return address that lie inside the allocator,
	 * left out (an allocator function inlined into its caller) */
	unsigned skipped;
};

/*
 * Fills *st (reused from call to call; zero it before the first) with the
 * stack of site `id`. Returns 0 or -ENOMEM.
 */
int ms_xstack_get(struct ms_profile *p, struct ms_strpool *pool, uint32_t id,
		  struct ms_xstack *st);
void ms_xstack_fini(struct ms_xstack *st);

#endif
