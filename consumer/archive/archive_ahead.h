/* SPDX-License-Identifier: MIT */
/*
 * Decoding ahead: the batches (archive_batch.h) of a set of streams filled
 * by worker threads while one reader, on the archive's thread, reads the
 * batches before them -- the merge and the scan on a second core.
 *
 * Each stream has `nslots` batches: with two, a worker fills the next one
 * while the reader reads the other; with one, a worker fills the stream's
 * only batch at once (the scan). A stream is filled by one thread at a
 * time, in order; nothing but the batches passes between threads, under
 * the one lock (which also orders the iterators' state between the
 * threads that take turns filling a stream). Workers take the streams
 * whose batches the reader asked for first. A reader that needs a batch
 * no worker has started fills it itself, and while a worker fills the
 * one it waits for, it fills another stream's: it never waits while
 * there is decoding to do, and with no worker at all it does everything.
 *
 * Internal to the room.
 */
#ifndef MS_ARCHIVE_AHEAD_H
#define MS_ARCHIVE_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "archive_batch.h"

struct ms_archive;
struct ms_arc_ahead;

/* Fills `b` with the next batch of stream `i` (ms_arc_batch_reset() and
 * ms_arc_iter_fill()); on any thread, never twice at once for a stream. */
typedef void (*ms_arc_fill_fn)(void *arg, size_t i, struct ms_arc_batch *b);

/* `n` streams, none requested yet. Returns 0 or -ENOMEM. */
int ms_arc_ahead_create(size_t n, unsigned nslots, ms_arc_fill_fn fill,
			void *arg, struct ms_arc_ahead **out);

/*
 * Requests the next batch of every stream that has not ended, and starts
 * `threads` workers to fill them (fewer if threads cannot be made: the
 * reader then fills what they do not). Call once.
 */
void ms_arc_ahead_start(struct ms_arc_ahead *ah, unsigned threads);

/*
 * From now on, with two slots and workers, the reader taking a batch
 * requests the stream's next one; requests it now for every stream that
 * has room. Until then, after the batches start() requested, the reader
 * fills every batch itself (what must be read in order first, is).
 */
void ms_arc_ahead_refill(struct ms_arc_ahead *ah);

/*
 * The next batch of stream `i`, in order, once filled; the batch returned
 * before for `i` is given back (the reader no longer uses it). Not called
 * again for `i` once a batch with `end` set was returned.
 */
struct ms_arc_batch *ms_arc_ahead_next(struct ms_arc_ahead *ah, size_t i);

/*
 * 1 when no batch of stream `i` was requested or filled yet: it is then
 * the caller's, to read as it likes, and the workers leave it alone.
 * 0: ms_arc_ahead_next() gives its batches.
 */
int ms_arc_ahead_claim(struct ms_arc_ahead *ah, size_t i);

/* The reader is done with stream `i`, which has ended: frees its
 * batches. */
void ms_arc_ahead_done(struct ms_arc_ahead *ah, size_t i);

/* Stops the workers (each finishes the batch it fills) and frees. */
void ms_arc_ahead_destroy(struct ms_arc_ahead *ah);

/*
 * How many workers to start for `nstreams` streams of `bytes` bytes of
 * segments that the reader takes `concurrently` (the merge: 1) or one
 * after the other (the scan: 0): a->read_threads when set (>= 0), else
 * as many as pay -- none on one CPU or for a small archive, else up to
 * the CPUs besides the reader's, at most three.
 */
unsigned ms_arc_ahead_threads(const struct ms_archive *a, size_t nstreams,
			      uint64_t bytes, int concurrently);

#endif
