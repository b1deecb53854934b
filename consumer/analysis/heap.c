/* SPDX-License-Identifier: MIT */
/*
 * The heap model of heap.h. Per event: one probe of the process's live
 * table, the site's and the thread's figures, the peak check.
 *
 * The figures at the peak are kept lazily: the peak has an epoch, bumped
 * each time the total reaches a new high; a site copies its live figures
 * into its peak figures the first time it changes after an epoch began
 * (its value until then is its value at that peak), and every site not
 * changed since the last peak copies them at the end. So a new peak costs
 * nothing, however many sites there are.
 */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define MIN_LIVE_BITS 10
#define FREED_LOG2    16     /* recently freed addresses, per process */
#define MAX_LIFETIME  32768u /* sites with a lifetime histogram (~50 MB) */

struct live {
	uint64_t addr; /* 0: empty */
	uint64_t size, weight, ns;
	uint32_t site, thread; /* thread: index in h->threads */
	uint8_t sel;	       /* passes the thread filter */
};

struct proc {
	uint32_t pid;
	unsigned bits; /* cap = 2^bits */
	struct live *t;
	uint64_t cap, n;
	uint64_t freed[1u << FREED_LOG2];
};

/* A double free held back (see unknown_free()). */
struct park {
	uint32_t pid;
	size_t ti;
	uint64_t ns, addr;
};

struct tstate {
	uint64_t last_alloc; /* for temporaries: freed before the next call */
};

struct ms_heap {
	struct ms_heap_opts o;
	struct ms_sites *sites;
	struct proc **procs;
	size_t nprocs;
	struct proc *last_proc;
	struct ms_heap_thread *threads;
	struct tstate *ts;
	size_t nthreads, cap_threads;
	uint32_t *tslots; /* (pid, tid) -> index + 1 */
	size_t ntslots;
	size_t last_thread;
	struct ms_heap_totals tot;
	struct ms_heap_timeline tl;
	struct ms_heap_finding find[MS_HEAP_FINDINGS_KEPT];
	size_t nfind;
	struct park park[MS_HEAP_PARKED];
	size_t npark;
	uint32_t epoch; /* of the current peak */
	uint32_t nlife; /* lifetime histograms made */
	int counting;	/* inside the window */
	int past;	/* an event past the window was seen */
};

static uint64_t wbytes(uint64_t size, uint64_t weight)
{
	return (uint64_t)(((unsigned __int128)size * weight) >> 16);
}

static uint64_t hash_addr(uint64_t a)
{
	return a * 0x9e3779b97f4a7c15ull;
}

/*
 * The home slot of `a` in a table of 2^bits slots. Blocks allocated one
 * after another sit next to each other (glibc carves them from the same
 * arena), so the 16-byte granule within a 16 MiB region keeps its order,
 * and only the region is scattered: consecutive blocks land in nearby
 * slots, and a replay walks the table nearly in order instead of missing
 * the cache on every probe.
 */
static uint64_t home_of(uint64_t a, unsigned bits)
{
	return ((a >> 4) + (hash_addr(a >> 24) >> 32)) & ((1ull << bits) - 1);
}

int ms_heap_create(const struct ms_heap_opts *o, struct ms_sites *sites,
		   struct ms_heap **out)
{
	struct ms_heap *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->o = *o;
	h->sites = sites;
	h->last_thread = SIZE_MAX;
	*out = h;
	return 0;
}

void ms_heap_destroy(struct ms_heap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nprocs; i++) {
		free(h->procs[i]->t);
		free(h->procs[i]);
	}
	free(h->procs);
	free(h->threads);
	free(h->ts);
	free(h->tslots);
	free(h);
}

/* ---- processes and their live tables ---- */

static struct proc *proc_get(struct ms_heap *h, uint32_t pid)
{
	struct proc *p, **v;

	if (h->last_proc && h->last_proc->pid == pid)
		return h->last_proc;
	for (size_t i = 0; i < h->nprocs; i++)
		if (h->procs[i]->pid == pid)
			return h->last_proc = h->procs[i];
	v = realloc(h->procs, (h->nprocs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	h->procs = v;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	h->procs[h->nprocs++] = p;
	return h->last_proc = p;
}

static struct live *live_find(const struct proc *p, uint64_t addr)
{
	if (!p->cap)
		return NULL;
	for (uint64_t i = home_of(addr, p->bits);; i = (i + 1) & (p->cap - 1)) {
		if (p->t[i].addr == addr)
			return &p->t[i];
		if (p->t[i].addr == 0)
			return NULL;
	}
}

static void live_put(struct live *t, unsigned bits, const struct live *b)
{
	uint64_t cap = 1ull << bits, i = home_of(b->addr, bits);

	while (t[i].addr)
		i = (i + 1) & (cap - 1);
	t[i] = *b;
}

static int live_grow(struct proc *p)
{
	unsigned bits = p->cap ? p->bits + 1 : MIN_LIVE_BITS;
	struct live *t = calloc(1ull << bits, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint64_t i = 0; i < p->cap; i++)
		if (p->t[i].addr)
			live_put(t, bits, &p->t[i]);
	free(p->t);
	p->t = t;
	p->bits = bits;
	p->cap = 1ull << bits;
	return 0;
}

/* Removes the entry at e, shifting the probe chain after it back. */
static void live_remove(struct proc *p, struct live *e)
{
	uint64_t mask = p->cap - 1, i = (uint64_t)(e - p->t), j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!p->t[j].addr)
			break;
		uint64_t home = home_of(p->t[j].addr, p->bits);

		/* j's entry may move to i when its home is not in (i, j] */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			p->t[i] = p->t[j];
			i = j;
		}
	}
	p->t[i].addr = 0;
	p->n--;
}

/* ---- threads ---- */

static uint64_t thread_key(uint32_t pid, uint32_t tid)
{
	return ((uint64_t)pid << 32 | tid) * 0x9e3779b97f4a7c15ull;
}

static int tslots_grow(struct ms_heap *h)
{
	size_t cap = h->ntslots ? h->ntslots * 2 : 256;
	uint32_t *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t k = 0; k < h->nthreads; k++) {
		size_t i = thread_key(h->threads[k].pid, h->threads[k].tid) &
			   (cap - 1);

		while (s[i])
			i = (i + 1) & (cap - 1);
		s[i] = (uint32_t)k + 1;
	}
	free(h->tslots);
	h->tslots = s;
	h->ntslots = cap;
	return 0;
}

static int thread_add(struct ms_heap *h, uint32_t pid, uint32_t tid,
		      size_t slot)
{
	if (h->nthreads == h->cap_threads) {
		size_t cap = h->cap_threads ? h->cap_threads * 2 : 64;
		struct ms_heap_thread *t =
			realloc(h->threads, cap * sizeof(*t));
		struct tstate *s;

		if (!t)
			return -ENOMEM;
		h->threads = t;
		s = realloc(h->ts, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		h->ts = s;
		h->cap_threads = cap;
	}
	memset(&h->threads[h->nthreads], 0, sizeof(h->threads[0]));
	memset(&h->ts[h->nthreads], 0, sizeof(h->ts[0]));
	h->threads[h->nthreads].pid = pid;
	h->threads[h->nthreads].tid = tid;
	h->tslots[slot] = (uint32_t)++h->nthreads;
	return 0;
}

/* The index of (pid, tid), added if new; SIZE_MAX when out of memory. */
static size_t thread_get(struct ms_heap *h, uint32_t pid, uint32_t tid)
{
	size_t i, k = h->last_thread;

	if (k != SIZE_MAX && h->threads[k].tid == tid &&
	    h->threads[k].pid == pid)
		return k;
	if ((h->nthreads + 1) * 2 > h->ntslots && tslots_grow(h) < 0)
		return SIZE_MAX;
	for (i = thread_key(pid, tid) & (h->ntslots - 1); h->tslots[i];
	     i = (i + 1) & (h->ntslots - 1)) {
		k = h->tslots[i] - 1;
		if (h->threads[k].tid == tid && h->threads[k].pid == pid)
			return h->last_thread = k;
	}
	if (thread_add(h, pid, tid, i) < 0)
		return SIZE_MAX;
	return h->last_thread = h->nthreads - 1;
}

/* ---- figures ---- */

/* Before a site's live figures change: see the comment at the top. */
static void site_touch(struct ms_heap *h, struct ms_site *s)
{
	if (s->peak_epoch != h->epoch) {
		s->peak = s->live;
		s->peak_q16 = s->live_q16;
		s->peak_epoch = h->epoch;
	}
}

static void timeline_merge(struct ms_heap_timeline *tl)
{
	for (uint32_t i = 0; i < MS_HEAP_TIMELINE / 2; i++) {
		uint64_t a = tl->max[2 * i], b = tl->max[2 * i + 1];

		tl->max[i] = a > b ? a : b;
	}
	memset(tl->max + MS_HEAP_TIMELINE / 2, 0, sizeof(tl->max) / 2);
	tl->n = (tl->n + 1) / 2;
	tl->width *= 2;
}

/* The heap was `before` until ns, is `after` from then on. */
static void timeline_note(struct ms_heap *h, uint64_t ns, uint64_t before,
			  uint64_t after)
{
	struct ms_heap_timeline *tl = &h->tl;
	uint64_t b;

	if (tl->width == 0) {
		tl->start = ns;
		tl->width = 1000; /* 1 us; doubles as the run grows */
	}
	while ((b = (ns - tl->start) / tl->width) >= MS_HEAP_TIMELINE)
		timeline_merge(tl);
	for (uint32_t i = tl->n; i < b; i++)
		tl->max[i] = before; /* no event: the level held */
	if (tl->n <= b) {
		tl->max[b] = before;
		tl->n = (uint32_t)b + 1;
	}
	if (after > tl->max[b])
		tl->max[b] = after;
}

static void window_begin(struct ms_heap *h, uint64_t ns)
{
	h->counting = 1;
	h->tot.first_ns = ns;
	h->tot.peak = h->tot.live;
	h->tot.peak_ns = ns;
	h->epoch++;
}

static void note_live(struct ms_heap *h, uint64_t ns, uint64_t before)
{
	const struct ms_heap_sink *k = h->o.sink;

	if (!h->counting)
		return;
	if (h->tot.live > h->tot.peak) {
		h->tot.peak = h->tot.live;
		h->tot.peak_ns = ns;
		h->epoch++;
		if (k && k->peak)
			k->peak(k->arg, ns);
	}
	timeline_note(h, ns, before, h->tot.live);
}

static struct ms_heap_block block_of(const struct live *b)
{
	return (struct ms_heap_block){b->addr, b->size, b->weight,
				      b->ns,   b->site, b->thread};
}

static unsigned size_class(uint64_t size)
{
	return size ? 64u - (unsigned)__builtin_clzll(size) : 0;
}

static void count_alloc(struct ms_heap *h, struct ms_site *s,
			struct ms_heap_thread *t, const struct live *b)
{
	uint64_t bytes = wbytes(b->size, b->weight);
	unsigned c = size_class(b->size);

	h->tot.allocs_q16 += b->weight;
	h->tot.bytes += bytes;
	h->tot.size_q16[c < MS_HEAP_SIZE_CLASSES ? c : 63] += b->weight;
	h->tot.size_bytes[c < MS_HEAP_SIZE_CLASSES ? c : 63] += bytes;
	t->allocs_q16 += b->weight;
	t->bytes += bytes;
	s->allocs_q16 += b->weight;
	s->bytes += bytes;
}

static struct ms_site *site_of(struct ms_heap *h, uint32_t id)
{
	return ms_sites_get(h->sites, id < h->sites->n ? id : 0);
}

static uint32_t freed_slot(uint64_t addr)
{
	return (uint32_t)(hash_addr(addr) >> (64 - FREED_LOG2));
}

static int alloc_block(struct ms_heap *h, struct proc *p, size_t ti,
		       const struct ms_heap_ev *e, uint64_t addr);

/* The block at b leaves the heap: freed by thread ti at e->ns. */
static void free_block(struct ms_heap *h, struct proc *p, struct live *b,
		       size_t ti, const struct ms_heap_ev *e)
{
	struct live x = *b;
	struct ms_site *s = site_of(h, x.site);
	struct ms_heap_thread *owner = &h->threads[x.thread];
	uint64_t bytes = wbytes(x.size, x.weight), before = h->tot.live;
	int in_window = h->counting && x.ns >= h->o.from_ns, temp;

	live_remove(p, b);
	p->freed[freed_slot(x.addr)] = x.addr;
	if (!x.sel)
		return;
	site_touch(h, s);
	s->live -= bytes;
	s->live_q16 -= x.weight;
	owner->live -= bytes;
	h->tot.live -= bytes;
	if (h->counting) {
		s->frees_q16 += x.weight;
		h->tot.frees_q16 += x.weight;
		h->tot.freed_bytes += bytes;
		h->threads[ti].frees_q16 += x.weight;
		if (x.thread != ti)
			owner->freed_elsewhere_q16 += x.weight;
	}
	temp = in_window && h->ts[ti].last_alloc == x.addr;
	if (temp) {
		h->tot.temp_q16 += x.weight;
		s->temp_q16 += x.weight;
	}
	if (h->o.sink && h->o.sink->release) {
		struct ms_heap_block blk = block_of(&x);

		h->o.sink->release(h->o.sink->arg, &blk, e->ns, (uint32_t)ti,
				   h->counting, temp);
	}
	if (in_window && (s->life || h->nlife < MAX_LIFETIME)) {
		if (!s->life && (s->life = calloc(1, sizeof(*s->life))))
			h->nlife++;
		if (s->life)
			ms_lifetime_add(s->life, e->ns - x.ns, x.weight);
	}
	note_live(h, e->ns, before);
}

static void finding(struct ms_heap *h, int dbl, uint32_t pid, size_t ti,
		    uint64_t ns, uint64_t addr)
{
	struct ms_heap_finding *f;

	if (dbl)
		h->tot.double_frees++;
	else
		h->tot.unknown_frees++;
	if (h->nfind == MS_HEAP_FINDINGS_KEPT)
		return;
	f = &h->find[h->nfind++];
	f->double_free = dbl;
	f->pid = pid;
	f->tid = h->threads[ti].tid;
	f->ns = ns;
	f->addr = addr;
}

/* The parked double frees older than `now` less the window are findings
 * (all of them when `now` is UINT64_MAX). */
static void park_expire(struct ms_heap *h, uint64_t now)
{
	size_t k = 0;

	while (k < h->npark &&
	       (now == UINT64_MAX || now - h->park[k].ns > MS_HEAP_REORDER_NS))
		k++;
	for (size_t i = 0; i < k; i++)
		finding(h, 1, h->park[i].pid, h->park[i].ti, h->park[i].ns,
			h->park[i].addr);
	h->npark -= k;
	memmove(h->park, h->park + k, h->npark * sizeof(h->park[0]));
}

/*
 * A free of an address that holds no live block. A double free is held
 * back for MS_HEAP_REORDER_NS: two threads' clocks (the TSC of two CPUs,
 * rounded to the agent's unit) may order a free before the allocation it
 * ends when one thread hands a block to another that frees it at once,
 * and the allocation of the address by the other thread, timed a little
 * later than the free, then makes it no double free (alloc_at()).
 */
static void unknown_free(struct ms_heap *h, struct proc *p, size_t ti,
			 const struct ms_heap_ev *e, uint64_t addr)
{
	int dbl = p->freed[freed_slot(addr)] == addr;

	if (!h->counting)
		return;
	if (!dbl) {
		finding(h, 0, e->pid, ti, e->ns, addr);
		return;
	}
	if (h->npark == MS_HEAP_PARKED)
		park_expire(h, h->park[0].ns + MS_HEAP_REORDER_NS + 1);
	h->park[h->npark++] = (struct park){e->pid, ti, e->ns, addr};
}

static void free_at(struct ms_heap *h, struct proc *p, size_t ti,
		    const struct ms_heap_ev *e, uint64_t addr)
{
	struct live *b = live_find(p, addr);

	if (b)
		free_block(h, p, b, ti, e);
	else
		unknown_free(h, p, ti, e, addr);
	h->ts[ti].last_alloc = 0;
}

static int alloc_block(struct ms_heap *h, struct proc *p, size_t ti,
		       const struct ms_heap_ev *e, uint64_t addr)
{
	struct live b = {addr,	  e->size,	e->weight, e->ns,
			 e->site, (uint32_t)ti, 0};
	struct live *old = live_find(p, addr);
	struct ms_heap_thread *t = &h->threads[ti];
	struct ms_site *s = site_of(h, e->site);
	uint64_t bytes = wbytes(e->size, e->weight), before;

	if (old) /* its free was lost: it ends here, silently */
		free_block(h, p, old, ti, e);
	if ((p->n + 1) * 2 > p->cap && live_grow(p) < 0)
		return -ENOMEM;
	b.sel = !h->o.tid || t->tid == h->o.tid;
	live_put(p->t, p->bits, &b);
	p->n++;
	if (p->freed[freed_slot(addr)] == addr)
		p->freed[freed_slot(addr)] = 0;
	h->ts[ti].last_alloc = addr;
	if (!b.sel)
		return 0;
	before = h->tot.live;
	site_touch(h, s);
	s->live += bytes;
	s->live_q16 += e->weight;
	h->tot.live += bytes;
	t->live += bytes;
	if (h->counting) {
		if (t->live > t->peak)
			t->peak = t->live;
		count_alloc(h, s, t, &b);
	}
	if (h->o.sink && h->o.sink->alloc) {
		struct ms_heap_block blk = block_of(&b);

		h->o.sink->alloc(h->o.sink->arg, &blk, h->counting);
	}
	note_live(h, e->ns, before);
	return 0;
}

static void window_start(struct ms_heap *h, uint64_t ns)
{
	window_begin(h, ns);
	for (size_t i = 0; i < h->nthreads; i++)
		h->threads[i].peak = h->threads[i].live;
}

/* A parked free of `addr` by another thread than ti's ends the block just
 * allocated there at once (unknown_free()). */
static void park_match(struct ms_heap *h, struct proc *p, size_t ti,
		       const struct ms_heap_ev *e, uint64_t addr)
{
	for (size_t i = 0; i < h->npark; i++) {
		struct park k = h->park[i];
		struct ms_heap_ev f;

		if (k.addr != addr || k.pid != e->pid || k.ti == ti)
			continue;
		h->npark--;
		memmove(h->park + i, h->park + i + 1,
			(h->npark - i) * sizeof(h->park[0]));
		f = *e; /* at the allocation's time: a lifetime of 0 */
		f.type = MS_REC_FREE;
		f.tid = h->threads[k.ti].tid;
		free_at(h, p, k.ti, &f, addr);
		return;
	}
}

/* alloc_block(), and then a parked free the allocation explains. */
static int alloc_at(struct ms_heap *h, struct proc *p, size_t ti,
		    const struct ms_heap_ev *e, uint64_t addr)
{
	int err = alloc_block(h, p, ti, e, addr);

	if (!err && h->npark)
		park_match(h, p, ti, e, addr);
	return err;
}

int ms_heap_event(struct ms_heap *h, const struct ms_heap_ev *e)
{
	struct proc *p;
	size_t ti;

	if (e->type != MS_REC_ALLOC && e->type != MS_REC_FREE &&
	    e->type != MS_REC_REALLOC && e->type != MS_REC_LOST)
		return 0;
	if (h->o.pid && e->pid != h->o.pid)
		return 0;
	if (h->o.to_ns && e->ns > h->o.to_ns) {
		h->past = 1;
		return 1;
	}
	if (!h->counting && e->ns >= h->o.from_ns)
		window_start(h, e->ns);
	p = proc_get(h, e->pid);
	ti = thread_get(h, e->pid, e->tid);
	if (!p || ti == SIZE_MAX)
		return -ENOMEM;
	if (h->counting)
		h->tot.last_ns = e->ns;
	if (h->npark)
		park_expire(h, e->ns);
	switch (e->type) {
	case MS_REC_ALLOC:
		return alloc_at(h, p, ti, e, e->addr);
	case MS_REC_FREE:
		free_at(h, p, ti, e, e->addr);
		return 0;
	case MS_REC_REALLOC:
		free_at(h, p, ti, e, e->old_addr);
		if (h->counting && (!h->o.tid || e->tid == h->o.tid))
			h->tot.realloc_q16 += e->weight;
		return e->addr ? alloc_at(h, p, ti, e, e->addr) : 0;
	default: /* MS_REC_LOST */
		if (h->counting) {
			h->tot.lost += e->count;
			h->threads[ti].lost += e->count;
		}
		return 0;
	}
}

void ms_heap_prefetch(const struct ms_heap *h, uint32_t pid, uint64_t addr)
{
	const struct proc *p = h->last_proc;

	if (p && p->pid == pid && p->cap)
		__builtin_prefetch(&p->t[home_of(addr, p->bits)]);
}

int ms_heap_is_live(struct ms_heap *h, uint32_t pid, uint64_t addr)
{
	struct proc *p = proc_get(h, pid);

	return p && live_find(p, addr) != NULL;
}

/* Blocks allocated in the window and live at its end. */
static void count_leaks(struct ms_heap *h)
{
	for (size_t i = 0; i < h->nprocs; i++) {
		const struct proc *p = h->procs[i];

		for (uint64_t k = 0; k < p->cap; k++) {
			const struct live *b = &p->t[k];
			struct ms_site *s;
			uint64_t bytes;

			if (!b->addr || !b->sel || b->ns < h->o.from_ns)
				continue;
			s = site_of(h, b->site);
			bytes = wbytes(b->size, b->weight);
			s->leaked += bytes;
			s->leaked_q16 += b->weight;
			h->tot.leaked += bytes;
			h->tot.leaked_q16 += b->weight;
			if (h->o.sink && h->o.sink->leak) {
				struct ms_heap_block blk = block_of(b);

				h->o.sink->leak(h->o.sink->arg, &blk);
			}
		}
	}
}

static int by_ns(const void *a, const void *b)
{
	const struct ms_heap_finding *x = a, *y = b;

	return (x->ns > y->ns) - (x->ns < y->ns);
}

void ms_heap_finish(struct ms_heap *h)
{
	if (!h->counting)
		return;
	park_expire(h, UINT64_MAX);
	/* parked double frees were kept later than they happened */
	qsort(h->find, h->nfind, sizeof(h->find[0]), by_ns);
	count_leaks(h);
	for (uint32_t i = 0; i < h->sites->n; i++)
		site_touch(h, ms_sites_get(h->sites, i));
	if (h->tot.last_ns > h->tot.first_ns)
		timeline_note(h, h->tot.last_ns, h->tot.live, h->tot.live);
}

const struct ms_heap_totals *ms_heap_totals(const struct ms_heap *h)
{
	return &h->tot;
}

const struct ms_heap_timeline *ms_heap_timeline(const struct ms_heap *h)
{
	return &h->tl;
}

const struct ms_heap_thread *ms_heap_threads(const struct ms_heap *h, size_t *n)
{
	*n = h->nthreads;
	return h->threads;
}

const struct ms_heap_finding *ms_heap_findings(const struct ms_heap *h,
					       size_t *n)
{
	*n = h->nfind;
	return h->find;
}
