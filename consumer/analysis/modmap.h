/* SPDX-License-Identifier: MIT */
/*
 * Modules and module maps.
 *
 * A module (struct ms_module) is one object file as recorded by MODULE_LOAD:
 * its build id and path. The module table (struct ms_modtab) gives each
 * distinct module one stable handle for the whole analysis, across
 * processes: two loads with the same build id are the same module wherever
 * they were loaded and whatever path they came from; a load without a build
 * id is known by its path. The symbolizer keys its memo by that handle.
 *
 * A module map (struct ms_modmap) is one process's address space as the
 * MODULE_LOAD / MODULE_UNLOAD records change it: fed in event order, it
 * answers which module holds an address at that point of the stream and
 * at which offset from the module's load base (the load bias, so the
 * offset is the address the ELF file's symbols and DWARF use).
 *
 * A load covers [base, base + size). A load that overlaps earlier ones
 * takes the part it covers from them: the address space holds one object at
 * a time, so an overlap means the earlier object went away without an
 * UNLOAD the agent could see. An unload ends every range loaded at that
 * base. Lookups are a binary search, O(log n) in the ranges mapped.
 *
 * Neither structure locks; one thread uses each at a time.
 */
#ifndef MS_MODMAP_H
#define MS_MODMAP_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct ms_module {
	uint32_t id;	       /* dense, from 0, in order of first sight */
	uint32_t build_id_len; /* 0: none recorded */
	uint8_t build_id[MS_BUILD_ID_MAX];
	const char *path; /* the first path seen, cut at a NUL byte */
	const char *name; /* basename of path, for "name+0xoffset" */
};

struct ms_modtab;
struct ms_modmap;

/* Returns 0 or -ENOMEM. */
int ms_modtab_create(struct ms_modtab **out);
void ms_modtab_destroy(struct ms_modtab *t);

/*
 * The module with this build id (`bid_len` > 0) or, without one, this
 * path; created at first sight. `bid_len` beyond MS_BUILD_ID_MAX is cut.
 * Returns 0 or -ENOMEM.
 */
int ms_modtab_get(struct ms_modtab *t, const uint8_t *bid, size_t bid_len,
		  const char *path, size_t path_len,
		  const struct ms_module **out);

/* The same without creating it: NULL when the table has no such module. */
const struct ms_module *ms_modtab_find(const struct ms_modtab *t,
				       const uint8_t *bid, size_t bid_len,
				       const char *path, size_t path_len);

/* Modules so far; ids run from 0 to this - 1. */
uint32_t ms_modtab_count(const struct ms_modtab *t);
const struct ms_module *ms_modtab_at(const struct ms_modtab *t, uint32_t id);

/* A process's map, its modules kept in `t`. Returns 0 or -ENOMEM. */
int ms_modmap_create(struct ms_modtab *t, struct ms_modmap **out);
void ms_modmap_destroy(struct ms_modmap *m);

/*
 * MODULE_LOAD: [base, base + size) holds the module from now on. Returns
 * 0, -EINVAL when size is 0 or the range passes 2^64, or -ENOMEM (the map
 * is then as before).
 */
int ms_modmap_load(struct ms_modmap *m, uint64_t base, uint64_t size,
		   const uint8_t *bid, size_t bid_len, const char *path,
		   size_t path_len);

/* MODULE_UNLOAD: every range loaded at `base` goes. 0 or -ENOENT. */
int ms_modmap_unload(struct ms_modmap *m, uint64_t base);

/*
 * A decoded MODULE_LOAD or MODULE_UNLOAD record applied as above; other
 * records are ignored (0).
 */
int ms_modmap_apply(struct ms_modmap *m, const struct ms_event *ev);

/*
 * The module holding `addr` now, with *off = addr - its load base; NULL
 * when no module does.
 */
const struct ms_module *ms_modmap_lookup(const struct ms_modmap *m,
					 uint64_t addr, uint64_t *off);

/* Ranges mapped now (a load split by a later one counts twice). */
size_t ms_modmap_ranges(const struct ms_modmap *m);

#endif
