/* SPDX-License-Identifier: MIT */
/*
 * Fuzz targets for every decoder of untrusted bytes. Each target file
 * defines the libFuzzer entry point and a few generated seed inputs; the
 * same file links either with libFuzzer (-DMS_FUZZ=ON, clang) or with
 * fuzz_replay.c, a plain main() that replays seeds and corpus files as a
 * short deterministic ctest.
 */
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct ms_rec_state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef void (*ms_fuzz_emit)(const uint8_t *data, size_t size, void *arg);

/* Calls `emit` with each generated seed (valid inputs of the target). */
void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg);

/* Aborts with a message: a property the target checks does not hold. */
#define MS_FUZZ_CHECK(cond)                                                    \
	do {                                                                   \
		if (!(cond))                                                   \
			ms_fuzz_fail(__FILE__, __LINE__, #cond);               \
	} while (0)
void ms_fuzz_fail(const char *file, int line, const char *what)
	__attribute__((noreturn));

/*
 * The hot records' fast path against the general decoder on the record at
 * [p, p + len) with stream state `st` (record.h, ms_rec_decode_hot()):
 * when the fast path takes it, ms_rec_decode() must give the same length
 * and fields, and the encoders the same bytes. Returns the fast path's
 * length (0: not taken).
 */
size_t ms_fuzz_hot_agrees(const struct ms_rec_state *st, const uint8_t *p,
			  size_t len);

/*
 * Seed helper: a small valid segment (three frames, a CLOCK, ALLOCs and
 * FREEs) made by the real writer; `finish` 0 cuts its index off. Returns
 * its size with *out malloc'ed, or 0.
 */
size_t ms_fuzz_make_segment(uint8_t **out, int finish);

#endif
