/* SPDX-License-Identifier: MIT */
/*
 * PLT slot rewriting for a process that stays untracked (gotpatch.h).
 *
 * Every address read from an object (its dynamic section, relocations,
 * symbols, strings) is checked to lie inside one of its PT_LOAD segments
 * first, and a slot is written only inside a writable one: an object we
 * do not understand is left alone, and leaving things alone is always
 * correct (the wrappers keep working).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gotpatch.h"

struct got_obj {
	const struct dl_phdr_info *info;
	const Elf64_Dyn *dyn;
	const Elf64_Sym *symtab;
	const char *strtab;
	size_t strsz;
	const Elf64_Rela *rel;
	size_t nrel;
	uintptr_t relro_lo, relro_hi; /* the pages ld.so made read-only */
};

struct got_walk {
	const struct ms_got_redirect *r;
	size_t n;
	uintptr_t self;
	int flags;
	uintptr_t page;
	uintptr_t prot_page; /* the last page looked up in /proc/self/maps */
	int prot;
	uintptr_t lookup[MS_GOT_MAX]; /* the global binding of each name */
	int done;
};

/* 1 if [a, a + len) lies in one PT_LOAD segment with all `need` flags. */
static int in_load(const struct dl_phdr_info *info, uintptr_t a, size_t len,
		   unsigned need)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const Elf64_Phdr *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || (ph->p_flags & need) != need)
			continue;
		if (a >= lo && len <= ph->p_memsz &&
		    a - lo <= ph->p_memsz - len)
			return 1;
	}
	return 0;
}

/* ld.so relocates d_ptr in place, except where .dynamic is read-only. */
static uintptr_t dyn_ptr(const struct dl_phdr_info *info, uintptr_t v)
{
	return v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

static void find_segments(struct got_obj *o, uintptr_t page)
{
	const struct dl_phdr_info *info = o->info;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const Elf64_Phdr *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_DYNAMIC)
			o->dyn = (const Elf64_Dyn *)a;
		if (ph->p_type == PT_GNU_RELRO) {
			/* as _dl_protect_relro rounds it */
			o->relro_lo = a & ~(page - 1);
			o->relro_hi = (a + ph->p_memsz) & ~(page - 1);
		}
	}
}

/* Fills o from the dynamic section. Returns 0 or -ENOENT. */
static int parse_obj(struct got_obj *o, uintptr_t page)
{
	const struct dl_phdr_info *info = o->info;
	uintptr_t sym = 0, str = 0, rel = 0;
	size_t relsz = 0;
	Elf64_Sxword pltrel = 0;

	find_segments(o, page);
	for (const Elf64_Dyn *d = o->dyn; d; d++) {
		if (!in_load(info, (uintptr_t)d, sizeof(*d), PF_R) ||
		    d->d_tag == DT_NULL)
			break;
		if (d->d_tag == DT_SYMTAB)
			sym = dyn_ptr(info, d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			str = dyn_ptr(info, d->d_un.d_ptr);
		else if (d->d_tag == DT_STRSZ)
			o->strsz = d->d_un.d_val;
		else if (d->d_tag == DT_JMPREL)
			rel = dyn_ptr(info, d->d_un.d_ptr);
		else if (d->d_tag == DT_PLTRELSZ)
			relsz = d->d_un.d_val;
		else if (d->d_tag == DT_PLTREL)
			pltrel = d->d_un.d_val;
	}
	if (!sym || !str || !rel || pltrel != DT_RELA ||
	    !in_load(info, str, o->strsz, PF_R) ||
	    !in_load(info, rel, relsz, PF_R))
		return -ENOENT;
	o->symtab = (const Elf64_Sym *)sym;
	o->strtab = (const char *)str;
	o->rel = (const Elf64_Rela *)rel;
	o->nrel = relsz / sizeof(Elf64_Rela);
	return 0;
}

/* The entry of w->r named by relocation `rel`'s symbol, or -1. */
static int match(const struct got_walk *w, const struct got_obj *o,
		 const Elf64_Rela *rel, const Elf64_Sym **symp)
{
	const Elf64_Sym *s = o->symtab + ELF64_R_SYM(rel->r_info);

	if (!in_load(o->info, (uintptr_t)s, sizeof(*s), PF_R))
		return -1;
	for (size_t i = 0; i < w->n; i++) {
		size_t len = strlen(w->r[i].name) + 1;

		if (s->st_name < o->strsz && len <= o->strsz - s->st_name &&
		    !memcmp(o->strtab + s->st_name, w->r[i].name, len)) {
			*symp = s;
			return (int)i;
		}
	}
	return -1;
}

/* One line of /proc/self/maps: 1 if its range holds `a` (*prot set). */
static int maps_line(const char *l, uintptr_t a, int *prot)
{
	char *e;
	uintptr_t lo = strtoul(l, &e, 16), hi;

	if (*e != '-')
		return 0;
	hi = strtoul(e + 1, &e, 16);
	if (*e != ' ' || a < lo || a >= hi || strlen(e) < 4)
		return 0;
	*prot = (e[1] == 'r' ? PROT_READ : 0) | (e[2] == 'w' ? PROT_WRITE : 0) |
		(e[3] == 'x' ? PROT_EXEC : 0);
	return 1;
}

/* The protection of the mapping holding `a` (PROT_*), or -1. No malloc. */
static int page_prot(uintptr_t a)
{
	char buf[4096];
	size_t have = 0;
	int prot = -1, fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *line = buf, *nl;

		buf[have + (size_t)n] = 0;
		for (; (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = 0;
			if (maps_line(line, a, &prot))
				goto out;
		}
		have = strlen(line);
		if (have == sizeof(buf) - 1)
			break; /* a line longer than the buffer */
		memmove(buf, line, have);
	}
out:
	close(fd);
	return prot;
}

/*
 * A RELRO page is written only once ld.so has made it read-only: an
 * object still being loaded by another thread (its page still writable)
 * is left alone, as ld.so will write and protect it meanwhile.
 */
static int relro_done(struct got_walk *w, uintptr_t pg)
{
	if (w->prot_page != pg) {
		w->prot_page = pg;
		w->prot = page_prot(pg);
	}
	return w->prot == PROT_READ;
}

/* One aligned 8-byte store; RELRO pages writable only meanwhile. */
static int store_slot(struct got_walk *w, const struct got_obj *o,
		      uintptr_t slot, uintptr_t v)
{
	uintptr_t pg = slot & ~(w->page - 1);
	int ro = pg >= o->relro_lo && pg < o->relro_hi;

	if (ro && (!relro_done(w, pg) ||
		   mprotect((void *)pg, w->page, PROT_READ | PROT_WRITE)))
		return 0;
	__atomic_store_n((uintptr_t *)slot, v, __ATOMIC_RELAXED);
	/* Should this fail, the page stays writable: less hardened, correct. */
	if (ro)
		mprotect((void *)pg, w->page, PROT_READ);
	return 1;
}

/* An object of the base namespace: its lookups start at the global scope. */
static int in_base_ns(const Elf64_Dyn *dyn)
{
	for (const struct link_map *l = _r_debug.r_map; l; l = l->l_next)
		if (l->l_ld == dyn)
			return 1;
	return 0;
}

static int patch_one(struct got_walk *w, const struct got_obj *o,
		     const Elf64_Rela *rel, int lazy)
{
	uintptr_t slot = o->info->dlpi_addr + rel->r_offset, v;
	const Elf64_Sym *s = NULL;
	int i;

	if (ELF64_R_TYPE(rel->r_info) != R_X86_64_JUMP_SLOT || slot % 8 ||
	    !in_load(o->info, slot, 8, PF_R | PF_W))
		return 0;
	i = match(w, o, rel, &s);
	if (i < 0)
		return 0;
	v = __atomic_load_n((uintptr_t *)slot, __ATOMIC_RELAXED);
	if (v == w->r[i].from)
		return store_slot(w, o, slot, w->r[i].to);
	/* Unresolved: still into the object's own PLT. */
	if (!lazy || s->st_shndx != SHN_UNDEF || w->lookup[i] != w->r[i].from ||
	    !in_load(o->info, v, 1, PF_X))
		return 0;
	return store_slot(w, o, slot, w->r[i].to);
}

static int patch_obj(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct got_walk *w = arg;
	struct got_obj o = {.info = info};
	int lazy;

	(void)size;
	if (in_load(info, w->self, 1, PF_X) || parse_obj(&o, w->page))
		return 0;
	lazy = (w->flags & MS_GOT_LAZY) && in_base_ns(o.dyn);
	for (size_t k = 0; k < o.nrel; k++)
		w->done += patch_one(w, &o, &o.rel[k], lazy);
	return 0;
}

int ms_got_redirect(const struct ms_got_redirect *r, size_t n, uintptr_t self,
		    int flags)
{
	struct got_walk w = {r, n, self, flags, 0, 0, -1, {0}, 0};
	long page = sysconf(_SC_PAGESIZE);

	if (n > MS_GOT_MAX || page <= 0)
		return -EINVAL;
	w.page = (uintptr_t)page;
	/* Before dl_iterate_phdr: dlsym takes the loader's other lock. */
	for (size_t i = 0; i < n && (flags & MS_GOT_LAZY); i++)
		w.lookup[i] = (uintptr_t)dlsym(RTLD_DEFAULT, r[i].name);
	dl_iterate_phdr(patch_obj, &w);
	return w.done;
}

#define MS_GOT_ADD(f)                                                          \
	do {                                                                   \
		if (wrap->f && ms_real.f)                                      \
			out[n++] = (struct ms_got_redirect){                   \
				#f, (uintptr_t)wrap->f, (uintptr_t)ms_real.f}; \
	} while (0)

size_t ms_got_bypass_table(const struct ms_real_fns *wrap,
			   struct ms_got_redirect *out)
{
	size_t n = 0;

	if (!__atomic_load_n(&ms_real.free, __ATOMIC_ACQUIRE))
		return 0;
	MS_GOT_ADD(malloc);
	MS_GOT_ADD(calloc);
	MS_GOT_ADD(posix_memalign);
	MS_GOT_ADD(aligned_alloc);
	MS_GOT_ADD(memalign);
	MS_GOT_ADD(valloc);
	MS_GOT_ADD(pvalloc);
	/* Arena blocks must never reach the real free/realloc. */
	if (!ms_boot_used()) {
		MS_GOT_ADD(free);
		MS_GOT_ADD(realloc);
	}
	return n;
}
