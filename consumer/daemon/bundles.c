/* SPDX-License-Identifier: MIT */
/*
 * Bundles: a process's short streams written together (common/bundle.h).
 *
 * A stream that ends with everything it recorded in its one open frame,
 * at most MS_BUNDLE_STREAM_MAX bytes of records, hands its whole segment
 * (records stored as they are) to its process's bundle instead of writing
 * a file of its own. The bundle is written, compressed as one zstd frame,
 * when it holds MS_BUNDLE_FLUSH_BYTES, when its first entry is
 * MS_BUNDLE_AGE_NS old, when the process's last ring goes, and when the
 * consumer stops. Each thread is then counted its share of the file's
 * bytes, so that `stats` adds up the same from the manifest as from the
 * files. All of it runs on the poller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "segment.h"
#include "segment_abi.h"

#define MS_BUNDLE_FLUSH_BYTES (64u << 10)
#define MS_BUNDLE_AGE_NS      1000000000u
/* Bundles are small and written once: a high level costs little. */
#define MS_BUNDLE_LEVEL 9

int ms_bundle_put(void *ctx, uint32_t seq, const uint8_t *seg, size_t len)
{
	struct ms_cring *r = ctx;
	struct ms_proc *p = r->proc;
	struct ms_daemon *d = r->d;
	struct ms_bundled *e;
	int64_t off;

	if (p->bundle.n == p->bundled_cap) {
		uint32_t cap = p->bundled_cap ? 2 * p->bundled_cap : 64;
		struct ms_bundled *n =
			realloc(p->bundled, cap * sizeof(*p->bundled));

		if (!n)
			return -ENOMEM;
		p->bundled = n;
		p->bundled_cap = cap;
	}
	off = ms_bundle_add(&p->bundle, r->st.cfg.tid, seq, seg, len);
	if (off < 0)
		return (int)off; /* the stream writes a file of its own */
	e = &p->bundled[p->bundle.n - 1];
	/* the entry's own counts: the stream may have handed over parts
	 * before this one, and may go on after it */
	*e = (struct ms_bundled){
		.sum = r->sum,
		.tid = r->st.cfg.tid,
		.seq = seq,
		.off = (uint64_t)off,
		.span = p->bundle.len - (uint64_t)off,
		.seg_off = p->bundle.len - len,
		.len = len,
	};
	ms_stream_counts_sub(&e->n, &r->st.n, &r->st.f0);
	if (p->bundle.n == 1) {
		p->bundle_ns = ms_mono_ns();
		p->bundle_next = d->bundles;
		d->bundles = p;
	}
	return 0;
}

/* Counts `bytes` on disk for entry `e`. */
static void count_entry(struct ms_proc *p, const struct ms_bundled *e,
			uint64_t bytes)
{
	ms_fetch_add_relaxed(&p->n.disk_bytes, bytes);
	if (e->sum < 0)
		return;
	pthread_mutex_lock(&p->info_lock);
	p->thr[e->sum].n.disk_bytes += bytes;
	pthread_mutex_unlock(&p->info_lock);
}

/*
 * Entry `e` could not be written at all: its stream's counts are taken
 * back, and its events counted as a full disk's (as ms_stream_flush()
 * counts a frame it cannot write): drained but not written, and, with the
 * losses its LOST records said, in no LOST record.
 */
static void count_lost(struct ms_proc *p, const struct ms_bundled *e)
{
	const struct ms_stream_counts *n = &e->n;
	uint64_t events = n->allocs + n->frees - n->reallocs;
	struct ms_stream_counts *t;

	ms_fetch_sub_relaxed(&p->n.records, n->records);
	ms_fetch_sub_relaxed(&p->n.allocs, n->allocs);
	ms_fetch_sub_relaxed(&p->n.frees, n->frees);
	ms_fetch_sub_relaxed(&p->n.dropped, n->dropped);
	ms_fetch_sub_relaxed(&p->n.raw_bytes, n->raw_bytes);
	ms_fetch_sub_relaxed(&p->n.segments, n->segments);
	ms_fetch_add_relaxed(&p->n.discarded, events);
	ms_fetch_add_relaxed(&p->n.unwritten, events + n->dropped);
	if (e->sum < 0)
		return;
	pthread_mutex_lock(&p->info_lock);
	t = &p->thr[e->sum].n;
	ms_stream_counts_sub(t, t, n);
	t->unwritten += events + n->dropped;
	pthread_mutex_unlock(&p->info_lock);
}

/*
 * Entry `e` as a file of its own, <tid>-<seq>.mseg, through the segment
 * writer: for a bundle of one (a file of its own is smaller than a bundle
 * of it: the writer compresses its records alone, and the stored
 * segment's checksums and header are not compressed), and when the bundle
 * could not be written. Returns 0, or -1 when nothing could be written.
 */
static int write_apart(struct ms_daemon *d, struct ms_proc *p,
		       const struct ms_bundled *e)
{
	struct ms_seg_reader *r = NULL;
	struct ms_seg_writer *w = NULL;
	struct ms_seg_info info;
	struct ms_seg_frame fr;
	char path[4400];
	int err;

	err = ms_seg_open_mem(p->bundle.buf + e->seg_off, e->len, &r);
	if (!err && ms_seg_next(r, &fr) != 1)
		err = -EIO;
	if (!err) {
		info = *ms_seg_reader_info(r);
		ms_seg_path(path, sizeof(path), p->dir, e->tid, e->seq);
		err = ms_seg_create(path, &info, d->o.level, &w);
	}
	if (!err) {
		err = ms_seg_write_frame(w, fr.data, fr.len, fr.count,
					 fr.first_ts, fr.last_ts);
		uint64_t size = ms_seg_file_size(w) + MS_SEG2_END_SIZE;
		int e2 = ms_seg_finish(w);

		if (!err)
			err = e2;
		if (err)
			unlink(path);
		else
			count_entry(p, e, size);
	}
	if (r)
		ms_seg_close(r);
	if (!err)
		return 0;
	ms_dlog(d,
		"pid %u tid %u: writing the archive failed (%s); %llu "
		"records lost",
		p->pid, e->tid, strerror(-err),
		(unsigned long long)e->n.records);
	count_lost(p, e);
	return -1;
}

void ms_bundle_flush(struct ms_daemon *d, struct ms_proc *p)
{
	uint64_t size = 0;
	int err;

	if (p->bundle.n == 0)
		return;
	for (struct ms_proc **pp = &d->bundles; *pp; pp = &(*pp)->bundle_next)
		if (*pp == p) {
			*pp = p->bundle_next;
			break;
		}
	p->bundle_next = NULL;
	err = p->bundle.n == 1 ? -EAGAIN
			       : ms_bundle_write(&p->bundle, p->dir,
						 MS_BUNDLE_LEVEL, &size);
	if (err && err != -EAGAIN)
		ms_dlog(d,
			"pid %u: writing a bundle failed (%s); writing its "
			"%u segments apart",
			p->pid, strerror(-err), p->bundle.n);
	for (uint32_t i = 0; i < p->bundle.n; i++) {
		const struct ms_bundled *e = &p->bundled[i];

		if (err)
			write_apart(d, p, e);
		else
			count_entry(p, e,
				    ms_bundle_share(size, p->bundle.len, e->off,
						    e->span));
	}
	/* A process keeps its struct to the session's end: not its
	 * bundle's memory, which the next entry allocates again. */
	ms_bundle_free(&p->bundle);
	free(p->bundled);
	p->bundled = NULL;
	p->bundled_cap = 0;
}

void ms_bundles_flush(struct ms_daemon *d, uint64_t now, int all)
{
	struct ms_proc *p = d->bundles, *next;

	for (; p; p = next) {
		next = p->bundle_next;
		if (all || p->bundle.len >= MS_BUNDLE_FLUSH_BYTES ||
		    (now > p->bundle_ns &&
		     now - p->bundle_ns >= MS_BUNDLE_AGE_NS))
			ms_bundle_flush(d, p);
	}
}

/* ---- segment numbers ---- */

struct ms_seqent {
	uint64_t key; /* (pid << 32 | tid) + 1; 0: empty */
	uint32_t next;
	uint32_t used_s; /* CLOCK_MONOTONIC seconds of the last use */
};

#define MS_SEQ_KEEP_S 60

static uint64_t seq_key(uint32_t pid, uint32_t tid)
{
	return ((uint64_t)pid << 32 | tid) + 1;
}

static struct ms_seqent *seq_slot(const struct ms_seqmap *m, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;

	for (uint32_t i = (uint32_t)(h >> 32) & (m->cap - 1);;
	     i = (i + 1) & (m->cap - 1))
		if (m->e[i].key == key || m->e[i].key == 0)
			return &m->e[i];
}

/* Rebuilt at `cap` slots with the entries used since `since_s`. */
static int seq_rebuild(struct ms_seqmap *m, uint32_t cap, uint32_t since_s)
{
	struct ms_seqmap n = {.cap = cap, .pruned_ns = m->pruned_ns};

	n.e = calloc(cap, sizeof(*n.e));
	if (!n.e)
		return -1;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->e[i].key && m->e[i].used_s >= since_s) {
			*seq_slot(&n, m->e[i].key) = m->e[i];
			n.n++;
		}
	free(m->e);
	*m = n;
	return 0;
}

uint32_t ms_seq_next(struct ms_daemon *d, uint32_t pid, uint32_t tid)
{
	struct ms_seqent *e;

	if (!d->seqs.n)
		return 0;
	e = seq_slot(&d->seqs, seq_key(pid, tid));
	return e->key ? e->next : 0;
}

void ms_seq_ended(struct ms_daemon *d, uint32_t pid, uint32_t tid,
		  uint32_t next)
{
	struct ms_seqmap *m = &d->seqs;
	uint64_t now = ms_mono_ns();
	uint32_t now_s = (uint32_t)(now / 1000000000u);
	struct ms_seqent *e;

	if (now - m->pruned_ns >= MS_SEQ_KEEP_S * 1000000000ull) {
		m->pruned_ns = now;
		if (m->n)
			(void)seq_rebuild(m, m->cap,
					  now_s > MS_SEQ_KEEP_S
						  ? now_s - MS_SEQ_KEEP_S
						  : 0);
	}
	/* at most half full; without memory, later streams of this thread
	 * id try the file names from 0 (bundled segments may repeat one) */
	if (2 * (m->n + 1) > m->cap &&
	    seq_rebuild(m, m->cap ? 2 * m->cap : 1024, 0) < 0)
		return;
	e = seq_slot(m, seq_key(pid, tid));
	if (!e->key) {
		e->key = seq_key(pid, tid);
		m->n++;
	}
	e->next = next;
	e->used_s = now_s;
}

void ms_seq_free(struct ms_daemon *d)
{
	free(d->seqs.e);
	memset(&d->seqs, 0, sizeof(d->seqs));
}
