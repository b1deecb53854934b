/* SPDX-License-Identifier: MIT */
/*
 * consumer/analysis/modmap.c: load / unload / reload sequences, overlapping
 * and adjacent modules, lookups at the boundaries, modules shared across
 * processes, and a random sequence checked against a plain model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "modmap.h"

static const uint8_t bid_a[4] = {0xaa, 1, 2, 3};
static const uint8_t bid_b[4] = {0xbb, 1, 2, 3};

struct fx {
	struct ms_modtab *tab;
	struct ms_modmap *map;
};

static int setup(void **state)
{
	static struct fx f;

	assert_int_equal(ms_modtab_create(&f.tab), 0);
	assert_int_equal(ms_modmap_create(f.tab, &f.map), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ms_modmap_destroy(f->map);
	ms_modtab_destroy(f->tab);
	return 0;
}

static int load(struct fx *f, uint64_t base, uint64_t size, const uint8_t *bid,
		const char *path)
{
	return ms_modmap_load(f->map, base, size, bid, bid ? 4 : 0, path,
			      strlen(path));
}

/* The module at addr, checking the offset when there is one. */
static const struct ms_module *at(struct fx *f, uint64_t addr, uint64_t off)
{
	uint64_t got = ~0ull;
	const struct ms_module *m = ms_modmap_lookup(f->map, addr, &got);

	if (m)
		assert_int_equal(got, off);
	return m;
}

static void test_boundaries(void **state)
{
	struct fx *f = *state;
	const struct ms_module *a, *b;

	assert_null(at(f, 0x1000, 0));
	assert_int_equal(load(f, 0x1000, 0x1000, bid_a, "/lib/liba.so"), 0);
	assert_int_equal(load(f, 0x2000, 0x1000, bid_b, "/lib/libb.so"), 0);
	a = at(f, 0x1000, 0);
	b = at(f, 0x2000, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(a->name, "liba.so");
	assert_string_equal(b->path, "/lib/libb.so");
	assert_null(at(f, 0xfff, 0));
	assert_ptr_equal(at(f, 0x1fff, 0xfff), a);
	assert_ptr_equal(at(f, 0x2fff, 0xfff), b);
	assert_null(at(f, 0x3000, 0));
	assert_null(at(f, ~0ull, 0));
	assert_int_equal(ms_modmap_ranges(f->map), 2);
}

static void test_unload_reload(void **state)
{
	struct fx *f = *state;
	const struct ms_module *a, *b;

	assert_int_equal(load(f, 0x10000, 0x3000, bid_a, "/lib/liba.so"), 0);
	a = at(f, 0x10010, 0x10);
	assert_non_null(a);
	assert_int_equal(ms_modmap_unload(f->map, 0x10000), 0);
	assert_null(at(f, 0x10010, 0));
	assert_int_equal(ms_modmap_unload(f->map, 0x10000), -ENOENT);

	/* the same object elsewhere: the same module, offsets from the new
	 * base */
	assert_int_equal(load(f, 0x50000, 0x3000, bid_a, "/lib/liba.so"), 0);
	assert_ptr_equal(at(f, 0x52345, 0x2345), a);
	assert_null(at(f, 0x10010, 0));
	assert_int_equal(ms_modmap_unload(f->map, 0x50000), 0);

	/* another object at the old base */
	assert_int_equal(load(f, 0x10000, 0x1000, bid_b, "/lib/libb.so"), 0);
	b = at(f, 0x10010, 0x10);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_null(at(f, 0x11000, 0));
	assert_int_equal(ms_modtab_count(f->tab), 2);
}

static void test_overlap(void **state)
{
	struct fx *f = *state;
	const struct ms_module *a, *b, *c;

	/* b lands inside a: a keeps both sides, with a's offsets */
	assert_int_equal(load(f, 0x1000, 0x4000, bid_a, "/a"), 0);
	assert_int_equal(load(f, 0x2000, 0x1000, bid_b, "/b"), 0);
	a = at(f, 0x1fff, 0xfff);
	b = at(f, 0x2000, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_equal(at(f, 0x2fff, 0xfff), b);
	assert_ptr_equal(at(f, 0x3000, 0x2000), a);
	assert_ptr_equal(at(f, 0x4fff, 0x3fff), a);
	assert_int_equal(ms_modmap_ranges(f->map), 3);

	/* unloading a takes both of its pieces */
	assert_int_equal(ms_modmap_unload(f->map, 0x1000), 0);
	assert_null(at(f, 0x1000, 0));
	assert_null(at(f, 0x3000, 0));
	assert_ptr_equal(at(f, 0x2800, 0x800), b);

	/* c over the end of b and beyond; then over everything */
	assert_int_equal(load(f, 0x2800, 0x1000, NULL, "/c"), 0);
	c = at(f, 0x2800, 0);
	assert_non_null(c);
	assert_ptr_equal(at(f, 0x27ff, 0x7ff), b);
	assert_ptr_equal(at(f, 0x37ff, 0xfff), c);
	assert_int_equal(load(f, 0x1000, 0x8000, bid_a, "/a"), 0);
	assert_ptr_equal(at(f, 0x2800, 0x1800), a);
	assert_int_equal(ms_modmap_ranges(f->map), 1);
	assert_int_equal(ms_modmap_unload(f->map, 0x2000), -ENOENT);
}

static void test_invalid(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, 0x1000, 0, bid_a, "/a"), -EINVAL);
	assert_int_equal(load(f, ~0ull - 0xff, 0x100, bid_a, "/a"), -EINVAL);
	assert_int_equal(load(f, ~0ull - 0xff, 0xff, bid_a, "/a"), 0);
	assert_non_null(at(f, ~0ull - 1, 0xfe));
	assert_null(at(f, ~0ull, 0));
	assert_int_equal(ms_modmap_ranges(f->map), 1);
}

/* Modules are one handle per build id (else per path), across processes. */
static void test_shared_modules(void **state)
{
	struct fx *f = *state;
	struct ms_modmap *other;
	const struct ms_module *m1, *m2;
	uint64_t off;

	assert_int_equal(ms_modmap_create(f->tab, &other), 0);
	assert_int_equal(load(f, 0x1000, 0x1000, bid_a, "/usr/lib/liba.so"), 0);
	assert_int_equal(ms_modmap_load(other, 0x9000, 0x1000, bid_a, 4,
					"/lib/liba.so", 12),
			 0);
	m1 = at(f, 0x1000, 0);
	m2 = ms_modmap_lookup(other, 0x9004, &off);
	assert_ptr_equal(m1, m2);
	assert_int_equal(off, 4);
	assert_string_equal(m2->path, "/usr/lib/liba.so"); /* the first */

	/* no build id: the path decides; the same path with another build
	 * id is another module */
	assert_int_equal(load(f, 0x3000, 0x1000, NULL, "/bin/x"), 0);
	assert_int_equal(
		ms_modmap_load(other, 0x3000, 0x1000, NULL, 0, "/bin/x", 6), 0);
	assert_ptr_equal(at(f, 0x3000, 0),
			 ms_modmap_lookup(other, 0x3000, &off));
	assert_int_equal(
		ms_modmap_load(other, 0x5000, 0x1000, bid_b, 4, "/bin/x", 6),
		0);
	assert_ptr_not_equal(ms_modmap_lookup(other, 0x5000, &off),
			     at(f, 0x3000, 0));
	assert_int_equal(ms_modtab_count(f->tab), 3);
	assert_ptr_equal(ms_modtab_find(f->tab, NULL, 0, "/bin/x", 6),
			 at(f, 0x3000, 0));
	assert_ptr_equal(ms_modtab_find(f->tab, bid_a, 4, "", 0), m1);
	assert_null(ms_modtab_find(f->tab, NULL, 0, "/bin/y", 6));
	assert_ptr_equal(ms_modtab_at(f->tab, m1->id), m1);
	assert_null(ms_modtab_at(f->tab, 3));

	/* a NUL cuts a path; an empty one still names the module */
	assert_int_equal(
		ms_modmap_load(other, 0x7000, 0x10, NULL, 0, "/bin/x\0y", 8),
		0);
	assert_ptr_equal(ms_modmap_lookup(other, 0x7000, &off),
			 at(f, 0x3000, 0));
	assert_int_equal(ms_modmap_load(other, 0x8000, 0x10, NULL, 0, "", 0),
			 0);
	assert_string_equal(ms_modmap_lookup(other, 0x8000, &off)->name,
			    "[unnamed]");
	ms_modmap_destroy(other);
}

/* Records as the archive gives them. */
static void test_apply_records(void **state)
{
	struct fx *f = *state;
	struct ms_rec_state enc = {0}, dec = {0};
	uint8_t buf[256], *p = buf, *end;
	struct ms_event ev;
	ssize_t n;

	p = ms_rec_put_module_load(&enc, p, 1, 0x400000, 0x2000, bid_a, 4,
				   "/bin/prog", 9);
	p = ms_rec_put_alloc(&enc, p, 2, 0x10, 8, 0, 0, MS_WEIGHT_ONE);
	end = ms_rec_put_module_unload(&enc, p, 3, 0x400000);
	for (p = buf; p < end; p += n) {
		n = ms_rec_decode(&dec, p, (size_t)(end - p), &ev);
		assert_true(n > 0);
		if (ev.type == MS_REC_ALLOC)
			assert_string_equal(at(f, 0x401000, 0x1000)->name,
					    "prog");
		assert_int_equal(ms_modmap_apply(f->map, &ev), 0);
	}
	assert_null(at(f, 0x401000, 0));
}

/* Random loads and unloads over a small space, against one slot per
 * address. */
#define SPACE 512
struct model {
	const struct ms_module *mod[SPACE];
	uint64_t base[SPACE];
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void model_step(struct fx *f, struct model *md, uint64_t *s)
{
	uint64_t base = rnd(s) % SPACE, size = 1 + rnd(s) % 96;
	uint8_t bid[1] = {(uint8_t)(rnd(s) % 5)};
	const struct ms_module *mod;

	if (rnd(s) % 3 == 0) {
		int had = 0;

		for (int a = 0; a < SPACE; a++)
			if (md->mod[a] && md->base[a] == base) {
				md->mod[a] = NULL;
				had = 1;
			}
		assert_int_equal(ms_modmap_unload(f->map, base),
				 had ? 0 : -ENOENT);
		return;
	}
	if (base + size > SPACE)
		size = SPACE - base;
	assert_int_equal(ms_modmap_load(f->map, base, size, bid, 1, "m", 1), 0);
	mod = ms_modtab_find(f->tab, bid, 1, "", 0);
	assert_non_null(mod);
	for (uint64_t a = base; a < base + size; a++) {
		md->mod[a] = mod;
		md->base[a] = base;
	}
}

static void test_against_model(void **state)
{
	struct fx *f = *state;
	static struct model md;
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (int step = 0; step < 3000; step++) {
		model_step(f, &md, &s);
		for (uint64_t a = 0; a < SPACE + 8; a++) {
			const struct ms_module *want =
				a < SPACE ? md.mod[a] : NULL;

			assert_ptr_equal(at(f, a, want ? a - md.base[a] : 0),
					 want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boundaries, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unload_reload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_modules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_apply_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_against_model, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
