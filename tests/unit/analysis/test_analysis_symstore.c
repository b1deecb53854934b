/* SPDX-License-Identifier: MIT */
/*
 * consumer/analysis/symstore.c: frames written and read back exactly,
 * modules matched by build id or path and never across a rebuild, every
 * kind of damage refused with -EBADMSG; and the symbolizer falling back to
 * a store for a module whose file is gone or rebuilt.
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
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "symbols.h"
#include "symfix.h"
#include "symstore.h"
#include "symstore_abi.h"

static const uint8_t bid_a[3] = {0xa1, 0xa2, 0xa3};

static const struct ms_frame fr_inl[3] = {
	{"inner", "/src/x.h", 10, 1, MS_SYM_DWARF},
	{"middle", "/src/x.h", 20, 1, MS_SYM_DWARF},
	{"outer(int)", "/src/x.c", 30, 0, MS_SYM_DWARF},
};
static const struct ms_frame fr_sym = {"symbol_only", NULL, 0, 0,
				       MS_SYM_SYMTAB};
static const struct ms_frame fr_b = {"b_main", "/src/b.c", 7, 0, MS_SYM_DWARF};

struct fx {
	struct ms_modtab *tab; /* the modules as a later analysis has them */
	uint8_t *img;
	size_t len;
};

static const struct ms_module *mod(struct ms_modtab *t, const uint8_t *bid,
				   const char *path)
{
	const struct ms_module *m;

	assert_int_equal(ms_modtab_get(t, bid, bid ? sizeof(bid_a) : 0, path,
				       strlen(path), &m),
			 0);
	return m;
}

/* A store of modules A (build id) and B (path only). */
static int setup(void **state)
{
	static struct fx f;
	struct ms_symstore_writer *w;
	struct ms_modtab *t;
	struct ms_frame other = {"not_this_one", NULL, 1, 0, MS_SYM_DWARF};

	assert_int_equal(ms_modtab_create(&t), 0);
	assert_int_equal(ms_symstore_writer_create(&w), 0);
	assert_int_equal(ms_symstore_add(w, mod(t, bid_a, "/lib/liba.so"), 0x10,
					 fr_inl, 3),
			 0);
	assert_int_equal(
		ms_symstore_add(w, mod(t, NULL, "/bin/b"), 0x100, &fr_b, 1), 0);
	assert_int_equal(ms_symstore_add(w, mod(t, bid_a, "/lib/liba.so"), 5,
					 &fr_sym, 1),
			 0);
	/* a key again: its first frames stay */
	assert_int_equal(
		ms_symstore_add(w, mod(t, bid_a, "/x"), 0x10, &other, 1), 0);
	assert_int_equal(
		ms_symstore_add(w, mod(t, NULL, "/bin/b"), 1, fr_inl, 0),
		-EINVAL);
	assert_int_equal(ms_symstore_encode(w, &f.img, &f.len), 0);
	ms_symstore_writer_destroy(w);
	ms_modtab_destroy(t);
	assert_int_equal(ms_modtab_create(&f.tab), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free(f->img);
	ms_modtab_destroy(f->tab);
	return 0;
}

/* The run stored at (smod, off) is `want`, from the store. */
static void check_run(const struct ms_symstore *st,
		      const struct ms_module *smod, uint64_t off,
		      const struct ms_frame *want, unsigned wn)
{
	const struct ms_frame *got;
	unsigned n = ms_symstore_lookup(st, smod, off, &got);

	assert_int_equal(n, wn);
	for (unsigned i = 0; i < n; i++)
		symfix_check_frame(&got[i], want[i].function, want[i].file,
				   want[i].line, i + 1 < n, MS_SYM_STORE);
}

struct seen {
	char keys[256];
	size_t len;
};

static int note_key(void *arg, const struct ms_module *m, uint64_t off,
		    const struct ms_frame *fr, unsigned n)
{
	struct seen *s = arg;

	s->len += (size_t)snprintf(s->keys + s->len, sizeof(s->keys) - s->len,
				   "%s@%llx/%u ", m->path,
				   (unsigned long long)off, n);
	assert_non_null(fr);
	return 0;
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	const struct ms_module *sa, *sb;
	const struct ms_frame *fr;
	struct ms_symstore *st;
	struct seen seen = {.len = 0};
	uint32_t m, k, n;

	assert_int_equal(ms_symstore_parse(f->img, f->len, &st), 0);
	ms_symstore_counts(st, &m, &k, &n);
	assert_int_equal(m, 2);
	assert_int_equal(k, 3);
	assert_int_equal(n, 5);

	/* A by build id, whatever its path now; B by path */
	sa = ms_symstore_module(st, mod(f->tab, bid_a, "/usr/lib/liba.so"));
	sb = ms_symstore_module(st, mod(f->tab, NULL, "/bin/b"));
	assert_non_null(sa);
	assert_non_null(sb);
	check_run(st, sa, 0x10, fr_inl, 3);
	check_run(st, sa, 5, &fr_sym, 1);
	check_run(st, sb, 0x100, &fr_b, 1);
	assert_int_equal(ms_symstore_lookup(st, sa, 0x11, &fr), 0);
	assert_int_equal(ms_symstore_lookup(st, sb, 0x10, &fr), 0);

	/* never across a rebuild: the same path with another build id, or
	 * a build id where the store has only a path */
	assert_null(ms_symstore_module(
		st, mod(f->tab, (const uint8_t *)"zzz", "/lib/liba.so")));
	assert_null(ms_symstore_module(
		st, mod(f->tab, (const uint8_t *)"yyy", "/bin/b")));
	assert_null(ms_symstore_module(st, mod(f->tab, NULL, "/lib/liba.so")));

	assert_int_equal(ms_symstore_foreach(st, note_key, &seen), 0);
	assert_string_equal(seen.keys,
			    "/lib/liba.so@5/1 /lib/liba.so@10/3 /bin/b@100/1 ");
	ms_symstore_free(st);
}

static int parse_err(const uint8_t *p, size_t len)
{
	struct ms_symstore *st = NULL;
	int err = ms_symstore_parse(p, len, &st);

	if (!err)
		ms_symstore_free(st);
	return err;
}

/* Every cut and every flipped bit is caught (length, CRC). */
static void test_damage(void **state)
{
	struct fx *f = *state;
	uint8_t *c = malloc(f->len);

	assert_non_null(c);
	for (size_t n = 0; n < f->len; n++)
		assert_int_equal(parse_err(f->img, n), -EBADMSG);
	for (size_t i = 0; i < f->len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(c, f->img, f->len);
			c[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(parse_err(c, f->len), -EBADMSG);
		}
	}
	free(c);
}

/* An image changed at `at` to `v`, its CRCs made right again. */
static int sealed_err(struct fx *f, size_t at, uint8_t v, size_t extra)
{
	uint8_t *c = calloc(1, f->len + extra);
	int err;

	memcpy(c, f->img, f->len);
	c[at] = v;
	if (ms_symstore_seal(c, f->len + extra)) /* a header size it refuses */
		ms_put_le32(c + MS_SYMSTORE_H_CRC,
			    ms_crc32c(0, c, MS_SYMSTORE_H_CRC));
	err = parse_err(c, f->len + extra);
	free(c);
	return err;
}

/* Damage the CRCs do not see: the reader's own checks. */
static void test_damage_sealed(void **state)
{
	struct fx *f = *state;
	size_t body = MS_SYMSTORE_HDR_SIZE;

	assert_int_equal(sealed_err(f, 0, f->img[0], 0), 0);
	/* a trailing byte; counts that disagree with the body */
	assert_int_equal(sealed_err(f, 0, f->img[0], 1), -EBADMSG);
	for (int h = MS_SYMSTORE_H_STRINGS; h < MS_SYMSTORE_H_BODY_SIZE; h++)
		assert_int_equal(
			sealed_err(f, (size_t)h, (uint8_t)(f->img[h] + 1), 0),
			-EBADMSG);
	/* a string length past the body, a NUL inside a string */
	assert_int_equal(sealed_err(f, body, 0xff, 0), -EBADMSG);
	assert_int_equal(sealed_err(f, body + 1, 0, 0), -EBADMSG);
	/* the last byte (a line number) made a varint that goes on */
	assert_int_equal(sealed_err(f, f->len - 1, 0x80, 0), -EBADMSG);
	/* another major; another minor is fine */
	assert_int_equal(sealed_err(f, MS_SYMSTORE_H_MAJOR, 2, 0), -ENOTSUP);
	assert_int_equal(sealed_err(f, MS_SYMSTORE_H_MINOR, 7, 0), 0);
	assert_int_equal(sealed_err(f, MS_SYMSTORE_H_ENDIAN, 5, 0), -EBADMSG);
	assert_int_equal(sealed_err(f, MS_SYMSTORE_H_HDR_SIZE, 63, 0),
			 -EBADMSG);
}

/* Every byte of the body changed to every value, CRCs fixed: refused or
 * read, never a crash (ASan/UBSan builds watch). */
static void test_every_byte(void **state)
{
	struct fx *f = *state;

	for (size_t i = MS_SYMSTORE_HDR_SIZE; i < f->len; i++)
		for (int v = 0; v < 256; v++) {
			int err = sealed_err(f, i, (uint8_t)v, 0);

			assert_true(err == 0 || err == -EBADMSG);
		}
}

static void test_files(void **state)
{
	struct fx *f = *state;
	char *dir = symfix_tmpdir(), path[1024];
	struct ms_symstore *st;
	FILE *out;

	(void)f;
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(ms_symstore_load(path, &st), -ENOENT);
	snprintf(path, sizeof(path), "%s/empty", dir);
	out = fopen(path, "w");
	assert_non_null(out);
	fclose(out);
	assert_int_equal(ms_symstore_load(path, &st), -EBADMSG);
	symfix_rmtree(dir);
	free(dir);
}

/* The fixture's names survive the loss of its file through a store. */
static void test_symbolizer_fallback(void **state)
{
	struct ms_symkey keys[SYMFIX_SITES];
	char *dir = symfix_tmpdir(), exe[1024], store[1024], want[256];
	struct ms_sym_opts o = {.debug_dirs = dir};
	const struct ms_frame *fr;
	struct ms_symbolizer *s;
	struct ms_symstore *st;
	struct symfix run;
	const struct ms_module *m;
	struct fx *f = *state;

	assert_int_equal(symfix_run(MS_SYMFIX, &run), 0);
	snprintf(exe, sizeof(exe), "%s/bin/ms_symfix", dir);
	snprintf(store, sizeof(store), "%s/symbols.mssy", dir);
	assert_int_equal(symfix_copy(MS_SYMFIX, exe), 0);
	assert_int_equal(ms_modtab_get(f->tab, run.bid, run.bid_len, exe,
				       strlen(exe), &m),
			 0);
	for (int i = 0; i < run.nsites; i++)
		keys[i] = (struct ms_symkey){m, run.site[i].off};

	/* written where the file is */
	assert_int_equal(ms_sym_create(&o, &s), 0);
	assert_int_equal(ms_sym_write_store(s, keys, (size_t)run.nsites, store),
			 0);
	ms_sym_destroy(s);

	/* the file gone: nothing without the store, the names with it */
	assert_int_equal(unlink(exe), 0);
	assert_int_equal(ms_sym_create(&o, &s), 0);
	symfix_check_unnamed(&run, s, m, "ms_symfix");
	ms_sym_destroy(s);
	assert_int_equal(ms_symstore_load(store, &st), 0);
	o.store = st;
	assert_int_equal(ms_sym_create(&o, &s), 0);
	symfix_check_names(&run, s, m, MS_SYM_STORE);
	/* an offset the store does not have: still no name */
	snprintf(want, sizeof(want), "ms_symfix+0x%" PRIx64,
		 run.site[0].off + 1);
	assert_int_equal(ms_sym_resolve(s, m, run.site[0].off + 1, &fr), 1);
	symfix_check_frame(fr, want, NULL, 0, 0, MS_SYM_NONE);
	ms_sym_destroy(s);

	/* rebuilt in its place: the store still knows the recorded build */
	assert_int_equal(symfix_copy(MS_SYMFIX_V2, exe), 0);
	assert_int_equal(ms_sym_create(&o, &s), 0);
	symfix_check_names(&run, s, m, MS_SYM_STORE);
	assert_int_equal(ms_sym_module_state(s, m), -ESTALE);
	ms_sym_destroy(s);
	ms_symstore_free(st);
	symfix_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_damage_sealed),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_symbolizer_fallback),
	};

	unsetenv("DEBUGINFOD_URLS");
	return cmocka_run_group_tests(tests, setup, teardown);
}
