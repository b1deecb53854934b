/* SPDX-License-Identifier: MIT */
/*
 * Live-heap snapshots for `top` and `snapshot` clients.
 *
 * The poller, which owns every live heap (live.h), writes a snapshot when
 * a client has asked since the last one, at most one per MS_SNAP_MIN_NS,
 * and hands it to the control thread through d->snap_ready (one at a
 * time: it writes no other until the control thread has taken it). Its
 * cost on the drain is one pass over the sites and threads of each
 * process per snapshot; the drain itself never waits for a client.
 *
 * The control thread gives the newest snapshot to every client that
 * asked, and sends it in SNAP_PART messages only as far as the client's
 * socket buffer takes them: a client that stops reading holds one
 * snapshot (MS_SNAP_MAX bytes at most) and slows nobody.
 */
#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "daemon_int.h"
#include "proto.h"
#include "snap_abi.h"

#define MS_SNAP_MIN_NS	  20000000ull /* between two snapshots */
#define MS_SNAP_SITES_MAX 65536u      /* per process */

struct ms_snapblob {
	int refs; /* control thread only */
	uint64_t seq;
	size_t len;
	uint8_t *data;
};

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

/* `n` zeroed bytes (rounded up to 8) at the end of the buffer, or NULL. */
static void *put(struct wbuf *b, size_t n)
{
	size_t need = (n + 7) & ~(size_t)7;
	void *r;

	if (b->err || need > MS_SNAP_MAX - b->len) {
		b->err = -E2BIG;
		return NULL;
	}
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *p;

		while (cap < b->len + need)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	r = b->p + b->len;
	memset(r, 0, need);
	b->len += need;
	return r;
}

static void fig(struct ms_snap_fig *o, const struct ms_live_fig *f)
{
	o->live_bytes = ms_live_bytes(f);
	o->live_count = ms_live_count(ms_live_q(f));
	o->alloc_bytes = f->alloc_bytes;
	o->alloc_count = ms_live_count(f->alloc_q);
	o->free_bytes = f->free_bytes;
	o->free_count = ms_live_count(f->free_q);
}

/*
 * Figures from exact counts, where a process's blocks are followed at
 * some addresses only and every record weighs 1 (`full`): the blocks
 * followed stand for the others in the live figures alone. Their
 * allocations and frees would stand for the others' too, but one address
 * a program allocates and frees over and over (a buffer made and freed in
 * a loop) makes them a lottery: Debian's perl building a hash gave 1.7x
 * the allocations and 2.5x the frees it made. Allocations and bytes
 * allocated are counted, and with `frees` a process's frees. The blocks
 * live stay the estimate even then: a process's frees may be of blocks it
 * never allocated (a forked child's of its parent's), which the live heap
 * never held, as `report` does not count them live either. A thread's
 * frees are of anyone's blocks, and others free its own: its frees are
 * what it allocated less its live estimate. Bytes freed are the bytes
 * allocated less the live estimate. Both freed figures never fall below
 * what was last published (counters).
 */
static uint64_t no_less(uint64_t v, uint64_t *pub, uint64_t most)
{
	if (v < *pub)
		v = *pub;
	if (v > most)
		v = most;
	*pub = v;
	return v;
}

static void counted(struct ms_snap_fig *o, struct ms_live_counted *x, int frees)
{
	uint64_t bytes = (uint64_t)(x->wsize / MS_WEIGHT_ONE);
	uint64_t freed = o->live_bytes < bytes ? bytes - o->live_bytes : 0;
	uint64_t nfreed = frees ? x->frees
			  : o->live_count < x->allocs
				  ? x->allocs - o->live_count
				  : 0;

	o->alloc_count = x->allocs;
	o->free_count =
		no_less(nfreed, &x->nfreed_pub, frees ? UINT64_MAX : x->allocs);
	if (!frees)
		o->live_count = o->alloc_count - o->free_count;
	o->alloc_bytes = bytes;
	o->free_bytes = no_less(freed, &x->freed_pub, bytes);
	o->live_bytes = bytes - o->free_bytes;
}

/* Whether the figures of `l` come from its counts (counted()). */
static int counts_exact(const struct ms_live *l)
{
	return !l->x_weighted && l->sel_bits;
}

static void proc_fig(struct ms_snap_fig *o, struct ms_live *l)
{
	struct ms_live_fig f = l->f;

	for (uint32_t i = 0; i < l->nthr; i++) {
		f.alloc_bytes += l->thr[i].f.alloc_bytes;
		f.alloc_q += l->thr[i].f.alloc_q;
		f.free_bytes += l->thr[i].f.free_bytes;
		f.free_q += l->thr[i].f.free_q;
	}
	fig(o, &f);
	/* on since a `top` attached: the frees counted include those of
	 * blocks allocated before, which the live heap never held */
	if (counts_exact(l))
		counted(o, &l->x, l->whole);
}

static void put_threads(struct wbuf *b, struct ms_live *l)
{
	for (uint32_t i = 0; i < l->nthr; i++) {
		struct ms_live_thread *t = &l->thr[i];
		struct ms_snap_thread *o = put(b, sizeof(*o));

		if (!o)
			return;
		o->tid = t->tid;
		o->ended = (uint32_t)t->ended;
		o->dropped = t->dropped;
		fig(&o->f, &t->f);
		if (counts_exact(l))
			counted(&o->f, &t->x, 0);
		memcpy(o->name, t->name, sizeof(t->name));
	}
}

static const struct ms_live *sort_live;

static int by_live_bytes(const void *a, const void *b)
{
	uint64_t x = ms_live_bytes(&sort_live->sites[*(const uint32_t *)a].f);
	uint64_t y = ms_live_bytes(&sort_live->sites[*(const uint32_t *)b].f);

	return (x < y) - (x > y);
}

/* The sites that allocated since the live heap began, biggest first when
 * there are too many. Returns how many are in *out, or -1. */
static int64_t pick_sites(const struct ms_live *l, uint32_t **out, int *cut)
{
	uint32_t *v = malloc((l->nsites + 1u) * sizeof(*v)), n = 0;

	if (!v)
		return -1;
	for (uint32_t i = 0; i < l->nsites; i++)
		if (l->sites[i].f.alloc_q)
			v[n++] = i;
	*cut = n > MS_SNAP_SITES_MAX;
	if (*cut) {
		sort_live = l; /* the poller is the only caller */
		qsort(v, n, sizeof(*v), by_live_bytes);
		n = MS_SNAP_SITES_MAX;
	}
	*out = v;
	return n;
}

static void put_site(struct wbuf *b, const struct ms_live *l, uint32_t i)
{
	const struct ms_live_site *s = &l->sites[i];
	struct ms_snap_site *o = put(b, sizeof(*o));
	uint64_t *fr;

	if (!o)
		return;
	o->id = i;
	o->nframes = s->nframes;
	o->nhist = s->hist_n;
	fig(&o->f, &s->f);
	for (uint32_t k = 0; k < s->hist_n; k++)
		o->hist[k] = s->hist[(l->hist_pos + MS_LIVE_HIST - s->hist_n +
				      1 + k) %
				     MS_LIVE_HIST];
	fr = put(b, (size_t)s->nframes * sizeof(*fr));
	if (fr && s->nframes)
		memcpy(fr, l->frames + s->frame_off,
		       (size_t)s->nframes * sizeof(*fr));
}

static uint32_t put_mods(struct wbuf *b, struct ms_proc *p)
{
	uint32_t n = 0;

	pthread_mutex_lock(&p->info_lock);
	for (uint32_t i = 0; i < p->nmod; i++) {
		const struct ms_module *m = &p->mod[i];
		size_t len = m->path ? strlen(m->path) : 0;
		struct ms_snap_mod *o = put(b, sizeof(*o));
		char *path;

		if (len > 4096)
			len = 4096;
		path = put(b, len);
		if (!o || !path)
			break;
		o->base = m->base;
		o->size = m->size;
		o->build_id_len = m->build_id_len;
		memcpy(o->build_id, m->build_id, m->build_id_len);
		o->path_len = (uint32_t)len;
		o->unloaded = (uint32_t)m->unloaded;
		memcpy(path, m->path, len);
		n++;
	}
	pthread_mutex_unlock(&p->info_lock);
	return n;
}

static void put_proc(struct wbuf *b, struct ms_live *l)
{
	size_t at = b->len;
	struct ms_snap_proc *o = put(b, sizeof(*o));
	struct ms_proc *p = l->owner;
	uint32_t *v = NULL, nmods;
	int64_t n;
	int cut = 0;

	if (!o)
		return;
	o->pid = l->pid;
	o->nthreads = l->nthr;
	o->dropped = l->dropped;
	o->untracked = l->untracked;
	o->addr_sample = 1u << l->sel_bits;
	o->flags = (l->sampled ? MS_SNAP_SAMPLED : 0) |
		   (l->untracked ? MS_SNAP_INCOMPLETE : 0);
	proc_fig(&o->f, l);
	memcpy(o->exe, p->exe, sizeof(o->exe) - 1);
	put_threads(b, l);
	n = pick_sites(l, &v, &cut);
	if (n < 0) {
		b->err = -ENOMEM;
		return;
	}
	for (int64_t i = 0; i < n; i++)
		put_site(b, l, v[i]);
	free(v);
	nmods = put_mods(b, p);
	if (b->err)
		return;
	o = (struct ms_snap_proc *)(void *)(b->p + at); /* b->p moved */
	o->nsites = (uint32_t)n;
	o->nmods = nmods;
	o->flags |= cut ? MS_SNAP_SITES_CUT : 0;
}

static struct ms_snapblob *build(struct ms_daemon *d, uint64_t now)
{
	struct wbuf b = {0};
	struct ms_snap_hdr *h = put(&b, sizeof(*h));
	struct ms_snapblob *blob;
	uint32_t n = 0;

	for (struct ms_live *l = d->lives; l && !b.err; l = l->next, n++)
		put_proc(&b, l);
	blob = calloc(1, sizeof(*blob));
	if (b.err || !blob || !h) {
		ms_dlog(d, "a live snapshot could not be written: %s",
			strerror(b.err ? -b.err : ENOMEM));
		free(b.p);
		free(blob);
		return NULL;
	}
	h = (struct ms_snap_hdr *)(void *)b.p;
	h->magic = MS_SNAP_MAGIC;
	h->version = MS_SNAP_VERSION;
	h->hdr_size = sizeof(*h);
	h->mono_ns = now;
	h->since_ns = d->live_since;
	h->seq = ++d->snap_seq;
	h->nprocs = n;
	h->hist_period_ms = (uint32_t)(MS_LIVE_HIST_NS / 1000000);
	h->nhist = MS_SNAP_HIST;
	h->sampling = d->o.set.sampling;
	h->sampling_param = d->o.set.sampling_param;
	blob->seq = h->seq;
	blob->len = b.len;
	blob->data = b.p;
	return blob;
}

/* Poller: a snapshot for the clients that asked since the last one. */
void ms_snap_serve(struct ms_daemon *d, uint64_t now)
{
	uint64_t asked = ms_load_relaxed(&d->snap_asked);
	struct ms_snapblob *blob;

	if (asked == d->snap_answered || now - d->snap_ns < MS_SNAP_MIN_NS ||
	    ms_load_relaxed(&d->snap_ready))
		return;
	d->snap_answered = asked;
	d->snap_ns = now;
	blob = build(d, now);
	if (!blob)
		return;
	/* Pairs with the control thread's exchange in ms_topc_sweep(). */
	ms_store_release(&d->snap_ready, blob);
	ms_daemon_wake(d);
}

static void blob_put(struct ms_snapblob *b)
{
	if (b && --b->refs == 0) {
		free(b->data);
		free(b);
	}
}

struct ms_topc *ms_topc_new(void)
{
	return calloc(1, sizeof(struct ms_topc));
}

void ms_topc_free(struct ms_topc *t)
{
	if (!t)
		return;
	blob_put(t->out);
	free(t);
}

/* Control thread: a client asks for the live heap now. */
void ms_topc_ask(struct ms_daemon *d, struct ms_topc *t)
{
	t->want = 1;
	/* Pairs with the poller's load_acquire(live_want). */
	ms_store_release(&d->live_want, 1);
	ms_fetch_add_relaxed(&d->snap_asked, 1);
}

/* Room for one more message of `len` bytes in the socket's send buffer. */
static int has_room(int fd, size_t len)
{
	int sndbuf, queued;
	socklen_t l = sizeof(sndbuf);

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l) < 0 ||
	    ioctl(fd, SIOCOUTQ, &queued) < 0)
		return 1;
	return (long)sndbuf - queued >= (long)len + 1024;
}

/* Sends what the socket takes of the client's snapshot: 0, or -errno. */
static int topc_send(struct ms_topc *t, int fd)
{
	static struct ms_msg_snap_part m; /* control thread only */

	while (t->out) {
		size_t n = t->out->len - t->off;
		ssize_t w;

		if (n > MS_SNAP_PART_MAX)
			n = MS_SNAP_PART_MAX;
		if (!has_room(fd, offsetof(struct ms_msg_snap_part, data) + n))
			return 0;
		ms_msg_init(&m.hdr, MS_MSG_SNAP_PART,
			    offsetof(struct ms_msg_snap_part, data) + n);
		m.seq = t->out->seq;
		m.total = t->out->len;
		m.offset = t->off;
		m.len = (uint32_t)n;
		memcpy(m.data, t->out->data + t->off, n);
		w = send(fd, &m, m.hdr.size, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0
								       : -errno;
		t->off += n;
		if (t->off == t->out->len) {
			blob_put(t->out);
			t->out = NULL;
		}
	}
	return 0;
}

/*
 * Control thread: takes a new snapshot from the poller, gives it to the
 * clients waiting for one, and sends what each socket takes. Returns
 * how many clients still have something to send or wait for.
 */
int ms_topc_sweep(struct ms_daemon *d)
{
	/* Pairs with the poller's store_release(snap_ready). */
	struct ms_snapblob *fresh = atomic_exchange_explicit(
		&d->snap_ready, NULL, memory_order_acquire);
	int busy = 0;

	if (fresh) {
		fresh->refs = 2; /* the control thread's own, dropped below,
				    and snap_last's */
		blob_put(d->snap_last);
		d->snap_last = fresh;
	}
	for (struct ms_conn *c = d->conns; c; c = c->next) {
		struct ms_topc *t = c->top;

		if (!t || c->fd < 0)
			continue;
		if (fresh && t->want && !t->out) {
			t->want = 0;
			t->out = fresh;
			t->off = 0;
			fresh->refs++;
		}
		if (topc_send(t, c->fd) < 0)
			c->fd = -c->fd - 2; /* closed by the sweep */
		busy += t->want || t->out;
	}
	blob_put(fresh);
	return busy;
}

void ms_daemon_live_ask(struct ms_daemon *d)
{
	/* Pairs with the poller's load_acquire(live_want). */
	ms_store_release(&d->live_want, 1);
	ms_fetch_add_relaxed(&d->snap_asked, 1);
}

const void *ms_daemon_live_last(struct ms_daemon *d, size_t *len, uint64_t *seq)
{
	if (!d->snap_last)
		return NULL;
	*len = d->snap_last->len;
	*seq = d->snap_last->seq;
	return d->snap_last->data;
}

void ms_snap_close(struct ms_daemon *d)
{
	struct ms_snapblob *b = atomic_exchange_explicit(&d->snap_ready, NULL,
							 memory_order_acquire);

	if (b) {
		b->refs = 1;
		blob_put(b);
	}
	blob_put(d->snap_last);
	d->snap_last = NULL;
	while (d->lives) {
		struct ms_live *l = d->lives;

		d->lives = l->next;
		((struct ms_proc *)l->owner)->live = NULL;
		ms_live_destroy(l);
	}
}
