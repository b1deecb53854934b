/* SPDX-License-Identifier: MIT */
/*
 * The symbol store reader (consumer/analysis/symstore.c) on arbitrary
 * bytes, twice: as they are, and with the header's body size and CRCs
 * made right (ms_symstore_seal) so that the checks of the body are
 * reached. Errors are only -EBADMSG, -ENOTSUP or -ENOMEM. A store that is
 * read must survive a round trip: written again and read back, every key
 * has the same frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "symstore.h"
#include "symstore_abi.h"

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int add_key(void *arg, const struct ms_module *mod, uint64_t off,
		   const struct ms_frame *fr, unsigned n)
{
	MS_FUZZ_CHECK(n >= 1 && n <= MS_FRAMES_MAX);
	return ms_symstore_add(arg, mod, off, fr, n);
}

/* Every key of the original, looked up in the copy. */
static int check_key(void *arg, const struct ms_module *mod, uint64_t off,
		     const struct ms_frame *fr, unsigned n)
{
	const struct ms_symstore *copy = arg;
	const struct ms_module *cm = ms_symstore_module(copy, mod);
	const struct ms_frame *cf;

	MS_FUZZ_CHECK(cm != NULL);
	MS_FUZZ_CHECK(ms_symstore_lookup(copy, cm, off, &cf) == n);
	for (unsigned i = 0; i < n; i++) {
		MS_FUZZ_CHECK(fr[i].function &&
			      same_str(fr[i].function, cf[i].function));
		MS_FUZZ_CHECK(same_str(fr[i].file, cf[i].file));
		MS_FUZZ_CHECK(fr[i].line == cf[i].line);
		MS_FUZZ_CHECK(fr[i].inlined == (i + 1 < n) &&
			      cf[i].inlined == fr[i].inlined);
		MS_FUZZ_CHECK(fr[i].source == MS_SYM_STORE);
	}
	return 0;
}

static void round_trip(const struct ms_symstore *st)
{
	struct ms_symstore_writer *w;
	struct ms_symstore *copy;
	uint32_t m[2], k[2], f[2];
	uint8_t *img;
	size_t len;

	if (ms_symstore_writer_create(&w))
		return;
	if (ms_symstore_foreach(st, add_key, w) ||
	    ms_symstore_encode(w, &img, &len)) {
		ms_symstore_writer_destroy(w);
		return; /* out of memory */
	}
	ms_symstore_writer_destroy(w);
	MS_FUZZ_CHECK(ms_symstore_parse(img, len, &copy) == 0);
	free(img);
	ms_symstore_foreach(st, check_key, copy);
	ms_symstore_counts(st, &m[0], &k[0], &f[0]);
	ms_symstore_counts(copy, &m[1], &k[1], &f[1]);
	/* a module without keys is not written again */
	MS_FUZZ_CHECK(m[1] <= m[0] && k[1] == k[0] && f[1] == f[0]);
	ms_symstore_free(copy);
}

static void check(const uint8_t *p, size_t n)
{
	struct ms_symstore *st;
	int err = ms_symstore_parse(p, n, &st);

	if (err) {
		MS_FUZZ_CHECK(err == -EBADMSG || err == -ENOTSUP ||
			      err == -ENOMEM);
		return;
	}
	round_trip(st);
	ms_symstore_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *c;

	check(data, size);
	if (size < MS_SYMSTORE_HDR_SIZE)
		return 0;
	c = malloc(size);
	if (!c)
		return 0;
	memcpy(c, data, size);
	if (ms_symstore_seal(c, size) == 0)
		check(c, size);
	free(c);
	return 0;
}

static void emit_store(struct ms_symstore_writer *w, ms_fuzz_emit emit,
		       void *arg)
{
	uint8_t *img;
	size_t len;

	if (ms_symstore_encode(w, &img, &len) == 0) {
		emit(img, len, arg);
		free(img);
	}
	ms_symstore_writer_destroy(w);
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static const uint8_t bid[4] = {0xde, 0xad, 0xbe, 0xef};
	static const struct ms_frame fr[3] = {
		{"inner", "/src/a.h", 3, 1, MS_SYM_DWARF},
		{"ns::outer(int)", "/src/a.cc", 40, 0, MS_SYM_DWARF},
		{"sym", NULL, 0, 0, MS_SYM_SYMTAB},
	};
	struct ms_symstore_writer *w;
	const struct ms_module *a, *b;
	struct ms_modtab *t;

	if (ms_modtab_create(&t))
		return;
	if (ms_modtab_get(t, bid, sizeof(bid), "/lib/liba.so", 12, &a) ||
	    ms_modtab_get(t, NULL, 0, "/usr/bin/prog", 13, &b))
		goto out;
	if (ms_symstore_writer_create(&w) == 0) /* empty */
		emit_store(w, emit, arg);
	if (ms_symstore_writer_create(&w) == 0) {
		ms_symstore_add(w, a, 0x1234, fr, 2);
		ms_symstore_add(w, a, 0x10, &fr[2], 1);
		ms_symstore_add(w, b, 0x401000, &fr[1], 1);
		ms_symstore_add(w, b, 0x401008, fr, 3);
		emit_store(w, emit, arg);
	}
out:
	ms_modtab_destroy(t);
}
