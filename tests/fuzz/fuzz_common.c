/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "record.h"
#include "segment.h"

size_t ms_fuzz_hot_agrees(const struct ms_rec_state *st, const uint8_t *p,
			  size_t len)
{
	static struct ms_event ev;
	struct ms_rec_state s = *st, enc = *st;
	struct ms_rec_hot h;
	uint8_t again[MS_REC_SMALL_MAX], *e;
	size_t n = len ? ms_rec_decode_hot(p, p + len, st->last_ts, &h) : 0;

	if (!n)
		return 0;
	MS_FUZZ_CHECK(ms_rec_decode(&s, p, len, &ev) == (ssize_t)n);
	MS_FUZZ_CHECK(ev.type == (p[0] & 0x0f) && ev.flags == (p[0] & 0xf0));
	MS_FUZZ_CHECK(ev.ts == st->last_ts + h.dt && ev.ts == s.last_ts);
	MS_FUZZ_CHECK(ev.addr == st->last_addr + (uint64_t)ms_unzigzag(h.zz));
	MS_FUZZ_CHECK(ev.size == h.size && ev.stack_id == h.stack);
	MS_FUZZ_CHECK(ev.align == h.align && ev.weight == h.weight);
	/* the form the encoders write: the same bytes again */
	if (ev.type == MS_REC_FREE)
		e = ms_rec_put_free(&enc, again, ev.ts, ev.addr);
	else
		e = ms_rec_put_alloc(&enc, again, ev.ts, ev.addr, ev.size,
				     ev.align, ev.stack_id, ev.weight);
	MS_FUZZ_CHECK((size_t)(e - again) == n && !memcmp(again, p, n));
	return n;
}

void ms_fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

size_t ms_fuzz_make_segment(uint8_t **out, int finish)
{
	struct ms_seg_info info = {.pid = 1, .tid = 2, .tick_hz = 1000};
	static const uint64_t frames[2] = {0x401000, 0x402000};
	struct ms_rec_state st = {0};
	struct ms_seg_writer *w;
	char path[] = "/tmp/ms-fuzz-seed-XXXXXX";
	uint8_t raw[512], *p;
	size_t n = 0;
	FILE *f;
	int fd = mkstemp(path);

	*out = NULL;
	if (fd < 0)
		return 0;
	close(fd);
	unlink(path);
	if (ms_seg_create(path, &info, 1, &w))
		return 0;
	for (uint32_t k = 0; k < 3; k++) {
		p = ms_rec_put_sync(&st, raw);
		if (k == 0) {
			p = ms_rec_put_clock(&st, p, 10, 99, 1000);
			p = ms_rec_put_thread_start(&st, p, 11, 1, 2);
			p = ms_rec_put_thread_name(&st, p, 12, "t\xc3\xa9", 3);
			p = ms_rec_put_stack(&st, p, 13, 1, frames, 2);
		}
		p = ms_rec_put_alloc(&st, p, 20 + k, 0x1000u * k, 8 + k, 0, 1,
				     k == 1 ? 2 * MS_WEIGHT_ONE
					    : MS_WEIGHT_ONE);
		p = ms_rec_put_free(&st, p, 30 + k, 0x1000u * k);
		if (k == 2)
			p = ms_rec_put_lost(&st, p, 31, 4, 0);
		ms_seg_write_frame(w, raw, (size_t)(p - raw),
				   k == 0   ? 6
				   : k == 1 ? 2
					    : 3,
				   10, 31);
	}
	ms_seg_finish(w);
	f = fopen(path, "rb");
	*out = malloc(4096);
	if (f && *out)
		n = fread(*out, 1, 4096, f);
	if (f)
		fclose(f);
	unlink(path);
	if (!finish && n > 40)
		n -= 40; /* cut inside the index */
	return n;
}
