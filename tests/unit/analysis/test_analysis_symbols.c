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

static void test_dwarf(void **state)
{
	struct ms_symbolizer *s = symbolizer(f.empty);
	const struct ms_module *m = module(MS_SYMFIX, 1);

	(void)state;
	symfix_check_names(&f.run, s, m, MS_SYM_DWARF);
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

/* Stripped of everything: the names come from the debug file. */
static void test_separate_debug_file(void **state)
{
	char *dir = symfix_debug_tree(&f.run);
	struct ms_symbolizer *s = symbolizer(dir);
	const struct ms_module *m = module(MS_SYMFIX_STRIPPED, 1);

	(void)state;
	symfix_check_names(&f.run, s, m, MS_SYM_DWARF);
	ms_sym_destroy(s);

	/* without it: no name at all */
	s = symbolizer(f.empty);
	symfix_check_unnamed(&f.run, s, m, "ms_symfix.stripped");
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
	symfix_check_frame(&fr[0], "ms_fx_alpha", NULL, 0, 0, MS_SYM_SYMTAB);
	site = symfix_site(&f.run, "ms_fx_inner"); /* inlined: its caller */
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	symfix_check_frame(&fr[0], "ms_fx_outer", NULL, 0, 0, MS_SYM_SYMTAB);
	site = symfix_site(&f.run, "ms_fx::Counter::bump(int)");
	assert_int_equal(ms_sym_resolve(s, m, site->off, &fr), 1);
	symfix_check_frame(&fr[0], "ms_fx::Counter::bump(int)", NULL, 0, 0,
			   MS_SYM_SYMTAB);
	ms_sym_destroy(s);
}

/* The module at `path` is not used, for the reason `err`: every site is
 * "name+0xoffset". */
static void check_unfit(struct ms_symbolizer *s, const char *path, int with_bid,
			const char *name, int err)
{
	const struct ms_module *m = module(path, with_bid);

	symfix_check_unnamed(&f.run, s, m, name);
	assert_int_equal(ms_sym_module_state(s, m), err);
}

/* Rebuilt after recording: the file at the recorded path has another
 * build id, so it gives no name. */
static void test_build_id_differs(void **state)
{
	char path[1024];
	struct ms_symbolizer *s = symbolizer(f.empty);

	(void)state;
	snprintf(path, sizeof(path), "%s/rebuilt/ms_symfix", f.tmp);
	assert_int_equal(symfix_copy(MS_SYMFIX_V2, path), 0);
	check_unfit(s, path, 1, "ms_symfix", -ESTALE);
	/* recorded without a build id, the file has one: not the same */
	check_unfit(s, MS_SYMFIX, 0, "ms_symfix", -ESTALE);
	ms_sym_destroy(s);
}

static void test_missing_module(void **state)
{
	char path[1024];
	struct ms_symbolizer *s = symbolizer(f.empty);
	struct ms_sym_stats st;

	(void)state;
	snprintf(path, sizeof(path), "%s/gone/ms_symfix", f.tmp);
	check_unfit(s, path, 1, "ms_symfix", -ENOENT);
	/* a file that is not ELF (no build id recorded: a module of its
	 * own) */
	check_unfit(s, MS_SYMFIX_SRC, 0, "symbols_fixture.c", -ENOEXEC);
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
