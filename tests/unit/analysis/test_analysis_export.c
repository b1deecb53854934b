/* SPDX-License-Identifier: MIT */
/*
 * The export writers and the diff (consumer/analysis/export_*.c, diff*.c)
 * on a synthetic archive (tests/unit/archive/archive_fixture.h: several
 * processes and threads, sampled weights, reallocs, frees on the way):
 *  - folded stacks: a frame's name made safe, lines summed and sorted;
 *  - the per-thread split gives each site's figures exactly, over the
 *    whole run and in a window (the peak included);
 *  - pprof decodes with protobuf-c: its string table, sample types,
 *    labels, locations, and sample values that add up to the profile's;
 *  - speedscope parses, one profile per thread with its bytes;
 *  - every folded weight adds up to the report's figure;
 *  - a profile diffed with itself changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "archive.h"
#include "archive_fixture.h"
#include "archive_json.h"
#include "diff.h"
#include "export.h"
#include "pprof.pb-c.h"
#include "record.h"
#include "report.h"
#include "strpool.h"

/* ---- output into memory ---- */

struct mem {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *mem_open(struct mem *m)
{
	memset(m, 0, sizeof(*m));
	m->f = open_memstream(&m->buf, &m->len);
	assert_non_null(m->f);
	return m->f;
}

static void mem_close(struct mem *m)
{
	assert_int_equal(fclose(m->f), 0);
}

/* ---- folded stacks ---- */

static struct ms_xframe frame(const char *name)
{
	return (struct ms_xframe){.function = name,
				  .file_idx = MS_XSTACK_NOFILE,
				  .mod = MS_SITE_NO_MODULE};
}

static void test_folded_escaping(void **state)
{
	/* innermost first: the line reads them the other way round */
	struct ms_xframe a[] = {
		frame("leaf;with;semicolons"), frame("line\nbreak\rand\ttab"),
		frame("operator new(unsigned long)"), frame(""), frame("root")};
	struct ms_xframe b[] = {frame("other"), frame("root")};
	struct ms_folded *t;
	struct mem m;

	(void)state;
	assert_int_equal(ms_folded_create(&t), 0);
	assert_int_equal(ms_folded_add(t, a, 5, 10, 0), 0);
	assert_int_equal(ms_folded_add(t, b, 2, 0, 0), 0); /* all zero */
	assert_int_equal(ms_folded_add(t, a, 5, 32, 0), 0);
	assert_int_equal(ms_folded_write(mem_open(&m), t, 1), 0);
	mem_close(&m);
	assert_string_equal(m.buf,
			    "root;[unknown];operator new(unsigned long);"
			    "line break and tab;leaf:with:semicolons 42\n");
	free(m.buf);
	ms_folded_destroy(t);
}

static void test_folded_two_columns(void **state)
{
	struct ms_xframe a[] = {frame("grows"), frame("main")};
	struct ms_xframe b[] = {frame("gone"), frame("main")};
	struct ms_xframe c[] = {frame("same"), frame("main")};
	struct ms_folded *t;
	struct mem m;

	(void)state;
	assert_int_equal(ms_folded_create(&t), 0);
	assert_int_equal(ms_folded_add(t, a, 2, 0, 7), 0);
	assert_int_equal(ms_folded_add(t, b, 2, 5, 0), 0);
	assert_int_equal(ms_folded_add(t, c, 2, 3, 3), 0);
	assert_int_equal(ms_folded_write(mem_open(&m), t, 2), 0);
	mem_close(&m);
	assert_string_equal(m.buf, "main;gone 5 0\nmain;grows 0 7\n"
				   "main;same 3 3\n");
	free(m.buf);
	ms_folded_destroy(t);
}

/* ---- profiles of the fixture archive ---- */

static int setup(void **state)
{
	static const struct fx_spec sp = {
		.nproc = 2,
		.nthreads = 3,
		.nsegs = 2,
		.nframes = 2,
		.ops = 120,
		.manifest = 1,
	};
	struct fx *f;

	if (fx_setup(state, &sp))
		return -1;
	f = *state;
	return ms_archive_open(f->dir, NULL, NULL, &f->arc) ? -1 : 0;
}

struct built {
	struct ms_profile *p;
	struct ms_split *s;
	struct ms_heap_sink sink;
};

/* The fixture's profile with its split, over [from, to] (ns after the
 * first event; to MS_PROFILE_END: the end). */
static void build(void **state, uint64_t from, uint64_t to, struct built *b)
{
	struct fx *f = *state;
	struct ms_profile_opts o = {
		.from_ns = from, .to_ns = to, .no_symbols = 1};

	assert_int_equal(ms_split_create(&b->s), 0);
	ms_split_sink(b->s, &b->sink);
	o.sink = &b->sink;
	assert_int_equal(ms_profile_build(f->arc, &o, &b->p), 0);
	assert_int_equal(ms_split_finish(b->s), 0);
}

static void unbuild(struct built *b)
{
	ms_profile_free(b->p);
	ms_split_destroy(b->s);
}

/* Each site's cells add up to the site, each thread's to the thread. */
static void check_split(const struct built *b)
{
	const struct ms_profile *p = b->p;
	size_t n;
	const struct ms_split_cell *c = ms_split_cells(b->s, &n);
	struct ms_split_cell *sum = calloc(p->sites.n, sizeof(*sum));
	uint64_t *tbytes = calloc(p->nthreads + 1, sizeof(*tbytes));
	uint64_t *tallocs = calloc(p->nthreads + 1, sizeof(*tallocs));

	assert_non_null(sum);
	assert_non_null(tbytes);
	assert_non_null(tallocs);
	for (size_t i = 0; i < n; i++) {
		struct ms_split_cell *s = &sum[c[i].site];

		assert_true(c[i].site < p->sites.n);
		assert_true(c[i].thread < p->nthreads);
		if (i)
			assert_true(c[i - 1].thread < c[i].thread ||
				    (c[i - 1].thread == c[i].thread &&
				     c[i - 1].site < c[i].site));
		s->allocs_q16 += c[i].allocs_q16;
		s->bytes += c[i].bytes;
		s->temp_q16 += c[i].temp_q16;
		s->leaked_q16 += c[i].leaked_q16;
		s->leaked += c[i].leaked;
		s->live_q16 += c[i].live_q16;
		s->live += c[i].live;
		s->peak_q16 += c[i].peak_q16;
		s->peak += c[i].peak;
		tbytes[c[i].thread] += c[i].bytes;
		tallocs[c[i].thread] += c[i].allocs_q16;
	}
	for (uint32_t id = 0; id < p->sites.n; id++) {
		const struct ms_site *s = &p->sites.v[id];

		assert_int_equal(sum[id].allocs_q16, s->allocs_q16);
		assert_int_equal(sum[id].bytes, s->bytes);
		assert_int_equal(sum[id].temp_q16, s->temp_q16);
		assert_int_equal(sum[id].leaked_q16, s->leaked_q16);
		assert_int_equal(sum[id].leaked, s->leaked);
		assert_int_equal(sum[id].live_q16, s->live_q16);
		assert_int_equal(sum[id].live, s->live);
		assert_int_equal(sum[id].peak_q16, s->peak_q16);
		assert_int_equal(sum[id].peak, s->peak);
	}
	for (size_t t = 0; t < p->nthreads; t++) {
		assert_int_equal(tbytes[t], p->threads[t].h.bytes);
		assert_int_equal(tallocs[t], p->threads[t].h.allocs_q16);
	}
	free(sum);
	free(tbytes);
	free(tallocs);
}

static void test_split_whole_run(void **state)
{
	struct built b;

	build(state, 0, MS_PROFILE_END, &b);
	assert_true(b.p->estimated); /* the fixture's 10.5 weights */
	assert_true(ms_heap_totals(b.p->heap)->peak > 0);
	check_split(&b);
	unbuild(&b);
}

/* Scripted events where the window's peak is its first moment: the heap
 * model starts the peak there without telling the sink. */
static void test_split_peak_at_window_start(void **state)
{
	static const uint64_t fa[] = {0x1000}, fb[] = {0x1100}, fc[] = {0x1200};
	static const struct {
		uint8_t type;
		uint32_t tid;
		uint64_t ns, addr, size;
		int site;
	} evs[] = {
		{MS_REC_ALLOC, 1, 1, 0x10, 100, 0},
		{MS_REC_ALLOC, 2, 2, 0x20, 50, 1},
		{MS_REC_FREE, 1, 3, 0x10, 0, 0}, /* the window starts here */
		{MS_REC_ALLOC, 2, 4, 0x30, 20, 2},
		{MS_REC_FREE, 1, 5, 0x30, 0, 0},
	};
	struct ms_heap_opts o = {.from_ns = 3};
	struct ms_heap_sink sink;
	struct ms_sites sites;
	struct ms_split *sp;
	struct ms_heap *h;
	const struct ms_split_cell *c;
	uint32_t id[3];
	uint64_t peak[3] = {0};
	size_t n;
	int fresh;

	(void)state;
	assert_int_equal(ms_sites_init(&sites), 0);
	id[0] = ms_sites_intern(&sites, 1, fa, 1, &fresh);
	id[1] = ms_sites_intern(&sites, 1, fb, 1, &fresh);
	id[2] = ms_sites_intern(&sites, 1, fc, 1, &fresh);
	assert_int_equal(ms_split_create(&sp), 0);
	ms_split_sink(sp, &sink);
	o.sink = &sink;
	assert_int_equal(ms_heap_create(&o, &sites, &h), 0);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		struct ms_heap_ev e = {.type = evs[i].type,
				       .pid = 1,
				       .tid = evs[i].tid,
				       .ns = evs[i].ns,
				       .addr = evs[i].addr,
				       .size = evs[i].size,
				       .weight = MS_WEIGHT_ONE,
				       .site = id[evs[i].site]};

		assert_int_equal(ms_heap_event(h, &e), 0);
	}
	ms_heap_finish(h);
	assert_int_equal(ms_split_finish(sp), 0);
	assert_int_equal(ms_heap_totals(h)->peak, 150);
	c = ms_split_cells(sp, &n);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			if (c[i].site == id[k])
				peak[k] += c[i].peak;
	for (int k = 0; k < 3; k++)
		assert_int_equal(peak[k], ms_sites_get(&sites, id[k])->peak);
	assert_int_equal(peak[0], 100);
	assert_int_equal(peak[1], 50);
	ms_heap_destroy(h);
	ms_sites_free(&sites);
	ms_split_destroy(sp);
}

static void test_split_windows(void **state)
{
	struct built whole, b;
	uint64_t len;

	build(state, 0, MS_PROFILE_END, &whole);
	len = whole.p->end_ns - whole.p->start_ns;
	unbuild(&whole);
	for (int k = 0; k < 4; k++) {
		build(state, len * (uint64_t)k / 5, len * (uint64_t)(k + 2) / 5,
		      &b);
		assert_true(ms_heap_totals(b.p->heap)->allocs_q16 > 0);
		check_split(&b);
		unbuild(&b);
	}
}

/* ---- pprof ---- */

/* The gzip member in buf, inflated. */
static uint8_t *gunzip(const char *buf, size_t len, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = 1 << 16, n = 0;
	uint8_t *out = malloc(cap);
	int r;

	assert_non_null(out);
	assert_true(len > 2 && (uint8_t)buf[0] == 0x1f &&
		    (uint8_t)buf[1] == 0x8b);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)buf;
	z.avail_in = (uInt)len;
	do {
		if (n == cap) {
			out = realloc(out, cap *= 2);
			assert_non_null(out);
		}
		z.next_out = out + n;
		z.avail_out = (uInt)(cap - n);
		r = inflate(&z, Z_NO_FLUSH);
		assert_true(r == Z_OK || r == Z_STREAM_END);
		n = cap - z.avail_out;
	} while (r != Z_STREAM_END);
	inflateEnd(&z);
	*out_len = n;
	return out;
}

static const char *pstr(const Perftools__Profiles__Profile *m, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < m->n_string_table);
	return m->string_table[i];
}

static void check_pprof_strings(const Perftools__Profiles__Profile *m)
{
	static const char *const types[4][2] = {{"alloc_objects", "count"},
						{"alloc_space", "bytes"},
						{"inuse_objects", "count"},
						{"inuse_space", "bytes"}};
	int estimated = 0;

	assert_string_equal(pstr(m, 0), "");
	assert_int_equal(m->n_sample_type, 4);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(pstr(m, m->sample_type[i]->type),
				    types[i][0]);
		assert_string_equal(pstr(m, m->sample_type[i]->unit),
				    types[i][1]);
	}
	assert_string_equal(pstr(m, m->period_type->type), "space");
	assert_string_equal(pstr(m, m->default_sample_type), "alloc_space");
	for (size_t i = 0; i < m->n_comment; i++)
		estimated |=
			strstr(pstr(m, m->comment[i]), "estimates") != NULL;
	assert_true(estimated);
}

/* Every sample: its labels, its locations, and the sums of its values. */
static void check_pprof_samples(const Perftools__Profiles__Profile *m,
				const struct built *b)
{
	const struct ms_heap_totals *t = ms_heap_totals(b->p->heap);
	uint64_t bytes = 0, live = 0, allocs = 0, want_allocs = 0;
	size_t n;
	const struct ms_split_cell *c = ms_split_cells(b->s, &n);

	for (size_t i = 0; i < m->n_sample; i++) {
		const Perftools__Profiles__Sample *s = m->sample[i];

		assert_int_equal(s->n_value, 4);
		assert_int_equal(s->n_label, 2);
		assert_string_equal(pstr(m, s->label[0]->key), "thread");
		assert_non_null(strstr(pstr(m, s->label[0]->str), "1"));
		assert_string_equal(pstr(m, s->label[1]->key), "pid");
		assert_true(s->label[1]->num >= 1000);
		assert_true(s->n_location_id > 0);
		for (size_t k = 0; k < s->n_location_id; k++)
			assert_true(s->location_id[k] >= 1 &&
				    s->location_id[k] <= m->n_location);
		allocs += (uint64_t)s->value[0];
		bytes += (uint64_t)s->value[1];
		live += (uint64_t)s->value[3];
	}
	for (size_t i = 0; i < n; i++)
		want_allocs += ms_q16_count(c[i].allocs_q16);
	assert_int_equal(bytes, t->bytes);
	assert_int_equal(live, t->live);
	assert_int_equal(allocs, want_allocs);
}

/* Locations: ids in order; lines name functions that exist. */
static void check_pprof_locations(const Perftools__Profiles__Profile *m)
{
	for (size_t i = 0; i < m->n_location; i++) {
		const Perftools__Profiles__Location *l = m->location[i];

		assert_int_equal(l->id, i + 1);
		assert_true(l->n_line >= 1); /* no module: named anyway */
		for (size_t k = 0; k < l->n_line; k++) {
			uint64_t fn = l->line[k]->function_id;

			assert_true(fn >= 1 && fn <= m->n_function);
			assert_int_equal(
				strncmp(pstr(m, m->function[fn - 1]->name),
					"0x", 2),
				0);
		}
	}
}

static void test_pprof_decodes(void **state)
{
	Perftools__Profiles__Profile *m;
	const struct ms_split_cell *cells;
	struct built b;
	struct mem out;
	uint8_t *raw;
	size_t len, ncells;

	build(state, 0, MS_PROFILE_END, &b);
	cells = ms_split_cells(b.s, &ncells);
	assert_int_equal(ms_export_pprof(mem_open(&out), b.p, cells, ncells),
			 0);
	mem_close(&out);
	raw = gunzip(out.buf, out.len, &len);
	m = perftools__profiles__profile__unpack(NULL, len, raw);
	assert_non_null(m);
	check_pprof_strings(m);
	check_pprof_samples(m, &b);
	check_pprof_locations(m);
	assert_int_equal(m->n_mapping, 0); /* no frame in a module */
	perftools__profiles__profile__free_unpacked(m, NULL);
	free(raw);
	free(out.buf);
	unbuild(&b);
}

/* ---- speedscope ---- */

static void check_profile(const struct ms_json_node *prof,
			  const struct ms_profile *p, size_t t,
			  uint64_t nframes)
{
	const struct ms_json_node *s = ms_json_get(prof, "samples")->child;
	const struct ms_json_node *w = ms_json_get(prof, "weights")->child;
	uint64_t end, v, sum = 0;

	assert_string_equal(ms_json_get(prof, "type")->str, "sampled");
	assert_string_equal(ms_json_get(prof, "unit")->str, "bytes");
	assert_int_equal(ms_json_u64(ms_json_get(prof, "endValue"), &end), 0);
	for (; w; w = w->next, s = s->next) {
		assert_non_null(s);
		assert_int_equal(ms_json_u64(w, &v), 0);
		sum += v;
		for (const struct ms_json_node *i = s->child; i; i = i->next) {
			assert_int_equal(ms_json_u64(i, &v), 0);
			assert_true(v < nframes);
		}
	}
	assert_null(s);
	assert_int_equal(sum, end);
	assert_int_equal(sum, p->threads[t].h.bytes);
}

static void test_speedscope_parses(void **state)
{
	const struct ms_json_node *root, *prof;
	uint64_t nframes = 0;
	struct ms_json *j;
	struct built b;
	struct mem out;
	size_t t = 0;

	build(state, 0, MS_PROFILE_END, &b);
	assert_int_equal(
		ms_export_speedscope(mem_open(&out), b.p, b.s, MS_XW_BYTES), 0);
	mem_close(&out);
	assert_int_equal(ms_json_parse(out.buf, out.len, &j, NULL), 0);
	root = ms_json_root(j);
	assert_string_equal(
		ms_json_get(root, "$schema")->str,
		"https://www.speedscope.app/file-format-schema.json");
	for (const struct ms_json_node *f =
		     ms_json_get(ms_json_get(root, "shared"), "frames")->child;
	     f; f = f->next)
		nframes++;
	assert_true(nframes > 0);
	for (prof = ms_json_get(root, "profiles")->child; prof;
	     prof = prof->next)
		check_profile(prof, b.p, t++, nframes);
	assert_int_equal(t, b.p->nthreads);
	ms_json_free(j);
	free(out.buf);
	unbuild(&b);
}

/* ---- folded sums ---- */

/* The numbers at the ends of the lines, added. */
static uint64_t folded_sum(const char *text)
{
	uint64_t sum = 0;

	for (const char *nl; (nl = strchr(text, '\n')); text = nl + 1) {
		const char *sp = nl;

		while (sp > text && sp[-1] != ' ')
			sp--;
		assert_true(sp > text);
		sum += strtoull(sp, NULL, 10);
	}
	return sum;
}

static void test_folded_sums(void **state)
{
	static const enum ms_export_weight ws[] = {MS_XW_BYTES, MS_XW_COUNT,
						   MS_XW_LEAKED, MS_XW_PEAK,
						   MS_XW_TEMPORARY};
	struct built b;

	build(state, 0, MS_PROFILE_END, &b);
	for (size_t k = 0; k < sizeof(ws) / sizeof(ws[0]); k++) {
		uint64_t want = 0;
		struct mem out;

		for (uint32_t id = 0; id < b.p->sites.n; id++) {
			struct ms_split_cell c;

			ms_split_of_site(&b.p->sites.v[id], id, &c);
			want += ms_export_weight_of(&c, ws[k]);
		}
		assert_int_equal(ms_export_folded(mem_open(&out), b.p, ws[k]),
				 0);
		mem_close(&out);
		assert_int_equal(folded_sum(out.buf), want);
		free(out.buf);
	}
	assert_int_equal(
		ms_export_weight_of(&(struct ms_split_cell){.bytes = 7},
				    MS_XW_BYTES),
		7);
	unbuild(&b);
}

/* ---- diff ---- */

static void test_diff_with_itself(void **state)
{
	struct built a, b;
	struct ms_diff *d;
	struct mem out;

	build(state, 0, MS_PROFILE_END, &a);
	build(state, 0, MS_PROFILE_END, &b);
	assert_int_equal(ms_diff_build(a.p, b.p, &d), 0);
	assert_true(d->n > 0);
	for (size_t i = 0; i < d->n; i++) {
		assert_int_equal(ms_diff_delta(&d->v[i], MS_XW_BYTES), 0);
		assert_int_equal(ms_diff_delta(&d->v[i], MS_XW_LEAKED), 0);
		assert_int_equal(d->v[i].sites[0], d->v[i].sites[1]);
	}
	assert_int_equal(ms_diff_text(mem_open(&out), d,
				      &(struct ms_diff_opts){.top = 5}),
			 0);
	mem_close(&out);
	assert_non_null(strstr(out.buf, "GROWING: bytes allocated, by "
					"stack\n  (none)\n"));
	free(out.buf);
	ms_diff_free(d);
	unbuild(&a);
	unbuild(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_escaping),
		cmocka_unit_test(test_folded_two_columns),
		cmocka_unit_test(test_split_whole_run),
		cmocka_unit_test(test_split_peak_at_window_start),
		cmocka_unit_test(test_split_windows),
		cmocka_unit_test(test_pprof_decodes),
		cmocka_unit_test(test_speedscope_parses),
		cmocka_unit_test(test_folded_sums),
		cmocka_unit_test(test_diff_with_itself),
	};

	return cmocka_run_group_tests(tests, setup, fx_teardown);
}
