/* SPDX-License-Identifier: MIT */
/*
 * bench_symbols: what symbolizing costs, on this program itself (built
 * with -g: ms_analysis, common/ and this file).
 *
 * usage: bench_symbols [--keys N] [--rounds R]
 *
 * Takes N distinct offsets spread over the program's executable segment
 * and resolves them: cold (each offset the first time: DWARF read, the
 * module opened and its units indexed on the first), then warm (R more
 * rounds over the same offsets: the memo). Writes them to a symbol store
 * (time, size), reads it back, and resolves them again as for a machine
 * without the file: from the store. One core; figures in docs/symbols.md.
 */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbols.h"
#include "symstore.h"

struct self {
	uint64_t text, text_end; /* the executable segment, as offsets */
	char path[4096];
	uint8_t bid[MS_BUILD_ID_MAX];
	size_t bid_len;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct self *me = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			me->text = ph->p_vaddr;
			me->text_end = ph->p_vaddr + ph->p_memsz;
		}
	}
	return 1; /* the program comes first */
}

static int find_self(struct self *me)
{
	ssize_t n = readlink("/proc/self/exe", me->path, sizeof(me->path) - 1);

	if (n <= 0)
		return -1;
	me->path[n] = 0;
	dl_iterate_phdr(first_object, me);
	n = ms_sym_file_build_id(me->path, me->bid, sizeof(me->bid));
	if (n < 0 || me->text_end <= me->text)
		return -1;
	me->bid_len = (size_t)n;
	return 0;
}

struct tally {
	size_t named, frames;
};

/* One pass over the keys; returns seconds. */
static double pass(struct ms_symbolizer *s, const struct ms_symkey *keys,
		   size_t n, struct tally *t)
{
	const struct ms_frame *fr;
	double t0 = now();

	for (size_t i = 0; i < n; i++) {
		int nf = ms_sym_resolve(s, keys[i].mod, keys[i].off, &fr);

		if (nf < 0) {
			fprintf(stderr, "bench_symbols: %s\n", strerror(-nf));
			exit(1);
		}
		if (t && fr[0].source != MS_SYM_NONE) {
			t->named++;
			t->frames += (size_t)nf;
		}
	}
	return now() - t0;
}

static void cold_warm(const struct ms_symkey *keys, size_t n, int rounds)
{
	struct ms_symbolizer *s;
	struct tally t = {0, 0};
	double first, cold, warm = 0;

	if (ms_sym_create(NULL, &s))
		exit(1);
	first = pass(s, keys, 1, NULL);
	cold = pass(s, keys + 1, n - 1, &t);
	for (int r = 0; r < rounds; r++)
		warm += pass(s, keys, n, NULL);
	printf("keys: %zu distinct offsets, %zu named, %zu frames\n", n,
	       t.named, t.frames);
	printf("first lookup (open, read and index DWARF): %.1f ms\n",
	       first * 1e3);
	printf("cold: %.0f lookups/s (%.2f us each)\n", (double)(n - 1) / cold,
	       cold * 1e6 / (double)(n - 1));
	printf("warm: %.0f lookups/s (%.1f ns each)\n",
	       (double)n * rounds / warm, warm * 1e9 / ((double)n * rounds));
	ms_sym_destroy(s);
}

static void store(const struct ms_symkey *keys, size_t n,
		  const struct ms_module *gone)
{
	struct ms_sym_opts o = {0};
	struct ms_symbolizer *s;
	struct ms_symstore *st;
	struct ms_symkey *moved = malloc(n * sizeof(*moved));
	char path[] = "/tmp/ms-bench-symbols-XXXXXX";
	struct tally t = {0, 0};
	uint32_t nm, nk, nf;
	struct stat sb;
	double tw, tr, tl;
	int fd = mkstemp(path);

	if (fd < 0 || !moved || ms_sym_create(NULL, &s))
		exit(1);
	close(fd);
	pass(s, keys, n, NULL); /* the write alone is timed */
	tw = now();
	if (ms_sym_write_store(s, keys, n, path) || stat(path, &sb))
		exit(1);
	tw = now() - tw;
	ms_sym_destroy(s);
	tr = now();
	if (ms_symstore_load(path, &st))
		exit(1);
	tr = now() - tr;
	ms_symstore_counts(st, &nm, &nk, &nf);
	printf("store: %u keys, %u frames: %lld bytes (%.1f per frame), "
	       "written in %.1f ms, read in %.1f ms\n",
	       nk, nf, (long long)sb.st_size, (double)sb.st_size / nf, tw * 1e3,
	       tr * 1e3);
	o.store = st;
	for (size_t i = 0; i < n; i++)
		moved[i] = (struct ms_symkey){gone, keys[i].off};
	if (ms_sym_create(&o, &s))
		exit(1);
	tl = pass(s, moved, n, &t);
	printf("cold from the store (file missing): %.0f lookups/s, "
	       "%zu named\n",
	       (double)n / tl, t.named);
	ms_sym_destroy(s);
	ms_symstore_free(st);
	unlink(path);
	free(moved);
}

int main(int argc, char **argv)
{
	size_t n = 20000;
	int rounds = 20;
	static const char gone_path[] = "/nonexistent/bench_symbols";
	const struct ms_module *me_mod, *gone;
	struct ms_modtab *tab, *elsewhere;
	struct ms_symkey *keys;
	struct self me;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--keys"))
			n = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
	}
	if (n < 2 || rounds < 1 || find_self(&me) || ms_modtab_create(&tab) ||
	    ms_modtab_create(&elsewhere))
		return 2;
	/* the same build on a machine where its file is not */
	if (ms_modtab_get(tab, me.bid, me.bid_len, me.path, strlen(me.path),
			  &me_mod) ||
	    ms_modtab_get(elsewhere, me.bid, me.bid_len, gone_path,
			  strlen(gone_path), &gone))
		return 1;
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return 1;
	printf("module: %s, %llu bytes of code\n", me.path,
	       (unsigned long long)(me.text_end - me.text));
	for (size_t i = 0; i < n; i++) /* spread, distinct */
		keys[i] = (struct ms_symkey){
			me_mod, me.text + (me.text_end - me.text) * i / n};
	cold_warm(keys, n, rounds);
	store(keys, n, gone);
	free(keys);
	ms_modtab_destroy(tab);
	ms_modtab_destroy(elsewhere);
	return 0;
}
