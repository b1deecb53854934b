/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer: (module, offset) -> source frames, with elfutils libdwfl.
 * This room is the only user of libdw in the project. docs/symbols.md says
 * where names come from; in short, for one offset, first that answers:
 *
 *   1. the module's file at its recorded path, used only when its build id
 *      is the recorded one (both absent counts as equal): DWARF from the
 *      file or a separate debug file (found by build id in the debug
 *      directories, by .gnu_debuglink, or through debuginfod when
 *      DEBUGINFOD_URLS is set), giving inlined frames, function, file and
 *      line; else its ELF symbol table, giving the function alone;
 *   2. the symbol store, when one is given (symstore.h);
 *   3. nothing: one frame named "name+0xoffset", name the basename of the
 *      recorded path. A missing file or one with another build id never
 *      gives a name.
 *
 * Offsets are from the module's load bias (modmap.h). The symbolizer
 * resolves the exact offset it is given: for a return address taken from a
 * stack, pass the offset minus 1 so the call's own line comes back.
 *
 * Answers are memoised per (module, offset): a repeated lookup is one hash
 * probe. The returned frames stay valid until ms_sym_destroy(). A
 * symbolizer serves the modules of one ms_modtab (its memo is keyed by
 * module id) and one thread at a time.
 */
#ifndef MS_SYMBOLS_H
#define MS_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "frametab.h"
#include "modmap.h"

struct ms_symbolizer;
struct ms_symstore;

struct ms_sym_opts {
	/*
	 * Where separate debug files are looked for, ':'-separated as
	 * elfutils' debuginfo_path: an absolute directory D is searched as
	 * D/.build-id/xx/rest.debug and by debuglink name; a relative one
	 * beside the module. NULL: elfutils' default ":.debug:/usr/lib/debug".
	 */
	const char *debug_dirs;
	/* Asked when the module's file gives no name (missing, another
	 * build id, stripped); may be NULL. It must outlive the
	 * symbolizer. */
	const struct ms_symstore *store;
};

struct ms_sym_stats {
	uint64_t lookups;	/* ms_sym_resolve() calls */
	uint64_t memo_hits;	/* answered from the memo */
	uint64_t modules_open;	/* module files in use */
	uint64_t modules_unfit; /* module files missing, unreadable, or of
				   another build id */
};

/* `opts` may be NULL (defaults). Returns 0 or -ENOMEM. */
int ms_sym_create(const struct ms_sym_opts *opts, struct ms_symbolizer **out);
void ms_sym_destroy(struct ms_symbolizer *s);

/*
 * The frames for `off` in `mod`: innermost first, every frame but the last
 * inlined into the next. Returns their count (>= 1) with *frames set, or
 * -ENOMEM.
 */
int ms_sym_resolve(struct ms_symbolizer *s, const struct ms_module *mod,
		   uint64_t off, const struct ms_frame **frames);

/*
 * Whether the module's file is used: 0 yes; -ENOENT (or another -errno)
 * it cannot be opened; -ESTALE its build id is not the recorded one;
 * -ENOEXEC it is not an ELF file elfutils can read.
 */
int ms_sym_module_state(struct ms_symbolizer *s, const struct ms_module *mod);

void ms_sym_get_stats(const struct ms_symbolizer *s, struct ms_sym_stats *st);

/* A code location to keep in a symbol store. */
struct ms_symkey {
	const struct ms_module *mod;
	uint64_t off;
};

/*
 * Resolves the `n` keys and writes those that get a name (from any source)
 * to a symbol store file at `path`, replaced atomically. Returns 0 or
 * -errno.
 */
int ms_sym_write_store(struct ms_symbolizer *s, const struct ms_symkey *keys,
		       size_t n, const char *path);

/*
 * The GNU build id of the ELF file at `path` into buf (cap bytes). Returns
 * its length (0 when the file has none), -errno when the file cannot be
 * opened, -ENOEXEC when it is not ELF, or -ENOBUFS.
 */
ssize_t ms_sym_file_build_id(const char *path, uint8_t *buf, size_t cap);

#endif
