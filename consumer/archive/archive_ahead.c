/* SPDX-License-Identifier: MIT */
#include "archive_ahead.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "archive.h"

#define THREADS_MAX	 8	    /* a->read_threads beyond are cut */
#define AUTO_THREADS_MAX 3	    /* more readers than this hardly pay */
#define AUTO_MIN_BYTES	 (1u << 20) /* below, a thread costs more */

/* A stream's turn: nobody fills it, it waits in the queue, a thread fills
 * it, or the reader has claimed it (ms_arc_ahead_claim()). */
enum { IDLE, QUEUED, BUSY, OWNED };

struct stream {
	struct ms_arc_batch slot[2];
	int reading; /* the slot the reader has, -1: none */
	int ready;   /* a slot filled and not handed out yet, -1: none */
	int state;
	int ended; /* the batch that ends the stream is filled */
	struct stream *qnext, *qprev;
};

struct ms_arc_ahead {
	pthread_mutex_t lock;  /* everything below but the batches' bytes */
	pthread_cond_t work;   /* workers wait for a stream in the queue */
	pthread_cond_t filled; /* the reader waits for its batch */
	struct stream *s;
	size_t n;
	unsigned nslots;
	ms_arc_fill_fn fill;
	void *arg;
	struct stream *qhead, *qtail; /* streams to fill, in request order */
	unsigned idle;		      /* workers waiting on `work` */
	int refill; /* a batch handed out asks for the next one */
	int reader_waits;
	int stop;
	pthread_t *tid;
	unsigned nthreads;
};

int ms_arc_ahead_create(size_t n, unsigned nslots, ms_arc_fill_fn fill,
			void *arg, struct ms_arc_ahead **out)
{
	struct ms_arc_ahead *ah = calloc(1, sizeof(*ah));

	if (!ah || !(ah->s = calloc(n ? n : 1, sizeof(*ah->s)))) {
		free(ah);
		return -ENOMEM;
	}
	pthread_mutex_init(&ah->lock, NULL);
	pthread_cond_init(&ah->work, NULL);
	pthread_cond_init(&ah->filled, NULL);
	ah->n = n;
	ah->nslots = nslots < 2 ? 1 : 2;
	ah->fill = fill;
	ah->arg = arg;
	for (size_t i = 0; i < n; i++)
		ah->s[i].reading = ah->s[i].ready = -1;
	*out = ah;
	return 0;
}

/* A slot neither the reader's nor waiting for it, -1 when none. */
static int free_slot(const struct ms_arc_ahead *ah, const struct stream *s)
{
	for (int k = 0; k < (int)ah->nslots; k++)
		if (k != s->reading && k != s->ready)
			return k;
	return -1;
}

/* Lock held: asks for the stream's next batch when there is room. */
static void enqueue(struct ms_arc_ahead *ah, struct stream *s)
{
	if (s->state != IDLE || s->ended || free_slot(ah, s) < 0)
		return;
	s->state = QUEUED;
	s->qnext = NULL;
	s->qprev = ah->qtail;
	if (ah->qtail)
		ah->qtail->qnext = s;
	else
		ah->qhead = s;
	ah->qtail = s;
	if (ah->idle)
		pthread_cond_signal(&ah->work);
}

/* Lock held: takes `s` out of the queue. */
static void unlink_stream(struct ms_arc_ahead *ah, struct stream *s)
{
	if (s->qprev)
		s->qprev->qnext = s->qnext;
	else
		ah->qhead = s->qnext;
	if (s->qnext)
		s->qnext->qprev = s->qprev;
	else
		ah->qtail = s->qprev;
	s->state = IDLE;
}

/* Lock held: the first stream in the queue, taken out; NULL if none. */
static struct stream *pop(struct ms_arc_ahead *ah)
{
	struct stream *s = ah->qhead;

	if (s)
		unlink_stream(ah, s);
	return s;
}

/*
 * Lock held, and released while filling: the next batch of `s` (IDLE)
 * into a free slot. The slot is nobody else's until it is marked ready.
 */
static void fill_one(struct ms_arc_ahead *ah, struct stream *s)
{
	int k = free_slot(ah, s);

	s->state = BUSY;
	pthread_mutex_unlock(&ah->lock);
	ah->fill(ah->arg, (size_t)(s - ah->s), &s->slot[k]);
	pthread_mutex_lock(&ah->lock);
	s->state = IDLE;
	s->ready = k;
	s->ended = s->slot[k].end;
	if (ah->reader_waits)
		pthread_cond_signal(&ah->filled);
}

static void *worker(void *arg)
{
	struct ms_arc_ahead *ah = arg;
	struct stream *s;
	sigset_t all;

	/* signals are the program's main thread's business */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&ah->lock);
	while (!ah->stop) {
		s = pop(ah);
		if (s) {
			fill_one(ah, s);
			continue;
		}
		ah->idle++;
		pthread_cond_wait(&ah->work, &ah->lock);
		ah->idle--;
	}
	pthread_mutex_unlock(&ah->lock);
	return NULL;
}

void ms_arc_ahead_start(struct ms_arc_ahead *ah, unsigned threads)
{
	pthread_mutex_lock(&ah->lock);
	for (size_t i = 0; i < ah->n; i++)
		enqueue(ah, &ah->s[i]);
	pthread_mutex_unlock(&ah->lock);
	ah->tid = calloc(threads ? threads : 1, sizeof(*ah->tid));
	for (unsigned k = 0; ah->tid && k < threads; k++)
		if (pthread_create(&ah->tid[ah->nthreads], NULL, worker, ah) ==
		    0)
			ah->nthreads++;
}

void ms_arc_ahead_refill(struct ms_arc_ahead *ah)
{
	pthread_mutex_lock(&ah->lock);
	ah->refill = ah->nslots > 1 && ah->nthreads;
	for (size_t i = 0; ah->refill && i < ah->n; i++)
		enqueue(ah, &ah->s[i]);
	pthread_mutex_unlock(&ah->lock);
}

struct ms_arc_batch *ms_arc_ahead_next(struct ms_arc_ahead *ah, size_t i)
{
	struct stream *s = &ah->s[i], *o;
	struct ms_arc_batch *b;

	pthread_mutex_lock(&ah->lock);
	s->reading = -1;
	while (s->ready < 0) {
		if (s->state != BUSY) { /* nobody fills it: here */
			if (s->state == QUEUED)
				unlink_stream(ah, s);
			fill_one(ah, s);
		} else if ((o = pop(ah))) { /* while a worker fills it */
			fill_one(ah, o);
		} else {
			ah->reader_waits = 1;
			pthread_cond_wait(&ah->filled, &ah->lock);
			ah->reader_waits = 0;
		}
	}
	s->reading = s->ready;
	s->ready = -1;
	b = &s->slot[s->reading];
	if (ah->refill)
		enqueue(ah, s);
	pthread_mutex_unlock(&ah->lock);
	return b;
}

int ms_arc_ahead_claim(struct ms_arc_ahead *ah, size_t i)
{
	struct stream *s = &ah->s[i];
	int ok;

	pthread_mutex_lock(&ah->lock);
	ok = (s->state == IDLE || s->state == QUEUED) && s->ready < 0 &&
	     s->reading < 0 && !s->ended;
	if (ok && s->state == QUEUED)
		unlink_stream(ah, s);
	if (ok)
		s->state = OWNED;
	pthread_mutex_unlock(&ah->lock);
	return ok;
}

void ms_arc_ahead_done(struct ms_arc_ahead *ah, size_t i)
{
	pthread_mutex_lock(&ah->lock);
	for (int k = 0; k < 2; k++)
		ms_arc_batch_free(&ah->s[i].slot[k]);
	ah->s[i].reading = -1;
	pthread_mutex_unlock(&ah->lock);
}

void ms_arc_ahead_destroy(struct ms_arc_ahead *ah)
{
	if (!ah)
		return;
	pthread_mutex_lock(&ah->lock);
	ah->stop = 1;
	pthread_cond_broadcast(&ah->work);
	pthread_mutex_unlock(&ah->lock);
	for (unsigned k = 0; k < ah->nthreads; k++)
		pthread_join(ah->tid[k], NULL);
	for (size_t i = 0; i < ah->n; i++)
		for (int k = 0; k < 2; k++)
			ms_arc_batch_free(&ah->s[i].slot[k]);
	pthread_cond_destroy(&ah->filled);
	pthread_cond_destroy(&ah->work);
	pthread_mutex_destroy(&ah->lock);
	free(ah->tid);
	free(ah->s);
	free(ah);
}

static unsigned cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

unsigned ms_arc_ahead_threads(const struct ms_archive *a, size_t nstreams,
			      uint64_t bytes, int concurrently)
{
	/* streams read one after the other: the reader takes one itself */
	size_t most = concurrently ? nstreams : nstreams ? nstreams - 1 : 0;
	unsigned n;

	if (a->read_threads >= 0) {
		n = a->read_threads < THREADS_MAX ? (unsigned)a->read_threads
						  : THREADS_MAX;
	} else {
		n = cpus() - 1;
		if (bytes < AUTO_MIN_BYTES)
			n = 0;
		if (n > AUTO_THREADS_MAX)
			n = AUTO_THREADS_MAX;
	}
	return n < most ? n : (unsigned)most;
}
