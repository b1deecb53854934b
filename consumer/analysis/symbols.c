/* SPDX-License-Identifier: MIT */
#include "symbols.h"

#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuindex.h"
#include "demangle.h"
#include "dwlibs.h"
#include "fileio.h"
#include "grow.h"
#include "strpool.h"
#include "symstore.h"

/* Inlined instances followed into one function. */
#define MS_INLINE_DEPTH_MAX 256

/* What the symbolizer knows of one module (by module id). */
struct symmod {
	int state; /* 0 not tried yet, 1 open, else -errno */
	Dwfl *dwfl;
	Dwfl_Module *dm;
	int dwarf_read;		/* cus is what there is */
	Dwarf_Addr dwbias;	/* module address - DWARF address */
	struct ms_cuindex *cus; /* NULL: no DWARF */
	int store_looked;
	const struct ms_module *store_mod; /* the store's, NULL: none */
};

struct ms_symbolizer {
	Dwfl_Callbacks cb;
	char *debug_path; /* cb.debuginfo_path points here */
	const struct ms_symstore *store;
	struct ms_frametab memo;
	struct ms_strpool *strings;
	struct symmod *mods;
	size_t nmods;
	struct ms_sym_stats st;
};

/* A source position: where a frame is, or where an inlined call was. */
struct pos {
	const char *file;
	uint32_t line;
};

int ms_sym_create(const struct ms_sym_opts *opts, struct ms_symbolizer **out)
{
	struct ms_symbolizer *s;

	if (ms_dw_load())
		return -ENOENT;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* Modules are reported one per Dwfl at bias 0, so libdwfl's
	 * addresses are our offsets; the standard callbacks find separate
	 * debug files by build id, debuglink and (0.188: libdebuginfod,
	 * loaded on first use) debuginfod. */
	s->cb.find_elf = dwfl_build_id_find_elf;
	s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
	s->cb.section_address = dwfl_offline_section_address;
	s->cb.debuginfo_path = &s->debug_path;
	if (opts && opts->debug_dirs) {
		s->debug_path = strdup(opts->debug_dirs);
		if (!s->debug_path)
			goto out_free;
	}
	s->store = opts ? opts->store : NULL;
	if (ms_strpool_create(&s->strings))
		goto out_free;
	if (ms_frametab_init(&s->memo))
		goto out_free;
	*out = s;
	return 0;
out_free:
	ms_sym_destroy(s);
	return -ENOMEM;
}

void ms_sym_destroy(struct ms_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nmods; i++) {
		ms_cuindex_free(s->mods[i].cus);
		if (s->mods[i].dwfl)
			dwfl_end(s->mods[i].dwfl);
	}
	free(s->mods);
	ms_frametab_fini(&s->memo);
	ms_strpool_destroy(s->strings);
	free(s->debug_path);
	free(s);
}

/* The module's file reported to a Dwfl of its own, if it is the one that
 * was recorded. */
static int open_module(struct ms_symbolizer *s, struct symmod *sm,
		       const struct ms_module *mod)
{
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	int len, fd;

	/* The path comes from the archive: a FIFO there must not hang us. */
	fd = ms_open_regular(mod->path);
	if (fd < 0)
		return fd;
	sm->dwfl = dwfl_begin(&s->cb);
	if (!sm->dwfl) {
		close(fd);
		return -ENOMEM;
	}
	dwfl_report_begin(sm->dwfl);
	/* base 0 added to the p_vaddr of an ET_DYN: bias 0 (an ET_EXEC's is
	 * 0 anyway); libdwfl owns fd once it succeeds */
	sm->dm = dwfl_report_elf(sm->dwfl, mod->name, mod->path, fd, 0, true);
	if (!sm->dm)
		close(fd);
	if (dwfl_report_end(sm->dwfl, NULL, NULL) || !sm->dm)
		return -ENOEXEC;
	len = dwfl_module_build_id(sm->dm, &bits, &vaddr);
	if (len < 0)
		len = 0;
	if (len > MS_BUILD_ID_MAX)
		len = MS_BUILD_ID_MAX; /* as the agent records it */
	if ((uint32_t)len != mod->build_id_len ||
	    (len && memcmp(bits, mod->build_id, (size_t)len)))
		return -ESTALE;
	return 0;
}

/* The module's state, its file opened on first use; NULL: no memory. */
static struct symmod *symmod_of(struct ms_symbolizer *s,
				const struct ms_module *mod)
{
	struct symmod *sm;

	if (mod->id >= s->nmods) {
		size_t had = s->nmods;

		sm = ms_grow(s->mods, &s->nmods, (size_t)mod->id + 1,
			     sizeof(*sm));
		if (!sm)
			return NULL;
		memset(sm + had, 0, (s->nmods - had) * sizeof(*sm));
		s->mods = sm;
	}
	sm = &s->mods[mod->id];
	if (sm->state == 0) {
		sm->state = open_module(s, sm, mod);
		if (sm->state == 0) {
			sm->state = 1;
			s->st.modules_open++;
		} else {
			if (sm->dwfl)
				dwfl_end(sm->dwfl);
			sm->dwfl = NULL;
			sm->dm = NULL;
			s->st.modules_unfit++;
		}
	}
	return sm;
}

/* A name for people: demangled when it is mangled; interned. */
static const char *display_name(struct ms_symbolizer *s, const char *name)
{
	char *d = ms_demangle(name);
	const char *r;

	if (!d)
		return ms_strpool_intern(s->strings, name, strlen(name), NULL);
	r = ms_strpool_intern(s->strings, d, strlen(d), NULL);
	free(d);
	return r;
}

/* A source path as people read it: relative ones joined to the CU's
 * compilation directory. Interned; NULL when unknown. */
static const char *source_path(struct ms_symbolizer *s, const char *file,
			       const char *comp_dir)
{
	char buf[4096];
	int n;

	if (!file || !file[0] || !strcmp(file, "???"))
		return NULL;
	if (file[0] == '/' || !comp_dir || !comp_dir[0])
		return ms_strpool_intern(s->strings, file, strlen(file), NULL);
	n = snprintf(buf, sizeof(buf), "%s/%s", comp_dir, file);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return ms_strpool_intern(s->strings, file, strlen(file), NULL);
	return ms_strpool_intern(s->strings, buf, (size_t)n, NULL);
}

/* The linkage name when there is one (C++, Rust: it carries the scope and
 * the parameters), else the plain name; both through abstract origins. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *n;

	n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
	if (!n)
		n = dwarf_formstring(
			dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
	return n ? n : dwarf_diename(die);
}

static const char *comp_dir(Dwarf_Die *cu)
{
	Dwarf_Attribute a;

	return dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
}

/* Where an inlined instance was called: DW_AT_call_file / call_line, the
 * file an index into its unit's file table. */
static struct pos call_site(struct ms_symbolizer *s, Dwarf_Die *die)
{
	struct pos p = {NULL, 0};
	Dwarf_Attribute a;
	Dwarf_Files *files;
	Dwarf_Word w;
	Dwarf_Die cu;
	size_t nfiles;

	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &w) == 0)
		p.line = w > UINT32_MAX ? 0 : (uint32_t)w;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &a), &w) == 0 &&
	    dwarf_diecu(die, &cu, NULL, NULL) &&
	    dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && w < nfiles)
		p.file = source_path(s, dwarf_filesrc(files, w, NULL, NULL),
				     comp_dir(&cu));
	return p;
}

/* The line table's answer for the innermost frame. */
static struct pos line_of(struct ms_symbolizer *s, Dwarf_Die *cu,
			  Dwarf_Addr addr)
{
	struct pos p = {NULL, 0};
	Dwarf_Line *l = dwarf_getsrc_die(cu, addr);
	int line = 0;

	if (!l)
		return p;
	p.file = source_path(s, dwarf_linesrc(l, NULL, NULL), comp_dir(cu));
	if (dwarf_lineno(l, &line) == 0 && line > 0)
		p.line = (uint32_t)line;
	return p;
}

/* The child of `parent` whose code covers addr and that may hold inlined
 * instances: its tag, or 0 when there is none. */
static int covering_child(Dwarf_Die *parent, Dwarf_Addr addr, Dwarf_Die *d)
{
	if (dwarf_child(parent, d) != 0)
		return 0;
	do {
		int tag = dwarf_tag(d);

		if ((tag == DW_TAG_inlined_subroutine ||
		     tag == DW_TAG_lexical_block) &&
		    dwarf_haspc(d, addr) == 1)
			return tag;
	} while (dwarf_siblingof(d, d) == 0);
	return 0;
}

/* The inlined instances around addr in fn, outermost first: the DIEs that
 * contain the address, so the chain of callers. Returns their count, at
 * most `max` (deeper ones are not followed). */
static int inlined_chain(Dwarf_Die *fn, Dwarf_Addr addr, Dwarf_Die *out,
			 int max)
{
	Dwarf_Die cur = *fn, d;
	int n = 0, tag;

	while (n < max && (tag = covering_child(&cur, addr, &d))) {
		if (tag == DW_TAG_inlined_subroutine)
			out[n++] = d;
		cur = d;
	}
	return n;
}

static struct ms_frame dwarf_frame(struct ms_symbolizer *s, Dwarf_Die *die,
				   struct pos at, int inlined)
{
	const char *name = die_name(die);

	return (struct ms_frame){
		.function = display_name(s, name ? name : "??"),
		.file = at.file,
		.line = at.line,
		.inlined = (uint8_t)inlined,
		.source = MS_SYM_DWARF,
	};
}

/*
 * The run for an address in fn with the inlined instances `inl` around it:
 * innermost first, each at the position found so far, its call site the
 * position of the frame outside it; fn last. Beyond MS_FRAMES_MAX the
 * outer inlined frames are dropped. Returns the count or -ENOMEM.
 */
static int run_frames(struct ms_symbolizer *s, Dwarf_Die *fn, Dwarf_Die *inl,
		      int n, struct pos at, struct ms_frame *fr)
{
	int k = 0;

	for (int i = n - 1; i >= 0; i--) {
		if (k < MS_FRAMES_MAX - 1) {
			fr[k] = dwarf_frame(s, &inl[i], at, 1);
			if (!fr[k++].function)
				return -ENOMEM;
		}
		at = call_site(s, &inl[i]);
	}
	fr[k] = dwarf_frame(s, fn, at, 0);
	return fr[k].function ? k + 1 : -ENOMEM;
}

/* The module's DWARF (from its file or a separate debug file) and its
 * unit index, read on first use. */
static int dwarf_of(struct symmod *sm)
{
	Dwarf *dw;

	if (sm->dwarf_read)
		return 0;
	dw = dwfl_module_getdwarf(sm->dm, &sm->dwbias);
	if (dw && ms_cuindex_build(dw, &sm->cus))
		return -ENOMEM;
	sm->dwarf_read = 1;
	return 0;
}

static int from_dwarf(struct ms_symbolizer *s, struct symmod *sm, uint64_t off,
		      struct ms_frame *fr)
{
	Dwarf_Die cu, fn, inl[MS_INLINE_DEPTH_MAX];
	Dwarf_Addr addr = off - sm->dwbias;
	int n = dwarf_of(sm);

	if (n || !sm->cus)
		return n;
	n = ms_cuindex_function(sm->cus, addr, &cu, &fn);
	if (n)
		return n == -ENOMEM ? n : 0;
	n = inlined_chain(&fn, addr, inl, MS_INLINE_DEPTH_MAX);
	return run_frames(s, &fn, inl, n, line_of(s, &cu, addr), fr);
}

/* The ELF symbol table: a function symbol whose extent holds the offset
 * (a nearest preceding symbol could be a wrong name). */
static int from_symtab(struct ms_symbolizer *s, Dwfl_Module *dm, uint64_t off,
		       struct ms_frame *fr)
{
	GElf_Off symoff;
	GElf_Sym sym;
	const char *name =
		dwfl_module_addrinfo(dm, off, &symoff, &sym, NULL, NULL, NULL);
	int type;

	if (!name || !name[0])
		return 0;
	type = GELF_ST_TYPE(sym.st_info);
	if (type != STT_FUNC && type != STT_GNU_IFUNC)
		return 0;
	if (sym.st_size ? symoff >= sym.st_size : symoff != 0)
		return 0;
	fr[0] = (struct ms_frame){.function = display_name(s, name),
				  .source = MS_SYM_SYMTAB};
	return fr[0].function ? 1 : -ENOMEM;
}

/* The store's frames; their strings live as long as the store. */
static int from_store(struct ms_symbolizer *s, struct symmod *sm,
		      const struct ms_module *mod, uint64_t off,
		      struct ms_frame *fr)
{
	const struct ms_frame *sf;
	unsigned n;

	if (!s->store)
		return 0;
	if (!sm->store_looked) {
		sm->store_mod = ms_symstore_module(s->store, mod);
		sm->store_looked = 1;
	}
	if (!sm->store_mod)
		return 0;
	n = ms_symstore_lookup(s->store, sm->store_mod, off, &sf);
	if (n) /* sf is NULL when the store has no such key */
		memcpy(fr, sf, n * sizeof(*fr));
	return (int)n;
}

/* No name: "name+0xoffset". */
static int unnamed(struct ms_symbolizer *s, const struct ms_module *mod,
		   uint64_t off, struct ms_frame *fr)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "%.256s+0x%" PRIx64, mod->name, off);

	fr[0] = (struct ms_frame){
		.function = ms_strpool_intern(s->strings, buf, (size_t)n, NULL),
		.source = MS_SYM_NONE};
	return fr[0].function ? 1 : -ENOMEM;
}

static int resolve_cold(struct ms_symbolizer *s, const struct ms_module *mod,
			uint64_t off, const struct ms_frame **frames)
{
	struct ms_frame fr[MS_FRAMES_MAX];
	struct symmod *sm = symmod_of(s, mod);
	int n = 0, err;

	if (!sm)
		return -ENOMEM;
	if (sm->state > 0) {
		n = from_dwarf(s, sm, off, fr);
		if (n == 0)
			n = from_symtab(s, sm->dm, off, fr);
	}
	if (n == 0)
		n = from_store(s, sm, mod, off, fr);
	if (n == 0)
		n = unnamed(s, mod, off, fr);
	if (n < 0)
		return n;
	err = ms_frametab_add(&s->memo, mod->id, off, fr, (unsigned)n, frames);
	return err ? err : n;
}

int ms_sym_resolve(struct ms_symbolizer *s, const struct ms_module *mod,
		   uint64_t off, const struct ms_frame **frames)
{
	unsigned n;

	s->st.lookups++;
	n = ms_frametab_find(&s->memo, mod->id, off, frames);
	if (n) {
		s->st.memo_hits++;
		return (int)n;
	}
	return resolve_cold(s, mod, off, frames);
}

int ms_sym_module_state(struct ms_symbolizer *s, const struct ms_module *mod)
{
	struct symmod *sm = symmod_of(s, mod);

	if (!sm)
		return -ENOMEM;
	return sm->state > 0 ? 0 : sm->state;
}

void ms_sym_get_stats(const struct ms_symbolizer *s, struct ms_sym_stats *st)
{
	*st = s->st;
}

int ms_sym_write_store(struct ms_symbolizer *s, const struct ms_symkey *keys,
		       size_t n, const char *path)
{
	struct ms_symstore_writer *w = NULL;
	const struct ms_frame *fr;
	int err = ms_symstore_writer_create(&w);

	for (size_t i = 0; i < n && !err; i++) {
		int nf = ms_sym_resolve(s, keys[i].mod, keys[i].off, &fr);

		if (nf < 0)
			err = nf;
		else if (fr[0].source != MS_SYM_NONE)
			err = ms_symstore_add(w, keys[i].mod, keys[i].off, fr,
					      (unsigned)nf);
	}
	if (!err)
		err = ms_symstore_save(w, path);
	ms_symstore_writer_destroy(w);
	return err;
}

ssize_t ms_sym_file_build_id(const char *path, uint8_t *buf, size_t cap)
{
	const void *id;
	ssize_t len;
	Elf *elf;
	int fd;

	if (ms_dw_load())
		return -ENOENT;
	fd = ms_open_regular(path);
	if (fd < 0)
		return fd;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		len = -ENOEXEC;
		goto out;
	}
	len = dwelf_elf_gnu_build_id(elf, &id);
	if (len < 0)
		len = 0;
	if ((size_t)len > cap)
		len = -ENOBUFS;
	else if (len > 0)
		memcpy(buf, id, (size_t)len);
out:
	elf_end(elf);
	close(fd);
	return len;
}
