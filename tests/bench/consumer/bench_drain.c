/* SPDX-License-Identifier: MIT */
/*
 * Consumer drain + compress throughput on one core.
 *
 * A synthetic producer builds the event stream of the stress workload
 * (T threads, each (free, malloc) pairs over a live window of 256 blocks,
 * sizes mostly < 1 KiB, some medium, rare large, a size per call site;
 * real malloc addresses; rdtsc timestamps) into per-thread rings.
 * Only the consumer's side is timed: ring peek, copy out, decode and
 * validation of every record, frame building, zstd and the segment write,
 * exactly as the poller does it (consumer/daemon/stream.c).
 *
 * usage: bench_drain [--events N] [--threads T] [--level L] [--dir D]
 *                    [--cross PCT] [--visit KB] [--ring KB] [--live]
 *                    [--compare REPS] [--unflagged] [--fewest] [--verbose]
 * --cross hands PCT% of the blocks a thread frees to another thread, which
 * frees them at its next turn (the stress example's hand-offs, default 0).
 * --visit drains at most KB per ring per turn, and each ring is refilled
 * after its turn, as when the consumer is behind its producers: the rings
 * stay full and the threads' drained times lie a round apart (default:
 * every ring emptied at each turn). --ring: each ring's size (default
 * 1024, the consumer's default in `full` mode). --verbose: the live
 * heap's table as it was while draining.
 * --live feeds the live heap (consumer/daemon/live.h) as the poller does
 * while a `top` client is attached; --compare runs REPS alternated runs
 * without and with it and prints the medians and their ratio.
 * Frees carry their block's level, as the agent writes them (record.h);
 * --unflagged: none does, as agents before it.
 * --fewest: the live heap follows the fewest blocks from the start, as
 * it would at this rate anyway; for runs under valgrind, whose rate
 * would keep it exact.
 * Prints events/s, raw and archived bytes per event, compression ratio.
 * The consumer's side is timed in this thread's CPU time, which on an idle
 * machine is its wall time and on a shared one leaves out the time other
 * processes held the core.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "live.h"
#include "record.h"
#include "ring.h"
#include "stream.h"

#define BENCH_INBOX 4096

struct prod {
	struct ms_ring r;
	struct ms_rec_state st;
	struct ms_clock clk;
	void *live[256];
	void *inbox[BENCH_INBOX]; /* blocks other threads handed over */
	uint32_t in_n;
	uint64_t seed, done, seen;
};

/* The run's shape (--cross, --visit). */
static long cross_pct, nprod, ring_kb = 1024;
static int verbose, unflagged, fewest;
static struct prod *prods;

/* The FREE flags the agent writes for `x`, as it reads them: glibc's
 * chunk size in the word before the block (agent.h, ms_free_flags()). */
static uint8_t free_flags(void *x)
{
	const uint8_t *q = x;
	size_t chunk;

	if (unflagged)
		return 0;
	__asm__("" : "+r"(q));
	memcpy(&chunk, q - sizeof(chunk), sizeof(chunk));
	return ms_rec_free_level((chunk & ~(size_t)7) - 8);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Sizes as the stress example draws them: each call site has its own size
 * (real programs allocate a few struct sizes per site); 90% of calls are
 * under 1 KiB, 9.5% medium, 0.5% large.
 */
static size_t pick_size(uint64_t r, uint64_t *site)
{
	static const size_t small[] = {16,  24,	 32,  48,  64,	80,  96,  128,
				       160, 192, 256, 320, 384, 512, 768, 1000};
	static const size_t medium[] = {1536, 2048, 4096, 8192, 16384};
	static const size_t large[] = {65536, 131072, 262144, 1048576};
	unsigned k = (unsigned)(r % 1000);

	if (k < 900) {
		*site = 1 + (r >> 10) % 16;
		return small[*site - 1];
	}
	if (k < 995) {
		*site = 17 + (r >> 10) % 5;
		return medium[*site - 17];
	}
	*site = 22 + (r >> 10) % 4;
	return large[*site - 22];
}

/* Writes events into the ring until it is nearly full or `left` is 0. */
static uint64_t produce(struct prod *p, uint64_t left, uint64_t max_bytes)
{
	uint64_t n = 0, head0 = p->r.hdr->head;

/* at most max_bytes, give or take a record */
#define ROOM() (p->r.hdr->head - head0 < max_bytes)

	while (p->in_n && n < left && ROOM()) {
		uint8_t *b = ms_ring_reserve(&p->r, MS_REC_SMALL_MAX);
		void *x = p->inbox[p->in_n - 1];

		if (!b)
			return p->done += n, n;
		ms_ring_commit(
			&p->r,
			(uint64_t)(ms_rec_put_free_flags(
					   &p->st, b, ms_clock_ticks(&p->clk),
					   (uintptr_t)x, free_flags(x)) -
				   b));
		free(x);
		p->in_n--;
		n++;
	}
	while (n < left && ROOM()) {
		uint8_t *b = ms_ring_reserve(&p->r, 2 * MS_REC_SMALL_MAX + 64);
		uint8_t *e;
		uint64_t r = rnd(&p->seed), sid;
		size_t size;
		int k = (int)(r % 256);

		if (!b)
			break;
		e = b;
		if (p->live[k] && cross_pct &&
		    (r >> 40) % 100 < (uint64_t)cross_pct && nprod > 1) {
			struct prod *to =
				&prods[(p - prods + 1 +
					(long)((r >> 48) %
					       (uint64_t)(nprod - 1))) %
				       nprod];

			if (to->in_n < BENCH_INBOX) {
				to->inbox[to->in_n++] = p->live[k];
				p->live[k] = NULL;
			}
		}
		if (p->live[k]) {
			e = ms_rec_put_free_flags(
				&p->st, e, ms_clock_ticks(&p->clk),
				(uintptr_t)p->live[k], free_flags(p->live[k]));
			free(p->live[k]);
			n++;
		}
		size = pick_size(r >> 8, &sid);
		p->live[k] = malloc(size);
		if (!(p->seen & (1ull << sid))) {
			uint64_t fr[8];

			for (int i = 0; i < 8; i++)
				fr[i] = 0x400000 + sid * 64 +
					(uint64_t)i * 4096;
			e = ms_rec_put_stack(&p->st, e, ms_clock_ticks(&p->clk),
					     sid, fr, 8);
			p->seen |= 1ull << sid;
		}
		e = ms_rec_put_alloc(&p->st, e, ms_clock_ticks(&p->clk),
				     (uintptr_t)p->live[k], size, 0, sid,
				     MS_WEIGHT_ONE);
		ms_ring_commit(&p->r, (uint64_t)(e - b));
		n++;
	}
	p->done += n;
	return n;
#undef ROOM
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int arg(int argc, char **argv, const char *name, long *v)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name)) {
			*v = atol(argv[i + 1]);
			return 1;
		}
	return 0;
}

struct result {
	double rate; /* events/s */
	uint64_t recs, total, raw, disk;
};

/* Feeds what ring `c` holds to `s`: at most `visit` bytes (give or take
 * a record, as the poller cuts a visit), or all of it when 0. */
static int drain_ring(struct ms_ring *c, struct ms_stream *s, uint64_t visit)
{
	const uint8_t *b;
	uint64_t moved = 0;
	ssize_t n, k;

	while ((!visit || moved < visit) && (n = ms_ring_peek(c, &b)) > 0) {
		if (visit && (uint64_t)n > visit - moved + MS_REC_MAX)
			n = (ssize_t)(visit - moved + MS_REC_MAX);
		k = ms_stream_feed(s, b, (size_t)n, NULL, NULL);
		if (k <= 0) {
			fprintf(stderr, "feed: %zd\n", k);
			return -1;
		}
		ms_ring_release(c, (uint64_t)k);
		moved += (uint64_t)k;
	}
	return 0;
}

/* The live heap's table as seen after each turn (--verbose). */
struct table_seen {
	uint64_t blocks_sum, tombs_sum, pend_sum, visits;
	uint32_t cap_max;
};

static void sample(const struct ms_live *live, struct table_seen *t)
{
	t->cap_max = live->cap > t->cap_max ? live->cap : t->cap_max;
	t->blocks_sum += live->nblocks;
	t->tombs_sum += live->ntombs;
	t->pend_sum += live->npend - live->pend_head;
	t->visits++;
}

/* One run over fresh rings and streams; `live` feeds a live heap too. */
static int run(long events, long threads, long level, long visit,
	       const char *dir, int live_on, struct result *res)
{
	struct ms_live *live = live_on ? ms_live_create(1) : NULL;
	struct ms_stream *s;
	struct prod *p;
	struct ms_ring *c;
	uint64_t busy = 0, total = 0, raw = 0, disk = 0, recs = 0;
	struct table_seen table = {0};

	p = calloc((size_t)threads, sizeof(*p));
	c = calloc((size_t)threads, sizeof(*c));
	s = calloc((size_t)threads, sizeof(*s));
	prods = p;
	nprod = threads;
	if (live)
		ms_live_enable(live, ms_mono_ns());
	if (live && fewest) /* two rate checks a moment apart: a high rate */
		for (int i = 0; i < 2; i++)
			ms_live_seen(live, MS_LIVE_RATE_EVENTS);
	for (long t = 0; t < threads; t++) {
		struct ms_stream_cfg cfg = {
			.dir = dir,
			.pid = 1,
			.tid = (uint32_t)(100 + t),
			.tick_hz = 1000000000u,
			.level = (int)level,
			.frame_target = 512u << 10, /* the consumer's default */
			.seg_max = 64u << 20,
			.live = live};

		p[t].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
		ms_clock_calibrate(&p[t].clk, t ? 0 : 20);
		if (t)
			p[t].clk = p[0].clk;
		if (ms_ring_create((uint64_t)ring_kb << 10, 1,
				   (uint32_t)(100 + t), &p[t].r) < 0 ||
		    ms_ring_attach(dup(p[t].r.fd), &c[t]) < 0 ||
		    ms_stream_init(&s[t], &cfg) < 0) {
			fprintf(stderr, "setup failed\n");
			return -1;
		}
	}
	/* With --visit, the rings start full, written a little at a time
	 * each, as threads running together would write them. */
	for (uint64_t k = 1; visit && k && total < (uint64_t)events;) {
		k = 0;
		for (long t = 0; t < threads; t++)
			k += produce(&p[t], (uint64_t)events - total, 4096);
		total += k;
	}
	while (total < (uint64_t)events) {
		for (long t = 0; t < threads; t++) {
			uint64_t t0 = cpu_ns();

			if (drain_ring(&c[t], &s[t], (uint64_t)visit) < 0)
				return -1;
			busy += cpu_ns() - t0;
			if (live)
				sample(live, &table);
			/* refilled after its turn: what the next turn reads
			 * has left the caches, as a producer's writes on
			 * another core would have */
			total += produce(&p[t], (uint64_t)events - total,
					 UINT64_MAX);
		}
	}
	for (long t = 0; t < threads; t++) {
		uint64_t t0 = cpu_ns();

		if (drain_ring(&c[t], &s[t], 0) < 0)
			return -1;
		ms_stream_flush(&s[t]);
		busy += cpu_ns() - t0;
		/* the rings may have held every event from the start */
		if (live)
			sample(live, &table);
		recs += s[t].n.records;
		raw += s[t].n.raw_bytes;
		disk += s[t].n.disk_bytes;
		ms_stream_finish(&s[t], 0);
	}
	if (live && (live->nthr == 0 || live->thr[0].f.alloc_q == 0)) {
		fprintf(stderr, "the live heap saw nothing\n");
		return -1;
	}
	if (live && verbose)
		fprintf(stderr,
			"live heap while draining: up to %u slots, on average "
			"%.0f blocks, %.0f tombstones and %.0f listed frees; "
			"%llu sweeps and rehashes over %llu slots; 1 address "
			"in %u\n",
			table.cap_max,
			(double)table.blocks_sum / (double)table.visits,
			(double)table.tombs_sum / (double)table.visits,
			(double)table.pend_sum / (double)table.visits,
			(unsigned long long)live->passes,
			(unsigned long long)live->pass_slots,
			1u << live->sel_bits);
	for (long t = 0; t < threads; t++) {
		for (int k = 0; k < 256; k++)
			free(p[t].live[k]);
		for (uint32_t k = 0; k < p[t].in_n; k++)
			free(p[t].inbox[k]);
		ms_ring_unmap(&c[t]);
		ms_ring_unmap(&p[t].r);
	}
	free(p);
	free(c);
	free(s);
	ms_live_destroy(live);
	*res = (struct result){(double)recs / ((double)busy / 1e9), recs, total,
			       raw, disk};
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --compare N: N alternated runs without and with the live heap. */
static int compare(long reps, long events, long threads, long level, long visit,
		   const char *dir)
{
	double off[64], on[64];
	struct result r;

	if (reps > 64)
		reps = 64;
	for (long i = 0; i < reps; i++) {
		if (run(events, threads, level, visit, dir, 0, &r) < 0)
			return 1;
		off[i] = r.rate;
		if (run(events, threads, level, visit, dir, 1, &r) < 0)
			return 1;
		on[i] = r.rate;
	}
	double m0 = median(off, (int)reps), m1 = median(on, (int)reps);

	printf("drain+compress, median of %ld alternated runs: %.1f M "
	       "events/s without the live heap, %.1f M with it (ratio %.3f)\n",
	       reps, m0 / 1e6, m1 / 1e6, m1 / m0);
	return 0;
}

int main(int argc, char **argv)
{
	long events = 20000000, threads = 8, level = 1, reps = 0, live = 0;
	long visit = 0;
	const char *dir = "/tmp/ms-bench-drain";
	struct result r;
	char cmd[256];
	int rc;

	arg(argc, argv, "--events", &events);
	arg(argc, argv, "--threads", &threads);
	arg(argc, argv, "--level", &level);
	arg(argc, argv, "--compare", &reps);
	arg(argc, argv, "--cross", &cross_pct);
	arg(argc, argv, "--ring", &ring_kb);
	if (arg(argc, argv, "--visit", &visit))
		visit <<= 10;
	if (threads < 1 || threads > 4096 || cross_pct < 0 || cross_pct > 100 ||
	    visit < 0 || ring_kb < 64 || (ring_kb & (ring_kb - 1))) {
		fprintf(stderr, "bench_drain: --threads 1..4096, --cross "
				"0..100, --visit KB >= 0, --ring KB a power "
				"of two >= 64\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--live"))
			live = 1;
		if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		if (!strcmp(argv[i], "--unflagged"))
			unflagged = 1;
		if (!strcmp(argv[i], "--fewest"))
			fewest = 1;
		if (i + 1 < argc && !strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0 || mkdir(dir, 0755) < 0) {
		perror(dir);
		return 1;
	}
	if (reps > 0) {
		rc = compare(reps, events, threads, level, visit, dir);
	} else {
		rc = run(events, threads, level, visit, dir, (int)live, &r) < 0;
		if (!rc) {
			printf("drain+compress: %.1f M events/s on one core "
			       "(zstd level %ld, %ld streams, %llu events "
			       "incl. %llu stack records%s)\n",
			       r.rate / 1e6, level, threads,
			       (unsigned long long)r.recs,
			       (unsigned long long)(r.recs - r.total),
			       live ? ", live heap on" : "");
			printf("raw %.2f bytes/event, archive %.2f "
			       "bytes/event, compression ratio %.2f\n",
			       (double)r.raw / (double)r.recs,
			       (double)r.disk / (double)r.recs,
			       (double)r.raw / (double)r.disk);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 && !rc ? 0 : 1;
}
