/* SPDX-License-Identifier: MIT */
/*
 * Internals of the consumer daemon shared by control.c, poller.c,
 * tailq.c and manifest.c.
 *
 * Threads and ownership:
 *   control thread  the socket, connections, the process list, manifest;
 *                   adds rings to d->rings and tail clients to d->tails.
 *   poller thread   drains every ring on d->rings, owns each ring's
 *                   stream; retires rings of gone processes.
 * d->rings and d->tails are RCU lists (urcu-memb): the poller traverses
 * them inside read-side critical sections; changes are made under
 * d->list_lock and freed after a grace period (call_rcu).
 */
#ifndef MS_DAEMON_INT_H
#define MS_DAEMON_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/urcu-memb.h>
#include <urcu/rculist.h>

#include "atomics.h"
#include "bundle.h"
#include "clock.h"
#include "daemon.h"
#include "live.h"
#include "proto_abi.h"
#include "ring.h"
#include "stream.h"

/*
 * liburcu's list macros cast through char *, which clang's -Wcast-align
 * rejects; these go through void * and are otherwise the same walks.
 */
#define ms_container_of(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define ms_list_entry(ptr, pos, member)                                        \
	ms_container_of(ptr, __typeof__(*(pos)), member)
/* Plain walk: the list's only writer, or nobody else running. */
#define ms_list_for_each(pos, head, member)                                    \
	for (pos = ms_list_entry((head)->next, pos, member);                   \
	     &pos->member != (head);                                           \
	     pos = ms_list_entry(pos->member.next, pos, member))
/* Walk that may free `pos`. */
#define ms_list_for_each_safe(pos, n, head, member)                            \
	for (pos = ms_list_entry((head)->next, pos, member),                   \
	    n = ms_list_entry(pos->member.next, pos, member);                  \
	     &pos->member != (head);                                           \
	     pos = n, n = ms_list_entry(n->member.next, n, member))
/*
 * ThreadSanitizer does not see liburcu's publication (a write barrier and a
 * plain store, a dependent load), so TSan builds use the same list steps
 * with C11-style atomics it understands; other builds use liburcu's.
 */
#if defined(__SANITIZE_THREAD__)
#define ms_rcu_deref(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
static inline void ms_rcu_add_tail(struct cds_list_head *n,
				   struct cds_list_head *head)
{
	n->next = head;
	n->prev = head->prev;
	__atomic_store_n(&head->prev->next, n, __ATOMIC_RELEASE);
	head->prev = n;
}

static inline void ms_rcu_del(struct cds_list_head *e)
{
	e->next->prev = e->prev;
	__atomic_store_n(&e->prev->next, e->next, __ATOMIC_RELEASE);
}
#else
#define ms_rcu_deref(p)		 rcu_dereference(p)
#define ms_rcu_add_tail(n, head) cds_list_add_tail_rcu(n, head)
#define ms_rcu_del(e)		 cds_list_del_rcu(e)
#endif

/* Reader walk, inside urcu_memb_read_lock(). */
#define ms_list_for_each_rcu(pos, head, member)                                \
	for (pos = ms_list_entry(ms_rcu_deref((head)->next), pos, member);     \
	     &pos->member != (head);                                           \
	     pos = ms_list_entry(ms_rcu_deref(pos->member.next), pos, member))

#define MS_MAX_RINGS_PER_PROC 16384
/* Address space the consumer maps for rings, over all agents (a ring of
 * N bytes takes 2N + 4 KiB of it). */
#define MS_MAX_MAPPED_BYTES (256ull << 30)
#define MS_TAILQ_CAP	    4096 /* events queued per tail client */
/* Descriptors kept free for the archive, the manifest and new peers. */
#define MS_FD_RESERVE 64

/* Counters a process accumulates; the poller adds, others read. */
struct ms_proc_counts {
	_Atomic uint64_t threads, records, allocs, frees, dropped;
	_Atomic uint64_t raw_bytes, disk_bytes, abandoned, segments;
	/* Control thread: rings refused, and the events their threads
	 * reported as not recorded (MS_MSG_UNRECORDED). */
	_Atomic uint64_t refused, unrecorded;
	/* Pollers: events drained but not written (a full disk), and those
	 * of them not even counted in a LOST record of the archive. */
	_Atomic uint64_t discarded, unwritten;
	/* Control thread: bytes idle compaction took off the segments'
	 * files (disk_bytes, a counter of what was written, keeps them). */
	_Atomic uint64_t compacted;
};

/* A thread (ring generation) as the manifest lists it. */
struct ms_thread_sum {
	uint32_t tid;
	int ended;
	char name[MS_NAME_MAX + 1];
	struct ms_stream_counts n;
	uint64_t compacted; /* as ms_proc_counts' (control thread) */
};

/* A module a process reported (MODULE_LOAD), as the manifest lists it. */
struct ms_module {
	uint64_t base, size;
	uint32_t build_id_len;
	int unloaded;
	uint8_t build_id[MS_BUILD_ID_MAX];
	char *path;
};

/*
 * The manifest lists at most this many threads (ring generations) and
 * modules per process. `stats` answers from the manifest only when every
 * thread is listed, so the thread bound is well above the thread counts
 * we trace (20,000 in a churn): 64 Ki entries cost at most 11 MiB here
 * (176 bytes each) and about 16 MiB of manifest, whose rewrites while
 * running are paced by their cost.
 */
#define MS_MANIFEST_THREADS 65536
#define MS_MANIFEST_MODULES 4096

/*
 * One image of a process: a pid that execs keeps its identity (the same
 * pid and kernel start time) and gets a new image, linked to the last.
 * Counted, listed in the manifest and shown by stats as one process.
 */
struct ms_proc {
	struct cds_list_head node; /* d->procs: control thread only */
	uint32_t pid, ppid;
	uint64_t starttime; /* /proc/PID/stat field 22; 0 if unknown */
	struct ms_proc *prev_image, *next_image; /* control thread only */
	char exe[256];
	char dir[4200];
	uint64_t start_rt_ns, end_rt_ns;
	uint32_t nrings;	     /* rings accepted (control) */
	int exited;		     /* control: gone and all retired */
	_Atomic int gone;	     /* socket closed; release by control */
	_Atomic uint32_t rings_live; /* accepted, not yet retired */
	struct ms_proc_counts n;
	/* Threads and modules: the poller adds, the manifest reads. */
	pthread_mutex_t info_lock;
	struct ms_thread_sum *thr;
	uint32_t nthr, thr_cap;
	uint64_t thr_omitted;
	struct ms_module *mod;
	uint32_t nmod, mod_cap;
	uint64_t mod_omitted;
	struct ms_live *live; /* poller only; NULL until its first ring */
	/* control: losses by cause as last shown (procinfo.c) */
	uint64_t lost_seen[MS_DAEMON_LOST_NCAUSES];
	/* Short streams' segments waiting to be written as one bundle
	 * (bundles.c): poller only. */
	struct ms_bundle bundle;
	struct ms_bundled *bundled; /* one per entry */
	uint32_t bundled_cap;
	uint64_t bundle_ns;	     /* when its first entry came */
	struct ms_proc *bundle_next; /* d->bundles, while it has entries */
};

/* The process's thread and module lists (proc.c). */
void ms_proc_init_info(struct ms_proc *p);
/* Threads of this image, the main thread not counted again when an
 * earlier image of the process had it (same pid and tid). */
uint64_t ms_proc_threads(struct ms_proc *p);
void ms_proc_free(struct ms_proc *p);
/* Appends a thread; returns its index, or -1 when the list is full. */
int64_t ms_proc_add_thread(struct ms_proc *p, uint32_t tid);
/* Adds `d` (NULL: nothing), what stream `st` counted since the last
 * update, to thread i's counts, and takes its name and `ended`. */
void ms_proc_update_thread(struct ms_proc *p, int64_t i,
			   const struct ms_stream *st,
			   const struct ms_stream_counts *d, int ended);
void ms_proc_module(struct ms_proc *p, const struct ms_event *ev);

struct ms_cring {
	struct cds_list_head node; /* d->rings (RCU) */
	struct ms_daemon *d;
	struct ms_proc *proc;
	struct ms_ring ring;
	/* poller-owned from here */
	struct ms_stream st;
	struct ms_stream_counts pub; /* part of st.n already published */
	int64_t sum;		     /* index in proc->thr, or -1 */
	uint32_t gen;		     /* generation of st (0: none yet) */
	int have_stream;
	int abandoned;
	int retired;
	struct ms_cring *retired_next; /* the poller's list to free */
	uint64_t beat;
	uint64_t disk_pub; /* part of st.disk_discarded published */
	int disk_logged;   /* the log says this stream cannot write */
};

struct ms_tailc {
	struct cds_list_head node; /* d->tails (RCU) */
	struct rcu_head rcu;
	uint32_t pid, tid;
	uint64_t min_size;
	struct ms_tail_event *q; /* MS_TAILQ_CAP entries */
	_Atomic uint64_t head;	 /* poller: pushed */
	_Atomic uint64_t tail;	 /* control: sent */
	_Atomic uint64_t missed; /* poller: could not queue */
};

struct ms_snapblob;

/* A top or snapshot client (control thread only; livesnap.c). */
struct ms_topc {
	int want;		 /* asked; waits for the next snapshot */
	struct ms_snapblob *out; /* being sent */
	size_t off;		 /* bytes of it sent */
};

enum { MS_CONN_NEW, MS_CONN_AGENT, MS_CONN_TAIL, MS_CONN_TOP };

/* One accepted socket (control thread only). */
struct ms_conn {
	int fd;
	int role;
	int hello_seen;
	uid_t uid;
	pid_t cred_pid;
	struct ms_proc *proc;
	struct ms_tailc *tail;
	struct ms_topc *top;
	struct ms_conn *next; /* d->conns */
};

struct ms_daemon {
	struct ms_daemon_opts o;
	char sock_path[108];
	char out[4096];
	char session[80];
	struct ms_clock clk;
	uint64_t start_rt_ns, end_rt_ns;
	int lfd, efd, sfd, wake_fd;
	int bound; /* the socket file is ours to remove */
	pthread_t poller, beater;
	int poller_started, beater_started;
	/* Idle compaction (compactor.c): jobs the poller pushes, results
	 * the control thread takes; the control thread's totals. */
	pthread_t compactor;
	int compactor_started;
	int cfd; /* eventfd: the stop, for a compactor that naps */
	_Atomic int cstop;
	struct ms_cjob *_Atomic cjobs, *_Atomic cdone;
	_Atomic uint64_t cqueued, cfinished; /* jobs pushed, jobs done */
	_Atomic uint64_t busy_ns; /* poller: its last large round, mono ns */
	uint64_t compacted_segments, compacted_bytes, cfinished_seen;
	_Atomic uint64_t rounds; /* poller visits, for the heartbeat thread */

	pthread_mutex_t nap_lock; /* with nap_cv: the pollers' naps */
	pthread_cond_t nap_cv;
	_Atomic uint64_t nap_kicks; /* ms_poller_kick() calls, under nap_lock */
	pthread_mutex_t list_lock;
	struct cds_list_head rings;
	struct cds_list_head tails;
	_Atomic uint32_t ntails;

	struct cds_list_head procs;
	struct ms_conn *conns;
	uint64_t nprocs;
	int attached_ever;

	_Atomic int stop;     /* 1: stop now; 2: stop when idle */
	_Atomic int stopping; /* poller: final drain and exit */
	_Atomic pid_t fwd_pid;
	int fwd_count;
	int manifest_dirty;
	uint64_t manifest_ns;
	uint64_t manifest_cost_ns; /* how long the last write took */
	_Atomic uint64_t rings_refused, rings_abandoned;
	uint64_t unrecorded; /* control: events of threads with no ring */
	uint64_t fd_limit;   /* RLIMIT_NOFILE's soft limit, raised at open */
	uint64_t nconns;     /* control: open connections */
	_Atomic uint64_t rings_live; /* control adds, the poller's retire()
				      * takes away: the descriptor budget */
	int reserved; /* ARCHIVE/.reserve holds room for the manifest */
	/* The live heaps (livesnap.c): the poller owns `lives`, `live_on`,
	 * `live_since` and the snap_* plain fields; the control thread sets
	 * live_want and counts requests in snap_asked; a snapshot passes
	 * from the poller to the control thread through snap_ready. */
	struct ms_live *lives;
	int live_on;
	uint64_t live_since; /* mono ns when live_on began */
	_Atomic int live_want;
	_Atomic uint64_t snap_asked;
	uint64_t snap_answered, snap_ns, snap_seq;
	struct ms_snapblob *_Atomic snap_ready;
	struct ms_snapblob *snap_last; /* control: for ms_daemon_live_last() */
	int top_busy; /* control: clients with a snapshot pending */
	_Atomic uint64_t
		mapped_bytes; /* control adds, poller's frees subtract */
	/* The poller's retired rings, freed after its next grace period:
	 * its own, not call_rcu's thread's, which batches for 10 ms (and
	 * `record` would wait for it at the end). */
	struct ms_cring *retired;
	uint64_t trim_ns;		 /* poller: the last malloc_trim() */
	int trim_due;			 /* poller: memory freed since */
	struct ms_stream_spares *spares; /* poller: stream.h */
	struct ms_proc *bundles; /* poller: processes with a bundle to write */
	struct ms_seqmap {	 /* poller: bundles.c */
		struct ms_seqent *e;
		uint32_t cap, n;
		uint64_t pruned_ns;
	} seqs;
	uint64_t rcu_calls; /* control: call_rcu()s, for the final barrier */
};

void ms_daemon_wake(struct ms_daemon *d);
void ms_dlog(struct ms_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* control.c */
struct ms_conn *ms_conn_accept(struct ms_daemon *d);
int ms_conn_read(struct ms_daemon *d, struct ms_conn *c);
void ms_conn_close(struct ms_daemon *d, struct ms_conn *c);

/* compactor.c: idle compaction. start/stop/apply: control thread; add:
 * poller (segment `seq` of thread `tid`, entry `sum` of p->thr). */
struct ms_cjob;
int ms_compactor_start(struct ms_daemon *d);
void ms_compactor_add(struct ms_daemon *d, struct ms_proc *p, int64_t sum,
		      uint32_t tid, uint32_t seq);
/* Subtracts what the compactor saved from the manifest's counts. */
void ms_compactor_apply(struct ms_daemon *d);
/* Stops it (a rewrite under way is given up, its file left whole). */
void ms_compactor_stop(struct ms_daemon *d);
/* Finished segments not yet looked at (0 once stopped). */
uint64_t ms_compactor_pending(struct ms_daemon *d);

/* poller.c */
int ms_poller_start(struct ms_daemon *d);
void ms_poller_join(struct ms_daemon *d);
/*
 * Ends the poller's nap now (control thread): a ring was added or a
 * process is gone, so there is something to drain or retire, and `record`
 * of a short command does not wait out the rest of a 10 ms nap for it.
 */
void ms_poller_kick(struct ms_daemon *d);
void ms_cring_free_now(struct ms_cring *r);

/* Bundles of short streams (bundles.c), all on the poller. */
struct ms_bundled {
	int64_t sum; /* the thread's index in proc->thr, or -1 */
	uint32_t tid, seq;
	uint64_t off, span;    /* the entry's bytes in the bundle */
	uint64_t seg_off, len; /* its segment's */
	/* the counts of this segment's records (its stream's, less those
	 * of the segments it wrote before): taken back when it cannot be
	 * written */
	struct ms_stream_counts n;
};
/* ms_stream_cfg.put_small for ring `ctx` (struct ms_cring *). */
int ms_bundle_put(void *ctx, uint32_t seq, const uint8_t *seg, size_t len);
/*
 * The segment numbers of a thread's streams: the next one free for thread
 * (pid, tid), whose earlier streams may sit in bundles, where a segment
 * file's name does not show it (0: none known); and the stream that ended
 * having used those below `next`. Entries go a minute after their last
 * use; the map is freed with the daemon.
 */
uint32_t ms_seq_next(struct ms_daemon *d, uint32_t pid, uint32_t tid);
void ms_seq_ended(struct ms_daemon *d, uint32_t pid, uint32_t tid,
		  uint32_t next);
void ms_seq_free(struct ms_daemon *d);
/* Writes the bundles older than MS_BUNDLE_AGE_NS at `now`, or all. */
void ms_bundles_flush(struct ms_daemon *d, uint64_t now, int all);
/* Writes process `p`'s bundle, if it has one. */
void ms_bundle_flush(struct ms_daemon *d, struct ms_proc *p);

/* tailq.c */
struct ms_tailc *ms_tailc_new(const struct ms_msg_tail_req *req);
void ms_tailc_push(struct ms_daemon *d, const struct ms_tail_event *ev);
/* Sends queued events; returns 0, or -errno when the client is gone. */
int ms_tailc_send(struct ms_tailc *t, int fd, int final);
void ms_tailc_free_rcu(struct rcu_head *h);

/* livesnap.c */
void ms_snap_serve(struct ms_daemon *d, uint64_t now);
struct ms_topc *ms_topc_new(void);
void ms_topc_free(struct ms_topc *t);
void ms_topc_ask(struct ms_daemon *d, struct ms_topc *t);
int ms_topc_sweep(struct ms_daemon *d);
/* Frees what the poller left (after it has stopped). */
void ms_snap_close(struct ms_daemon *d);

/* manifest.c */
int ms_manifest_write(struct ms_daemon *d, int final);
/* Room kept in the archive for the manifest on a full disk. */
void ms_manifest_reserve(struct ms_daemon *d);
void ms_manifest_unreserve(struct ms_daemon *d);

#endif
