/* SPDX-License-Identifier: MIT */
/*
 * ARCHIVE/manifest.json: the session, its settings and the processes seen,
 * with their counts. Rewritten while the consumer runs (at most once a
 * second) and at the end, always atomically: a temporary file (synced at
 * the end only), then rename over the old one. Readers derive the events
 * from the segments; the manifest adds what only the consumer knows (exe,
 * status, times).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "json_writer.h"

static const char *on_full_name(uint32_t v)
{
	return v == MS_ON_FULL_DROP ? "drop" : "block";
}

static void put_counts(FILE *f, const struct ms_proc_counts *n)
{
	fprintf(f,
		"\"threads\": %llu, \"events\": %llu, \"allocs\": %llu, "
		"\"frees\": %llu, \"dropped\": %llu, \"raw_bytes\": %llu, "
		"\"bytes_on_disk\": %llu, \"segments\": %llu, "
		"\"abandoned_rings\": %llu, \"rings_refused\": %llu, "
		"\"events_unrecorded\": %llu, \"events_disk_lost\": %llu, "
		"\"events_unwritten\": %llu",
		(unsigned long long)ms_load_relaxed(&n->threads),
		(unsigned long long)ms_load_relaxed(&n->records),
		(unsigned long long)ms_load_relaxed(&n->allocs),
		(unsigned long long)ms_load_relaxed(&n->frees),
		(unsigned long long)ms_load_relaxed(&n->dropped),
		(unsigned long long)ms_load_relaxed(&n->raw_bytes),
		(unsigned long long)(ms_load_relaxed(&n->disk_bytes) -
				     ms_load_relaxed(&n->compacted)),
		(unsigned long long)ms_load_relaxed(&n->segments),
		(unsigned long long)ms_load_relaxed(&n->abandoned),
		(unsigned long long)ms_load_relaxed(&n->refused),
		(unsigned long long)ms_load_relaxed(&n->unrecorded),
		(unsigned long long)ms_load_relaxed(&n->discarded),
		(unsigned long long)ms_load_relaxed(&n->unwritten));
}

/*
 * Bytes allocated, as `stats` counts them from the segments: the sum of
 * size x Q16 weight, written as its whole bytes and the Q16 remainder so
 * that `stats` can sum threads exactly without reading the segments.
 */
static void put_allocated(FILE *f, unsigned __int128 wsize)
{
	unsigned __int128 bytes = wsize / MS_WEIGHT_ONE;

	if (bytes > UINT64_MAX) {
		fputs("\"estimated_bytes_allocated\": null", f);
		return;
	}
	fprintf(f, "\"estimated_bytes_allocated\": %llu, \"weight_rest\": %llu",
		(unsigned long long)bytes,
		(unsigned long long)(wsize % MS_WEIGHT_ONE));
}

static void put_threads(FILE *f, struct ms_proc *first)
{
	uint32_t listed = 0;
	uint64_t omitted = 0;

	fputs(",\n      \"per_thread\": [", f);
	for (struct ms_proc *p = first; p; p = p->next_image) {
		pthread_mutex_lock(&p->info_lock);
		for (uint32_t i = 0; i < p->nthr; i++) {
			const struct ms_thread_sum *t = &p->thr[i];

			fprintf(f, "%s\n        {\"tid\": %u, \"name\": ",
				listed++ ? "," : "", t->tid);
			ms_json_put_cstr(f, t->name);
			fprintf(f,
				", \"status\": \"%s\", \"events\": %llu, "
				"\"allocs\": %llu, \"frees\": %llu, "
				"\"dropped\": %llu, \"bytes_on_disk\": %llu, "
				"\"segments\": %llu, \"unwritten\": %llu, "
				"\"raw_bytes\": %llu, \"frames\": %llu, ",
				t->ended ? "ended" : "running",
				(unsigned long long)t->n.records,
				(unsigned long long)t->n.allocs,
				(unsigned long long)t->n.frees,
				(unsigned long long)t->n.dropped,
				(unsigned long long)(t->n.disk_bytes -
						     t->compacted),
				(unsigned long long)t->n.segments,
				(unsigned long long)t->n.unwritten,
				(unsigned long long)t->n.raw_bytes,
				(unsigned long long)t->n.frames);
			put_allocated(f, t->n.wsize);
			fputc('}', f);
		}
		omitted += p->thr_omitted;
		pthread_mutex_unlock(&p->info_lock);
	}
	fprintf(f, "%s], \"threads_not_listed\": %llu",
		listed ? "\n      " : "", (unsigned long long)omitted);
}

static void put_modules(FILE *f, struct ms_proc *p)
{
	fputs(",\n      \"modules\": [", f);
	for (uint32_t i = 0; i < p->nmod; i++) {
		const struct ms_module *m = &p->mod[i];

		fprintf(f,
			"%s\n        {\"base\": \"0x%llx\", \"size\": %llu, "
			"\"build_id\": \"",
			i ? "," : "", (unsigned long long)m->base,
			(unsigned long long)m->size);
		for (uint32_t k = 0; k < m->build_id_len; k++)
			fprintf(f, "%02x", m->build_id[k]);
		fputs("\", \"path\": ", f);
		ms_json_put_cstr(f, m->path);
		fprintf(f, ", \"status\": \"%s\"}",
			m->unloaded ? "unloaded" : "loaded");
	}
	fprintf(f, "%s], \"modules_not_listed\": %llu",
		p->nmod ? "\n      " : "", (unsigned long long)p->mod_omitted);
}

/* Every image of a process (exec), oldest first. */
static void put_images(FILE *f, struct ms_proc *first)
{
	fputs(",\n      \"images\": [", f);
	for (struct ms_proc *p = first; p; p = p->next_image) {
		fprintf(f, "%s\n        {\"exe\": ", p == first ? "" : ",");
		ms_json_put_cstr(f, p->exe);
		fputs(", \"start_time\": ", f);
		ms_json_put_time(f, p->start_rt_ns);
		fputs(", \"end_time\": ", f);
		ms_json_put_time(f, p->exited ? p->end_rt_ns : 0);
		fprintf(f,
			", \"events\": %llu, \"allocs\": %llu, \"frees\": "
			"%llu}",
			(unsigned long long)ms_load_relaxed(&p->n.records),
			(unsigned long long)ms_load_relaxed(&p->n.allocs),
			(unsigned long long)ms_load_relaxed(&p->n.frees));
	}
	fputs("\n      ]", f);
}

/* The counts of a process: the sum over its images. */
static void sum_counts(struct ms_proc *first, struct ms_proc_counts *s)
{
	/* Every field is a counter, summed as such. */
	_Static_assert(sizeof(*s) % sizeof(_Atomic uint64_t) == 0, "u64s");
	_Atomic uint64_t *dst = (_Atomic uint64_t *)s;
	size_t n = sizeof(*s) / sizeof(*dst);

	memset(s, 0, sizeof(*s));
	for (struct ms_proc *p = first; p; p = p->next_image) {
		const _Atomic uint64_t *src = (const _Atomic uint64_t *)&p->n;

		for (size_t i = 0; i < n; i++)
			ms_store_relaxed(&dst[i],
					 ms_load_relaxed(&dst[i]) +
						 ms_load_relaxed(&src[i]));
	}
	/* A later image's main thread is the earlier one's (same tid). */
	ms_store_relaxed(&s->threads, 0);
	for (struct ms_proc *p = first; p; p = p->next_image)
		ms_store_relaxed(&s->threads, ms_load_relaxed(&s->threads) +
						      ms_proc_threads(p));
}

/* One process: the chain of its images from `first`, named by its last. */
static void put_proc(FILE *f, struct ms_proc *first)
{
	struct ms_proc *last = first;
	struct ms_proc_counts sum;
	uint32_t rings = 0;

	for (struct ms_proc *p = first; p; p = p->next_image) {
		last = p;
		rings += p->nrings;
	}
	fprintf(f, "    {\"pid\": %u, \"ppid\": %u, \"exe\": ", first->pid,
		first->ppid);
	ms_json_put_cstr(f, last->exe);
	fprintf(f, ", \"status\": \"%s\", \"start_time\": ",
		last->exited ? "exited" : "running");
	ms_json_put_time(f, first->start_rt_ns);
	fputs(", \"end_time\": ", f);
	ms_json_put_time(f, last->exited ? last->end_rt_ns : 0);
	fprintf(f, ", \"rings\": %u, ", rings);
	sum_counts(first, &sum);
	put_counts(f, &sum);
	put_images(f, first);
	put_threads(f, first);
	pthread_mutex_lock(&last->info_lock);
	put_modules(f, last);
	pthread_mutex_unlock(&last->info_lock);
	fputc('}', f);
}

static void put_settings(FILE *f, const struct ms_daemon *d)
{
	char samp[64];

	ms_format_sampling(&d->o.set, samp, sizeof(samp));
	fprintf(f,
		"  \"settings\": {\"sampling\": \"%s\", \"stack_depth\": %u, "
		"\"ring_kb\": %llu, \"on_full\": \"%s\", \"tick_hz\": %llu, "
		"\"time_resolution_ns\": %u, "
		"\"zstd_level\": %d, \"frame_kb\": %llu, \"segment_mb\": "
		"%llu},\n",
		samp, d->o.set.stack_depth,
		(unsigned long long)d->o.set.ring_kb,
		on_full_name(d->o.set.on_full),
		(unsigned long long)d->clk.tick_hz, d->o.set.time_res_ns,
		d->o.level, (unsigned long long)d->o.frame_kb,
		(unsigned long long)d->o.seg_mb);
}

static void put_totals(FILE *f, struct ms_daemon *d)
{
	struct ms_daemon_totals t;

	ms_daemon_totals(d, &t);
	fprintf(f,
		"  \"totals\": {\"processes\": %llu, \"threads\": %llu, "
		"\"events\": %llu, \"allocs\": %llu, \"frees\": %llu, "
		"\"dropped\": %llu, \"raw_bytes\": %llu, \"bytes_on_disk\": "
		"%llu, \"rings_refused\": %llu, \"rings_abandoned\": %llu, "
		"\"events_unrecorded\": %llu, \"events_disk_lost\": %llu, "
		"\"events_unwritten\": %llu},\n",
		(unsigned long long)t.processes, (unsigned long long)t.threads,
		(unsigned long long)t.events, (unsigned long long)t.allocs,
		(unsigned long long)t.frees, (unsigned long long)t.dropped,
		(unsigned long long)t.raw_bytes,
		(unsigned long long)t.disk_bytes,
		(unsigned long long)t.rings_refused,
		(unsigned long long)t.rings_abandoned,
		(unsigned long long)t.unrecorded,
		(unsigned long long)t.discarded,
		(unsigned long long)t.unwritten);
}

static void put_manifest(FILE *f, struct ms_daemon *d, int final)
{
	struct ms_proc *p;
	int first = 1;

	fputs("{\n  \"format\": \"memscope-archive\",\n  \"version\": 1,\n", f);
	fputs("  \"session\": ", f);
	ms_json_put_cstr(f, d->session);
	fprintf(f, ",\n  \"consumer_pid\": %d,\n  \"state\": \"%s\",\n",
		(int)getpid(), final ? "finished" : "running");
	fputs("  \"start_time\": ", f);
	ms_json_put_time(f, d->start_rt_ns);
	fputs(",\n  \"end_time\": ", f);
	ms_json_put_time(f, final ? d->end_rt_ns : 0);
	fputs(",\n", f);
	put_settings(f, d);
	fprintf(f,
		"  \"idle_compaction\": {\"level\": %d, \"rewritten\": %llu, "
		"\"bytes_saved\": %llu, \"pending\": %llu},\n",
		d->o.idle_level > d->o.level ? d->o.idle_level : 0,
		(unsigned long long)d->compacted_segments,
		(unsigned long long)d->compacted_bytes,
		(unsigned long long)ms_compactor_pending(d));
	put_totals(f, d);
	fputs("  \"processes\": [\n", f);
	ms_list_for_each(p, &d->procs, node)
	{
		if (p->prev_image)
			continue; /* listed with its first image */
		if (!first)
			fputs(",\n", f);
		first = 0;
		put_proc(f, p);
	}
	fputs("\n  ]\n}\n", f);
}

static int manifest_write(struct ms_daemon *d, int final);

/*
 * The room kept for the manifest: a full disk must not leave it saying
 * "running" with old counts. Made when the collector starts; given up the
 * first time the manifest cannot be written, else just before the last
 * one is written.
 */
#define MS_RESERVE_BYTES (1u << 20)

void ms_manifest_reserve(struct ms_daemon *d)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/.reserve", d->out);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (posix_fallocate(fd, 0, MS_RESERVE_BYTES) == 0)
		d->reserved = 1;
	else
		unlink(path);
	close(fd);
}

void ms_manifest_unreserve(struct ms_daemon *d)
{
	char path[4200];

	if (!d->reserved)
		return;
	snprintf(path, sizeof(path), "%s/.reserve", d->out);
	unlink(path);
	d->reserved = 0;
}

int ms_manifest_write(struct ms_daemon *d, int final)
{
	int err = manifest_write(d, final);

	if (err && d->reserved) {
		ms_manifest_unreserve(d);
		ms_dlog(d, "the archive's disk is full: used the room kept "
			   "for the manifest");
		err = manifest_write(d, final);
	}
	return err;
}

static int manifest_write(struct ms_daemon *d, int final)
{
	char tmp[4200], path[4200];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/manifest.json", d->out);
	snprintf(tmp, sizeof(tmp), "%s/.manifest.json.tmp", d->out);
	f = fopen(tmp, "we");
	if (!f)
		goto out_err;
	put_manifest(f, d, final);
	/* Only the last one is synced: the segments are not either, and a
	 * sync on the control thread holds every HELLO waiting behind it
	 * (20-30 ms on this machine's disk, the most of `record -- true`). */
	if (fflush(f) != 0 || (final && fsync(fileno(f)) < 0)) {
		err = -errno;
		fclose(f);
		unlink(tmp);
		goto out_log;
	}
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		goto out_err;
	return 0;
out_err:
	err = -errno;
	unlink(tmp);
out_log:
	ms_dlog(d, "cannot write %s: %s", path, strerror(-err));
	return err;
}
