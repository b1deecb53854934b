/* SPDX-License-Identifier: MIT */
/*
 * The module map: MODULE_LOAD for every object loaded at attach, then
 * MODULE_LOAD/UNLOAD as dlopen/dlclose change it. A module is identified by
 * its load bias (dlpi_addr); `size` spans its PT_LOAD segments from the
 * bias, so [base, base + size) covers the module's code. The build id comes
 * from the PT_NOTE segments (NT_GNU_BUILD_ID).
 *
 * mod_lock serialises the passes. It is taken before the loader's lock
 * (inside dl_iterate_phdr) and never the other way round, except in the one
 * initial pass of a process, which runs at attach before other threads
 * exist in practice.
 */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"

#define MS_MAX_MODULES 2048

struct ms_module {
	uint64_t base; /* 0: free entry */
	uint64_t size;
	uint32_t mark;
};

static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ms_module mods[MS_MAX_MODULES];
static uint32_t nmods, pass;
static char exe_path[MS_PATH_MAX];

struct scan {
	struct ms_tstate *t;
};

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

static const char *module_path(const struct dl_phdr_info *info)
{
	if (info->dlpi_name && info->dlpi_name[0])
		return info->dlpi_name;
	if (!exe_path[0]) {
		ssize_t n = readlink("/proc/self/exe", exe_path,
				     sizeof(exe_path) - 1);
		exe_path[n > 0 ? n : 0] = 0;
	}
	return exe_path;
}

static void emit_load(struct ms_tstate *t, const struct dl_phdr_info *info,
		      uint64_t size)
{
	const char *path = module_path(info);
	const uint8_t *id;
	uint32_t idlen = build_id(info, &id);
	uint32_t plen = (uint32_t)strnlen(path, MS_PATH_MAX);
	uint8_t *p;

	if (idlen > MS_BUILD_ID_MAX)
		idlen = MS_BUILD_ID_MAX;
	p = ms_emit_reserve_meta(t, 64 + idlen + plen);
	if (p)
		ms_emit_commit(t, ms_rec_put_module_load(
					  &t->rs, p, ms_now(), info->dlpi_addr,
					  size, id, idlen, path, plen));
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

static int scan_cb(struct dl_phdr_info *info, size_t len, void *arg)
{
	struct scan *sc = arg;
	uint64_t size = span(info);
	struct ms_module *m;

	(void)len;
	if (size == 0)
		return 0;
	m = find(info->dlpi_addr, size);
	if (!m) {
		m = add(info->dlpi_addr, size);
		emit_load(sc->t, info, size);
	}
	if (m)
		m->mark = pass;
	return 0;
}

void ms_modules_rescan(struct ms_tstate *t)
{
	struct scan sc = {t};

	if (t->state != MS_T_ACTIVE)
		return;
	pthread_mutex_lock(&mod_lock);
	pass++;
	dl_iterate_phdr(scan_cb, &sc);
	for (uint32_t i = 0; i < nmods; i++) {
		if (mods[i].size && mods[i].mark != pass) {
			emit_unload(t, mods[i].base);
			mods[i].size = 0;
		}
	}
	pthread_mutex_unlock(&mod_lock);
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
