/* SPDX-License-Identifier: MIT */
/*
 * ms_archive_gen DIR MODE: writes a synthetic archive into the empty
 * directory DIR and prints, as one JSON object, the counts that
 * `memscope stats DIR --json` must report. MODE damages it first:
 *   clean       nothing
 *   nomanifest  manifest.json removed
 *   truncated   a segment cut inside its second frame
 *   corrupt     a byte flipped inside a segment's second frame
 *   junk        a file that is not a segment in a process directory
 * Used by test_archive_cli.py.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "archive_fixture.h"
#include "segment_abi.h"

static const struct fx_spec spec = {
	.nproc = 2,
	.nthreads = 3,
	.nsegs = 2,
	.nframes = 3,
	.ops = 200,
	.manifest = 1,
	.tick_hz = 2400000000ull,
};

static uint64_t est(const struct fx_counts *c)
{
	return (uint64_t)(c->weighted / 65536);
}

static void print_counts(const struct fx_counts *c)
{
	printf("\"events\":%" PRIu64 ",\"allocs\":%" PRIu64
	       ",\"frees\":%" PRIu64 ",\"dropped\":%" PRIu64
	       ",\"raw_bytes\":%" PRIu64
	       ",\"estimated_bytes_allocated\":%" PRIu64,
	       c->events, c->allocs, c->frees, c->dropped, c->raw_bytes,
	       est(c));
}

/* Drops frame 1 of thread 1, segment 0 from the expected counts. */
static void lose_frame(struct fx_archive *a, int and_later)
{
	struct fx_thread *t = &a->t[1];
	struct fx_counts c = {0};

	for (uint32_t k = 0; k < t->s[0].nframes; k++)
		if (k < 1 || (!and_later && k > 1))
			fx_add(&c, &t->s[0].f[k].c);
	for (uint32_t g = 1; g < t->nsegs; g++)
		for (uint32_t k = 0; k < t->s[g].nframes; k++)
			fx_add(&c, &t->s[g].f[k].c);
	t->c = c;
	memset(&a->c, 0, sizeof(a->c));
	for (size_t i = 0; i < a->nthreads; i++)
		fx_add(&a->c, &a->t[i].c);
}

static int damage(const char *dir, const char *mode, struct fx_archive *a)
{
	const struct fx_seg *s = &a->t[1].s[0];
	char p[600];
	FILE *f;

	if (!strcmp(mode, "clean"))
		return 0;
	if (!strcmp(mode, "nomanifest")) {
		snprintf(p, sizeof(p), "%s/manifest.json", dir);
		return unlink(p);
	}
	if (!strcmp(mode, "truncated")) {
		lose_frame(a, 1);
		return fx_truncate(s->path, s->f[1].offset + 100);
	}
	if (!strcmp(mode, "corrupt")) {
		lose_frame(a, 0);
		return fx_flip(s->path, s->f[1].data + 11);
	}
	if (!strcmp(mode, "junk")) {
		snprintf(p, sizeof(p), "%s/%u/core", dir, a->t[0].pid);
		f = fopen(p, "w");
		if (!f)
			return -1;
		fputs("not a segment\n", f);
		return fclose(f);
	}
	fprintf(stderr, "ms_archive_gen: unknown mode '%s'\n", mode);
	return -1;
}

int main(int argc, char **argv)
{
	struct fx_archive a;

	if (argc != 3) {
		fprintf(stderr, "usage: ms_archive_gen DIR MODE\n");
		return 2;
	}
	if (fx_write(argv[1], &spec, &a) || damage(argv[1], argv[2], &a)) {
		fprintf(stderr, "ms_archive_gen: cannot write %s\n", argv[1]);
		return 1;
	}
	printf("{\"processes\":%u,\"threads\":%zu,", spec.nproc, a.nthreads);
	print_counts(&a.c);
	printf(",\"first_caller\":%" PRIu64 ",\"per_thread\":[",
	       a.first_caller);
	for (size_t i = 0; i < a.nthreads; i++) {
		printf("%s{\"pid\":%u,\"tid\":%u,\"name\":\"%s\",\"segments\":%"
		       "u,",
		       i ? "," : "", a.t[i].pid, a.t[i].tid, a.t[i].name,
		       a.t[i].nsegs);
		print_counts(&a.t[i].c);
		printf("}");
	}
	printf("]}\n");
	fx_free(&a);
	return 0;
}
