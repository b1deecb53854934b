/* SPDX-License-Identifier: MIT */
/*
 * Compaction (`memscope compact`): a finished archive's segments written
 * again at a higher zstd level, frame for frame, and the manifest's byte
 * counts made to match. The consumer compresses at a fast level because
 * it must keep up with the program; afterwards there is time for more
 * (docs/usage.md, "memscope compact").
 *
 * A segment is rewritten to a temporary file beside it, read back and
 * compared with the original frame by frame (records, counts and times),
 * made durable, and renamed over the original only when it is smaller: a
 * crash at any point leaves every segment whole, old or new. Segments
 * that are damaged or unfinished, and bundles, are left as they are.
 */
#ifndef MS_ARCHIVE_COMPACT_H
#define MS_ARCHIVE_COMPACT_H

#include <stddef.h>
#include <stdint.h>

struct ms_archive;

/* The zstd level of `memscope compact` and of the consumer's idle
 * compaction: level 19 takes three to four times its time for 0-1% less
 * (docs/benchmarks.md, "Compaction"). */
#define MS_COMPACT_LEVEL_DEFAULT 15

/* ms_compact_segment(): the segment is at the level asked or above. */
#define MS_COMPACT_ALREADY 2

/* Suffix of the temporary file of a segment being compacted. */
#define MS_COMPACT_TMP ".compact-tmp"

/*
 * Rewrites the segment file `path` at zstd level `level`. *before and
 * *after get its size before and after (equal when it is kept, 0 when it
 * cannot be read). Returns 1
 * when it was replaced, 0 when the rewrite was not smaller (kept),
 * MS_COMPACT_ALREADY when its header says it was written at `level` or
 * above (kept, not rewritten: by the consumer's idle compaction or an
 * earlier `memscope compact`),
 * -EBADMSG when the segment is damaged or was never finished (kept;
 * `why` says what), -EIO when the rewrite did not read back the same
 * (kept), -ECANCELED when `go_on` (may be NULL), called before each
 * frame, returned 0 (kept, the temporary file removed; it may also
 * wait), or -errno. `why` holds why_len bytes (0: no reason wanted, and
 * `why` may be NULL).
 */
int ms_compact_segment(const char *path, int level, int (*go_on)(void *),
		       void *ctx, uint64_t *before, uint64_t *after, char *why,
		       size_t why_len);

/* The segments of an archive by the zstd level their headers say
 * (segment.h), as `memscope stats` shows them. */
#define MS_COMPACT_LEVEL_MIN (-7)
#define MS_COMPACT_LEVEL_MAX 22
struct ms_compact_levels {
	/* files at level l: at[l - MS_COMPACT_LEVEL_MIN] */
	uint64_t at[MS_COMPACT_LEVEL_MAX - MS_COMPACT_LEVEL_MIN + 1];
	uint64_t unsaid;  /* files whose header does not say (older ones) */
	uint64_t unread;  /* files whose header cannot be read */
	uint64_t bundled; /* segments in bundles, which do not say */
	uint64_t below;	  /* finished files below the level asked, or not
			     saying theirs: what compact at it rewrites */
};

/* Reads the header of each segment file of `a` (not the frames). */
void ms_compact_levels(const struct ms_archive *a, int level,
		       struct ms_compact_levels *out);

/*
 * Subtracts `saved[i]` bytes (one entry per a->threads[i]) from the
 * bytes_on_disk of thread i, of its process and of the totals in
 * `dir`/manifest.json, written to a temporary file and renamed over it.
 * Returns 0, -ENOENT when the manifest lists no such counts (left as it
 * is), or -errno.
 */
int ms_compact_manifest(const char *dir, const struct ms_archive *a,
			const uint64_t *saved);

#endif
