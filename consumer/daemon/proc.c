/* SPDX-License-Identifier: MIT */
/*
 * What the manifest lists of a process besides its counts: its threads
 * (one entry per ring generation, with the stream's counts and name) and
 * the modules it reported. The poller adds and updates under the
 * process's info lock, the manifest writer reads under it; both lists are
 * bounded, and what does not fit is counted.
 */
#include <stdlib.h>
#include <string.h>

#include "bounded.h"
#include "daemon_int.h"

void ms_proc_init_info(struct ms_proc *p)
{
	pthread_mutex_init(&p->info_lock, NULL);
}

uint64_t ms_proc_threads(struct ms_proc *p)
{
	uint64_t n = ms_load_relaxed(&p->n.threads);
	int main_seen = 0;

	if (!p->prev_image || !n)
		return n;
	pthread_mutex_lock(&p->info_lock);
	for (uint32_t i = 0; i < p->nthr && !main_seen; i++)
		main_seen = p->thr[i].tid == p->pid;
	pthread_mutex_unlock(&p->info_lock);
	return n - (uint64_t)main_seen;
}

void ms_proc_free(struct ms_proc *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nmod; i++)
		free(p->mod[i].path);
	free(p->mod);
	free(p->thr);
	ms_bundle_free(&p->bundle);
	free(p->bundled);
	pthread_mutex_destroy(&p->info_lock);
	free(p);
}

int64_t ms_proc_add_thread(struct ms_proc *p, uint32_t tid)
{
	int64_t i = -1;

	pthread_mutex_lock(&p->info_lock);
	if (ms_grow_bounded(&p->thr, p->nthr, &p->thr_cap, sizeof(*p->thr),
			    MS_MANIFEST_THREADS) == 0) {
		i = p->nthr++;
		memset(&p->thr[i], 0, sizeof(p->thr[i]));
		p->thr[i].tid = tid;
	} else {
		p->thr_omitted++;
	}
	pthread_mutex_unlock(&p->info_lock);
	return i;
}

void ms_proc_update_thread(struct ms_proc *p, int64_t i,
			   const struct ms_stream *st,
			   const struct ms_stream_counts *d, int ended)
{
	if (i < 0)
		return;
	pthread_mutex_lock(&p->info_lock);
	/* added, not copied from the stream: a copy would undo what its
	 * bundled segments changed (bytes on disk, entries lost) */
	if (d)
		ms_stream_counts_add(&p->thr[i].n, d);
	memcpy(p->thr[i].name, st->name, sizeof(p->thr[i].name));
	p->thr[i].ended = ended;
	pthread_mutex_unlock(&p->info_lock);
}

void ms_proc_module(struct ms_proc *p, const struct ms_event *ev)
{
	pthread_mutex_lock(&p->info_lock);
	if (ev->type == MS_REC_MODULE_UNLOAD) {
		/* the latest load at that base */
		for (uint32_t i = p->nmod; i-- > 0;)
			if (p->mod[i].base == ev->addr && !p->mod[i].unloaded) {
				p->mod[i].unloaded = 1;
				break;
			}
	} else if (ms_grow_bounded(&p->mod, p->nmod, &p->mod_cap,
				   sizeof(*p->mod), MS_MANIFEST_MODULES) == 0) {
		struct ms_module *m = &p->mod[p->nmod];
		char *path = malloc((size_t)ev->str_len + 1);

		if (path) {
			memcpy(path, ev->str, ev->str_len);
			path[ev->str_len] = 0;
			memset(m, 0, sizeof(*m));
			m->base = ev->addr;
			m->size = ev->size;
			m->build_id_len = ev->build_id_len;
			memcpy(m->build_id, ev->build_id, ev->build_id_len);
			m->path = path;
			p->nmod++;
		} else {
			p->mod_omitted++;
		}
	} else {
		p->mod_omitted++;
	}
	pthread_mutex_unlock(&p->info_lock);
}
