/* SPDX-License-Identifier: MIT */
/*
 * Session naming and the settings that travel from the consumer to agents,
 * with strict parsers for their textual forms (command line, environment).
 */
#ifndef MS_SESSION_H
#define MS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "proto_abi.h"

#define MS_DEFAULT_SESSION	   "default"
#define MS_DEFAULT_RING_KB	   1024 /* full mode */
#define MS_DEFAULT_RING_KB_SAMPLED 256	/* tiered, bytes:N: fewer events */
#define MS_DEFAULT_STACK_DEPTH	   32
#define MS_MAX_STACK_DEPTH	   128
#define MS_DEFAULT_BYTES_INTERVAL  524288
/*
 * Timestamps: the TSC in units of the largest power of two of its ticks
 * not above the resolution asked for, and never finer than 64 ticks
 * (~20-30 ns) nor coarser than 1 MHz (clock.h, ms_clock_resolve()). The
 * default, 1 ns, thus gives 64 ticks, the unit of every archive before
 * --time-resolution (docs/benchmarks.md, "Archive size": why).
 */
#define MS_DEFAULT_TIME_RES_NS 1
#define MS_MAX_TIME_RES_NS     1000

struct ms_settings {
	uint32_t sampling; /* MS_SAMPLING_* */
	uint32_t stack_depth;
	uint64_t sampling_param; /* bytes:N */
	uint64_t ring_kb;
	uint32_t on_full; /* MS_ON_FULL_* */
	uint64_t tick_hz;
	uint32_t ring_acks;   /* the consumer answers each RING (agent side) */
	uint32_t free_level;  /* it reads MS_RECF_LEVEL on FREE (agent side) */
	uint32_t time_res_ns; /* resolution asked for (see above) */
};

void ms_settings_defaults(struct ms_settings *s);

/* Strict parsers: return 0, or -EINVAL leaving `s` unchanged. */
int ms_parse_u64(const char *str, uint64_t *out);
int ms_parse_sampling(const char *str, struct ms_settings *s);
int ms_parse_on_full(const char *str, struct ms_settings *s);
int ms_parse_stack_depth(const char *str, struct ms_settings *s);
int ms_parse_ring_kb(const char *str, struct ms_settings *s);
/* "N", "Nns" or "Nus", 1 ns .. MS_MAX_TIME_RES_NS. */
int ms_parse_time_res(const char *str, struct ms_settings *s);

/* "full", "tiered" or "bytes:N" into buf. */
void ms_format_sampling(const struct ms_settings *s, char *buf, size_t len);

/*
 * The session directory: $XDG_RUNTIME_DIR/memscope when that is set, else
 * /tmp/memscope-$UID. Returns 0, or -ENAMETOOLONG.
 */
int ms_session_dir(char *buf, size_t len);

/*
 * The socket path of session `name` (NULL: $MEMSCOPE_SESSION, else
 * "default"): $MEMSCOPE_SOCKET when set, else <dir>/<name>.sock. Session
 * names are [A-Za-z0-9._-]{1,64}. Returns 0, -EINVAL for a bad name, or
 * -ENAMETOOLONG.
 */
int ms_session_socket(const char *name, char *buf, size_t len);

/*
 * Creates the session directory with mode 0700 if missing (and closes it
 * to others if it is ours), then checks it as ms_session_dir_check().
 * Returns 0 or -errno; `why` (len bytes) then says what is wrong.
 */
int ms_session_mkdir(char *why, size_t len);

/*
 * Whether `dir` may hold session sockets: a directory itself (not a
 * symbolic link), owned by this user, and closed to everyone else
 * (`strict`: mode 0700, as the session directory is made) or at least to
 * their writes (a directory the user named with MEMSCOPE_SOCKET). Anyone
 * who could write there could listen in our place and receive every ring.
 * Returns 0, or -errno with `why` saying what is wrong.
 */
int ms_session_dir_check(const char *dir, int strict, char *why, size_t len);

/* 1 when the socket of session `name` is the one MEMSCOPE_SOCKET names. */
int ms_session_socket_named(const char *name);

/* The directory part of socket path `sock` into buf. 0 or -ENAMETOOLONG. */
int ms_session_sock_dir(const char *sock, char *buf, size_t len);

#endif
