/* SPDX-License-Identifier: MIT */
/*
 * Agent internals shared by the files of agent/: the process-wide state,
 * the per-thread state (initial-exec TLS) and the entry points between the
 * concepts (bootstrap, attach, thread, emit, sampling, stacks, modules).
 *
 * Only interpose.c (malloc family, dlopen, pthread_setname_np) and api.c
 * (memscope_*) export symbols; everything here is hidden.
 */
#ifndef MS_AGENT_H
#define MS_AGENT_H

#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atomics.h"
#include "clock.h"
#include "record.h"
#include "ring.h"
#include "session.h"

#include "addrtab.h"
#include "sampling.h"

#define MS_HIDDEN __attribute__((visibility("hidden")))
#define MS_EXPORT __attribute__((visibility("default")))
#define MS_TLS	  __thread __attribute__((tls_model("initial-exec")))

/* Process-wide tracking state (ms_g.state). */
enum {
	MS_AGENT_OFF = 0,     /* not tracking: before init, no consumer, ... */
	MS_AGENT_ON = 1,      /* attached */
	MS_AGENT_PENDING = 2, /* fork child: attach at the first tracked call */
	MS_AGENT_EARLY = 3,   /* before the constructor: events are buffered */
};

/* Per-thread state (ms_tls.state). */
enum {
	MS_T_UNINIT = 0,  /* no ring yet */
	MS_T_ACTIVE = 1,  /* owns a ring */
	MS_T_OFF = 2,	  /* runs untracked (ring creation failed, ...) */
	MS_T_EXITED = 3,  /* past its THREAD_EXIT */
	MS_T_REFUSED = 4, /* no ring (refused, none free): counts, untracked */
};

#define MS_MAX_RINGS 4096

struct ms_stack_table;

/* A ring owned by a live thread, or closed and waiting for reuse. */
struct ms_slot {
	struct ms_ring ring;
	int used; /* 0 free, 1 live thread, 2 closed: reusable once drained,
		     3 its ring being made (outside the lock) */
	uint32_t index;
};

struct ms_agent {
	_Atomic int state; /* MS_AGENT_*; read relaxed on every call */
	int ready;	   /* init ran: attach may happen */
	int attach_tried;
	int attach_err; /* 0 or -errno of the attach */
	int finalized;
	int warned; /* the one stderr line has been written */
	int sock;
	uint32_t pid;
	int modules_sent;
	struct ms_settings set;
	struct ms_clock clk;
	uint64_t ring_size;
	pthread_key_t key;
	pthread_mutex_t lock;	/* slow path only: attach, slots, modules */
	struct ms_addrtab *tab; /* sampled addresses; NULL in full mode */
	void (*on_state)(void); /* interpose.c: re-points its dispatch */
	uint32_t nslots;
	struct ms_slot slots[MS_MAX_RINGS];
};

/* Per-thread state. `guard` first: the hot path reads it most. */
/*
 * An event of a signal handler that ran while its thread was writing a
 * record (ms_tstate.hot): kept here, written when that record is done.
 */
struct ms_deferred {
	uint64_t p, old, size, caller, ts, weight;
	uint32_t align;
	uint8_t type; /* MS_REC_ALLOC, FREE or REALLOC */
	uint8_t old_sampled;
};

#define MS_DEFER_MAX 16
#define MS_GUARD_HOT 0x4000 /* one store: no moment half in, half out */

struct ms_tstate {
	/* Inside the agent: calls go straight to libc. MS_GUARD_HOT while
	 * recording an event in track.c, where the agent itself calls nothing
	 * that allocates: a call that finds it so comes from a signal
	 * handler, and is deferred, not lost. */
	int guard;
	_Atomic uint32_t ndefer; /* entries of defer[] taken */
	uint32_t defer_lost;	 /* deferred events that found no room */
	struct ms_deferred defer[MS_DEFER_MAX];
	int state; /* MS_T_* */
	uint32_t tid;
	int gone;	    /* block mode: the consumer is gone, drop... */
	uint64_t gone_beat; /* ...until its heartbeat moves past this */
	struct ms_ring ring;
	struct ms_rec_state rs;
	uint64_t lost_pending; /* mirror of hdr->lost_pending */
	uint32_t lost_cause;
	uint32_t exit_rounds;
	struct ms_slot *slot;
	struct ms_stack_table *stacks;
	struct ms_sampler smp;
	char name[16];	     /* last THREAD_NAME written */
	uint32_t refused;    /* MS_T_REFUSED: the consumer's reason, or ours */
	uint64_t unrecorded; /* MS_T_REFUSED: events not yet reported */
};

extern struct ms_agent ms_g MS_HIDDEN;
extern MS_TLS struct ms_tstate ms_tls MS_HIDDEN;

/* Compiler-only fences: a signal handler on this thread sees the guard. */
static inline void ms_guard_enter(struct ms_tstate *t)
{
	t->guard = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void ms_guard_leave(struct ms_tstate *t)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->guard = 0;
}

static inline int ms_agent_state(void)
{
	return ms_load_relaxed(&ms_g.state);
}

/* Every change of ms_g.state goes through here. */
static inline void ms_agent_set_state(int state)
{
	ms_store_release(&ms_g.state, state);
	if (ms_g.on_state)
		ms_g.on_state();
}

/* ---- bootstrap.c: the real allocator ---- */
struct ms_real_fns {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*dlopen)(const char *, int);
	int (*dlclose)(void *);
	int (*setname)(pthread_t, const char *);
	int (*pthread_create)(pthread_t *, const pthread_attr_t *,
			      void *(*)(void *), void *);
	int (*dl_iterate_phdr)(int (*)(struct dl_phdr_info *, size_t, void *),
			       void *);
	/* 1 when free is glibc's own: a block's chunk header (its size, low
	 * 3 bits flags) is the word before it */
	int glibc;
};

extern struct ms_real_fns ms_real MS_HIDDEN;
extern uint8_t ms_boot_arena[] MS_HIDDEN;
#define MS_BOOT_ARENA_SIZE (64u << 10)

/* Resolves ms_real with dlsym(RTLD_NEXT); idempotent. */
void ms_boot_resolve(void) MS_HIDDEN;
/* Static-arena allocation used only while ms_real is being resolved. */
void *ms_boot_alloc(size_t size, size_t align) MS_HIDDEN;
void *ms_boot_realloc(void *p, size_t size) MS_HIDDEN;
/* 1 once the arena has handed out a block. */
int ms_boot_used(void) MS_HIDDEN;

static inline int ms_boot_owns(const void *p)
{
	return (const uint8_t *)p >= ms_boot_arena &&
	       (const uint8_t *)p < ms_boot_arena + MS_BOOT_ARENA_SIZE;
}

/* ---- attach.c ---- */
/*
 * Connects to the session's consumer, gets SETTINGS, overlays `api` (may
 * be NULL) then the MEMSCOPE_* environment. Sets ms_g.state. Writes one
 * line on stderr when tracking stays off. Returns 0 or -errno. Caller
 * holds ms_g.lock.
 */
int ms_attach_locked(const char *session, const struct ms_settings *api,
		     int api_mask) MS_HIDDEN;
/* Attaches once (first caller wins); returns ms_g.attach_err. */
int ms_attach(const char *session, const struct ms_settings *api,
	      int api_mask) MS_HIDDEN;
/* Fork child: attach now if the parent was tracking. */
void ms_attach_pending(void) MS_HIDDEN;
/* Closes the session socket if the descriptor is still ours. */
void ms_attach_close_socket(void) MS_HIDDEN;
/*
 * 1 when the consumer has gone (its end of the session socket closed: it
 * exited or was killed), or when it cannot be told (the program closed
 * our socket); 0 while it is there, even stopped. One system call.
 */
int ms_attach_consumer_gone(void) MS_HIDDEN;
/*
 * Hands a new ring's memfd to the consumer and, when it answers RINGs,
 * waits for its answer. Returns 0, -ECONNREFUSED with *status (a positive
 * errno) set when the consumer refused the ring, -ETIMEDOUT when it did
 * not answer in time (the ring was delivered), or -errno.
 */
int ms_attach_send_ring(int fd, uint32_t tid, uint32_t index,
			uint32_t *status) MS_HIDDEN;
/* Tells the consumer that `events` of thread `tid`, which has no ring
 * (refused for `reason`), were not recorded. Never blocks for long. */
void ms_attach_send_unrecorded(uint32_t tid, uint32_t reason,
			       uint64_t events) MS_HIDDEN;
/* The single "memscope: ..." stderr line (later calls write nothing). */
void ms_warn_once(const char *fmt, ...) MS_HIDDEN
	__attribute__((format(printf, 1, 2)));

#define MS_API_SAMPLING 1
#define MS_API_DEPTH	2

/* ---- thread.c ---- */
void ms_agent_init(void) MS_HIDDEN; /* key, atfork; sets ms_g.ready */
/* Gives the calling thread its ring. Returns 0 or -errno (thread OFF). */
int ms_thread_start(struct ms_tstate *t) MS_HIDDEN;
/* Closes the calling thread's ring: THREAD_EXIT then ms_ring_close(). */
void ms_thread_finish(struct ms_tstate *t) MS_HIDDEN;
/* A refused thread's count of unrecorded events, sent and reset. */
void ms_thread_unrecorded(struct ms_tstate *t) MS_HIDDEN;
/* Writes THREAD_NAME if `name` differs from the last one written. */
void ms_thread_emit_name(struct ms_tstate *t, const char *name) MS_HIDDEN;
/* Reads /proc/self/task/TID/comm into buf[16]. Returns 0 or -errno. */
int ms_thread_read_comm(uint32_t tid, char *buf) MS_HIDDEN;
uint32_t ms_gettid(void) MS_HIDDEN;

/* ---- fork.c ---- */
void ms_fork_install(void) MS_HIDDEN;

/* ---- modules.c ---- */
/* Writes MODULE_LOAD for every loaded object (the initial map). */
void ms_modules_emit_all(struct ms_tstate *t) MS_HIDDEN;
/* After dlopen/dlclose: MODULE_LOAD/UNLOAD for what changed. */
void ms_modules_rescan(struct ms_tstate *t) MS_HIDDEN;
void ms_modules_reset(void) MS_HIDDEN;

/*
 * The level of a live block of glibc's (record.h, MS_RECF_LEVEL), when the
 * consumer reads it. The word before the block is its chunk's size (low 3
 * bits flags), header included; the size asked for was at most that less
 * the 8-byte header, so the level of the latter is at least its level.
 * free() reads the same word next: no cache line more. (track.c; here for
 * the tests)
 */
static inline uint8_t ms_free_flags(const void *p)
{
	const uint8_t *q = p;
	size_t chunk;

	if (!ms_g.set.free_level || !ms_real.glibc)
		return 0;
	/* the word is glibc's, outside the block the compiler knows of */
	__asm__("" : "+r"(q));
	memcpy(&chunk, q - sizeof(chunk), sizeof(chunk));
	return ms_rec_free_level((chunk & ~(size_t)7) - 8);
}

/* ---- track.c: what the interposed functions and the API call ---- */
/* Records a sampled allocation (`weight`: Q16 from ms_sample()). */
void ms_track_alloc(void *p, size_t size, size_t align, uintptr_t caller,
		    uint64_t weight) MS_HIDDEN;
/* Records the free of a tracked block (any block in full mode); `real`:
 * the block is the real allocator's and not yet freed. */
void ms_track_free(void *p, int real) MS_HIDDEN;
/* From a signal handler that interrupted the recording of an event. */
void ms_track_defer(unsigned type, void *p, void *old, size_t size,
		    size_t align, uintptr_t caller, uint64_t weight,
		    int old_sampled) MS_HIDDEN;
/*
 * realloc bookkeeping: `old_sampled` says whether `old` was a tracked
 * block (always 1 in full mode), `weight` the sampling weight of the new
 * block (0 when not sampled). `ts` was taken before the real realloc.
 */
void ms_track_realloc(void *old, int old_sampled, void *p, size_t size,
		      uintptr_t caller, uint64_t weight, uint64_t ts) MS_HIDDEN;
/*
 * Before the constructor (libraries initialised ahead of this one, ld.so):
 * events of type MS_REC_* are kept in a static buffer, and replayed on the
 * calling thread's ring once attached, so that blocks allocated that early
 * are known when they are freed. MS_REC_FREE: `p`; MS_REC_REALLOC: `old`
 * -> `p` (NULL with size 0: freed).
 */
void ms_early_event(unsigned type, void *p, void *old, size_t size,
		    size_t align, uintptr_t caller) MS_HIDDEN;
/* Replays the buffer (when attached) and closes it. Constructor only. */
void ms_early_replay(void) MS_HIDDEN;
/* Untracked -> ring: ensures the thread can write. 0 or -errno. */
int ms_track_ready(struct ms_tstate *t) MS_HIDDEN;

#endif
