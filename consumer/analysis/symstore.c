/* SPDX-License-Identifier: MIT */
#include "symstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "fileio.h"
#include "grow.h"
#include "strpool.h"
#include "symstore_abi.h"

#define FILE_MAX (1ull << 30)

/* ---- writer ---- */

struct wkey {
	uint32_t mod; /* id in the writer's module table */
	uint32_t nframes;
	uint64_t off;
	size_t first; /* into fr */
	uint64_t seq; /* order of adding: the first of equal keys wins */
};

struct wframe {
	uint32_t fn, file; /* string index; file + 1, 0: none */
	uint32_t line;
};

struct ms_symstore_writer {
	struct ms_modtab *mods;
	struct ms_strpool *strings;
	struct wkey *keys;
	size_t nkeys, keycap;
	struct wframe *fr;
	size_t nfr, frcap;
};

int ms_symstore_writer_create(struct ms_symstore_writer **out)
{
	struct ms_symstore_writer *w = calloc(1, sizeof(*w));

	if (!w || ms_modtab_create(&w->mods) ||
	    ms_strpool_create(&w->strings)) {
		ms_symstore_writer_destroy(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void ms_symstore_writer_destroy(struct ms_symstore_writer *w)
{
	if (!w)
		return;
	ms_modtab_destroy(w->mods);
	ms_strpool_destroy(w->strings);
	free(w->keys);
	free(w->fr);
	free(w);
}

/* A string's index; long ones are cut. UINT32_MAX: no memory. */
static uint32_t str_index(struct ms_symstore_writer *w, const char *s)
{
	size_t len = strnlen(s, MS_SYMSTORE_STR_MAX);
	uint32_t idx;

	if (!ms_strpool_intern(w->strings, s, len, &idx))
		return UINT32_MAX;
	return idx;
}

static int add_frames(struct ms_symstore_writer *w, const struct ms_frame *fr,
		      unsigned n)
{
	struct wframe *grown =
		ms_grow(w->fr, &w->frcap, w->nfr + n, sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	w->fr = grown;
	for (unsigned i = 0; i < n; i++) {
		struct wframe *f = &w->fr[w->nfr + i];
		uint32_t file = fr[i].file ? str_index(w, fr[i].file) : 0;

		f->fn = str_index(w, fr[i].function ? fr[i].function : "??");
		if (f->fn == UINT32_MAX || file == UINT32_MAX)
			return -ENOMEM;
		f->file = fr[i].file ? file + 1 : 0;
		f->line = fr[i].line;
	}
	w->nfr += n;
	return 0;
}

int ms_symstore_add(struct ms_symstore_writer *w, const struct ms_module *mod,
		    uint64_t off, const struct ms_frame *fr, unsigned n)
{
	const struct ms_module *wm;
	size_t first = w->nfr;
	struct wkey *keys;

	if (n == 0 || n > MS_FRAMES_MAX)
		return -EINVAL;
	keys = ms_grow(w->keys, &w->keycap, w->nkeys + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	w->keys = keys;
	if (ms_modtab_get(w->mods, mod->build_id, mod->build_id_len, mod->path,
			  strlen(mod->path), &wm) ||
	    add_frames(w, fr, n))
		return -ENOMEM;
	w->keys[w->nkeys] = (struct wkey){wm->id, n, off, first, w->nkeys};
	w->nkeys++;
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct wkey *x = a, *y = b;

	if (x->mod != y->mod)
		return x->mod < y->mod ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* An output buffer that grows; `err` sticks once set. */
struct obuf {
	uint8_t *p;
	size_t n, cap;
	int err;
};

static uint8_t *room(struct obuf *b, size_t n)
{
	uint8_t *p = b->err ? NULL : ms_grow(b->p, &b->cap, b->n + n, 1);

	if (!p) {
		b->err = -ENOMEM;
		return NULL;
	}
	b->p = p;
	b->n += n;
	return b->p + b->n - n;
}

static void put_u(struct obuf *b, uint64_t v)
{
	uint8_t tmp[MS_VARINT_MAX];
	size_t n = (size_t)(ms_put_varint(tmp, v) - tmp);
	uint8_t *p = room(b, n);

	if (p)
		memcpy(p, tmp, n);
}

static void put_bytes(struct obuf *b, const void *s, size_t n)
{
	uint8_t *p;

	put_u(b, n);
	p = room(b, n);
	if (p && n)
		memcpy(p, s, n);
}

/* Keys sorted, duplicates dropped; the number kept per module. */
static size_t sort_keys(struct ms_symstore_writer *w, uint32_t *per_mod)
{
	size_t kept = 0;

	if (w->nkeys > 1) /* keys is NULL when none was added */
		qsort(w->keys, w->nkeys, sizeof(*w->keys), by_key);
	for (size_t i = 0; i < w->nkeys; i++) {
		if (kept && w->keys[kept - 1].mod == w->keys[i].mod &&
		    w->keys[kept - 1].off == w->keys[i].off)
			continue;
		w->keys[kept++] = w->keys[i];
		per_mod[w->keys[i].mod]++;
	}
	w->nkeys = kept;
	return kept;
}

static void put_keys(struct ms_symstore_writer *w, struct obuf *b)
{
	for (size_t i = 0; i < w->nkeys; i++) {
		const struct wkey *k = &w->keys[i];
		int first = i == 0 || w->keys[i - 1].mod != k->mod;

		put_u(b, first ? k->off : k->off - w->keys[i - 1].off);
		put_u(b, k->nframes);
		for (uint32_t j = 0; j < k->nframes; j++) {
			const struct wframe *f = &w->fr[k->first + j];

			put_u(b, f->fn);
			put_u(b, f->file);
			put_u(b, f->line);
		}
	}
}

static void put_header(uint8_t *h, const struct ms_symstore_writer *w,
		       uint32_t nstr, size_t nframes)
{
	memset(h, 0, MS_SYMSTORE_HDR_SIZE);
	ms_put_le32(h + MS_SYMSTORE_H_MAGIC, MS_SYMSTORE_MAGIC);
	ms_put_le16(h + MS_SYMSTORE_H_MAJOR, MS_SYMSTORE_MAJOR);
	ms_put_le16(h + MS_SYMSTORE_H_MINOR, MS_SYMSTORE_MINOR);
	ms_put_le32(h + MS_SYMSTORE_H_HDR_SIZE, MS_SYMSTORE_HDR_SIZE);
	ms_put_le32(h + MS_SYMSTORE_H_ENDIAN, MS_SYMSTORE_ENDIAN);
	ms_put_le32(h + MS_SYMSTORE_H_STRINGS, nstr);
	ms_put_le32(h + MS_SYMSTORE_H_MODULES, ms_modtab_count(w->mods));
	ms_put_le32(h + MS_SYMSTORE_H_KEYS, (uint32_t)w->nkeys);
	ms_put_le32(h + MS_SYMSTORE_H_FRAMES, (uint32_t)nframes);
}

int ms_symstore_seal(uint8_t *p, size_t len)
{
	uint32_t hdr;

	if (len < MS_SYMSTORE_HDR_SIZE)
		return -EINVAL;
	hdr = ms_get_le32(p + MS_SYMSTORE_H_HDR_SIZE);
	if (hdr < MS_SYMSTORE_HDR_SIZE || hdr > len)
		return -EINVAL;
	ms_put_le64(p + MS_SYMSTORE_H_BODY_SIZE, len - hdr);
	ms_put_le32(p + MS_SYMSTORE_H_BODY_CRC,
		    ms_crc32c(0, p + hdr, len - hdr));
	ms_put_le32(p + MS_SYMSTORE_H_CRC, ms_crc32c(0, p, MS_SYMSTORE_H_CRC));
	return 0;
}

static void put_strings(struct ms_symstore_writer *w, struct obuf *b)
{
	uint32_t nstr = ms_strpool_count(w->strings);

	for (uint32_t i = 0; i < nstr; i++) {
		size_t n;
		const char *s = ms_strpool_at(w->strings, i, &n);

		put_bytes(b, s, n);
	}
}

static void put_modules(struct ms_symstore_writer *w, struct obuf *b,
			const uint32_t *per_mod)
{
	for (uint32_t m = 0; m < ms_modtab_count(w->mods); m++) {
		const struct ms_module *mod = ms_modtab_at(w->mods, m);

		put_bytes(b, mod->build_id, mod->build_id_len);
		put_u(b, str_index(w, mod->path)); /* interned already */
		put_u(b, per_mod[m]);
	}
}

int ms_symstore_encode(struct ms_symstore_writer *w, uint8_t **out, size_t *len)
{
	uint32_t nmods = ms_modtab_count(w->mods);
	uint32_t *per_mod = calloc(nmods + 1, sizeof(*per_mod));
	struct obuf b = {0};
	size_t nframes = 0;

	if (!per_mod)
		return -ENOMEM;
	sort_keys(w, per_mod);
	for (size_t i = 0; i < w->nkeys; i++)
		nframes += w->keys[i].nframes;
	for (uint32_t m = 0; m < nmods; m++) /* paths join the strings */
		if (str_index(w, ms_modtab_at(w->mods, m)->path) == UINT32_MAX)
			b.err = -ENOMEM;
	room(&b, MS_SYMSTORE_HDR_SIZE);
	put_strings(w, &b);
	put_modules(w, &b, per_mod);
	put_keys(w, &b);
	free(per_mod);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	put_header(b.p, w, ms_strpool_count(w->strings), nframes);
	ms_symstore_seal(b.p, b.n);
	*out = b.p;
	*len = b.n;
	return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	int err = 0;

	if (fd < 0)
		return -errno;
	while (n > 0 && !err) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno != EINTR)
			err = -errno;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	if (close(fd) && !err)
		err = -errno;
	return err;
}

int ms_symstore_save(struct ms_symstore_writer *w, const char *path)
{
	char tmp[4096];
	uint8_t *p;
	size_t n;
	int err;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	err = ms_symstore_encode(w, &p, &n);
	if (err)
		return err;
	err = write_file(tmp, p, n);
	free(p);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* ---- reader ---- */

struct rkey {
	const struct ms_module *mod;
	uint64_t off;
	const struct ms_frame *fr;
	unsigned n;
};

struct ms_symstore {
	struct ms_modtab *mods;
	struct ms_strpool *strings;
	struct ms_frametab index;
	const char **str; /* by index in the file */
	uint32_t nstr, nmods, nkeys, nframes;
	struct rkey *keys; /* file order */
};

/* Untrusted input: every read checks the end; the first error sticks. */
struct cursor {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t get_u(struct cursor *c)
{
	uint64_t v = 0;

	if (!c->bad && ms_get_varint(&c->p, c->end, &v))
		c->bad = 1;
	return c->bad ? 0 : v;
}

/* `max` bytes at most; NULL (bad) when longer or past the end. */
static const uint8_t *get_bytes(struct cursor *c, size_t max, size_t *len)
{
	uint64_t n = get_u(c);
	const uint8_t *p = c->p;

	if (c->bad || n > max || n > (uint64_t)(c->end - c->p)) {
		c->bad = 1;
		return NULL;
	}
	c->p += n;
	*len = (size_t)n;
	return p;
}

/* A value below `limit`, else bad. */
static uint32_t get_below(struct cursor *c, uint64_t limit)
{
	uint64_t v = get_u(c);

	if (v >= limit)
		c->bad = 1;
	return c->bad ? 0 : (uint32_t)v;
}

struct hdr {
	uint32_t hdr_size, nstr, nmods, nkeys, nframes, body_crc;
	uint64_t body_size;
};

static int read_header(const uint8_t *p, size_t len, struct hdr *h)
{
	if (len < MS_SYMSTORE_HDR_SIZE ||
	    ms_get_le32(p + MS_SYMSTORE_H_MAGIC) != MS_SYMSTORE_MAGIC ||
	    ms_get_le32(p + MS_SYMSTORE_H_CRC) !=
		    ms_crc32c(0, p, MS_SYMSTORE_H_CRC))
		return -EBADMSG;
	if (ms_get_le16(p + MS_SYMSTORE_H_MAJOR) != MS_SYMSTORE_MAJOR)
		return -ENOTSUP;
	h->hdr_size = ms_get_le32(p + MS_SYMSTORE_H_HDR_SIZE);
	h->nstr = ms_get_le32(p + MS_SYMSTORE_H_STRINGS);
	h->nmods = ms_get_le32(p + MS_SYMSTORE_H_MODULES);
	h->nkeys = ms_get_le32(p + MS_SYMSTORE_H_KEYS);
	h->nframes = ms_get_le32(p + MS_SYMSTORE_H_FRAMES);
	h->body_size = ms_get_le64(p + MS_SYMSTORE_H_BODY_SIZE);
	h->body_crc = ms_get_le32(p + MS_SYMSTORE_H_BODY_CRC);
	if (ms_get_le32(p + MS_SYMSTORE_H_ENDIAN) != MS_SYMSTORE_ENDIAN ||
	    h->hdr_size < MS_SYMSTORE_HDR_SIZE || h->hdr_size > len ||
	    h->body_size != len - h->hdr_size ||
	    ms_crc32c(0, p + h->hdr_size, h->body_size) != h->body_crc)
		return -EBADMSG;
	/* every string, module and key takes at least one byte, every
	 * frame three: counts beyond that are damage, and allocations
	 * sized by them stay within the input's size */
	if (h->nstr > h->body_size || h->nmods > h->body_size ||
	    h->nkeys > h->body_size || h->nframes > h->body_size / 3)
		return -EBADMSG;
	return 0;
}

static int read_strings(struct ms_symstore *st, struct cursor *c)
{
	st->str = calloc(st->nstr ? st->nstr : 1, sizeof(*st->str));
	if (!st->str)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->nstr; i++) {
		size_t n;
		const uint8_t *s = get_bytes(c, MS_SYMSTORE_STR_MAX, &n);

		if (!s || memchr(s, 0, n))
			return -EBADMSG;
		st->str[i] = ms_strpool_intern(st->strings, (const char *)s, n,
					       NULL);
		if (!st->str[i])
			return -ENOMEM;
	}
	return 0;
}

/* Modules in file order (each a new one: ids 0..n-1), with their key
 * counts into per_mod. */
static int read_modules(struct ms_symstore *st, struct cursor *c,
			uint32_t *per_mod)
{
	uint64_t keys = 0;

	for (uint32_t m = 0; m < st->nmods; m++) {
		const struct ms_module *mod;
		size_t bid_len = 0;
		const uint8_t *bid = get_bytes(c, MS_BUILD_ID_MAX, &bid_len);
		uint32_t path = get_below(c, st->nstr);

		per_mod[m] = get_below(c, (uint64_t)st->nkeys + 1);
		keys += per_mod[m];
		if (c->bad)
			return -EBADMSG;
		if (ms_modtab_get(st->mods, bid, bid_len, st->str[path],
				  strlen(st->str[path]), &mod))
			return -ENOMEM;
		if (mod->id != m) /* the same module twice */
			return -EBADMSG;
	}
	return keys == st->nkeys ? 0 : -EBADMSG;
}

static int read_key(struct ms_symstore *st, struct cursor *c, struct rkey *k,
		    uint64_t *frames)
{
	struct ms_frame fr[MS_FRAMES_MAX];
	unsigned n = get_below(c, MS_FRAMES_MAX + 1);

	if (n == 0 || (*frames += n) > st->nframes)
		return -EBADMSG;
	for (unsigned i = 0; i < n; i++) {
		uint32_t fn = get_below(c, st->nstr);
		uint32_t file = get_below(c, (uint64_t)st->nstr + 1);
		uint32_t line = get_below(c, (uint64_t)UINT32_MAX + 1);

		fr[i] = (struct ms_frame){st->str[fn],
					  file ? st->str[file - 1] : NULL, line,
					  i + 1 < n, MS_SYM_STORE};
	}
	if (c->bad)
		return -EBADMSG;
	k->n = n;
	/* keys are unique (offsets increase), so only memory can fail */
	if (ms_frametab_add(&st->index, k->mod->id, k->off, fr, n, &k->fr))
		return -ENOMEM;
	return 0;
}

/* Keys by module, offsets strictly increasing within one. */
static int read_keys(struct ms_symstore *st, struct cursor *c,
		     const uint32_t *per_mod)
{
	uint64_t frames = 0;
	uint32_t k = 0;

	for (uint32_t m = 0; m < st->nmods; m++) {
		const struct ms_module *mod = ms_modtab_at(st->mods, m);
		uint64_t off = 0;

		for (uint32_t i = 0; i < per_mod[m]; i++, k++) {
			uint64_t d = get_u(c);
			int err;

			if ((i > 0 && d == 0) || off + d < off)
				return -EBADMSG;
			off += d;
			st->keys[k] = (struct rkey){mod, off, NULL, 0};
			err = read_key(st, c, &st->keys[k], &frames);
			if (err)
				return err;
		}
	}
	return frames == st->nframes && c->p == c->end ? 0 : -EBADMSG;
}

static int read_body(struct ms_symstore *st, struct cursor *c)
{
	uint32_t *per_mod = calloc(st->nmods + 1, sizeof(*per_mod));
	int err = -ENOMEM;

	st->keys = calloc(st->nkeys + 1, sizeof(*st->keys));
	if (!per_mod || !st->keys)
		goto out;
	err = read_strings(st, c);
	if (!err)
		err = read_modules(st, c, per_mod);
	if (!err)
		err = read_keys(st, c, per_mod);
out:
	free(per_mod);
	return err;
}

int ms_symstore_parse(const void *data, size_t len, struct ms_symstore **out)
{
	const uint8_t *p = data;
	struct ms_symstore *st;
	struct cursor c;
	struct hdr h;
	int err = read_header(p, len, &h);

	if (err)
		return err;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->nstr = h.nstr;
	st->nmods = h.nmods;
	st->nkeys = h.nkeys;
	st->nframes = h.nframes;
	c = (struct cursor){p + h.hdr_size, p + len, 0};
	err = -ENOMEM;
	if (!ms_modtab_create(&st->mods) && !ms_strpool_create(&st->strings) &&
	    !ms_frametab_init(&st->index))
		err = read_body(st, &c);
	if (err) {
		ms_symstore_free(st);
		return err;
	}
	*out = st;
	return 0;
}

static int read_all(int fd, uint8_t **out, size_t *len)
{
	struct stat sb;
	uint8_t *p;
	size_t n = 0;

	if (fstat(fd, &sb))
		return -errno;
	if ((uint64_t)sb.st_size > FILE_MAX)
		return -EFBIG;
	p = malloc((size_t)sb.st_size + 1);
	if (!p)
		return -ENOMEM;
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, p + n, (size_t)sb.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(p);
			return r < 0 ? -errno : -EBADMSG; /* shrank */
		}
		n += (size_t)r;
	}
	*out = p;
	*len = n;
	return 0;
}

int ms_symstore_load(const char *path, struct ms_symstore **out)
{
	int fd = ms_open_regular(path), err; /* the archive's own file */
	uint8_t *p = NULL;
	size_t n = 0;

	if (fd < 0)
		return fd;
	err = read_all(fd, &p, &n);
	close(fd);
	if (err)
		return err;
	err = ms_symstore_parse(p, n, out);
	free(p);
	return err;
}

void ms_symstore_free(struct ms_symstore *st)
{
	if (!st)
		return;
	ms_frametab_fini(&st->index);
	ms_modtab_destroy(st->mods);
	ms_strpool_destroy(st->strings);
	free(st->str);
	free(st->keys);
	free(st);
}

const struct ms_module *ms_symstore_module(const struct ms_symstore *st,
					   const struct ms_module *mod)
{
	return ms_modtab_find(st->mods, mod->build_id, mod->build_id_len,
			      mod->path, strlen(mod->path));
}

unsigned ms_symstore_lookup(const struct ms_symstore *st,
			    const struct ms_module *smod, uint64_t off,
			    const struct ms_frame **frames)
{
	return ms_frametab_find(&st->index, smod->id, off, frames);
}

int ms_symstore_foreach(const struct ms_symstore *st,
			int (*fn)(void *arg, const struct ms_module *mod,
				  uint64_t off, const struct ms_frame *fr,
				  unsigned n),
			void *arg)
{
	for (uint32_t i = 0; i < st->nkeys; i++) {
		const struct rkey *k = &st->keys[i];
		int r = fn(arg, k->mod, k->off, k->fr, k->n);

		if (r)
			return r;
	}
	return 0;
}

void ms_symstore_counts(const struct ms_symstore *st, uint32_t *modules,
			uint32_t *keys, uint32_t *frames)
{
	*modules = st->nmods;
	*keys = st->nkeys;
	*frames = st->nframes;
}
