/* SPDX-License-Identifier: MIT */
/*
 * The walker of stackwalk.h: a per-thread table from code address to rule
 * (cfi.c reads a rule the first time an address is met), and a loop that
 * applies the rules frame by frame while every step is provably the one
 * libunwind would take.
 */
#include "stackwalk.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent.h"
#include "cfi.h"
#include "pool.h"
#include "stackbounds.h"

#define UW_TABLE_CAP	1024   /* rules; doubles at half load */
#define UW_MIN_RA	0x4000 /* libunwind's fast path stops below this */
#define UW_CACHE_FRAMES 160    /* longest walk the cache keeps */
#define UW_BOUNDS_TRIES 4      /* walks that look for the stack's bounds */

struct uw_slot {
	uintptr_t pc; /* 0: empty */
	struct ms_cfi_rule r;
};

struct uw_table {
	uint64_t cap; /* a power of two */
	uint64_t count;
	size_t map_len;
	struct uw_slot s[];
};

/* Where a step started, and where it read RBP (0: it did not). */
struct uw_state {
	uintptr_t pc, sp, fp, rbp_at;
};

/*
 * The thread's last walk: states s[cur][0..n], the last one where it
 * stopped (a LAST rule, or its size). Two arrays: a walk writes its
 * states into the other one while it may still take some from this one.
 */
struct uw_cache {
	uint32_t n;   /* frames; 0: nothing cached */
	uint32_t gen; /* of the rules it used */
	int last;     /* it stopped at a LAST rule */
	int cur;
	struct uw_state s[2][UW_CACHE_FRAMES + 1];
};

/* A thread's state, mmap'd at its first walk: TLS holds only a pointer. */
struct uw_thread {
	void *pool_next; /* in the free list of ended threads' states */
	struct uw_table *tab;
	int busy; /* in ms_stackwalk(): a signal handler's walk gives up */
	uintptr_t lo, hi; /* this thread's stack (stackbounds.h) */
	int no_bounds;	  /* not known yet, or not knowable */
	int bounds_tries;
	uint32_t gen; /* of uw_gen when the table was last valid */
	struct ms_stackwalk_stats st;
	struct uw_cache cache;
};

static MS_TLS struct uw_thread *uw;
MS_TLS int ms_stackwalk_in_phdr;
static _Atomic uint32_t uw_gen; /* +1 at each dlclose() */

static struct uw_table *table_create(uint64_t cap)
{
	size_t len = sizeof(struct uw_table) + cap * sizeof(struct uw_slot);
	struct uw_table *t;

	t = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	t->cap = cap;
	t->map_len = len;
	return t;
}

static uint64_t slot_of(const struct uw_table *t, uintptr_t pc)
{
	return ((pc * 0x9e3779b97f4a7c15ull) >> 32) & (t->cap - 1);
}

static void table_put(struct uw_table *t, uintptr_t pc,
		      const struct ms_cfi_rule *r)
{
	uint64_t i = slot_of(t, pc);

	while (t->s[i].pc != 0)
		i = (i + 1) & (t->cap - 1);
	t->s[i].pc = pc;
	t->s[i].r = *r;
	t->count++;
}

/* Keeps the load under 1/2; on failure the rule is just not kept. */
static void table_insert(struct uw_thread *u, uintptr_t pc,
			 const struct ms_cfi_rule *r)
{
	struct uw_table *old = u->tab, *t;

	if ((old->count + 1) * 2 > old->cap) {
		t = table_create(old->cap * 2);
		if (!t)
			return;
		for (uint64_t i = 0; i < old->cap; i++)
			if (old->s[i].pc)
				table_put(t, old->s[i].pc, &old->s[i].r);
		munmap(old, old->map_len);
		u->tab = t;
	}
	table_put(u->tab, pc, r);
}

static __attribute__((noinline)) struct ms_cfi_rule learn(struct uw_thread *u,
							  uintptr_t pc)
{
	struct ms_cfi_rule r;

	ms_cfi_rule(pc, &r);
	u->st.learned++;
	u->st.unusual += r.kind == MS_CFI_OTHER;
	table_insert(u, pc, &r);
	return r;
}

static inline struct ms_cfi_rule rule_at(struct uw_thread *u, uintptr_t pc)
{
	const struct uw_table *t = u->tab;

	for (uint64_t i = slot_of(t, pc);; i = (i + 1) & (t->cap - 1)) {
		if (t->s[i].pc == pc)
			return t->s[i].r;
		if (t->s[i].pc == 0)
			return learn(u, pc);
	}
}

/*
 * libunwind's list of dynamically registered code (_U_dyn_register()),
 * through its public accessors; it is looked at before .eh_frame.
 */
static unw_dyn_info_list_t *dyn_list(void)
{
	static _Atomic uintptr_t list; /* set once; threads store one value */
	uintptr_t l = ms_load_relaxed(&list);
	unw_accessors_t *a;
	unw_word_t addr;

	if (MS_LIKELY(l != 0))
		return (unw_dyn_info_list_t *)l;
	a = unw_get_accessors(unw_local_addr_space);
	if (!a || !a->get_dyn_info_list_addr ||
	    a->get_dyn_info_list_addr(unw_local_addr_space, &addr, NULL) < 0)
		return NULL;
	ms_store_relaxed(&list, (uintptr_t)addr);
	return (unw_dyn_info_list_t *)addr;
}

/* Ended threads' states, their rule tables kept: rules hold for every
 * thread until code is unloaded, which prepare() checks (uw_gen). */
static struct ms_pool states = MS_POOL_INIT;

/* The calling thread's state; NULL on failure. */
static __attribute__((noinline)) struct uw_thread *thread_create(void)
{
	struct uw_thread *u = ms_pool_take(&states);

	if (u) {
		struct uw_table *tab = u->tab;
		uint32_t gen = u->gen;

		memset(u, 0, offsetof(struct uw_thread, cache));
		u->cache.n = 0;
		u->tab = tab;
		u->gen = gen;
	} else {
		u = mmap(NULL, sizeof(*u), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (u == MAP_FAILED)
			return NULL;
	}
	u->no_bounds = 1;
	uw = u;
	return u;
}

/*
 * Learns the stack's bounds at the first walk; a thread whose first walks
 * run on another stack (a signal handler's, a coroutine's) asks again a
 * few times before it leaves every walk to libunwind.
 */
static __attribute__((noinline)) int find_bounds(struct uw_thread *u,
						 uintptr_t sp)
{
	if (u->bounds_tries >= UW_BOUNDS_TRIES)
		return -1;
	u->bounds_tries++;
	if (ms_stack_bounds(sp, &u->lo, &u->hi) < 0)
		return -1;
	u->no_bounds = 0;
	return 0;
}

/* 0 when a walk from stack pointer sp may start; -1: leave it to libunwind */
static int prepare(struct uw_thread *u, uintptr_t sp)
{
	uint32_t gen = ms_load_relaxed(&uw_gen);
	unw_dyn_info_list_t *dyn;

	if (MS_UNLIKELY(!u->tab || u->gen != gen)) {
		if (u->tab) /* code was unloaded: every rule may be stale */
			munmap(u->tab, u->tab->map_len);
		u->tab = table_create(UW_TABLE_CAP);
		u->gen = gen;
		if (!u->tab)
			return -1;
	}
	/* Code registered with libunwind's dynamic API: libunwind's rules */
	dyn = dyn_list();
	if (MS_UNLIKELY(!dyn || dyn->first != NULL))
		return -1;
	if (MS_UNLIKELY(u->no_bounds) && find_bounds(u, sp) < 0)
		return -1;
	/* On an alternate signal stack or a coroutine's: not ours to bound */
	return sp < u->lo || sp >= u->hi ? -1 : 0;
}

/*
 * A word in [lo, hi) of this thread's stack (checked by the caller), in a
 * frame that may not be the caller's: not instrumented by ASan.
 */
static inline __attribute__((no_sanitize_address)) uintptr_t
stack_word(uintptr_t a)
{
	return *(const uintptr_t *)a;
}

/* One walk in progress. */
struct walk {
	struct uw_thread *u;
	uintptr_t pc, sp, fp; /* the state of the frame being stepped */
	uintptr_t lo;	      /* the walker's own RSP: no reads below */
	void **buf;
	int n, size;
	int last;		    /* stopped at a LAST rule */
	struct uw_state *w;	    /* this walk's states; NULL: not cached */
	const struct uw_state *old; /* the last walk's */
	uint32_t old_n, j;	    /* j: first old state not below sp */
	int old_last, reused;
	int64_t vfrom; /* old states valid from here; -1: not known yet */
};

/* One step by pc's rule: 1 at a LAST rule, 0 stepped, -1 give up. */
static inline int step(struct walk *k)
{
	struct ms_cfi_rule r = rule_at(k->u, k->pc);
	uintptr_t cfa, ra, at = 0;

	if (r.kind == MS_CFI_LAST)
		return 1;
	if (r.kind != MS_CFI_PLAIN)
		return -1;
	cfa = (r.flags & MS_CFI_CFA_RBP ? k->fp : k->sp) +
	      (uintptr_t)(intptr_t)r.cfa_off;
	/* The CFA grows, stays in the stack and is aligned. */
	if (cfa < k->sp + 8 || cfa > k->u->hi || (cfa & 7))
		return -1;
	ra = stack_word(cfa - 8);
	if (r.flags & MS_CFI_RBP_SAVED) {
		at = cfa + (uintptr_t)(intptr_t)r.rbp_off;
		if (at < k->lo || at > k->u->hi - 8 || (at & 7))
			return -1;
		k->fp = stack_word(at);
	}
	if (ra < UW_MIN_RA)
		return -1;
	if (k->w)
		k->w[k->n].rbp_at = at;
	k->sp = cfa;
	k->buf[k->n++] = (void *)ra;
	k->pc = ra - 1; /* inside the call: the caller's row */
	return 0;
}

/*
 * The first old state from which on every word the last walk read still
 * holds what it read, down to old state `j` (the stack below it may
 * belong to the frames of this walk, and below lo is out of bounds).
 */
static uint32_t valid_from(const struct walk *k, uint32_t j)
{
	uint32_t i = k->old_n;

	for (; i > j; i--) {
		const struct uw_state *a = &k->old[i - 1], *b = &k->old[i];

		if (stack_word(b->sp - 8) != b->pc + 1)
			break;
		if (a->rbp_at &&
		    (a->rbp_at < k->lo || stack_word(a->rbp_at) != b->fp))
			break;
	}
	return i;
}

/*
 * From an old state equal to the current one (pc, sp, fp), with every word
 * read after it unchanged, stepping again would read the same words,
 * apply the same rules (same table generation) and give the same frames:
 * takes them, and the states, from the last walk. 1 when it did.
 */
static int try_reuse(struct walk *k)
{
	const struct uw_state *o;
	uint32_t cnt;

	while (k->j < k->old_n && k->old[k->j].sp < k->sp)
		k->j++;
	if (k->j == k->old_n) {
		k->old_n = 0; /* passed the last walk: stop looking */
		return 0;
	}
	o = &k->old[k->j];
	if (o->sp != k->sp || o->pc != k->pc || o->fp != k->fp)
		return 0;
	if (k->vfrom < 0)
		k->vfrom = valid_from(k, k->j);
	if (k->j < k->vfrom)
		return 0;
	cnt = k->old_n - k->j;
	if (cnt > (uint32_t)(k->size - k->n))
		cnt = (uint32_t)(k->size - k->n);
	for (uint32_t t = 0; t < cnt; t++)
		k->buf[k->n + t] = (void *)(o[t + 1].pc + 1);
	memcpy(&k->w[k->n], o, (cnt + 1) * sizeof(*o));
	k->n += cnt;
	k->pc = o[cnt].pc;
	k->sp = o[cnt].sp;
	k->fp = o[cnt].fp;
	k->last = k->old_last && k->j + cnt == k->old_n;
	k->reused = 1;
	return 1;
}

static void cache_begin(struct walk *k)
{
	struct uw_thread *u = k->u;
	struct uw_cache *c = &u->cache;

	if (k->size > UW_CACHE_FRAMES)
		return;
	k->old = c->s[c->cur];
	k->old_n = c->gen == u->gen ? c->n : 0;
	k->old_last = c->last;
	k->w = c->s[!c->cur];
	k->vfrom = -1;
}

static void cache_end(struct walk *k, int ok)
{
	struct uw_cache *c = &k->u->cache;

	if (!k->w)
		return;
	c->n = 0;
	if (ok) {
		k->w[k->n] = (struct uw_state){k->pc, k->sp, k->fp, 0};
		c->n = (uint32_t)k->n;
		c->gen = k->u->gen;
		c->last = k->last;
		c->cur ^= 1;
	}
}

__attribute__((noinline)) int ms_stackwalk(void **buf, int size)
{
	struct walk k = {.u = uw, .buf = buf, .size = size};
	int r = 0;

	/* The machine state at label 0, which is pc's exact row. */
	__asm__ volatile("0: lea 0b(%%rip), %0\n\t"
			 "mov %%rsp, %1\n\t"
			 "mov %%rbp, %2"
			 : "=r"(k.pc), "=r"(k.sp), "=r"(k.fp));
	if (MS_UNLIKELY(!k.u) && !(k.u = thread_create()))
		return -1;
	if (k.u->busy) /* a signal handler interrupted a walk */
		return -1;
	k.u->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (prepare(k.u, k.sp) < 0) {
		r = -1;
		goto out;
	}
	k.lo = k.sp;
	cache_begin(&k);
	while (k.n < size && !k.last) {
		if (k.w) {
			k.w[k.n] = (struct uw_state){k.pc, k.sp, k.fp, 0};
			if (k.old_n && !k.reused && try_reuse(&k))
				continue;
		}
		r = step(&k);
		if (r) {
			k.last = r > 0;
			break;
		}
	}
	cache_end(&k, r >= 0);
out:
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	k.u->busy = 0;
	if (r < 0) {
		k.u->st.gave_up++;
		return -1;
	}
	k.u->st.walked++;
	k.u->st.reused += (uint64_t)k.reused;
	return k.n;
}

void ms_stackwalk_forget_all(void)
{
	ms_fetch_add_relaxed(&uw_gen, 1);
}

void ms_stackwalk_thread_exit(void)
{
	struct uw_thread *u = uw;

	if (!u)
		return;
	uw = NULL;
	if (ms_pool_give(&states, u) == 0)
		return;
	if (u->tab)
		munmap(u->tab, u->tab->map_len);
	munmap(u, sizeof(*u));
}

void ms_stackwalk_get_stats(struct ms_stackwalk_stats *s)
{
	*s = uw ? uw->st : (struct ms_stackwalk_stats){0};
}
