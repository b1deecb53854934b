/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "record.h"
#include "ring.h"

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7);
}

static int check(const uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(seed * 131 + i * 7))
			return 0;
	return 1;
}

static void test_create_and_header(void **state)
{
	struct ms_ring r;

	(void)state;
	assert_int_equal(ms_ring_create(4096, 11, 22, &r), 0);
	assert_int_equal(r.hdr->magic, MS_RING_MAGIC);
	assert_int_equal(r.hdr->data_size, 4096);
	assert_int_equal(r.hdr->pid, 11);
	assert_int_equal(r.hdr->tid, 22);
	assert_int_equal(ms_load_acquire(&r.hdr->state), MS_RING_ACTIVE);
	/* the double mapping: byte i and byte i + size are the same memory */
	r.data[10] = 0x5a;
	assert_int_equal(r.data[10 + r.size], 0x5a);
	r.data[r.size + 20] = 0xa5;
	assert_int_equal(r.data[20], 0xa5);
	ms_ring_unmap(&r);
	assert_int_equal(ms_ring_create(5000, 1, 1, &r), -EINVAL);
}

/* Records of odd sizes cross the wrap many times and stay contiguous. */
static void test_wraparound(void **state)
{
	struct ms_ring p, c;
	uint64_t written = 0, read = 0;

	(void)state;
	assert_int_equal(ms_ring_create(4096, 1, 1, &p), 0);
	assert_int_equal(ms_ring_attach(dup(p.fd), &c), 0);
	for (uint64_t i = 0; i < 2000; i++) {
		size_t n = 1 + (i * 37) % 700;
		uint8_t *w = ms_ring_reserve(&p, n);
		const uint8_t *q = NULL;

		assert_non_null(w);
		fill(w, n, i);
		ms_ring_commit(&p, n);
		written += n;
		assert_int_equal(ms_ring_peek(&c, &q), (ssize_t)n);
		assert_true(check(q, n, i));
		ms_ring_release(&c, n);
		read += n;
	}
	assert_true(written > 50 * 4096); /* wrapped many times */
	assert_int_equal(ms_load_acquire(&p.hdr->tail), read);
	ms_ring_unmap(&c);
	ms_ring_unmap(&p);
}

static void test_full_and_exact_fit(void **state)
{
	struct ms_ring p, c;
	const uint8_t *q = NULL;

	(void)state;
	assert_int_equal(ms_ring_create(4096, 1, 1, &p), 0);
	assert_int_equal(ms_ring_attach(dup(p.fd), &c), 0);
	/* move the indices off zero so the exact fit straddles the wrap */
	assert_non_null(ms_ring_reserve(&p, 1000));
	ms_ring_commit(&p, 1000);
	assert_int_equal(ms_ring_peek(&c, &q), 1000);
	ms_ring_release(&c, 1000);

	assert_non_null(ms_ring_reserve(&p, 3000));
	ms_ring_commit(&p, 3000);
	/* 1096 free: exactly that fits, one more does not */
	assert_null(ms_ring_reserve(&p, 1097));
	uint8_t *w = ms_ring_reserve(&p, 1096);
	assert_non_null(w);
	fill(w, 1096, 9);
	ms_ring_commit(&p, 1096);
	assert_null(ms_ring_reserve(&p, 1));

	assert_int_equal(ms_ring_peek(&c, &q), 4096);
	assert_true(check(q + 3000, 1096, 9));
	ms_ring_release(&c, 3000);
	assert_null(ms_ring_reserve(&p, 3001));
	assert_non_null(ms_ring_reserve(&p, 3000));
	ms_ring_release(&c, 1096);
	assert_non_null(ms_ring_reserve(&p, 4096));
	assert_int_equal(ms_ring_peek(&c, &q), 0);
	ms_ring_unmap(&c);
	ms_ring_unmap(&p);
}

static void test_bad_head_detected(void **state)
{
	struct ms_ring p, c;
	const uint8_t *q = NULL;

	(void)state;
	assert_int_equal(ms_ring_create(4096, 1, 1, &p), 0);
	assert_int_equal(ms_ring_attach(dup(p.fd), &c), 0);
	ms_store_release(&p.hdr->head, 4097); /* more than the ring holds */
	assert_int_equal(ms_ring_peek(&c, &q), -EPROTO);
	ms_store_release(&p.hdr->head, 100);
	assert_int_equal(ms_ring_peek(&c, &q), 100);
	ms_store_release(&p.hdr->head, 50); /* head went backwards */
	assert_int_equal(ms_ring_peek(&c, &q), -EPROTO);
	ms_ring_unmap(&c);
	ms_ring_unmap(&p);
}

static void test_attach_rejects(void **state)
{
	struct ms_ring c, p;
	int fd;

	(void)state;
	/* not a memfd */
	fd = open("/dev/null", O_RDWR);
	assert_int_equal(ms_ring_attach(fd, &c), -EPROTO);
	close(fd);
	/* memfd without seals */
	fd = memfd_create("t", MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(fd, 4096 + 4096), 0);
	assert_int_equal(ms_ring_attach(fd, &c), -EPROTO);
	/* sealed but too small */
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(ms_ring_attach(fd, &c), -EPROTO);
	close(fd);
	/* sealed, right size, but a corrupt header */
	assert_int_equal(ms_ring_create(4096, 1, 1, &p), 0);
	p.hdr->data_size = 8192;
	assert_int_equal(ms_ring_attach(dup(p.fd), &c), -EPROTO);
	p.hdr->data_size = 4096;
	p.hdr->magic = 0;
	assert_int_equal(ms_ring_attach(dup(p.fd), &c), -EPROTO);
	p.hdr->magic = MS_RING_MAGIC;
	fd = dup(p.fd);
	assert_int_equal(ms_ring_attach(fd, &c), 0);
	ms_ring_unmap(&c);
	ms_ring_unmap(&p);
}

static void test_reuse_state_machine(void **state)
{
	struct ms_ring p, c;
	const uint8_t *q = NULL;

	(void)state;
	assert_int_equal(ms_ring_create(4096, 1, 7, &p), 0);
	assert_int_equal(ms_ring_attach(dup(p.fd), &c), 0);
	assert_int_equal(ms_ring_reuse(&p, 8), -EBUSY); /* still ACTIVE */
	ms_ring_reserve(&p, 10);
	ms_ring_commit(&p, 10);
	ms_ring_close(&p);
	assert_int_equal(ms_ring_reuse(&p, 8), -EBUSY); /* not drained */
	assert_int_equal(ms_load_acquire(&c.hdr->state), MS_RING_CLOSED);
	assert_int_equal(ms_ring_peek(&c, &q), 10);
	ms_ring_release(&c, 10);
	ms_ring_mark_drained(&c);
	assert_int_equal(ms_ring_reuse(&p, 8), 0);
	assert_int_equal(ms_load_acquire(&c.hdr->state), MS_RING_ACTIVE);
	assert_int_equal(c.hdr->tid, 8);
	assert_int_equal(c.hdr->generation, 2);
	/* indices carry on across generations */
	assert_non_null(ms_ring_reserve(&p, 4096));
	ms_ring_unmap(&c);
	ms_ring_unmap(&p);
}

static void test_size_from_kb(void **state)
{
	(void)state;
	assert_int_equal(ms_ring_size_from_kb(0), 4096);
	assert_int_equal(ms_ring_size_from_kb(4), 4096);
	assert_int_equal(ms_ring_size_from_kb(5), 8192);
	assert_int_equal(ms_ring_size_from_kb(1024), 1 << 20);
	assert_int_equal(ms_ring_size_from_kb(UINT64_MAX), MS_RING_MAX_DATA);
}

/* ---- two threads, every record checked in order ---- */

struct pc {
	struct ms_ring p, c;
	uint64_t n;
	uint64_t bad; /* first wrong sequence number + 1, 0 if none */
	uint64_t got;
};

static void *producer(void *arg)
{
	struct pc *x = arg;
	struct ms_rec_state s = {0, 0};

	for (uint64_t i = 0; i < x->n; i++) {
		uint8_t *w;

		while (!(w = ms_ring_reserve(&x->p, MS_REC_SMALL_MAX)))
			ms_cpu_relax();
		/* a typical allocation event; the sequence is in `size` */
		uint8_t *e = ms_rec_put_alloc(&s, w, i * 3,
					      0x7f0000000000 + (i % 512) * 64,
					      i, 0, 1 + i % 40, MS_WEIGHT_ONE);
		ms_ring_commit(&x->p, (uint64_t)(e - w));
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc *x = arg;
	struct ms_rec_state s = {0, 0};
	struct ms_event *ev = malloc(sizeof(*ev));

	while (x->got < x->n && !x->bad) {
		const uint8_t *q = NULL;
		ssize_t avail = ms_ring_peek(&x->c, &q);
		size_t off = 0;

		if (avail <= 0) {
			ms_cpu_relax();
			continue;
		}
		while (off < (size_t)avail) {
			ssize_t k = ms_rec_decode(&s, q + off,
						  (size_t)avail - off, ev);
			if (k <= 0 || ev->type != MS_REC_ALLOC ||
			    ev->size != x->got || ev->ts != x->got * 3) {
				x->bad = x->got + 1;
				break;
			}
			off += (size_t)k;
			x->got++;
		}
		ms_ring_release(&x->c, off);
	}
	free(ev);
	return NULL;
}

static void test_two_threads_in_order(void **state)
{
	struct pc x = {.n = 10000000};
	const char *env = getenv("MS_TEST_RING_RECORDS");
	pthread_t a, b;

	(void)state;
	if (env)
		x.n = strtoull(env, NULL, 10);
	assert_int_equal(ms_ring_create(64 * 1024, 1, 1, &x.p), 0);
	assert_int_equal(ms_ring_attach(dup(x.p.fd), &x.c), 0);
	assert_int_equal(pthread_create(&b, NULL, consumer, &x), 0);
	assert_int_equal(pthread_create(&a, NULL, producer, &x), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(x.bad, 0);
	assert_int_equal(x.got, x.n);
	ms_ring_unmap(&x.c);
	ms_ring_unmap(&x.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_header),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_full_and_exact_fit),
		cmocka_unit_test(test_bad_head_detected),
		cmocka_unit_test(test_attach_rejects),
		cmocka_unit_test(test_reuse_state_machine),
		cmocka_unit_test(test_size_from_kb),
		cmocka_unit_test(test_two_threads_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
