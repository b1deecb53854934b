/* SPDX-License-Identifier: MIT */
/*
 * The live heap of one process (live.h): a block table keyed by address,
 * the process's sites and threads with their figures. Poller thread only.
 */
#include "live.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "atomics.h"
#include "bounded.h"
#include "bytes.h"
#include "clock.h"

#define MS_LIVE_SITE_BUCKETS (1u << 16)
#define MS_LIVE_TAB_MIN	     (1u << 12)
#define MS_LIVE_TOMBS_MIN    4096u

/* A free at an address not followed that found no block (on_free()). */
struct ms_live_pend {
	uint64_t addr, ts;
};

#define MS_LIVE_CHECK_NS 1000000000u /* big blocks checked once a second */

/* A live block, or a tombstone: a free whose block was not seen. */
struct ms_live_block {
	uint64_t addr;	/* 0: empty slot */
	uint64_t ts;	/* allocation's time, or the free's for a tombstone */
	uint64_t bytes; /* weighted bytes it adds to its site */
	uint32_t q;	/* weighted count (Q16); 0: tombstone */
	uint32_t site;
	int32_t thr; /* the thread that allocated it, or for a tombstone
			freed it (-1: none, or not known) */
	uint32_t pad;
};

/*
 * Block tables of 2 MiB and more are mapped on huge pages where the kernel
 * gives them: a table of 150 threads' blocks spans thousands of 4 KiB pages,
 * and every lookup would miss the TLB as well as the cache.
 */
#define MS_LIVE_HUGE (2u << 20)
/* The table before a rehash is kept for the next one up to this size:
 * fresh pages cost a fault and the kernel's zeroing each, and a table
 * that follows its tombstones grows and shrinks many times a run. */
#define MS_LIVE_SPARE_MAX (64u << 20)

static size_t tab_len(uint32_t cap)
{
	size_t len = (size_t)cap * sizeof(struct ms_live_block);

	return len < MS_LIVE_HUGE
		       ? len
		       : (len + MS_LIVE_HUGE - 1) & ~(size_t)(MS_LIVE_HUGE - 1);
}

static struct ms_live_block *tab_alloc(uint32_t cap)
{
	size_t len = tab_len(cap);
	void *p;

	if (len < MS_LIVE_HUGE)
		return calloc(cap, sizeof(struct ms_live_block));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
	return p;
}

static void tab_free(struct ms_live_block *t, uint32_t cap)
{
	if (tab_len(cap) < MS_LIVE_HUGE)
		free(t);
	else if (t)
		munmap(t, tab_len(cap));
}

/* An empty table of `cap` slots: the spare when it is large enough. */
static struct ms_live_block *tab_take(struct ms_live *l, uint32_t cap,
				      uint32_t *room)
{
	struct ms_live_block *t = l->spare;

	if (t && l->spare_cap >= cap) {
		*room = l->spare_cap;
		l->spare = NULL;
		memset(t, 0, (size_t)cap * sizeof(*t));
		return t;
	}
	tab_free(l->spare, l->spare_cap);
	l->spare = NULL;
	*room = cap;
	return tab_alloc(cap);
}

/* Keeps the table a rehash left, or frees it. */
static void tab_keep(struct ms_live *l, struct ms_live_block *t, uint32_t room)
{
	if (tab_len(room) <= MS_LIVE_SPARE_MAX && !l->spare) {
		l->spare = t;
		l->spare_cap = room;
		return;
	}
	tab_free(t, room);
}

struct ms_live *ms_live_create(uint32_t pid)
{
	struct ms_live *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->pid = pid;
	l->sites = calloc(64, sizeof(*l->sites));
	l->site_heads = calloc(MS_LIVE_SITE_BUCKETS, sizeof(*l->site_heads));
	if (!l->sites || !l->site_heads) {
		ms_live_destroy(l);
		return NULL;
	}
	l->sites_cap = 64;
	l->nsites = 1; /* site 0: no stack known */
	l->sweep_after = MS_LIVE_TOMBS_MIN;
	l->sel = UINT64_MAX;
	return l;
}

void ms_live_destroy(struct ms_live *l)
{
	if (!l)
		return;
	tab_free(l->tab, l->tab_room);
	tab_free(l->spare, l->spare_cap);
	free(l->pend);
	free(l->big_new);
	free(l->sites);
	free(l->site_heads);
	free(l->frames);
	free(l->thr);
	free(l);
}

void ms_live_enable(struct ms_live *l, uint64_t now_ns)
{
	if (l->on)
		return;
	l->on = 1;
	l->on_ts = now_ns;
	l->rate_ns = now_ns;
	l->rate_events = l->events;
}

int32_t ms_live_thread(struct ms_live *l, uint32_t tid)
{
	struct ms_live_thread *t;

	if (ms_grow_bounded(&l->thr, l->nthr, &l->thr_cap, sizeof(*l->thr),
			    MS_LIVE_THREADS_MAX) < 0)
		return -1;
	t = &l->thr[l->nthr];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	return (int32_t)l->nthr++;
}

static uint64_t hash_frames(const uint64_t *fr, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ fr[i]) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

static uint32_t find_site(const struct ms_live *l, uint64_t h,
			  const uint64_t *fr, uint32_t n)
{
	for (uint32_t i = l->site_heads[h % MS_LIVE_SITE_BUCKETS]; i;
	     i = l->sites[i].next) {
		const struct ms_live_site *s = &l->sites[i];

		if (s->hash == h && s->nframes == n &&
		    !memcmp(l->frames + s->frame_off, fr, n * sizeof(*fr)))
			return i;
	}
	return 0;
}

uint32_t ms_live_site(struct ms_live *l, const uint64_t *fr, uint32_t n)
{
	uint64_t h = hash_frames(fr, n);
	uint32_t i = find_site(l, h, fr, n), *head;
	struct ms_live_site *s;

	if (i)
		return i;
	while (l->nframes + n > l->frames_cap)
		if (ms_grow_bounded(&l->frames, l->frames_cap, &l->frames_cap,
				    sizeof(*l->frames), MS_LIVE_FRAMES_MAX) < 0)
			return 0;
	if (ms_grow_bounded(&l->sites, l->nsites, &l->sites_cap,
			    sizeof(*l->sites), MS_LIVE_SITES_MAX) < 0)
		return 0;
	i = l->nsites++;
	s = &l->sites[i];
	memset(s, 0, sizeof(*s));
	s->hash = h;
	s->frame_off = l->nframes;
	s->nframes = n;
	if (n)
		memcpy(l->frames + l->nframes, fr, n * sizeof(*fr));
	l->nframes += n;
	head = &l->site_heads[h % MS_LIVE_SITE_BUCKETS];
	s->next = *head;
	*head = i;
	return i;
}

/* ---- the block table ---- */

static inline uint32_t slot_of(const struct ms_live *l, uint64_t addr)
{
	/* Fibonacci hashing: malloc's addresses differ in the middle bits */
	return (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) & (l->cap - 1);
}

static inline struct ms_live_block *lookup(struct ms_live *l, uint64_t addr)
{
	for (uint32_t i = slot_of(l, addr);; i = (i + 1) & (l->cap - 1)) {
		struct ms_live_block *b = &l->tab[i];

		if (b->addr == addr || b->addr == 0)
			return b;
	}
}

/* Re-inserts every block and tombstone into a table of `cap` slots. */
static int rehash(struct ms_live *l, uint32_t cap)
{
	struct ms_live_block *old = l->tab, *b;
	uint32_t ocap = l->cap, oroom = l->tab_room;

	l->tab = tab_take(l, cap, &l->tab_room);
	if (!l->tab) {
		l->tab = old;
		l->tab_room = oroom;
		return -1;
	}
	l->cap = cap;
	l->nblocks = l->ntombs = 0;
	l->passes++;
	l->pass_slots += ocap + cap;
	for (uint32_t i = 0; i < ocap; i++) {
		if (old[i].addr == 0)
			continue;
		b = lookup(l, old[i].addr);
		*b = old[i];
		if (b->q)
			l->nblocks++;
		else
			l->ntombs++;
	}
	if (old)
		tab_keep(l, old, oroom);
	return 0;
}

/*
 * Removes, in place, the tombstones older than `keep_ts` from the table
 * (there is one): no new table to map and fault in, and none to unmap.
 * Linear probing needs no holes between a block and its home slot, so
 * going round once from an empty slot, each entry moves to the first
 * empty slot of its probe sequence: that slot comes before it, and every
 * entry before it is settled.
 */
static void sweep(struct ms_live *l, uint64_t keep_ts)
{
	uint32_t mask = l->cap - 1, start = 0;

	l->passes++;
	l->pass_slots += l->cap;
	while (l->tab[start].addr) /* one exists: the table is never full */
		start++;
	for (uint32_t k = 1; k <= l->cap; k++) {
		uint32_t i = (start + k) & mask, h;
		struct ms_live_block *b = &l->tab[i];

		if (!b->addr)
			continue;
		if (!b->q && b->ts < keep_ts) {
			b->addr = 0;
			l->ntombs--;
			continue;
		}
		for (h = slot_of(l, b->addr); h != i && l->tab[h].addr;
		     h = (h + 1) & mask)
			;
		if (h != i) {
			l->tab[h] = *b;
			b->addr = 0;
		}
	}
}

/* The oldest time any thread of the process may still report. */
static uint64_t drained_ts(const struct ms_live *l)
{
	uint64_t m = UINT64_MAX;

	for (uint32_t i = 0; i < l->nthr; i++)
		if (!l->thr[i].ended && l->thr[i].last_ts < m)
			m = l->thr[i].last_ts;
	return m;
}

static void set_cap(struct ms_live *l)
{
	l->sweep_after =
		l->cap / 4 > MS_LIVE_TOMBS_MIN ? l->cap / 4 : MS_LIVE_TOMBS_MIN;
}

/*
 * Sweeps the tombstones that can match nothing more, and fits the table
 * to what is left when that is under an eighth of it: a smaller table
 * stays in the caches. A sweep walks the whole table, so it waits for
 * `sweep_after` new tombstones (a quarter of the table): a few slots
 * walked per tombstone, and a table that follows what the tombstones'
 * lifetime needs now, not what it needed once.
 */
static void settle(struct ms_live *l)
{
	uint32_t cap = MS_LIVE_TAB_MIN, used;

	l->made = 0;
	if (!l->tab)
		return;
	sweep(l, drained_ts(l));
	used = l->nblocks + l->ntombs;
	if ((uint64_t)used * 8 < l->cap) {
		while (cap < l->cap && (uint64_t)used * 2 >= cap)
			cap *= 2;
		if (cap < l->cap)
			rehash(l, cap);
	}
	set_cap(l);
}

static inline int is_full(const struct ms_live *l)
{
	return (uint64_t)(l->nblocks + l->ntombs) * 4 >= (uint64_t)l->cap * 3;
}

/*
 * Room for one more entry; 0, or -1 when the table is at its bound. After
 * a sweep the table is under half full (or grown to be), so the next
 * sweep is a quarter of the table's insertions away at least.
 */
static int make_room_slow(struct ms_live *l)
{
	if (l->made >= l->sweep_after || is_full(l)) {
		settle(l);
		if ((uint64_t)(l->nblocks + l->ntombs) * 2 >= l->cap &&
		    l->cap < MS_LIVE_BLOCKS_MAX &&
		    rehash(l, l->cap ? l->cap * 2 : MS_LIVE_TAB_MIN) == 0)
			set_cap(l);
	}
	return is_full(l) ? -1 : 0;
}

static inline int make_room(struct ms_live *l)
{
	/* at most 3/4 full, and not yet time to sweep */
	if (MS_LIKELY(l->nblocks + l->ntombs < l->cap - (l->cap >> 2) &&
		      l->made < l->sweep_after))
		return 0;
	return make_room_slow(l);
}

/* Slot `b` becomes a tombstone of `addr` at `ts`, freed by thread `thr`
 * (-1: not known). */
static inline void put_tomb(struct ms_live *l, struct ms_live_block *b,
			    uint64_t addr, uint64_t ts, int32_t thr)
{
	*b = (struct ms_live_block){.addr = addr, .ts = ts, .thr = thr};
	l->ntombs++;
	l->made++;
}

/* Bit `b` of a bit map of 64-bit words. */
static inline int bit_get(const uint64_t *m, uint32_t b)
{
	return (int)(m[b / 64] >> (b % 64)) & 1;
}

static inline void bit_put(uint64_t *m, uint32_t b, int v)
{
	if (v)
		m[b / 64] |= 1ull << (b % 64);
	else
		m[b / 64] &= ~(1ull << (b % 64));
}

/*
 * Live blocks at addresses not followed for the smallest blocks (larger
 * ones, "Frees at addresses not followed" below), counted by hash bucket:
 * a free at such an address whose bucket is empty needs no lookup in the
 * table. A count of UINT8_MAX stays (a lookup more, never one less). A
 * bit per bucket says whether it is empty: the frees read only these 8
 * KiB. The bucket takes hash bits apart from the top ones, which decide
 * what is followed (pack.h).
 */
static inline uint32_t unf_bucket(uint64_t h)
{
	return (uint32_t)(h >> 32) & ((1u << MS_LIVE_UNF_BITS) - 1);
}

static inline int unf_any(const struct ms_live *l, uint64_t h)
{
	return bit_get(l->unf_bits, unf_bucket(h));
}

static inline void unf_add(struct ms_live *l, uint64_t h, int d)
{
	uint32_t b = unf_bucket(h);
	uint8_t *c = &l->unf[b];

	if (*c == UINT8_MAX)
		return;
	*c = (uint8_t)(*c + d);
	bit_put(l->unf_bits, b, *c != 0);
}

/* A live block at `addr` more (d = 1) or less (d = -1), if not followed. */
static inline void unf_count(struct ms_live *l, uint64_t addr, int d)
{
	uint64_t h;

	if (MS_LIKELY(l->sel == UINT64_MAX))
		return; /* every address followed: no hash to take */
	h = ms_pack_tap_hash(addr);
	if (h > l->sel)
		unf_add(l, h, d);
}

static inline void fig_alloc(struct ms_live_fig *f, uint64_t bytes, uint32_t q)
{
	f->alloc_bytes += bytes;
	f->alloc_q += q;
}

static inline void fig_free(struct ms_live_fig *f, uint64_t bytes, uint32_t q)
{
	f->free_bytes += bytes;
	f->free_q += q;
}

/* Counts an allocation (and, when `dead`, its free) everywhere. */
static void count(struct ms_live *l, int32_t thr, uint32_t site, uint64_t bytes,
		  uint32_t q, int dead)
{
	fig_alloc(&l->sites[site].f, bytes, q);
	if (thr >= 0)
		fig_alloc(&l->thr[thr].f, bytes, q);
	else
		fig_alloc(&l->f, bytes, q);
	if (!dead)
		return;
	if (thr < 0)
		fig_free(&l->f, bytes, q);
	fig_free(&l->sites[site].f, bytes, q);
	if (thr >= 0)
		fig_free(&l->thr[thr].f, bytes, q);
}

static void uncount(struct ms_live *l, const struct ms_live_block *b)
{
	fig_free(&l->sites[b->site].f, b->bytes, b->q);
	fig_free(b->thr >= 0 ? &l->thr[b->thr].f : &l->f, b->bytes, b->q);
}

/*
 * Frees at addresses not followed. While the smallest blocks are followed
 * at one address in 2^sel_bits, most of the frees the packer hands on are
 * at addresses not followed for them: frees of blocks allocated in an
 * earlier frame or by another thread, which the packer cannot tell from
 * larger ones, followed at more addresses (pack.h). The only block such a
 * free can end is a larger one ("big" below). One that finds no block
 * does not become a tombstone (tombstones of them would be most of the
 * table, and each a slot to write) but goes on a list. A big block at
 * such an address whose allocation is drained after a free of it is
 * found there at the next check (a tick at most MS_LIVE_CHECK_NS later),
 * or when the free's generation of the list goes (drop_gens()): it counts
 * as live until then, not for ever.
 */
/* The bit of big_bits for a hash: bits apart from those of the set's. */
static inline uint32_t big_bit(uint64_t h)
{
	return (uint32_t)(h >> 16) & (MS_LIVE_BIG_BITS - 1);
}

/* The slot of big_new that holds `addr` (hash `h`), or the empty one
 * where it would go. */
static inline uint64_t *big_slot(const struct ms_live *l, uint64_t addr,
				 uint64_t h)
{
	uint32_t i = (uint32_t)(h >> 32), mask = l->big_cap - 1;

	while (l->big_new[i & mask] && l->big_new[i & mask] != addr)
		i++;
	return &l->big_new[i & mask];
}

/* Ends the big blocks of big_new that a listed free of pend[from, to),
 * newer than them, was of. */
static void end_big(struct ms_live *l, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		const struct ms_live_pend *p = &l->pend[i];
		uint64_t h = ms_pack_tap_hash(p->addr);
		struct ms_live_block *b;

		if (!bit_get(l->big_bits, big_bit(h)))
			continue; /* not in the set: most */
		if (!*big_slot(l, p->addr, h))
			continue;
		b = lookup(l, p->addr);
		if (b->addr == p->addr && b->q && b->ts < p->ts) {
			uncount(l, b);
			unf_count(l, p->addr, -1);
			put_tomb(l, b, p->addr, p->ts, -1);
			l->nblocks--;
		}
	}
}

/*
 * The list is kept in generations of MS_LIVE_PEND_GEN entries, in the
 * order they came. A generation whose newest entry is older than every
 * thread's drained time can match no block still to come: it goes whole,
 * checked against the big blocks inserted since the last check first,
 * without a pass over the rest.
 */
static void drop_gens(struct ms_live *l)
{
	uint64_t keep_ts = drained_ts(l);
	uint32_t k = 0, end;

	while (k < l->ngens && l->gens[k].max_ts < keep_ts)
		k++;
	if (!k)
		return;
	end = l->gens[k - 1].end;
	if (l->nbig_new)
		end_big(l, l->pend_head, end);
	l->pend_head = end;
	l->ngens -= k;
	memmove(l->gens, l->gens + k, l->ngens * sizeof(*l->gens));
}

/* Every big block inserted so far checked against the whole list. */
static void check_pend(struct ms_live *l)
{
	if (l->nbig_new) {
		end_big(l, l->pend_head, l->npend);
		memset(l->big_new, 0, l->big_cap * sizeof(*l->big_new));
		memset(l->big_bits, 0, sizeof(l->big_bits));
		l->nbig_new = 0;
	}
	drop_gens(l);
}

/* Closes the generation that is filling; 0, or -1 when out of room. */
static int close_gen(struct ms_live *l)
{
	if (l->ngens == MS_LIVE_PEND_GENS) {
		check_pend(l);
		if (l->ngens == MS_LIVE_PEND_GENS)
			return -1;
	}
	l->gens[l->ngens++] = (struct ms_live_gen){l->npend, l->gen_max};
	l->gen_max = 0;
	drop_gens(l);
	return 0;
}

static void pend_add(struct ms_live *l, uint64_t addr, uint64_t ts)
{
	uint32_t start = l->ngens ? l->gens[l->ngens - 1].end : l->pend_head;

	if (l->npend - start >= MS_LIVE_PEND_GEN && close_gen(l) < 0) {
		l->untracked++; /* a big block it ends may stay counted */
		return;
	}
	if (l->npend == l->pend_cap && l->pend_head &&
	    l->pend_head >= l->npend / 2) {
		/* the dropped half makes room */
		uint32_t d = l->pend_head;

		memmove(l->pend, l->pend + d,
			(l->npend - d) * sizeof(*l->pend));
		l->npend -= d;
		l->pend_head = 0;
		for (uint32_t i = 0; i < l->ngens; i++)
			l->gens[i].end -= d;
	}
	if (ms_grow_bounded(&l->pend, l->npend, &l->pend_cap, sizeof(*l->pend),
			    MS_LIVE_BLOCKS_MAX) < 0) {
		l->untracked++;
		return;
	}
	l->pend[l->npend++] = (struct ms_live_pend){addr, ts};
	if (ts > l->gen_max)
		l->gen_max = ts;
}

/* Puts `addr` in the set big_new (there is room). */
static void big_put(struct ms_live *l, uint64_t addr)
{
	uint64_t h = ms_pack_tap_hash(addr);
	uint64_t *slot = big_slot(l, addr, h);

	bit_put(l->big_bits, big_bit(h), 1);
	if (!*slot) {
		*slot = addr;
		l->nbig_new++;
	}
}

/*
 * A big block at an address not followed, inserted while frees are
 * listed: kept in a set (open addressing, at most half full) for
 * end_big() until the next check.
 */
static void big_add(struct ms_live *l, uint64_t addr)
{
	if (2 * (l->nbig_new + 1) > l->big_cap) {
		uint32_t ocap = l->big_cap, cap = ocap ? 2 * ocap : 64;
		uint64_t *old = l->big_new;

		l->big_new = cap <= 2 * MS_LIVE_BLOCKS_MAX
				     ? calloc(cap, sizeof(*l->big_new))
				     : NULL;
		if (!l->big_new) {
			l->big_new = old;
			check_pend(l); /* makes room: empties the set */
			if (2 * (l->nbig_new + 1) > l->big_cap) {
				l->untracked++;
				return;
			}
		} else {
			l->big_cap = cap;
			l->nbig_new = 0;
			for (uint32_t i = 0; i < ocap; i++)
				if (old[i])
					big_put(l, old[i]);
			free(old);
		}
	}
	big_put(l, addr);
}

/*
 * Rings are drained one after another, so a process's events arrive in
 * each thread's order but not in time order across threads: a free may
 * come before its allocation, or after a newer allocation at the same
 * address. Each address keeps its latest event by time, a block (an
 * allocation) or a tombstone (a free). An event older than the latest is
 * settled at once: an allocation is dead on arrival (a free follows it in
 * time), a free is already accounted for (it freed an allocation that was
 * counted dead, or the one superseded). The address is live exactly when
 * its latest event is an allocation. A tombstone goes at the next sweep
 * after every running thread has been drained past its time (a thread
 * whose ring is empty counts as drained up to then, ms_live_quiet()):
 * nothing older can still arrive.
 */
static void on_alloc(struct ms_live *l, int32_t thr, uint64_t ts, uint64_t addr,
		     uint64_t size, uint64_t weight, uint32_t site)
{
	uint32_t q = weight > UINT32_MAX ? UINT32_MAX : (uint32_t)weight;
	uint64_t bytes = size;
	struct ms_live_block *b;

	if (weight != MS_WEIGHT_ONE) {
		bytes = (uint64_t)(((unsigned __int128)size * weight) >> 16);
		l->sampled = 1;
	}
	if (q == 0)
		q = 1;
	if (addr == 0 || make_room(l) < 0) {
		l->untracked++;
		count(l, thr, site, bytes, q, 1);
		return;
	}
	b = lookup(l, addr);
	/* A later free or a newer block was seen: this one is gone. A free
	 * in the same unit of time by this thread came before (a thread's
	 * records are in order): free() and then malloc() in a loop, and a
	 * realloc() in place, whose free of the old block comes first. */
	if (b->addr && (b->ts > ts || (b->ts == ts && b->q == 0 &&
				       (thr < 0 || b->thr != thr)))) {
		count(l, thr, site, bytes, q, 1);
		return;
	}
	if (b->addr && b->q)
		uncount(l, b); /* an older block whose free is still to come */
	else if (b->addr)
		l->ntombs--;
	if (!b->addr || !b->q) {
		l->nblocks++;
		unf_count(l, addr, 1);
	}
	*b = (struct ms_live_block){addr, ts, bytes, q, site, thr, 0};
	count(l, thr, site, bytes, q, 0);
	if (MS_UNLIKELY(l->npend != l->pend_head) &&
	    ms_pack_tap_hash(addr) > l->sel)
		big_add(l, addr);
}

static void on_free(struct ms_live *l, int32_t thr, uint64_t ts, uint64_t addr)
{
	struct ms_live_block *b;

	if (MS_UNLIKELY(l->sel != UINT64_MAX)) {
		uint64_t h = ms_pack_tap_hash(addr);

		if (h > l->sel && (!unf_any(l, h) || lookup(l, addr)->q == 0)) {
			pend_add(l, addr, ts);
			return;
		}
	}
	if (l->cap == 0 && make_room(l) < 0)
		return;
	b = lookup(l, addr);
	if (b->addr && b->q) {
		/* a newer block than this free: its own free comes later */
		if (b->ts > ts)
			return;
		uncount(l, b);
		unf_count(l, addr, -1);
		/* an allocation between the two may still be on its way */
		put_tomb(l, b, addr, ts, thr);
		l->nblocks--;
		return;
	}
	if (b->addr) {
		if (ts > b->ts) {
			b->ts = ts;
			b->thr = thr;
		}
		return;
	}
	if (make_room(l) < 0)
		return;
	b = lookup(l, addr); /* the table may have moved */
	put_tomb(l, b, addr, ts, thr);
}

void ms_live_event(struct ms_live *l, int32_t thr, const struct ms_event *ev,
		   uint32_t site)
{
	if (thr >= 0 && ev->ts > l->thr[thr].last_ts)
		l->thr[thr].last_ts = ev->ts;
	switch (ev->type) {
	case MS_REC_LOST:
		l->dropped += ev->count;
		if (thr >= 0)
			l->thr[thr].dropped += ev->count;
		return;
	case MS_REC_THREAD_NAME:
		if (thr >= 0) {
			memcpy(l->thr[thr].name, ev->str, ev->str_len);
			l->thr[thr].name[ev->str_len] = 0;
		}
		return;
	}
	if (!l->on)
		return;
	ms_live_seen(l, 1);
	/* a free whose level says its block is not followed: passed over */
	if (ev->type == MS_REC_FREE &&
	    ms_pack_tap_free(ev->addr, ev->flags, l->sel_bits))
		on_free(l, thr, ev->ts, ev->addr);
	else if (ev->type == MS_REC_REALLOC && ev->old_addr)
		on_free(l, thr, ev->ts, ev->old_addr);
	if (ev->type != MS_REC_ALLOC && ev->type != MS_REC_REALLOC)
		return;
	/* the packer's choice (pack.h, struct ms_pack_tap), made here */
	switch (ms_pack_tap_alloc(ev->addr, ev->size, l->sel_bits)) {
	case MS_TAP_ALLOC:
		on_alloc(l, thr, ev->ts, ev->addr, ev->size, ev->weight, site);
		break;
	case MS_TAP_ALLOC_SEL:
		on_alloc(l, thr, ev->ts, ev->addr, ev->size,
			 ev->weight << ms_pack_tap_shift(ev->size, l->sel_bits),
			 site);
		break;
	}
}

/* Records whose slots are fetched while earlier ones apply: a table of
 * 150 threads' blocks is larger than the caches, and each record would
 * otherwise wait for its slot's line in turn. */
#define MS_LIVE_AHEAD 8

static inline void fetch_slot(const struct ms_live *l, uint64_t addr)
{
	if (l->sel != UINT64_MAX) /* the bit on_free() reads first */
		__builtin_prefetch(
			&l->unf_bits[unf_bucket(ms_pack_tap_hash(addr)) / 64],
			0);
	if (l->tab)
		__builtin_prefetch(&l->tab[slot_of(l, addr)], 1);
}

void ms_live_apply(struct ms_live *l, int32_t thr, const uint32_t *sites,
		   size_t nsites, const struct ms_tap_rec *r, size_t n)
{
	for (size_t i = 0; i < n && i < MS_LIVE_AHEAD; i++)
		fetch_slot(l, r[i].addr);
	for (size_t i = 0; i < n; i++) {
		const struct ms_tap_rec *x = &r[i];

		if (i + MS_LIVE_AHEAD < n)
			fetch_slot(l, r[i + MS_LIVE_AHEAD].addr);
		if (x->kind == MS_TAP_FREE)
			on_free(l, thr, x->ts, x->addr);
		else
			on_alloc(l, thr, x->ts, x->addr, x->size,
				 x->kind == MS_TAP_ALLOC_SEL
					 ? x->weight << ms_pack_tap_shift(
						   x->size, l->sel_bits)
					 : x->weight,
				 x->stack < nsites ? sites[x->stack] : 0);
	}
}

void ms_live_quiet(struct ms_live *l, int32_t thr, uint64_t ts)
{
	if (thr >= 0 && ts > l->thr[thr].last_ts)
		l->thr[thr].last_ts = ts;
}

/*
 * To following fewer blocks: those of `bits` (pack.h) from those of
 * sel_bits (0: all). A block at an address no longer followed for its size
 * leaves the figures (as a tombstone at its allocation's time, swept as
 * any other); one still followed is counted again with its new weight.
 */
static void follow_fewer(struct ms_live *l, unsigned bits)
{
	unsigned obits = l->sel_bits;
	uint64_t osel = l->sel;

	l->sel_bits = bits;
	l->sel = UINT64_MAX >> bits;
	l->sampled = 1;
	for (uint32_t i = 0; i < l->cap; i++) {
		struct ms_live_block *b = &l->tab[i];
		unsigned from, to;
		uint64_t h, size;

		if (!b->addr || !b->q)
			continue;
		h = ms_pack_tap_hash(b->addr);
		/* near enough for its size's level */
		size = (uint64_t)(((unsigned __int128)b->bytes << 16) / b->q);
		from = ms_pack_tap_shift(size, obits);
		to = ms_pack_tap_shift(size, bits);
		if (h > osel)
			unf_add(l, h, -1); /* counted again below */
		if (to > from) {
			uncount(l, b);
			if (h > UINT64_MAX >> to) {
				put_tomb(l, b, b->addr, b->ts, -1);
				l->nblocks--;
				continue;
			}
			b->bytes <<= to - from;
			b->q = b->q > (UINT32_MAX >> (to - from))
				       ? UINT32_MAX
				       : b->q << (to - from);
			count(l, b->thr, b->site, b->bytes, b->q, 0);
		}
		if (h > l->sel)
			unf_add(l, h, 1);
	}
	settle(l);
}

void ms_live_seen(struct ms_live *l, uint64_t n)
{
	uint64_t now, ns, rate;
	unsigned bits = 0;

	l->events += n;
	if (l->events - l->rate_events < MS_LIVE_RATE_EVENTS)
		return;
	now = ms_mono_ns();
	ns = now - l->rate_ns;
	rate = (uint64_t)((unsigned __int128)(l->events - l->rate_events) *
			  1000000000u / (ns ? ns : 1));
	if (rate > MS_LIVE_FEWEST_RATE)
		bits = MS_LIVE_FEWEST_BITS;
	else if (rate > MS_LIVE_FEWER_RATE)
		bits = MS_LIVE_FEWER_BITS;
	else if (rate > MS_LIVE_EXACT_RATE)
		bits = MS_LIVE_SAMPLE_BITS;
	if (!l->exact && bits > l->sel_bits)
		follow_fewer(l, bits);
	l->rate_ns = now;
	l->rate_events = l->events;
}

void ms_live_tick(struct ms_live *l, uint64_t now_ns)
{
	if (l->nbig_new && now_ns - l->check_ns >= MS_LIVE_CHECK_NS) {
		l->check_ns = now_ns;
		check_pend(l);
	}
	if (!l->on || now_ns - l->hist_ns < MS_LIVE_HIST_NS)
		return;
	l->hist_ns = now_ns;
	l->hist_pos = (l->hist_pos + 1) % MS_LIVE_HIST;
	for (uint32_t i = 0; i < l->nsites; i++) {
		struct ms_live_site *s = &l->sites[i];

		s->hist[l->hist_pos] = ms_live_bytes(&s->f);
		if (s->hist_n < MS_LIVE_HIST)
			s->hist_n++;
	}
}
