/* SPDX-License-Identifier: MIT */
/*
 * consumer/analysis/symbols.c on the fixture program (symbols_fixture.c):
 * names, files and lines from DWARF, the inlined frame included; the same
 * from a separate debug file in a .build-id tree; the symbol table alone;
 * and "name+0xoffset" for a rebuilt (other build id), missing or non-ELF
 * module, never a name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"
#include "symfix.h"

struct fx {
	struct symfix run; /* the fixture as recorded */
	struct ms_modtab *tab;
	char *tmp;
	char empty[512]; /* a debug directory with nothing in it */
};

static struct fx f;

static const struct ms_module *module(const char *path, int with_bid)
{
	const struct ms_module *m;

	assert_int_equal(ms_modtab_get(f.tab, f.run.bid,
				       with_bid ? f.run.bid_len : 0, path,
				       strlen(path), &m),
			 0);
	return m;
}

static struct ms_symbolizer *symbolizer(const char *debug_dirs)
{
	struct ms_sym_opts o = {.debug_dirs = debug_dirs};
	struct ms_symbolizer *s;

	assert_int_equal(ms_sym_create(&o, &s), 0);
	return s;
}

static void check_frame(const struct ms_frame *fr, const char *fn,
			const char *file, int line, int inlined, int source)
{
	assert_string_equal(fr->function, fn);
	if (file)
		assert_string_equal(fr->file, file);
	else
		assert_null(fr->file);
	assert_int_equal(fr->line, line);
	assert_int_equal(fr->inlined, inlined);
	assert_int_equal(fr->source, source);
}

/* Every site with its exact function, file, line and inlined chain. */
static void check_dwarf(struct ms_symbolizer *s, const struct ms_module *m)
{
	static const char *const plain[] = {"ms_fx_alpha", "ms_fx_beta",
					    "ms_fx_gamma"};
	const struct symfix_site *site;
	const struct ms_frame *fr;

	for (int i = 0; i < 3; i++) {
		site = symfix_site(&f.run, plain[i]);
		assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
		check_frame(&fr[0], plain[i], MS_SYMFIX_SRC, site->line, 0,
			    MS_SYM_DWARF);
	}
	site = symfix_site(&f.run, "ms_fx_inner");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 2);
	check_frame(&fr[0], "ms_fx_inner", MS_SYMFIX_SRC, site->line, 1,
		    MS_SYM_DWARF);
	check_frame(&fr[1], "ms_fx_outer", MS_SYMFIX_SRC, site->caller_line, 0,
		    MS_SYM_DWARF);
	site = symfix_site(&f.run, "ms_fx::Counter::bump(int)");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	check_frame(&fr[0], "ms_fx::Counter::bump(int)", MS_SYMFIX_CXX_SRC,
		    site->line, 0, MS_SYM_DWARF);
}

/* Every site as "name+0xoffset". */
static void check_unnamed(struct ms_symbolizer *s, const struct ms_module *m,
			  const char *name)
{
	const struct ms_frame *fr;
	char want[256];

	for (int i = 0; i < f.run.nsites; i++) {
		snprintf(want, sizeof(want), "%s+0x%" PRIx64, name,
			 f.run.site[i].off);
		assert_int_equal(ms_sym_resolve(s, m, f.run.site[i].off, &fr),
				 1);
		check_frame(&fr[0], want, NULL, 0, 0, MS_SYM_NONE);
	}
}

static void test_dwarf(void **state)
{
	struct ms_symbolizer *s = symbolizer(f.empty);
	const struct ms_module *m = module(MS_SYMFIX, 1);

	(void)state;
	check_dwarf(s, m);
	assert_int_equal(ms_sym_module_state(s, m), 0);
	ms_sym_destroy(s);
}

/* A repeated lookup is answered from the memo, with the same frames. */
static void test_memo(void **state)
{
	struct ms_symbolizer *s = symbolizer(f.empty);
	const struct ms_module *m = module(MS_SYMFIX, 1);
	const struct ms_frame *a, *b;
	struct ms_sym_stats st;

	(void)state;
	assert_int_equal(ms_sym_resolve(s, m, f.run.site[0].off, &a), 1);
	assert_int_equal(ms_sym_resolve(s, m, f.run.site[0].off, &b), 1);
	assert_ptr_equal(a, b);
	ms_sym_get_stats(s, &st);
	assert_int_equal(st.lookups, 2);
	assert_int_equal(st.memo_hits, 1);
	assert_int_equal(st.modules_open, 1);
	assert_int_equal(st.modules_unfit, 0);
	ms_sym_destroy(s);
}

/* The debug file at DIR/.build-id/xx/rest.debug. */
static char *debug_tree(void)
{
	char *dir = symfix_tmpdir(), path[1024];
	int n = snprintf(path, sizeof(path), "%s/.build-id/%02x/", dir,
			 f.run.bid[0]);

	for (size_t i = 1; i < f.run.bid_len; i++)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x",
			      f.run.bid[i]);
	snprintf(path + n, sizeof(path) - (size_t)n, ".debug");
	assert_int_equal(symfix_copy(MS_SYMFIX_DEBUG, path), 0);
	return dir;
}

/* Stripped of everything: the names come from the debug file. */
static void test_separate_debug_file(void **state)
{
	char *dir = debug_tree();
	struct ms_symbolizer *s = symbolizer(dir);
	const struct ms_module *m = module(MS_SYMFIX_STRIPPED, 1);

	(void)state;
	check_dwarf(s, m);
	ms_sym_destroy(s);

	/* without it: no name at all */
	s = symbolizer(f.empty);
	check_unnamed(s, m, "ms_symfix.stripped");
	assert_int_equal(ms_sym_module_state(s, m), 0);
	ms_sym_destroy(s);
	symfix_rmtree(dir);
	free(dir);
}

/* No DWARF anywhere: the symbol table's function, no file:line. */
static void test_symtab_only(void **state)
{
	struct ms_symbolizer *s = symbolizer(f.empty);
	const struct ms_module *m = module(MS_SYMFIX_NODEBUG, 1);
	const struct symfix_site *site;
	const struct ms_frame *fr;

	(void)state;
	site = symfix_site(&f.run, "ms_fx_alpha");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	check_frame(&fr[0], "ms_fx_alpha", NULL, 0, 0, MS_SYM_SYMTAB);
	site = symfix_site(&f.run, "ms_fx_inner"); /* inlined: its caller */
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	check_frame(&fr[0], "ms_fx_outer", NULL, 0, 0, MS_SYM_SYMTAB);
	site = symfix_site(&f.run, "ms_fx::Counter::bump(int)");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	check_frame(&fr[0], "ms_fx::Counter::bump(int)", NULL, 0, 0,
		    MS_SYM_SYMTAB);
	ms_sym_destroy(s);
}

/* Rebuilt after recording: the file at the recorded path has another
 * build id, so it gives no name. */
static void test_build_id_differs(void **state)
{
	char path[1024];
	struct ms_symbolizer *s = symbolizer(f.empty);
	const struct ms_module *m;

	(void)state;
	snprintf(path, sizeof(path), "%s/rebuilt/ms_symfix", f.tmp);
	assert_int_equal(symfix_copy(MS_SYMFIX_V2, path), 0);
	m = module(path, 1);
	check_unnamed(s, m, "ms_symfix");
	assert_int_equal(ms_sym_module_state(s, m), -ESTALE);

	/* recorded without a build id, the file has one: not the same */
	m = module(MS_SYMFIX, 0);
	check_unnamed(s, m, "ms_symfix");
	assert_int_equal(ms_sym_module_state(s, m), -ESTALE);
	ms_sym_destroy(s);
}

static void test_missing_module(void **state)
{
	char path[1024];
	struct ms_symbolizer *s = symbolizer(f.empty);
	const struct ms_module *m;
	struct ms_sym_stats st;

	(void)state;
	snprintf(path, sizeof(path), "%s/gone/ms_symfix", f.tmp);
	m = module(path, 1);
	check_unnamed(s, m, "ms_symfix");
	assert_int_equal(ms_sym_module_state(s, m), -ENOENT);

	/* a file that is not ELF (no build id recorded: a module of its
	 * own) */
	m = module(MS_SYMFIX_SRC, 0);
	check_unnamed(s, m, "symbols_fixture.c");
	assert_int_equal(ms_sym_module_state(s, m), -ENOEXEC);
	ms_sym_get_stats(s, &st);
	assert_int_equal(st.modules_unfit, 2);
	ms_sym_destroy(s);
}

static int setup(void **state)
{
	(void)state;
	/* debuginfod only where a test asks for it */
	unsetenv("DEBUGINFOD_URLS");
	if (symfix_run(MS_SYMFIX, &f.run))
		return -1;
	f.tmp = symfix_tmpdir();
	snprintf(f.empty, sizeof(f.empty), "%s/empty", f.tmp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	symfix_rmtree(f.tmp);
	free(f.tmp);
	return 0;
}

/* A module table per test: one build id is one module in a table. */
static int table(void **state)
{
	(void)state;
	return ms_modtab_create(&f.tab);
}

static int table_end(void **state)
{
	(void)state;
	ms_modtab_destroy(f.tab);
	return 0;
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, table, table_end)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_dwarf),
		TEST(test_memo),
		TEST(test_separate_debug_file),
		TEST(test_symtab_only),
		TEST(test_build_id_differs),
		TEST(test_missing_module),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
