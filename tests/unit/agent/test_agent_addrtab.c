/* SPDX-License-Identifier: MIT */
/*
 * The sampled-address table under concurrent inserts and removes from
 * several threads, sharing buckets: the final contents are exact. A small
 * process's sampled addresses stay in the first table, and the large
 * table's pages are never faulted in.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "addrtab.h"

#define THREADS	   4
#define PER_THREAD 20000
#define ROUNDS	   20

struct job {
	struct ms_addrtab *t;
	int id;
	uint64_t refused;
};

/* Thread `id`'s i-th address: disjoint across threads, 16-byte aligned. */
static const void *addr(int id, int i)
{
	return (const void *)(uintptr_t)(0x10000000ull +
					 ((uint64_t)i * THREADS + id) * 16);
}

/*
 * Insert all, remove the odd ones, re-insert and re-remove them ROUNDS
 * times: afterwards exactly the even ones (minus refused inserts) remain.
 */
static uint64_t filter_sum(struct ms_addrtab *t)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < (1u << MS_ADDRTAB_FILTER_LOG2); i++)
		n += ms_load_relaxed(&t->filter[i]);
	return n;
}

/* Addresses present in the large table (slots after the first table's). */
static uint64_t second_count(struct ms_addrtab *t)
{
	uint64_t n = 0;

	for (uint64_t i = t->nfirst * MS_ADDRTAB_WAYS; i < t->nslots; i++)
		n += ms_load_relaxed(&t->slot[i]) != 0;
	return n;
}

/* What the first buckets count as gone to the large table. */
static uint64_t overflow_sum(struct ms_addrtab *t)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < t->nfirst; b++)
		n += ms_load_relaxed(
			ms_addrtab_overflow(&t->slot[b * MS_ADDRTAB_WAYS]));
	return n;
}

static void *worker(void *arg)
{
	struct job *j = arg;

	for (int i = 0; i < PER_THREAD; i++)
		if (ms_addrtab_insert(j->t, addr(j->id, i)) < 0 && i % 2 == 0)
			j->refused++;
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 1; i < PER_THREAD; i += 2)
			ms_addrtab_remove(j->t, addr(j->id, i));
		for (int i = 1; i < PER_THREAD && r + 1 < ROUNDS; i += 2)
			ms_addrtab_insert(j->t, addr(j->id, i));
	}
	return NULL;
}

static void test_concurrent_exact(void **state)
{
	/* 2^13 + 2^17 slots for 80000 live at peak: buckets are shared and
	 * busy, and most addresses overflow into the large table */
	struct ms_addrtab *t = ms_addrtab_create(13, 17);
	struct job jobs[THREADS];
	pthread_t th[THREADS];
	uint64_t present = 0, refused = 0;

	(void)state;
	assert_non_null(t);
	for (int k = 0; k < THREADS; k++) {
		jobs[k] = (struct job){t, k, 0};
		assert_int_equal(pthread_create(&th[k], NULL, worker, &jobs[k]),
				 0);
	}
	for (int k = 0; k < THREADS; k++) {
		pthread_join(th[k], NULL);
		refused += jobs[k].refused;
	}
	for (int k = 0; k < THREADS; k++) {
		for (int i = 0; i < PER_THREAD; i++) {
			int in = ms_addrtab_contains(t, addr(k, i));

			if (i % 2)
				assert_false(in);
			present += in;
		}
	}
	assert_int_equal(present + refused, THREADS * PER_THREAD / 2);
	assert_int_equal(ms_addrtab_count(t), present);
	/* the filter counts exactly what is present, after all the races,
	 * and the first buckets what went to the large table */
	assert_int_equal(filter_sum(t), present);
	assert_true(second_count(t) > present / 2);
	assert_int_equal(overflow_sum(t), second_count(t));
	assert_true(refused < 50); /* a full bucket is rare at this load */
	ms_addrtab_destroy(t);
}

static void test_full_bucket(void **state)
{
	/* one bucket in each table */
	struct ms_addrtab *t = ms_addrtab_create(3, 3);
	const int all = MS_ADDRTAB_FIRST_WAYS + MS_ADDRTAB_WAYS;
	int i;

	(void)state;
	for (i = 0; i < all; i++)
		assert_int_equal(ms_addrtab_insert(t, addr(0, i)), 0);
	assert_int_equal(second_count(t), MS_ADDRTAB_WAYS);
	assert_int_equal(overflow_sum(t), MS_ADDRTAB_WAYS);
	assert_int_equal(ms_addrtab_insert(t, addr(0, i)), -ENOSPC);
	assert_int_equal(overflow_sum(t), MS_ADDRTAB_WAYS);
	/* one from each table, once */
	assert_int_equal(ms_addrtab_remove(t, addr(0, 3)), 1);
	assert_int_equal(ms_addrtab_remove(t, addr(0, 3)), 0);
	assert_int_equal(ms_addrtab_remove(t, addr(0, 11)), 1);
	assert_int_equal(ms_addrtab_remove(t, addr(0, 11)), 0);
	/* a freed slot of the first table is taken again first */
	assert_int_equal(overflow_sum(t), MS_ADDRTAB_WAYS - 1);
	assert_int_equal(ms_addrtab_insert(t, addr(0, i)), 0);
	assert_int_equal(overflow_sum(t), MS_ADDRTAB_WAYS - 1);
	assert_true(ms_addrtab_contains(t, addr(0, i)));
	assert_true(ms_addrtab_contains(t, addr(0, 12)));
	assert_false(ms_addrtab_contains(t, addr(0, 11)));
	assert_int_equal(ms_addrtab_count(t), all - 1);
	assert_int_equal(filter_sum(t), all - 1); /* refusals undone */
	/* the large table emptied: its count says so */
	for (int k = MS_ADDRTAB_FIRST_WAYS; k < all; k++)
		ms_addrtab_remove(t, addr(0, k));
	assert_int_equal(second_count(t), 0);
	assert_int_equal(overflow_sum(t), 0);
	ms_addrtab_clear(t);
	assert_int_equal(ms_addrtab_count(t), 0);
	assert_int_equal(overflow_sum(t), 0);
	ms_addrtab_destroy(t);
}

/*
 * A short process: 2,000 sampled blocks live, spread over 64 MiB of heap,
 * inserted and freed in turns, and frees of blocks never sampled. The
 * first table holds nearly all of them, and the large table's pages stay
 * untouched, neither read nor written (mincore: not resident), but for
 * the few its overflowing buckets use. Inserting into the large table
 * first, or looking there on each free, faults in hundreds of them.
 */
static void test_small_process_first(void **state)
{
	struct ms_addrtab *t = ms_addrtab_create(14, 20);
	static const void *live[2000];
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t from = ((uintptr_t)(t->slot + t->nfirst * MS_ADDRTAB_WAYS) +
			  (uintptr_t)page - 1) &
			 ~((uintptr_t)page - 1);
	uintptr_t to =
		(uintptr_t)(t->slot + t->nslots) & ~((uintptr_t)page - 1);
	size_t pages = (to - from) / (size_t)page, resident = 0;
	static unsigned char vec[(8u << 20) / 4096];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	assert_non_null(t);
	assert_true(pages > 1000 && pages <= sizeof(vec));
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 2000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			live[i] = (const void *)(uintptr_t)(0x55550000000ull +
							    (x % (64u << 20)) /
								    16 * 16);
			assert_int_equal(ms_addrtab_insert(t, live[i]), 0);
		}
		/* frees of blocks never sampled */
		for (int i = 0; i < 20000; i++)
			assert_int_equal(
				ms_addrtab_remove(
					t,
					(const void
						 *)(uintptr_t)(0x66660000000ull +
							       (uint64_t)i *
								       48)),
				0);
		for (int i = 0; i < 2000; i++)
			assert_int_equal(ms_addrtab_remove(t, live[i]), 1);
	}
	assert_int_equal(mincore((void *)from, to - from, vec), 0);
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	assert_true(resident <= 16);
	/* (the scans read every page: after mincore) */
	assert_int_equal(overflow_sum(t), 0);
	assert_int_equal(ms_addrtab_count(t), 0);
	ms_addrtab_destroy(t);
}

/*
 * 300 addresses of one first bucket: 7 stay there, the others go to the
 * large table, each found and removed, and the bucket's count comes back
 * to 0. A lookup that stopped at the first table would miss 293 of them.
 */
static void test_crowded_bucket(void **state)
{
	struct ms_addrtab *t = ms_addrtab_create(14, 20);
	static const void *same[300];
	const void *first = (const void *)(uintptr_t)0x7f0000000000ull;
	_Atomic uintptr_t *b = ms_addrtab_bucket(t, first, 0);
	int n = 0;

	(void)state;
	assert_non_null(t);
	for (uintptr_t a = (uintptr_t)first; n < 300; a += 16)
		if (ms_addrtab_bucket(t, (const void *)a, 0) == b)
			same[n++] = (const void *)a;
	for (int i = 0; i < n; i++)
		assert_int_equal(ms_addrtab_insert(t, same[i]), 0);
	assert_int_equal(ms_load_relaxed(ms_addrtab_overflow(b)),
			 300 - MS_ADDRTAB_FIRST_WAYS);
	assert_int_equal(second_count(t), 300 - MS_ADDRTAB_FIRST_WAYS);
	for (int i = 0; i < n; i++) {
		assert_true(ms_addrtab_contains(t, same[i]));
		assert_int_equal(ms_addrtab_remove(t, same[i]), 1);
		assert_false(ms_addrtab_contains(t, same[i]));
	}
	assert_int_equal(ms_addrtab_count(t), 0);
	assert_int_equal(ms_load_relaxed(ms_addrtab_overflow(b)), 0);
	assert_int_equal(filter_sum(t), 0);
	ms_addrtab_destroy(t);
}

/*
 * 300 present addresses on one filter counter: the byte counter sticks at
 * its maximum instead of wrapping, so every one of them is still found
 * and removed (a wrapped counter would read 0 for some of them).
 */
static void test_counter_saturates(void **state)
{
	struct ms_addrtab *t = ms_addrtab_create(14, 20);
	static const void *same[300];
	const void *first = (const void *)(uintptr_t)0x7f0000000000ull;
	_Atomic uint8_t *c = ms_addrtab_counter(t, first);
	int n = 0;

	(void)state;
	assert_non_null(t);
	for (uintptr_t a = (uintptr_t)first; n < 300; a += 16)
		if (ms_addrtab_counter(t, (const void *)a) == c)
			same[n++] = (const void *)a;
	for (int i = 0; i < n; i++)
		assert_int_equal(ms_addrtab_insert(t, same[i]), 0);
	assert_int_equal(ms_load_relaxed(c), MS_ADDRTAB_STICKY);
	for (int i = 0; i < n; i++) {
		assert_true(ms_addrtab_contains(t, same[i]));
		assert_int_equal(ms_addrtab_remove(t, same[i]), 1);
	}
	assert_int_equal(ms_addrtab_count(t), 0);
	assert_int_equal(ms_load_relaxed(c), MS_ADDRTAB_STICKY);
	assert_false(ms_addrtab_contains(t, same[0]));
	ms_addrtab_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_exact),
		cmocka_unit_test(test_full_bucket),
		cmocka_unit_test(test_small_process_first),
		cmocka_unit_test(test_crowded_bucket),
		cmocka_unit_test(test_counter_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
