/* SPDX-License-Identifier: MIT */
/*
 * `memscope report` on an archive made from the input: the archive
 * reader, the profile (merge, heap model, sites, module maps) and both
 * report writers, into memory. Input layout (all parts may be short):
 *
 *   u8 options | u32 pid | u32 tid A | u32 tid B | u32 from | u32 to |
 *   u16 manifest length (0xffff: no manifest) | manifest |
 *   u32 length of segment A | segment A | segment B (the rest)
 *
 * (from the manifest length on: ms_fuzz_put_archive()). Segment A is
 * ARCHIVE/<pid>/<tid A>-0.mseg, segment B <tid B>-0.mseg (or
 * <tid A>-1.mseg when the tids are equal; left out when empty).
 * Options: bit 0 a window from `from` ns, bit 1 to `to` ns, bit 2
 * --tid <tid A>, bit 3 --pid <pid>, bits 4-7 rows per table. Symbols are
 * not looked up: the module paths of the input are not opened (see
 * README.md).
 *
 * Checks: the profile is built (damage is never an error); both writers
 * succeed; the JSON report is one strict JSON object (the archive room's
 * own parser) whose figures hold together: leaks are blocks allocated in
 * the window and live at its end, so leaked <= allocated and <= the peak,
 * temporaries <= allocations, a bound's low end is the figure itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "archive_json.h"
#include "bytes.h"
#include "fuzz.h"
#include "profile.h"
#include "record.h"
#include "report.h"

#define HEAD 21 /* options, pid, tids, from, to */

static uint64_t num(const struct ms_json_node *root, const char *key)
{
	uint64_t v = 0;

	MS_FUZZ_CHECK(ms_json_u64(ms_json_get(root, key), &v) == 0);
	return v;
}

/* The JSON report parses, and its figures hold together. */
static void check_json(const char *text, size_t len)
{
	const struct ms_json_node *root, *b;
	struct ms_json *j;
	uint64_t allocs, bytes, leaked;

	MS_FUZZ_CHECK(ms_json_parse(text, len, &j, NULL) == 0);
	root = ms_json_root(j);
	MS_FUZZ_CHECK(root->type == MS_JSON_OBJECT);
	allocs = num(root, "allocations");
	bytes = num(root, "total_allocated_bytes");
	leaked = num(root, "leaked_bytes");
	MS_FUZZ_CHECK(leaked <= bytes && leaked <= num(root, "peak_bytes"));
	MS_FUZZ_CHECK(num(root, "leaked_allocations") <= allocs);
	MS_FUZZ_CHECK(num(root, "temporary_allocations") <= allocs);
	b = ms_json_get(ms_json_get(root, "bounds"), "allocations");
	MS_FUZZ_CHECK(b && b->type == MS_JSON_ARRAY && b->child);
	MS_FUZZ_CHECK(ms_json_u64(b->child, &bytes) == 0 && bytes == allocs);
	MS_FUZZ_CHECK(ms_json_get(root, "sites") &&
		      ms_json_get(root, "sites")->type == MS_JSON_ARRAY);
	ms_json_free(j);
}

/* One report into memory: 0, or the writer's error. */
static int write_one(struct ms_profile *p, const struct ms_report_opts *ro,
		     int json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	r = json ? ms_report_json(f, p, ro) : ms_report_text(f, p, ro);
	if (fclose(f))
		r = -ENOMEM;
	if (r == 0 && json)
		check_json(buf, len);
	else if (r == 0)
		MS_FUZZ_CHECK(len > 0 && strstr(buf, "\nSUMMARY\n"));
	free(buf);
	return r;
}

/* The last input's files, removed before the next one is written: each
 * input is an archive of its own. */
static char names[2][32], piddir[16];

static void forget(void)
{
	char p[512];

	for (int i = 0; i < 2; i++)
		if (names[i][0])
			ms_fuzz_put(names[i], NULL, 0, 0);
	if (piddir[0]) {
		snprintf(p, sizeof(p), "%s/%s", ms_fuzz_dir(), piddir);
		rmdir(p);
	}
}

static void files(const uint8_t *data, size_t size, uint32_t pid, uint32_t ta,
		  uint32_t tb)
{
	forget();
	snprintf(piddir, sizeof(piddir), "%u", pid);
	snprintf(names[0], sizeof(names[0]), "%u/%u-0.mseg", pid, ta);
	snprintf(names[1], sizeof(names[1]), "%u/%u-%u.mseg", pid, tb,
		 ta == tb);
	ms_fuzz_put_archive(data, size, names[0], names[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_profile_opts po = {.to_ns = MS_PROFILE_END, .no_symbols = 1};
	struct ms_report_opts ro = {.width = 40};
	uint8_t head[HEAD] = {0};
	struct ms_archive *a;
	struct ms_profile *p;
	uint32_t pid, ta, tb;
	int r;

	memcpy(head, data, size < HEAD ? size : HEAD);
	ms_fuzz_take(&data, &size, HEAD);
	pid = ms_get_le32(head + 1) ? ms_get_le32(head + 1) : 1;
	ta = ms_get_le32(head + 5) ? ms_get_le32(head + 5) : 1;
	tb = ms_get_le32(head + 9) ? ms_get_le32(head + 9) : 1;
	if (head[0] & 1)
		po.from_ns = ms_get_le32(head + 13);
	if (head[0] & 2)
		po.to_ns = po.from_ns + ms_get_le32(head + 17);
	po.tid = head[0] & 4 ? ta : 0;
	po.pid = head[0] & 8 ? pid : 0;
	ro.top = 1 + (head[0] >> 4);
	files(data, size, pid, ta, tb);
	if (ms_archive_open(ms_fuzz_dir(), NULL, NULL, &a))
		abort();
	r = ms_profile_build(a, &po, &p);
	MS_FUZZ_CHECK(r == 0 || r == -ENOMEM);
	if (r == 0) {
		MS_FUZZ_CHECK(p->heap != NULL);
		r = write_one(p, &ro, 0);
		MS_FUZZ_CHECK(r == 0 || r == -ENOMEM);
		r = write_one(p, &ro, 1);
		MS_FUZZ_CHECK(r == 0 || r == -ENOMEM);
		ms_profile_free(p);
	}
	ms_archive_close(a);
	return 0;
}

/* ---- seeds ---- */

struct seed {
	uint8_t *b;
	size_t n, cap;
};

static void add(struct seed *s, const void *d, size_t n)
{
	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		s->b = realloc(s->b, s->cap);
		if (!s->b)
			abort();
	}
	memcpy(s->b + s->n, d, n);
	s->n += n;
}

static void add_u32(struct seed *s, uint32_t v)
{
	uint8_t b[4];

	ms_put_le32(b, v);
	add(s, b, 4);
}

/* One input: the header, the manifest (NULL: none), the segments. */
static void emit_input(ms_fuzz_emit emit, void *arg, uint8_t opts,
		       uint32_t from, uint32_t to, uint32_t tb, const char *man,
		       const uint8_t *sa, size_t na, const uint8_t *sb,
		       size_t nb)
{
	struct seed s = {0};
	uint8_t ml[2];

	add(&s, &opts, 1);
	add_u32(&s, 1);
	add_u32(&s, 2);
	add_u32(&s, tb);
	add_u32(&s, from);
	add_u32(&s, to);
	ms_put_le16(ml, man ? (uint16_t)strlen(man) : 0xffff);
	add(&s, ml, 2);
	if (man)
		add(&s, man, strlen(man));
	add_u32(&s, (uint32_t)na);
	add(&s, sa, na);
	add(&s, sb, nb);
	emit(s.b, s.n, arg);
	free(s.b);
}

/* Thread 2 of process 1: a module, two stacks, allocations, a free, a
 * realloc, a weighted block, lost events. */
static size_t main_thread(uint8_t **out)
{
	static const uint64_t fa[] = {0x401000, 0x402000};
	static const uint64_t fb[] = {0x401100, 0x402000, 0x403000};
	static const uint8_t bid[20] = {0xb1, 0xd0};
	struct ms_rec_state st = {0};
	uint8_t raw[1024], *p = raw;

	p = ms_rec_put_sync(&st, p);
	p = ms_rec_put_clock(&st, p, 10, 1000, 1000000000u);
	p = ms_rec_put_thread_start(&st, p, 10, 1, 2);
	p = ms_rec_put_thread_name(&st, p, 11, "main", 4);
	p = ms_rec_put_module_load(&st, p, 12, 0x400000, 0x10000, bid,
				   sizeof(bid), "/nonexistent/prog", 17);
	p = ms_rec_put_stack(&st, p, 20, 1, fa, 2);
	p = ms_rec_put_alloc(&st, p, 20, 0x1000, 100, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_alloc(&st, p, 21, 0x2000, 200, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&st, p, 22, 0x1000);
	p = ms_rec_put_realloc(&st, p, 23, 0x2000, 0x3000, 300, 1,
			       MS_WEIGHT_ONE);
	p = ms_rec_put_stack(&st, p, 30, 2, fb, 3);
	p = ms_rec_put_alloc(&st, p, 30, 0x4000, 50, 16, 2, 2 * MS_WEIGHT_ONE);
	p = ms_rec_put_lost(&st, p, 31, 2, 0);
	p = ms_rec_put_module_unload(&st, p, 40, 0x400000);
	p = ms_rec_put_thread_exit(&st, p, 41);
	return ms_fuzz_segment(1, 2, raw, (size_t)(p - raw), out);
}

/* Thread 3: events at the same times as thread 2's, a free of one of its
 * blocks, an unknown free and a double free. */
static size_t other_thread(uint8_t **out)
{
	static const uint64_t fc[] = {0x401200};
	struct ms_rec_state st = {0};
	uint8_t raw[512], *p = raw;

	p = ms_rec_put_sync(&st, p);
	p = ms_rec_put_clock(&st, p, 10, 1000, 1000000000u);
	p = ms_rec_put_thread_start(&st, p, 10, 1, 3);
	p = ms_rec_put_stack(&st, p, 22, 1, fc, 1);
	p = ms_rec_put_alloc(&st, p, 22, 0x5000, 70, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_free(&st, p, 23, 0x3000);
	p = ms_rec_put_free(&st, p, 24, 0x5000);
	p = ms_rec_put_free(&st, p, 25, 0x9999);
	p = ms_rec_put_free(&st, p, 26, 0x5000);
	return ms_fuzz_segment(1, 3, raw, (size_t)(p - raw), out);
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static const char man[] =
		"{\"format\": 1, \"session\": \"s\", \"start_time\": "
		"\"2026-01-02T03:04:05.678Z\", \"settings\": {\"sampling\": "
		"\"full\", \"stack_depth\": 32}, \"processes\": [{\"pid\": 1, "
		"\"exe\": \"/nonexistent/prog\"}]}";
	uint8_t *a = NULL, *b = NULL;
	size_t na = main_thread(&a), nb = other_thread(&b);

	if (na && nb) {
		emit_input(emit, arg, 0x00, 0, 0, 3, man, a, na, b, nb);
		emit_input(emit, arg, 0x13, 11, 12, 3, man, a, na, b, nb);
		emit_input(emit, arg, 0x24, 0, 0, 3, man, a, na, b, nb);
		emit_input(emit, arg, 0xf8, 0, 0, 3, NULL, a, na, b, nb);
		emit_input(emit, arg, 0x01, 25, 0, 2, man, a, na, a, na);
	}
	free(a);
	free(b);
}
