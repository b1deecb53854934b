/* SPDX-License-Identifier: MIT */
/*
 * The stack walker (agent/stackwalk.c, agent/cfi.c): every stack it
 * returns is the one unw_backtrace() returns from the same place, on call
 * chains of many depths, alternating call sites (which exercise the reuse
 * of the last walk), frames addressed through RBP, other threads, and
 * signal handlers (where it must leave the walk to libunwind). The rule
 * reader is also checked on hand-made .eh_frame records.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfi.h"
#include "record.h"
#include "stack.h"
#include "stackwalk.h"

#define NF 80

struct probe {
	void *fast[NF], *ref[NF];
	int nf, nr;
};

static int probe_size = NF;

/*
 * Both walks from one function: their first entries are this function's
 * two call sites, everything after it is the same frames.
 */
static __attribute__((noinline)) void probe(struct probe *p)
{
	p->nf = ms_stackwalk(p->fast, probe_size);
	p->nr = unw_backtrace(p->ref, probe_size);
}

/* The walker's stack equals libunwind's; `must_walk`: it did not give up. */
static void check_same(const struct probe *p, int must_walk)
{
	if (must_walk)
		assert_true(p->nf >= 0);
	if (p->nf < 0)
		return;
	assert_int_equal(p->nf, p->nr);
	for (int i = 1; i < p->nf; i++)
		assert_ptr_equal(p->fast[i], p->ref[i]);
}

static __attribute__((noinline)) void rec(int n, struct probe *p)
{
	if (n == 0)
		probe(p);
	else
		rec(n - 1, p);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

/* A frame whose CFA is RBP-based (alloca), of a size that varies. */
static __attribute__((noinline)) void framed(int n, struct probe *p)
{
	volatile char *v = __builtin_alloca(16 + 16 * (size_t)(n & 7));

	v[0] = (char)n;
	if (n == 0)
		probe(p);
	else if (n % 3 == 0)
		rec(n - 1, p);
	else
		framed(n - 1, p);
	__asm__ volatile("" ::: "memory");
}

/* Two callers of one chain: same frame layout, different return sites. */
static __attribute__((noinline)) void via_a(int n, struct probe *p)
{
	volatile int x = 1;

	rec(n, p);
	x++;
}

static __attribute__((noinline)) void via_b(int n, struct probe *p)
{
	volatile int x = 2;

	rec(n, p);
	x++;
}

static void test_chains(void **state)
{
	struct probe p;

	(void)state;
	for (int d = 0; d < 60; d++) {
		rec(d, &p);
		check_same(&p, 1);
		rec(d, &p); /* again: from the last walk */
		check_same(&p, 1);
	}
	for (int size = 1; size < 6; size++) {
		probe_size = size;
		rec(20, &p);
		check_same(&p, 1);
		assert_int_equal(p.nf, size);
	}
	probe_size = NF;
}

static void test_rbp_frames(void **state)
{
	struct probe p;

	(void)state;
	for (int d = 0; d < 40; d++) {
		framed(d, &p);
		check_same(&p, 1);
		framed(d ^ 5, &p);
		check_same(&p, 1);
	}
}

/* Alternating sites and depths: each walk may reuse part of the last. */
static void test_alternating(void **state)
{
	struct ms_stackwalk_stats s0, s1;
	struct probe p;
	unsigned x = 12345;

	(void)state;
	ms_stackwalk_get_stats(&s0);
	for (int i = 0; i < 3000; i++) {
		x = x * 1103515245u + 12345u;
		switch ((x >> 16) % 4) {
		case 0:
			via_a((int)(x >> 20) % 12, &p);
			break;
		case 1:
			via_b((int)(x >> 20) % 12, &p);
			break;
		case 2:
			framed((int)(x >> 20) % 12, &p);
			break;
		default:
			rec((int)(x >> 20) % 12, &p);
		}
		check_same(&p, 1);
	}
	ms_stackwalk_get_stats(&s1);
	assert_true(s1.reused - s0.reused > 1000); /* the reuse was tested */
	assert_int_equal(s1.gave_up, s0.gave_up);
}

/* After dlclose() the rules are read again; stacks stay the same. */
static void test_forget(void **state)
{
	struct ms_stackwalk_stats s0, s1;
	struct probe p;

	(void)state;
	rec(5, &p);
	ms_stackwalk_get_stats(&s0);
	ms_stackwalk_forget_all();
	rec(5, &p);
	check_same(&p, 1);
	ms_stackwalk_get_stats(&s1);
	assert_true(s1.learned > s0.learned);
	assert_int_equal(s1.reused, s0.reused);
}

static void *thread_main(void *arg)
{
	(void)arg;
	test_chains(NULL);
	test_alternating(NULL);
	return NULL;
}

#if defined(__SANITIZE_THREAD__)
#define MS_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MS_TEST_TSAN 1
#endif
#endif

static void test_thread(void **state)
{
	pthread_t th;

	(void)state;
#ifdef MS_TEST_TSAN
	/* TSan crashes in libunwind's own thread-exit destructor (its trace
	 * cache's mempool lock) once a thread has called unw_backtrace(). */
	skip();
#endif
	assert_int_equal(pthread_create(&th, NULL, thread_main, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
}

static struct probe sig_probe;

static void on_signal(int sig)
{
	(void)sig;
	rec(3, &sig_probe);
}

static __attribute__((noinline)) void raise_at(int n)
{
	if (n == 0)
		raise(SIGUSR1);
	else
		raise_at(n - 1);
	__asm__ volatile("" ::: "memory");
}

/* A signal frame is libunwind's business: the walker gives up. */
static void test_signal(void **state)
{
	struct sigaction sa = {.sa_handler = on_signal};
	stack_t ss = {.ss_size = 1 << 16};

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	for (int d = 0; d < 4; d++) {
		raise_at(d);
		assert_true(sig_probe.nr > 6);
		assert_int_equal(sig_probe.nf, -1);
	}
	/* on an alternate signal stack too */
	ss.ss_sp = malloc(ss.ss_size);
	assert_non_null(ss.ss_sp);
	assert_int_equal(sigaltstack(&ss, NULL), 0);
	sa.sa_flags = SA_ONSTACK;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	raise_at(2);
	assert_int_equal(sig_probe.nf, -1);
	ss.ss_flags = SS_DISABLE;
	assert_int_equal(sigaltstack(&ss, NULL), 0);
	free(ss.ss_sp);
	signal(SIGUSR1, SIG_DFL);
}

/* What the agent records: ms_stack_capture() from the program's caller. */
static __attribute__((noinline)) uint32_t
fake_malloc(uint64_t *frames, uint32_t depth, void **ref, int *nref)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);

	*nref = unw_backtrace(ref, NF);
	for (int i = 0; i < *nref; i++)
		if ((uintptr_t)ref[i] == caller) {
			memmove(ref, ref + i,
				(size_t)(*nref - i) * sizeof(*ref));
			*nref -= i;
			break;
		}
	return ms_stack_capture(frames, depth, caller);
}

static __attribute__((noinline)) uint32_t
chain(int n, uint64_t *frames, uint32_t depth, void **ref, int *nref)
{
	uint32_t r = n ? chain(n - 1, frames, depth, ref, nref)
		       : fake_malloc(frames, depth, ref, nref);

	__asm__ volatile("" ::: "memory");
	return r;
}

static void test_capture(void **state)
{
	uint64_t frames[MS_STACK_MAX];
	void *ref[NF];
	int nref;

	(void)state;
	for (uint32_t depth = 2; depth <= 64; depth += 31)
		for (int n = 0; n < 40; n += 3) {
			uint32_t got = chain(n, frames, depth, ref, &nref);

			assert_int_equal(got, (uint32_t)nref < depth
						      ? (uint32_t)nref
						      : depth);
			for (uint32_t i = 0; i < got; i++)
				assert_int_equal(frames[i], (uintptr_t)ref[i]);
		}
}

/* ---- the rule reader on hand-made records ---- */

struct eh {
	uint8_t b[256];
	size_t n, fde;
};

static void put(struct eh *e, const uint8_t *p, size_t n)
{
	memcpy(e->b + e->n, p, n);
	e->n += n;
}

static void put32(struct eh *e, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			(uint8_t)(v >> 24)};

	put(e, b, 4);
}

/*
 * CIE (augmentation `aug`, FDE addresses udata4, code align 1, data align
 * -8, CFA = RSP+8, RA at CFA-8), then an FDE for [0x1000, 0x1100) with
 * instructions `ins`.
 */
static void build(struct eh *e, const char *aug, const uint8_t *ins,
		  size_t nins)
{
	static const uint8_t cie_ins[] = {0x0c, 7, 8, 0x90, 1};
	size_t start, cie_len;

	memset(e, 0, sizeof(*e));
	cie_len = 4 + 1 + strlen(aug) + 1 + 3 + 2 + sizeof(cie_ins);
	put32(e, (uint32_t)cie_len);
	put32(e, 0);
	put(e, (const uint8_t[]){1}, 1);
	put(e, (const uint8_t *)aug, strlen(aug) + 1);
	put(e, (const uint8_t[]){1, 0x78, 16, 1, 0x03}, 5);
	put(e, cie_ins, sizeof(cie_ins));
	e->fde = e->n;
	put32(e, (uint32_t)(4 + 4 + 4 + 1 + nins));
	start = e->n;
	put32(e, (uint32_t)start); /* back to the CIE at 0 */
	put32(e, 0x1000);
	put32(e, 0x100);
	put(e, (const uint8_t[]){0}, 1); /* no augmentation data */
	put(e, ins, nins);
}

static struct ms_cfi_rule rule(struct eh *e, uintptr_t pc, int *err)
{
	struct ms_cfi_rule r;

	*err = ms_cfi_rule_fde(e->b + e->fde, pc, &r);
	return r;
}

static void test_cfi(void **state)
{
	/* push rbp; mov rsp,rbp; ...; remember; pop rbp; ret; restore */
	/* clang-format off */
	static const uint8_t ins[] = {
		0x41, 0x0e, 16, 0x86, 2, /* @1: CFA rsp+16, rbp at CFA-16 */
		0x43, 0x0d, 6,		 /* @4: CFA rbp+16 */
		0x02, 0x10, 0x0a,	 /* @0x14: remember */
		0x0c, 7, 8, 0xc6,	 /* CFA rsp+8, rbp restored */
		0x41, 0x0b,		 /* @0x15: restore_state */
		0x41, 0x07, 16,		 /* @0x16: RA undefined */
		0x41, 0x0f, 2, 0x77, 0,	 /* @0x17: CFA expression */
	};
	/* clang-format on */
	struct eh e;
	struct ms_cfi_rule r;
	int err;

	(void)state;
	build(&e, "zR", ins, sizeof(ins));
	r = rule(&e, 0x1000, &err);
	assert_int_equal(err, 0);
	assert_int_equal(r.kind, MS_CFI_PLAIN);
	assert_int_equal(r.cfa_off, 8);
	assert_int_equal(r.flags, 0);
	r = rule(&e, 0x1003, &err);
	assert_int_equal(r.kind, MS_CFI_PLAIN);
	assert_int_equal(r.cfa_off, 16);
	assert_int_equal(r.flags, MS_CFI_RBP_SAVED);
	assert_int_equal(r.rbp_off, -16);
	r = rule(&e, 0x1013, &err);
	assert_int_equal(r.flags, MS_CFI_RBP_SAVED | MS_CFI_CFA_RBP);
	assert_int_equal(r.cfa_off, 16);
	r = rule(&e, 0x1014, &err);
	assert_int_equal(r.kind, MS_CFI_PLAIN);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.cfa_off, 8);
	r = rule(&e, 0x1015, &err); /* back to the remembered row */
	assert_int_equal(r.flags, MS_CFI_RBP_SAVED | MS_CFI_CFA_RBP);
	r = rule(&e, 0x1016, &err);
	assert_int_equal(r.kind, MS_CFI_LAST);
	r = rule(&e, 0x10ff, &err);
	assert_int_equal(err, 0);
	assert_int_equal(r.kind, MS_CFI_OTHER);
	rule(&e, 0x1100, &err);
	assert_int_equal(err, -ENOENT);
	rule(&e, 0xfff, &err);
	assert_int_equal(err, -ENOENT);
	/* a signal frame's CIE */
	build(&e, "zRS", ins, sizeof(ins));
	r = rule(&e, 0x1000, &err);
	assert_int_equal(err, -EINVAL);
	assert_int_equal(r.kind, MS_CFI_OTHER);
	/* restore_state without remember_state */
	build(&e, "zR", (const uint8_t[]){0x0b}, 1);
	rule(&e, 0x1000, &err);
	assert_int_equal(err, -EINVAL);
	/* truncated: an operand runs past the record */
	build(&e, "zR", (const uint8_t[]){0x0c}, 1);
	rule(&e, 0x1000, &err);
	assert_int_equal(err, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfi),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_rbp_frames),
		cmocka_unit_test(test_alternating),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_thread),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_capture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
