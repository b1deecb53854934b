/* SPDX-License-Identifier: MIT */
/*
 * Source frames, and a table of them keyed by (module id, offset).
 *
 * One code address gives a run of frames: the innermost inlined function
 * first, each inlined into the next, the real (out-of-line) function last.
 * The symbolizer memoises its answers in a frame table and the symbol store
 * indexes its file with one. Frames are stored in blocks that never move,
 * so a run found stays valid until the table is destroyed.
 */
#ifndef MS_FRAMETAB_H
#define MS_FRAMETAB_H

#include <stddef.h>
#include <stdint.h>

/* Where a frame's name came from (docs/symbols.md). */
enum ms_sym_source {
	MS_SYM_NONE = 0,   /* no name: function is "module+0xoffset" */
	MS_SYM_DWARF = 1,  /* debug info: name, file:line, inlined frames */
	MS_SYM_SYMTAB = 2, /* ELF symbol table: name only */
	MS_SYM_STORE = 3,  /* a symbol store (symstore.h) */
};

struct ms_frame {
	const char *function; /* never NULL; demangled */
	const char *file;     /* NULL when unknown */
	uint32_t line;	      /* 0 when unknown */
	uint8_t inlined;      /* 1: inlined into the next frame of the run */
	uint8_t source;	      /* enum ms_sym_source */
};

/* Inlined frames kept for one address; deeper chains lose middle frames. */
#define MS_FRAMES_MAX 64

struct ms_frametab {
	struct ms_ft_slot *slots;
	unsigned bits;
	size_t used;
	struct ms_ft_block *blocks;
	size_t frames;
};

/* Returns 0 or -ENOMEM. */
int ms_frametab_init(struct ms_frametab *t);
void ms_frametab_fini(struct ms_frametab *t);

/*
 * The run stored for (mod, off): its length (>= 1) with *frames set, or 0
 * when there is none.
 */
unsigned ms_frametab_find(const struct ms_frametab *t, uint32_t mod,
			  uint64_t off, const struct ms_frame **frames);

/*
 * Stores a copy of `n` (1..MS_FRAMES_MAX) frames for (mod, off), which must
 * not be stored yet; the strings are not copied. Sets *frames to the copy.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int ms_frametab_add(struct ms_frametab *t, uint32_t mod, uint64_t off,
		    const struct ms_frame *fr, unsigned n,
		    const struct ms_frame **frames);

/* Keys stored. */
size_t ms_frametab_count(const struct ms_frametab *t);

#endif
