/* SPDX-License-Identifier: MIT */
/*
 * The symbol store: the resolved frames of a set of code locations in one
 * file, so an archive copied to a machine without its binaries still
 * reports names. docs/format.md ("Symbol store") specifies the file.
 *
 * Modules are keyed as in the module table: by build id when there is one,
 * else by path. A store module answers only for a module with the same
 * build id (or, both without one, the same path): never for a rebuilt file
 * at the same path.
 *
 * The reader treats the file as untrusted: any damage (bad magic, CRC,
 * length, index, order, trailing bytes) is -EBADMSG, never a crash or a
 * read outside the input.
 */
#ifndef MS_SYMSTORE_H
#define MS_SYMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "frametab.h"
#include "modmap.h"

/* Longest string (function or file name, path) a store holds; a writer
 * cuts longer ones. */
#define MS_SYMSTORE_STR_MAX (1u << 20)

struct ms_symstore;
struct ms_symstore_writer;

/* Returns 0 or -ENOMEM. */
int ms_symstore_writer_create(struct ms_symstore_writer **out);
void ms_symstore_writer_destroy(struct ms_symstore_writer *w);

/*
 * Adds the `n` (1..MS_FRAMES_MAX) frames of (mod, off), innermost first;
 * the strings are copied. A key added twice keeps its first frames.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int ms_symstore_add(struct ms_symstore_writer *w, const struct ms_module *mod,
		    uint64_t off, const struct ms_frame *fr, unsigned n);

/* The file's bytes (malloc'ed into *out, the caller frees them). Returns 0
 * or -ENOMEM. */
int ms_symstore_encode(struct ms_symstore_writer *w, uint8_t **out,
		       size_t *len);

/* The file at `path`, replaced atomically (a temporary file renamed over
 * it). Returns 0 or -errno. */
int ms_symstore_save(struct ms_symstore_writer *w, const char *path);

/*
 * Writes the body size and both CRCs into the header of the `len`-byte
 * store image at p, from its header size field: what a writer does last.
 * For tests and fuzzers that change an image and want it read past the
 * CRCs. Returns 0, or -EINVAL when the image is shorter than its header.
 */
int ms_symstore_seal(uint8_t *p, size_t len);

/*
 * Reads a store from `len` untrusted bytes (copied: `data` may go away) or
 * from a file. Returns 0; -EBADMSG when the bytes are not a whole, valid
 * store; -ENOTSUP for a major version this reader does not know; -ENOMEM;
 * for a file also -errno (open, read) or -EFBIG (over 1 GiB).
 */
int ms_symstore_parse(const void *data, size_t len, struct ms_symstore **out);
int ms_symstore_load(const char *path, struct ms_symstore **out);
void ms_symstore_free(struct ms_symstore *st);

/* The store's module for `mod` (same build id, or both none and the same
 * path); NULL when the store has none. */
const struct ms_module *ms_symstore_module(const struct ms_symstore *st,
					   const struct ms_module *mod);

/*
 * The frames stored for `off` in the store's module `smod` (from
 * ms_symstore_module()), source MS_SYM_STORE, valid while the store is:
 * their count with *frames set, or 0 when none are stored.
 */
unsigned ms_symstore_lookup(const struct ms_symstore *st,
			    const struct ms_module *smod, uint64_t off,
			    const struct ms_frame **frames);

/*
 * Calls fn for every stored key, by module then offset; stops at and
 * returns fn's first non-zero value. Returns 0 otherwise.
 */
int ms_symstore_foreach(const struct ms_symstore *st,
			int (*fn)(void *arg, const struct ms_module *mod,
				  uint64_t off, const struct ms_frame *fr,
				  unsigned n),
			void *arg);

/* Modules, keys and frames in the store. */
void ms_symstore_counts(const struct ms_symstore *st, uint32_t *modules,
			uint32_t *keys, uint32_t *frames);

#endif
