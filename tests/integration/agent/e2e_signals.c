/*
 * Events from signal handlers that interrupt a thread at any point of its
 * own tracked calls, including halfway through writing a record: another
 * thread sends it SIGUSR1 as fast as it can. The stream must stay
 * decodable, and every handler's events must be recorded (issue 11,
 * defect 5): those of a handler that ran while the agent was writing a
 * record are deferred until it is done. Signals start once the worker's
 * ring is set up and stop before it ends, so the counts are exact: the
 * worker's own calls plus two per handler.
 *
 * The handler reports a block of its own through the explicit API rather
 * than calling malloc: glibc's malloc is not async-signal-safe, and a
 * handler that interrupts malloc itself and calls it again corrupts the
 * heap with or without the agent.
 */
/*
 * Events from signal handlers that interrupt a thread at any point of its
 * own tracked calls, including halfway through writing a record: another
 * thread sends it SIGUSR1 as fast as it can. The stream must stay
 * decodable, and since each handler releases what it allocated (both
 * recorded, or both not when the signal landed inside the agent), the
 * worker's allocs and frees stay equal, between its own calls and its own
 * calls plus the handlers'.
 *
 * The handler reports a block of its own through the explicit API rather
 * than calling malloc: glibc's malloc is not async-signal-safe, and a
 * handler that interrupts malloc itself and calls it again corrupts the
 * heap with or without the agent.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_expect.h"
#include "memscope.h"

#define PAIRS 1000000

static volatile sig_atomic_t handled;
static volatile int started, done, stopped;

static char block[40];

static void on_usr1(int sig)
{
	(void)sig;
	memscope_track_alloc(block, sizeof(block));
	memscope_track_free(block);
	handled++;
}

static void *worker(void *arg)
{
	struct e2e_counts *c = arg;

	c->tid = e2e_gettid();
	e2e_pair(1); /* the ring: set up before the first signal */
	started = 1;
	for (int i = 1; i < PAIRS; i++)
		e2e_pair((size_t)(i % 500) + 1);
	c->allocs = c->frees = PAIRS;
	done = 1;
	while (!stopped) /* the last signals land here, not in the exit */
		sched_yield();
	return NULL;
}

int main(void)
{
	struct e2e_counts c = {0};
	struct sigaction sa;
	pthread_t th;
	long sent = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&th, NULL, worker, &c))
		return 1;
	while (!started)
		sched_yield();
	while (!done) {
		pthread_kill(th, SIGUSR1);
		sent++;
		sched_yield();
	}
	stopped = 1;
	pthread_join(th, NULL);
	printf("SIGNALS %d\n", (int)handled);
	fprintf(stderr, "sent %ld signals, %d handled\n", sent, (int)handled);
	e2e_print(&c, NULL);
	return 0;
}
