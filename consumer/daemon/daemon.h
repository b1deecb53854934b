/* SPDX-License-Identifier: MIT */
/*
 * The consumer daemon: session socket, agents and tail clients (control
 * thread), ring draining and archiving (poller thread), manifest.
 *
 * Used by `memscope consumer` and `memscope record`:
 *   ms_daemon_open() -> ms_daemon_run() (returns on stop) -> ms_daemon_close()
 */
#ifndef MS_DAEMON_H
#define MS_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "session.h"

struct ms_daemon_opts {
	const char *session;	/* session name; NULL: $MEMSCOPE_SESSION */
	const char *out;	/* archive directory (created) */
	struct ms_settings set; /* sent to agents; tick_hz filled in */
	int ring_kb_given;	/* else ring_kb follows the sampling mode */
	int exit_when_idle;	/* stop once every attached process is gone */
	int quiet;		/* no informational lines on stderr */
	int share_archive;	/* archive readable by others (0755/0644) */
	int live;		/* live heap from the start, not the first
				   top/snapshot request on */
	int live_exact;		/* every block at any rate (live.h) */
	int level;		/* zstd level */
	int idle_level;		/* finished segments rewritten at this
				   level in idle time (compactor.c;
				   default MS_COMPACT_LEVEL_DEFAULT);
				   <= level: never */
	uint64_t frame_kb;	/* raw KiB per frame */
	uint64_t seg_mb;	/* segment rotation size */
	unsigned calib_ms;	/* TSC calibration window */
};

/* Totals over the whole session, for status lines. */
struct ms_daemon_totals {
	uint64_t processes, processes_live, threads;
	uint64_t events, allocs, frees, dropped;
	uint64_t raw_bytes, disk_bytes;
	uint64_t rings_refused, rings_abandoned;
	uint64_t unrecorded; /* events of threads whose ring was refused */
	uint64_t discarded;  /* events drained but not written: disk full */
	uint64_t unwritten;  /* ...of which not in any LOST record either */
	/* Segments idle compaction rewrote, and the bytes it took off
	 * (disk_bytes is net of them). */
	uint64_t compacted_segments, compacted_bytes;
};

struct ms_daemon;

/* Fills the defaults (full sampling is not the default: tiered is). */
void ms_daemon_opts_defaults(struct ms_daemon_opts *o);

/*
 * Creates the archive directory and the session socket; refuses a session
 * whose socket has a live consumer (-EADDRINUSE). Prints the reason of a
 * failure on stderr. Returns 0 or -errno.
 */
int ms_daemon_open(const struct ms_daemon_opts *o, struct ms_daemon **out);

/* The session name, socket path and archive directory in use. */
const char *ms_daemon_session(const struct ms_daemon *d);
const char *ms_daemon_socket(const struct ms_daemon *d);
const char *ms_daemon_archive(const struct ms_daemon *d);

/*
 * Runs until SIGINT/SIGTERM, ms_daemon_stop(), or (with exit_when_idle) the
 * last attached process is gone; then drains every ring completely and
 * finishes the archive. SIGINT and SIGTERM must be blocked in every thread
 * by the caller (ms_daemon_block_signals()) before any thread starts.
 * `tick` (may be NULL) is called about every 250 ms on the calling thread.
 * Returns 0 or -errno.
 */
int ms_daemon_run(struct ms_daemon *d, void (*tick)(struct ms_daemon *, void *),
		  void *tick_ctx);

/* Blocks SIGINT, SIGTERM (handled by ms_daemon_run) and ignores SIGPIPE. */
void ms_daemon_block_signals(void);

/*
 * Asks ms_daemon_run() to return. Async-signal-safe and thread-safe. With
 * `when_idle` set, it stops only once no attached process is left and,
 * unless it is MS_STOP_IDLE_FINAL (the caller knows that no process can
 * attach any more), none has attached for a short grace.
 */
#define MS_STOP_IDLE_FINAL 2
void ms_daemon_stop(struct ms_daemon *d, int when_idle);

/* When SIGINT/SIGTERM arrive, forward them to `pid` instead of stopping. */
void ms_daemon_forward_signals(struct ms_daemon *d, pid_t pid);

void ms_daemon_totals(struct ms_daemon *d, struct ms_daemon_totals *t);

/* Why events were lost, as ms_daemon_proc_info.lost[] counts them. */
enum {
	MS_DAEMON_LOST_FULL,	 /* ring full in drop mode */
	MS_DAEMON_LOST_GONE,	 /* block mode gave up on the consumer */
	MS_DAEMON_LOST_TOO_BIG,	 /* record larger than the ring */
	MS_DAEMON_LOST_INTERNAL, /* agent-side failure */
	MS_DAEMON_LOST_NO_RING,	 /* threads the consumer refused a ring */
	MS_DAEMON_LOST_DISK,	 /* drained, not written: disk full */
	MS_DAEMON_LOST_NCAUSES
};

/* One process (image) as ms_daemon_each_proc() shows it. */
struct ms_daemon_proc_info {
	uint32_t pid;
	int exited;	 /* gone and drained */
	const char *exe; /* valid during the callback */
	uint64_t end_rt_ns;
	uint64_t events, allocs, frees, raw_bytes, disk_bytes;
	uint64_t lost[MS_DAEMON_LOST_NCAUSES]; /* never decrease */
	double ring_fill; /* its fullest ring's used share, 0..1 */
};

/*
 * Calls `fn` for every process the session has seen, oldest first.
 * Control thread only: from ms_daemon_run()'s `tick`. Reads counters the
 * poller publishes with relaxed atomics and the rings' head and tail;
 * takes no lock the poller takes.
 */
void ms_daemon_each_proc(struct ms_daemon *d,
			 void (*fn)(void *ctx,
				    const struct ms_daemon_proc_info *pi),
			 void *ctx);

/*
 * Control thread (`tick`): turns the live heap on, if it is not, and asks
 * the poller for a snapshot (snap_abi.h), which it writes between two
 * rings as it does for `top` clients.
 */
void ms_daemon_live_ask(struct ms_daemon *d);

/*
 * Control thread (`tick`): the newest snapshot the poller has published,
 * or NULL; its bytes stay valid until `tick` returns. *seq tells a new
 * one from the last.
 */
const void *ms_daemon_live_last(struct ms_daemon *d, size_t *len,
				uint64_t *seq);

/* Removes the socket, frees everything. */
void ms_daemon_close(struct ms_daemon *d);

#endif
