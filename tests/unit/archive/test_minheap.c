/* SPDX-License-Identifier: MIT */
/* consumer/archive/minheap.c against a sort of the same elements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "minheap.h"

/* An element of an odd size, keyed by (key, seq). */
struct el {
	uint32_t key;
	uint64_t seq;
	char pad[13];
};

static int before(const void *x, const void *y)
{
	const struct el *a = x, *b = y;

	return a->key != b->key ? a->key < b->key : a->seq < b->seq;
}

static int cmp(const void *x, const void *y)
{
	return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Pushes and pops mixed at random (few distinct keys: many ties) come out
 * as a stable sort of what went in. */
static void test_against_sort(void **state)
{
	enum { N = 20000 };
	struct el *in = calloc(N, sizeof(*in)), *out = calloc(N, sizeof(*out));
	struct ms_minheap h;
	uint64_t s = 42;
	size_t n_in = 0, n_out = 0;

	(void)state;
	assert_int_equal(ms_minheap_init(&h, sizeof(struct el), N, before), 0);
	while (n_out < N) {
		if (n_in < N && (ms_minheap_len(&h) == 0 || rnd(&s) % 3)) {
			in[n_in] = (struct el){.key = (uint32_t)(rnd(&s) % 50),
					       .seq = n_in};
			assert_int_equal(ms_minheap_push(&h, &in[n_in]), 0);
			n_in++;
			continue;
		}
		ms_minheap_pop(&h, &out[n_out++]);
		/* what comes out never precedes what came out before it,
		 * unless it went in after that */
		if (n_out > 1 && before(&out[n_out - 1], &out[n_out - 2]))
			assert_true(out[n_out - 1].seq > out[n_out - 2].seq);
	}
	assert_null(ms_minheap_top(&h));
	/* all pushed first, then all popped: exactly the sorted order */
	for (size_t i = 0; i < N; i++)
		assert_int_equal(ms_minheap_push(&h, &in[i]), 0);
	qsort(in, N, sizeof(*in), cmp);
	for (size_t i = 0; i < N; i++) {
		ms_minheap_pop(&h, &out[i]);
		assert_int_equal(out[i].key, in[i].key);
		assert_int_equal(out[i].seq, in[i].seq);
	}
	ms_minheap_free(&h);
	free(in);
	free(out);
}

static void test_full_and_fix_top(void **state)
{
	struct ms_minheap h;
	struct el e = {0}, *top;

	(void)state;
	assert_int_equal(ms_minheap_init(&h, sizeof(e), 3, before), 0);
	for (uint32_t k = 0; k < 3; k++) {
		e = (struct el){.key = 10 * k, .seq = k};
		assert_int_equal(ms_minheap_push(&h, &e), 0);
	}
	assert_int_equal(ms_minheap_push(&h, &e), -ENOSPC);
	/* the first element's key grows past the others: it goes last */
	top = ms_minheap_top(&h);
	assert_int_equal(top->key, 0);
	top->key = 25;
	ms_minheap_fix_top(&h);
	ms_minheap_pop(&h, &e);
	assert_int_equal(e.key, 10);
	ms_minheap_pop(&h, &e);
	assert_int_equal(e.key, 20);
	ms_minheap_pop(&h, NULL);
	assert_int_equal(ms_minheap_len(&h), 0);
	ms_minheap_free(&h);
}

/* A k-way merge as archive_merge.c does it, with its 16-byte keys: each
 * source's next key put back with fix_top, runs and ties included. */
struct key16 {
	uint64_t key;
	size_t src;
};

static int before16(const void *x, const void *y)
{
	const struct key16 *a = x, *b = y;

	return a->key != b->key ? a->key < b->key : a->src < b->src;
}

static void test_merge_fix_top(void **state)
{
	enum { K = 37, PER = 500 };
	uint64_t *v = calloc(K * PER, sizeof(*v)), s = 7, last = 0;
	size_t pos[K] = {0}, n = 0, last_src = 0;
	struct ms_minheap h;
	struct key16 *top;

	(void)state;
	_Static_assert(sizeof(struct key16) == 16, "the inline copy's size");
	for (size_t k = 0; k < K; k++) /* sorted runs, steps often 0 */
		for (size_t i = 1; i < PER; i++)
			v[k * PER + i] =
				v[k * PER + i - 1] + rnd(&s) % 4 * (k % 3);
	assert_int_equal(ms_minheap_init(&h, sizeof(struct key16), K, before16),
			 0);
	for (size_t k = 0; k < K; k++)
		assert_int_equal(
			ms_minheap_push(&h, &(struct key16){v[k * PER], k}), 0);
	while ((top = ms_minheap_top(&h))) {
		size_t k = top->src;

		/* by key, ties in source order, each source's in its order */
		assert_true(n == 0 || top->key > last ||
			    (top->key == last && k >= last_src));
		last = top->key;
		last_src = k;
		n++;
		if (++pos[k] == PER) {
			ms_minheap_pop(&h, NULL);
			continue;
		}
		top->key = v[k * PER + pos[k]];
		ms_minheap_fix_top(&h);
	}
	assert_int_equal(n, K * PER);
	ms_minheap_free(&h);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_sort),
		cmocka_unit_test(test_full_and_fix_top),
		cmocka_unit_test(test_merge_fix_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
