/* SPDX-License-Identifier: MIT */
/*
 * ms_rec_decode() on arbitrary bytes: a record stream decoded from zero
 * state (as at the start of a ring), skipping one byte after each invalid
 * record. Every decoded record must stay within the input and its limits,
 * and the small records must survive a re-encode / decode round trip.
 * At every position the hot records' fast path (ms_rec_decode_hot) and
 * the readers' (ms_rec_decode_fast) must agree with ms_rec_decode() on
 * whatever they take, and the readers' must take every ALLOC, FREE and
 * REALLOC that ms_rec_decode() takes.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "record.h"
#include "ring_abi.h"

static void check_limits(const struct ms_event *ev)
{
	MS_FUZZ_CHECK(ev->type > 0 && ev->type < MS_REC_NTYPES);
	MS_FUZZ_CHECK(ev->nframes <= MS_STACK_MAX);
	MS_FUZZ_CHECK(ev->build_id_len <= MS_BUILD_ID_MAX);
	MS_FUZZ_CHECK(ev->str_len <= MS_PATH_MAX);
	MS_FUZZ_CHECK(ev->type != MS_REC_THREAD_NAME ||
		      ev->str_len <= MS_NAME_MAX);
	MS_FUZZ_CHECK(ev->weight != 0);
	MS_FUZZ_CHECK(ev->type != MS_REC_LOST ||
		      ev->cause < MS_LOST_REC_NCAUSES);
	MS_FUZZ_CHECK(ev->type != MS_REC_CLOCK || ev->tick_hz != 0);
}

/* Encodes `ev` again from state `st` and decodes it back. */
static void round_trip(struct ms_rec_state st, const struct ms_event *ev)
{
	struct ms_rec_state enc = st, dec = st;
	uint8_t buf[MS_REC_SMALL_MAX], *p = buf;
	struct ms_event back;
	ssize_t n;

	/* A delta that wraps the 64-bit clock decodes fine but cannot be
	 * encoded (encoders never go back in time): nothing to compare. */
	if (ev->ts < st.last_ts)
		return;
	switch (ev->type) {
	case MS_REC_ALLOC:
		p = ms_rec_put_alloc(&enc, p, ev->ts, ev->addr, ev->size,
				     ev->align, ev->stack_id, ev->weight);
		break;
	case MS_REC_FREE:
		p = ms_rec_put_free(&enc, p, ev->ts, ev->addr);
		break;
	case MS_REC_REALLOC:
		p = ms_rec_put_realloc(&enc, p, ev->ts, ev->old_addr, ev->addr,
				       ev->size, ev->stack_id, ev->weight);
		break;
	case MS_REC_LOST:
		p = ms_rec_put_lost(&enc, p, ev->ts, ev->count, ev->cause);
		break;
	default:
		return;
	}
	n = ms_rec_decode(&dec, buf, (size_t)(p - buf), &back);
	MS_FUZZ_CHECK(n == p - buf);
	MS_FUZZ_CHECK(back.type == ev->type && back.ts == ev->ts);
	MS_FUZZ_CHECK(back.addr == ev->addr && back.old_addr == ev->old_addr);
	MS_FUZZ_CHECK(back.size == ev->size && back.align == ev->align);
	MS_FUZZ_CHECK(back.weight == ev->weight);
	MS_FUZZ_CHECK(back.stack_id == ev->stack_id);
	MS_FUZZ_CHECK(back.count == ev->count && back.cause == ev->cause);
	MS_FUZZ_CHECK(dec.last_ts == enc.last_ts &&
		      dec.last_addr == enc.last_addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ms_event ev;
	struct ms_rec_state st = {0}, before;
	size_t pos = 0;

	while (pos < size) {
		ssize_t n;

		before = st;
		ms_fuzz_hot_agrees(&st, data + pos, size - pos);
		ms_fuzz_fast_agrees(&st, data + pos, size - pos);
		n = ms_rec_decode(&st, data + pos, size - pos, &ev);
		if (n < 0) {
			MS_FUZZ_CHECK(n == -ENODATA || n == -EBADMSG);
			MS_FUZZ_CHECK(memcmp(&st, &before, sizeof(st)) == 0);
			pos++;
			continue;
		}
		MS_FUZZ_CHECK(n > 0 && (size_t)n <= size - pos);
		check_limits(&ev);
		if (ev.str)
			MS_FUZZ_CHECK(ev.str >= data + pos &&
				      ev.str + ev.str_len <= data + pos + n);
		round_trip(before, &ev);
		pos += (size_t)n;
	}
	return 0;
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static const uint8_t bid[3] = {1, 2, 3};
	static const uint64_t frames[4] = {0x401000, 0x402000, 0x7f0000001000,
					   0x10};
	struct ms_rec_state st = {0};
	uint8_t buf[2048], *p = buf;

	p = ms_rec_put_clock(&st, p, 1000, 5000000000ull, 3000000000ull);
	p = ms_rec_put_thread_start(&st, p, 1010, 42, 43);
	p = ms_rec_put_thread_name(&st, p, 1020, "worker", 6);
	p = ms_rec_put_module_load(&st, p, 1030, 0x7f0000000000ull, 0x1000, bid,
				   sizeof(bid), "/lib/x.so", 9);
	p = ms_rec_put_stack(&st, p, 1040, 1, frames, 4);
	p = ms_rec_put_alloc(&st, p, 1050, 0x5000, 32, 0, 1, MS_WEIGHT_ONE);
	p = ms_rec_put_alloc(&st, p, 1060, 0x4000, 4096, 64, 1,
			     3 * MS_WEIGHT_ONE);
	p = ms_rec_put_realloc(&st, p, 1070, 0x5000, 0x6000, 64, 1,
			       MS_WEIGHT_ONE);
	p = ms_rec_put_free(&st, p, 1080, 0x6000);
	p = ms_rec_put_lost(&st, p, 1090, 7, MS_LOST_FULL);
	p = ms_rec_put_module_unload(&st, p, 1100, 0x7f0000000000ull);
	p = ms_rec_put_sync(&st, p);
	p = ms_rec_put_thread_exit(&st, p, 1110);
	emit(buf, (size_t)(p - buf), arg);
	st = (struct ms_rec_state){0};
	p = ms_rec_put_alloc(&st, buf, 5, 0xffffffffffff0000ull, 1, 0, 0,
			     MS_WEIGHT_ONE);
	p = ms_rec_put_free(&st, p, 3, 0x10);
	emit(buf, (size_t)(p - buf), arg);
}
