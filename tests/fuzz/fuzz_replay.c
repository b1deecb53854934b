/* SPDX-License-Identifier: MIT */
/*
 * A plain main() for a fuzz target, for builds without libFuzzer:
 *
 *   fuzz_X_replay [--write-seeds DIR] [--mutations N] [FILE|DIR]...
 *
 * Runs the target's generated seeds, N deterministic mutations of each
 * (truncations, byte flips, insertions from a fixed-seed PRNG; default
 * 2000), then every file given or found in a given directory. Any failed
 * check aborts. --write-seeds stores the generated seeds as a corpus for
 * a libFuzzer run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

struct replay {
	unsigned long runs;
	unsigned mutations;
	const char *write_dir;
	unsigned written;
	uint64_t rng;
};

static uint64_t next_rand(struct replay *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static void run(struct replay *r, const uint8_t *d, size_t n)
{
	/* A private copy, exactly n bytes, so ASan sees any overread. */
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, d, n);
	LLVMFuzzerTestOneInput(c, n);
	free(c);
	r->runs++;
}

static void mutate(struct replay *r, const uint8_t *d, size_t n)
{
	uint8_t *m = malloc(n + 16);

	if (!m)
		abort();
	for (unsigned i = 0; i < r->mutations && n > 0; i++) {
		size_t len = n, at = next_rand(r) % n;

		memcpy(m, d, n);
		switch (i % 4) {
		case 0: /* cut */
			len = at;
			break;
		case 1: /* flip a bit */
			m[at] ^= (uint8_t)(1u << (next_rand(r) % 8));
			break;
		case 2: /* a random byte */
			m[at] = (uint8_t)next_rand(r);
			break;
		default: /* an inserted byte */
			memmove(m + at + 1, m + at, n - at);
			m[at] = (uint8_t)next_rand(r);
			len = n + 1;
			break;
		}
		run(r, m, len);
	}
	free(m);
}

static void seed(const uint8_t *d, size_t n, void *arg)
{
	struct replay *r = arg;

	if (r->write_dir) {
		char p[4096];
		FILE *f;

		snprintf(p, sizeof(p), "%s/seed-%u", r->write_dir,
			 r->written++);
		f = fopen(p, "wb");
		if (!f || fwrite(d, 1, n, f) != n || fclose(f)) {
			fprintf(stderr, "cannot write %s\n", p);
			exit(1);
		}
		return;
	}
	run(r, d, n);
	mutate(r, d, n);
}

static int run_file(struct replay *r, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	run(r, buf, n);
	free(buf);
	return 0;
}

/* Every regular file of `dir`, in name order. */
static int run_dir(struct replay *r, const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort), err = 0;

	if (n < 0) {
		fprintf(stderr, "cannot read %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char p[4096];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, ents[i]->d_name);
		if (!err && stat(p, &st) == 0 && S_ISREG(st.st_mode))
			err = run_file(r, p);
		free(ents[i]);
	}
	free(ents);
	return err;
}

int main(int argc, char **argv)
{
	struct replay r = {.mutations = 2000, .rng = 0x9e3779b97f4a7c15ull};
	int i = 1, err = 0;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--write-seeds") && i + 1 < argc)
			r.write_dir = argv[++i];
		else if (!strcmp(argv[i], "--mutations") && i + 1 < argc)
			r.mutations = (unsigned)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr,
				"usage: %s [--write-seeds DIR] "
				"[--mutations N] [FILE|DIR]...\n",
				argv[0]);
			return 2;
		}
	}
	ms_fuzz_seeds(seed, &r);
	if (r.write_dir) {
		printf("%u seeds written to %s\n", r.written, r.write_dir);
		return 0;
	}
	for (; i < argc && !err; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			err = run_dir(&r, argv[i]);
		else
			err = run_file(&r, argv[i]);
	}
	printf("%lu inputs run\n", r.runs);
	return err ? 1 : 0;
}
