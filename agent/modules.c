/* SPDX-License-Identifier: MIT */
/*
 * The module map: MODULE_LOAD for every object loaded at attach, then
 * MODULE_LOAD/UNLOAD as dlopen/dlclose change it. A module is identified by
 * its load bias (dlpi_addr); `size` spans its PT_LOAD segments from the
 * bias, so [base, base + size) covers the module's code. The build id comes
 * from the PT_NOTE segments (NT_GNU_BUILD_ID).
 *
 * A pass copies what dl_iterate_phdr() shows into scratch memory of its
 * own (mmap'd), and only then, with the loader's lock released, takes
 * mod_lock to compare with what was sent. mod_lock is thus never held
 * while the loader's lock is wanted: a pass may run inside malloc called
 * with the loader's lock held (a dlopen constructor, a dl_iterate_phdr
 * callback of the program) while another thread's pass holds mod_lock.
 */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "emit.h"

#define MS_MAX_MODULES	 2048
#define MS_SCRATCH_PATHS (512u << 10) /* bytes of paths one pass keeps */

struct ms_module {
	uint64_t base; /* 0: free entry */
	uint64_t size;
	uint32_t mark;
};

/* One object as a pass saw it. */
struct seen {
	uint64_t base, size;
	uint32_t idlen, plen; /* plen 0: the main program, or no room */
	uint32_t path_off;    /* in the scratch's paths */
	uint8_t id[MS_BUILD_ID_MAX];
};

struct scratch {
	size_t map_len;
	uint32_t n, paths_used;
	char *paths;
	struct seen s[MS_MAX_MODULES];
};

static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ms_module mods[MS_MAX_MODULES];
static uint32_t nmods, pass;
static char exe_path[MS_PATH_MAX];

static uint32_t build_id(const struct dl_phdr_info *info, const uint8_t **id)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n =
				(const ElfW(Nhdr) *)(const void *)p;
			const uint8_t *name = p + sizeof(*n);
			const uint8_t *desc = name + ((n->n_namesz + 3) & ~3u);

			if (desc + n->n_descsz > end)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4)) {
				*id = desc;
				return n->n_descsz;
			}
			p = desc + ((n->n_descsz + 3) & ~3u);
		}
	}
	*id = NULL;
	return 0;
}

static uint64_t span(const struct dl_phdr_info *info)
{
	uint64_t end = 0;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && ph->p_vaddr + ph->p_memsz > end)
			end = ph->p_vaddr + ph->p_memsz;
	}
	return end;
}

/* The main program's path (dlpi_name is empty); under mod_lock. */
static const char *program_path(void)
{
	if (!exe_path[0]) {
		ssize_t n = readlink("/proc/self/exe", exe_path,
				     sizeof(exe_path) - 1);
		exe_path[n > 0 ? n : 0] = 0;
	}
	return exe_path;
}

static void emit_load(struct ms_tstate *t, const struct scratch *sc,
		      const struct seen *m)
{
	const char *path = m->plen ? sc->paths + m->path_off : program_path();
	uint32_t plen = (uint32_t)strnlen(path, MS_PATH_MAX);
	uint8_t *p = ms_emit_reserve_meta(t, 64 + m->idlen + plen);

	if (p)
		ms_emit_commit(t, ms_rec_put_module_load(
					  &t->rs, p, ms_now(), m->base, m->size,
					  m->id, m->idlen, path, plen));
}

static void emit_unload(struct ms_tstate *t, uint64_t base)
{
	uint8_t *p = ms_emit_reserve_meta(t, MS_REC_SMALL_MAX);

	if (p)
		ms_emit_commit(
			t, ms_rec_put_module_unload(&t->rs, p, ms_now(), base));
}

static struct ms_module *find(uint64_t base, uint64_t size)
{
	for (uint32_t i = 0; i < nmods; i++)
		if (mods[i].base == base && mods[i].size == size)
			return &mods[i];
	return NULL;
}

static struct ms_module *add(uint64_t base, uint64_t size)
{
	struct ms_module *m = NULL;

	for (uint32_t i = 0; i < nmods && !m; i++)
		if (mods[i].size == 0)
			m = &mods[i];
	if (!m && nmods < MS_MAX_MODULES)
		m = &mods[nmods++];
	if (m) {
		m->base = base;
		m->size = size;
	}
	return m;
}

/* Runs under the loader's lock: copies, and takes no lock of ours. */
static int scan_cb(struct dl_phdr_info *info, size_t len, void *arg)
{
	struct scratch *sc = arg;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	uint32_t plen = (uint32_t)strnlen(name, MS_PATH_MAX - 1);
	uint64_t size = span(info);
	const uint8_t *id;
	struct seen *m;

	(void)len;
	if (size == 0 || sc->n == MS_MAX_MODULES)
		return 0;
	m = &sc->s[sc->n++];
	m->base = info->dlpi_addr;
	m->size = size;
	m->idlen = build_id(info, &id);
	if (m->idlen > MS_BUILD_ID_MAX)
		m->idlen = MS_BUILD_ID_MAX;
	if (m->idlen)
		memcpy(m->id, id, m->idlen);
	m->plen = 0;
	if (plen && sc->paths_used + plen + 1 <= MS_SCRATCH_PATHS) {
		m->path_off = sc->paths_used;
		m->plen = plen;
		memcpy(sc->paths + m->path_off, name, plen);
		sc->paths[m->path_off + plen] = 0;
		sc->paths_used += plen + 1;
	}
	return 0;
}

static struct scratch *scratch_create(void)
{
	size_t len = sizeof(struct scratch) + MS_SCRATCH_PATHS;
	struct scratch *sc = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (sc == MAP_FAILED)
		return NULL;
	sc->map_len = len;
	sc->paths = (char *)(sc + 1);
	return sc;
}

/* What changed since the last pass, sent on t's ring. Under mod_lock. */
static void compare(struct ms_tstate *t, const struct scratch *sc)
{
	pass++;
	for (uint32_t i = 0; i < sc->n; i++) {
		const struct seen *s = &sc->s[i];
		struct ms_module *m = find(s->base, s->size);

		if (!m) {
			m = add(s->base, s->size);
			emit_load(t, sc, s);
		}
		if (m)
			m->mark = pass;
	}
	for (uint32_t i = 0; i < nmods; i++) {
		if (mods[i].size && mods[i].mark != pass) {
			emit_unload(t, mods[i].base);
			mods[i].size = 0;
		}
	}
}

void ms_modules_rescan(struct ms_tstate *t)
{
	struct scratch *sc;

	if (t->state != MS_T_ACTIVE)
		return;
	sc = scratch_create();
	if (!sc)
		return; /* the next dlopen/dlclose tries again */
	dl_iterate_phdr(scan_cb, sc);
	pthread_mutex_lock(&mod_lock);
	compare(t, sc);
	pthread_mutex_unlock(&mod_lock);
	munmap(sc, sc->map_len);
}

void ms_modules_emit_all(struct ms_tstate *t)
{
	ms_modules_rescan(t);
}

void ms_modules_reset(void)
{
	pthread_mutex_init(&mod_lock, NULL);
	memset(mods, 0, sizeof(mods[0]) * nmods);
	nmods = 0;
}
