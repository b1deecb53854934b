/* SPDX-License-Identifier: MIT */
/*
 * Per-thread state: a ring per thread, created on the thread's first
 * tracked call and handed to the consumer; closed by a pthread key
 * destructor at thread exit (THREAD_EXIT, then ms_ring_close()); recycled
 * for a later thread once the consumer has marked it drained.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "emit.h"
#include "nocancel.h"
#include "stack.h"
#include "stackwalk.h"

struct ms_agent ms_g = {
	.state = MS_AGENT_EARLY,
	.sock = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};
MS_TLS struct ms_tstate ms_tls;

#define MS_EXIT_ROUNDS 2 /* destructor rounds: run after most others */

uint32_t ms_gettid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

int ms_thread_read_comm(uint32_t tid, char *buf)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
	fd = ms_nc_open(path, O_RDONLY);
	if (fd < 0)
		return fd;
	n = ms_nc_read(fd, buf, 15);
	ms_nc_close(fd);
	if (n <= 0)
		return -EIO;
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	return 0;
}

void ms_thread_emit_name(struct ms_tstate *t, const char *name)
{
	size_t len = strnlen(name, 15);
	uint8_t *p;

	if (t->state != MS_T_ACTIVE || !strncmp(t->name, name, 16))
		return;
	p = ms_emit_reserve_meta(t, 16 + MS_NAME_MAX);
	if (!p)
		return;
	ms_emit_commit(t, ms_rec_put_thread_name(&t->rs, p, ms_now(), name,
						 (uint32_t)len));
	memcpy(t->name, name, len);
	t->name[len] = 0;
}

/* A closed, drained ring from an exited thread, or a new one. */
static struct ms_slot *take_slot(uint32_t tid, int *fresh)
{
	struct ms_slot *s;

	for (uint32_t i = 0; i < ms_g.nslots; i++) {
		s = &ms_g.slots[i];
		if (s->used == 2 && ms_ring_reuse(&s->ring, tid) == 0) {
			s->used = 1;
			*fresh = 0;
			return s;
		}
	}
	for (uint32_t i = 0; i < ms_g.nslots; i++)
		if (ms_g.slots[i].used == 0)
			return *fresh = 1, &ms_g.slots[i];
	if (ms_g.nslots == MS_MAX_RINGS)
		return NULL;
	s = &ms_g.slots[ms_g.nslots];
	s->index = ms_g.nslots++;
	*fresh = 1;
	return s;
}

#define MS_RING_PREFAULT (64u << 10) /* of a new ring, faulted in */

/*
 * Makes a ring, without the lock: many threads starting at once make
 * theirs side by side (memfd, mappings, the first pages faulted in)
 * instead of one after another behind the lock.
 */
static int make_ring(uint32_t tid, struct ms_ring *r)
{
	int err = ms_ring_create(ms_g.ring_size, ms_g.pid, tid, r);

	if (err)
		return err;
#ifdef MADV_POPULATE_WRITE
	/*
	 * Fault in the pages the first records go to. Not all of them: both
	 * views of every ring of 2000 threads made the program's RSS 4.3 GB
	 * and its threads' start a third slower (docs/agent.md); a busy
	 * thread faults each further page once, in its ring's first lap.
	 */
	madvise(r->data,
		r->size < MS_RING_PREFAULT ? r->size : MS_RING_PREFAULT,
		MADV_POPULATE_WRITE);
#endif
	return 0;
}

/*
 * Hands ring `r` over as slot `s`'s. Caller holds the lock (one exchange
 * on the socket at a time). A consumer that did not answer in time has
 * the ring all the same and drains it once it runs again; one that
 * refused it says why in *status.
 */
static int hand_over(struct ms_slot *s, struct ms_ring *r, uint32_t tid,
		     uint32_t *status)
{
	int err = ms_attach_send_ring(r->fd, tid, s->index, status);

	if (err == -ETIMEDOUT)
		err = 0;
	if (err) {
		ms_ring_unmap(r);
		return err;
	}
	/* The consumer holds its own copy now; ours would only leak. */
	ms_nc_close(r->fd);
	r->fd = -1;
	s->ring = *r;
	s->used = 1;
	return 0;
}

static int get_ring(struct ms_tstate *t)
{
	struct ms_slot *s;
	int fresh = 0, err = -ENOSPC;
	uint32_t status = 0;

	pthread_mutex_lock(&ms_g.lock);
	if (ms_agent_state() != MS_AGENT_ON) {
		err = -ENOTCONN;
		goto out;
	}
	s = take_slot(t->tid, &fresh);
	if (s && fresh) {
		struct ms_ring r;

		s->used = 3; /* being made: no other thread takes it */
		pthread_mutex_unlock(&ms_g.lock);
		err = make_ring(t->tid, &r);
		pthread_mutex_lock(&ms_g.lock);
		if (!err && ms_agent_state() != MS_AGENT_ON) {
			ms_ring_unmap(&r);
			err = -ENOTCONN;
		} else if (!err) {
			err = hand_over(s, &r, t->tid, &status);
		}
		if (err)
			s->used = 0;
	} else if (s) {
		err = 0;
	}
	if (err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN ||
	    err == -EBADF) {
		/* The consumer is gone (or our socket is): stop paying for
		 * tracking in every thread that starts from now on. */
		ms_warn_once("lost the consumer (%s); tracking stopped",
			     strerrordesc_np(-err));
		ms_agent_set_state(MS_AGENT_OFF);
	} else if (err == -ECONNREFUSED) {
		/* The consumer logs it and counts what the thread does. */
		t->refused = status ? status : EPROTO;
	} else if (err) {
		/* No ring (every slot busy until the consumer drains one, or
		 * making one failed), but the consumer is there: the thread
		 * runs untracked and counts what it does, as if refused. */
		ms_warn_once("no ring for thread %u (%s); it runs untracked, "
			     "its events counted as unrecorded",
			     t->tid, strerrordesc_np(-err));
		t->refused = (uint32_t)-err;
		err = -ECONNREFUSED;
	}
	if (!err) {
		t->slot = s;
		t->ring = s->ring;
		/* A new generation owes nothing from the last one. */
		ms_store_relaxed(&t->ring.hdr->lost_pending, 0);
	}
out:
	pthread_mutex_unlock(&ms_g.lock);
	return err;
}

/* CLOCK and THREAD_START open every ring generation. */
static void write_preamble(struct ms_tstate *t)
{
	/* The pair read back to back: a reservation between the two (which
	 * may wait for room) put every time of the archive 20-55 us late. */
	uint64_t now = ms_now(), mono = ms_mono_ns();
	uint8_t *p = ms_emit_reserve_meta(t, 2 * MS_REC_SMALL_MAX);

	if (!p)
		return;
	p = ms_rec_put_clock(&t->rs, p, now, mono, ms_g.clk.tick_hz);
	p = ms_rec_put_thread_start(&t->rs, p, now, ms_g.pid, t->tid);
	ms_emit_commit(t, p);
}

int ms_thread_start(struct ms_tstate *t)
{
	char name[16];
	int err, guard = t->guard, modules = 0, saved_errno = errno;

	if (t->state != MS_T_UNINIT)
		return t->state == MS_T_ACTIVE ? 0 : -ENOTCONN;
	t->guard = 1;
	t->tid = ms_gettid();
	memset(&t->rs, 0, sizeof(t->rs));
	t->lost_pending = 0;
	t->gone = 0;
	t->name[0] = 0;
	t->refused = 0;
	t->unrecorded = 0;
	err = get_ring(t);
	if (err == -ECONNREFUSED) {
		/* Untracked, but counted: the key's destructor reports the
		 * rest when the thread ends. */
		t->state = MS_T_REFUSED;
		pthread_setspecific(ms_g.key, t);
		goto out;
	}
	if (err) {
		t->state = MS_T_OFF;
		goto out;
	}
	pthread_setspecific(ms_g.key, t);
	t->state = MS_T_ACTIVE;
	write_preamble(t);
	pthread_mutex_lock(&ms_g.lock);
	if (!ms_g.modules_sent)
		modules = ms_g.modules_sent = 1;
	pthread_mutex_unlock(&ms_g.lock);
	if (modules)
		ms_modules_emit_all(t);
	if (ms_thread_read_comm(t->tid, name) == 0)
		ms_thread_emit_name(t, name);
out:
	t->guard = guard;
	errno = saved_errno; /* the program's call succeeded */
	return err;
}

void ms_thread_unrecorded(struct ms_tstate *t)
{
	int guard = t->guard;

	t->guard = 1;
	ms_attach_send_unrecorded(t->tid, t->refused, t->unrecorded);
	t->unrecorded = 0;
	t->guard = guard;
}

void ms_thread_finish(struct ms_tstate *t)
{
	char name[16];
	uint8_t *p;

	if (t->state == MS_T_REFUSED) {
		ms_thread_unrecorded(t);
		t->state = MS_T_EXITED;
		return;
	}
	if (t->state != MS_T_ACTIVE)
		return;
	t->guard = 1;
	/* Names set by another thread or by prctl() show up here. */
	if (ms_thread_read_comm(t->tid, name) == 0)
		ms_thread_emit_name(t, name);
	p = ms_emit_reserve_meta(t, MS_REC_SMALL_MAX);
	if (p)
		ms_emit_commit(t, ms_rec_put_thread_exit(&t->rs, p, ms_now()));
	ms_ring_close(&t->ring);
	pthread_mutex_lock(&ms_g.lock);
	t->slot->ring = t->ring; /* keeps the producer's position */
	t->slot->used = 2;
	pthread_mutex_unlock(&ms_g.lock);
	t->state = MS_T_EXITED;
	ms_stack_table_retire(t->stacks);
	t->stacks = NULL;
	ms_stackwalk_thread_exit();
	t->guard = 0;
}

/*
 * Thread exit. The first round re-arms the key so that destructors of
 * other keys, which may still free tracked blocks, run before the ring is
 * closed.
 */
static void key_destructor(void *arg)
{
	struct ms_tstate *t = arg;

	if (t != &ms_tls)
		return;
	if (++t->exit_rounds < MS_EXIT_ROUNDS) {
		t->guard = 1;
		pthread_setspecific(ms_g.key, t);
		t->guard = 0;
		return;
	}
	ms_thread_finish(t);
}

void ms_agent_init(void)
{
	struct ms_tstate *t = &ms_tls;

	if (ms_g.ready)
		return;
	t->guard = 1;
	pthread_key_create(&ms_g.key, key_destructor);
	ms_fork_install();
	ms_g.ready = 1;
	t->guard = 0;
}
