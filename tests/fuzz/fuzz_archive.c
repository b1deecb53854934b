/* SPDX-License-Identifier: MIT */
/*
 * The archive reader (consumer/archive/) on an archive made from the
 * input: ARCHIVE/manifest.json and two segments of one thread,
 * ARCHIVE/1/2-0.mseg and 2-1.mseg. Input layout (all parts may be short):
 *   u16 manifest length (0xffff: no manifest) | manifest |
 *   u32 length of segment 0 | segment 0 | segment 1 (the rest)
 * Everything the reader reports must be consistent, and it must finish.
 */
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "archive_iter.h"
#include "archive_scan.h"
#include "bytes.h"
#include "fuzz.h"

static void check_thread(const struct ms_arc_thread *t)
{
	const struct ms_arc_counts *c = &t->c;

	MS_FUZZ_CHECK(t->pid == 1 && t->tid == 2);
	MS_FUZZ_CHECK(c->allocs <= c->events && c->frees <= c->events);
	MS_FUZZ_CHECK(c->raw_bytes <= c->frames * (8u << 20));
	MS_FUZZ_CHECK(strlen(t->name) <= MS_NAME_MAX);
}

/* dump's path: every event again, with stacks and times. */
static void iterate(struct ms_archive *a)
{
	const struct ms_arc_event *ev;
	struct ms_arc_iter *it;
	uint64_t n = 0;

	if (ms_arc_iter_open(a, &a->threads[0], &it))
		abort();
	while (ms_arc_iter_next(it, &ev) > 0) {
		const struct ms_arc_stack *s = ev->stack;

		MS_FUZZ_CHECK(!s || (s->id == ev->ev->stack_id &&
				     s->nframes <= MS_STACK_MAX));
		/* every frame readable (ASan checks the bounds) */
		for (uint32_t i = 0; s && i < s->nframes; i++)
			(void)((const volatile uint64_t *)s->frames)[i];
		n++;
	}
	MS_FUZZ_CHECK(n == a->threads[0].c.events);
	ms_arc_iter_close(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_archive *a;

	ms_fuzz_put_archive(data, size, "1/2-0.mseg", "1/2-1.mseg");
	if (ms_archive_open(ms_fuzz_dir(), NULL, NULL, &a))
		abort();
	MS_FUZZ_CHECK(a->nthreads == 1 && a->nprocesses == 1);
	if (ms_archive_scan(a))
		abort();
	check_thread(&a->threads[0]);
	iterate(a);
	ms_archive_close(a);
	return 0;
}

static void emit_archive(ms_fuzz_emit emit, void *arg, const char *man,
			 const uint8_t *s0, size_t n0, const uint8_t *s1,
			 size_t n1)
{
	size_t ml = man ? strlen(man) : 0xffff;
	size_t len = 6 + (man ? ml : 0) + n0 + n1;
	uint8_t *b = malloc(len), *p = b;

	if (!b)
		return;
	ms_put_le16(p, (uint16_t)ml);
	p += 2;
	if (man) {
		memcpy(p, man, ml);
		p += ml;
	}
	ms_put_le32(p, (uint32_t)n0);
	memcpy(p + 4, s0, n0);
	if (n1)
		memcpy(p + 4 + n0, s1, n1);
	emit(b, len, arg);
	free(b);
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static const char man[] =
		"{\"format\": 1, \"session\": \"s\", \"processes\": "
		"[{\"pid\": 1, \"exe\": \"/bin/x\"}]}";
	uint8_t *a = NULL, *b = NULL;
	size_t na = ms_fuzz_make_segment(&a, 1);
	size_t nb = ms_fuzz_make_segment(&b, 0);

	if (na && nb) {
		emit_archive(emit, arg, man, a, na, b, nb);
		emit_archive(emit, arg, NULL, a, na, NULL, 0);
		emit_archive(emit, arg, "{", b, nb, a, na);
	}
	free(a);
	free(b);
}
