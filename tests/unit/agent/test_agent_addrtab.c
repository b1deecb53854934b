/* SPDX-License-Identifier: MIT */
/*
 * The sampled-address table under concurrent inserts and removes from
 * several threads, sharing buckets: the final contents are exact.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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
	/* 2^17 slots for 80000 live at peak: buckets are shared and busy */
	struct ms_addrtab *t = ms_addrtab_create(17);
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
	/* the filter counts exactly what is present, after all the races */
	assert_int_equal(filter_sum(t), present);
	assert_true(refused < 50); /* a full bucket is rare at this load */
	ms_addrtab_destroy(t);
}

static void test_full_bucket(void **state)
{
	struct ms_addrtab *t = ms_addrtab_create(3); /* one bucket */
	int i;

	(void)state;
	for (i = 0; i < MS_ADDRTAB_WAYS; i++)
		assert_int_equal(ms_addrtab_insert(t, addr(0, i)), 0);
	assert_int_equal(ms_addrtab_insert(t, addr(0, i)), -ENOSPC);
	assert_int_equal(ms_addrtab_remove(t, addr(0, 3)), 1);
	assert_int_equal(ms_addrtab_remove(t, addr(0, 3)), 0);
	assert_int_equal(ms_addrtab_insert(t, addr(0, i)), 0);
	assert_true(ms_addrtab_contains(t, addr(0, i)));
	assert_int_equal(ms_addrtab_count(t), MS_ADDRTAB_WAYS);
	assert_int_equal(filter_sum(t), MS_ADDRTAB_WAYS); /* refusals undone */
	ms_addrtab_clear(t);
	assert_int_equal(ms_addrtab_count(t), 0);
	ms_addrtab_destroy(t);
}

/*
 * 300 present addresses on one filter counter: the byte counter sticks at
 * its maximum instead of wrapping, so every one of them is still found
 * and removed (a wrapped counter would read 0 for some of them).
 */
static void test_counter_saturates(void **state)
{
	struct ms_addrtab *t = ms_addrtab_create(20);
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
		cmocka_unit_test(test_counter_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
