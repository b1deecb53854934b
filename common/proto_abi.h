/* SPDX-License-Identifier: MIT */
/*
 * Messages on the session socket (docs/format.md, "Socket protocol").
 *
 * The socket is AF_UNIX SOCK_SEQPACKET: one message per packet, each
 * starting with struct ms_msg_hdr. Both ends run on the same host, so the
 * structs are in host byte order; every field is fixed-width and the sizes
 * are asserted. The consumer treats every message as untrusted: it checks
 * magic, version, type and the exact size for the type.
 *
 * Agent:  HELLO(role AGENT) -> SETTINGS;  then RING (+ memfd) per thread,
 *         answered by RING_ACK when SETTINGS has MS_SET_RING_ACKS (the
 *         thread waits for it: a refused ring is known, never written
 *         into unread); UNRECORDED counts a refused thread's events.
 *         Closing the socket (exit, kill) tells the consumer to drain.
 * Tail:   HELLO(role TAIL) + TAIL_REQ -> SETTINGS, then TAIL_EVENTS ...
 * Top:    HELLO(role TOP), then TOP_REQ -> SNAP_PART ... (one live-heap
 *         snapshot, snap_abi.h, in parts), as often as the client asks.
 */
#ifndef MS_PROTO_ABI_H
#define MS_PROTO_ABI_H

#include <stddef.h>
#include <stdint.h>

#define MS_MSG_MAGIC	 0x4b50534du /* "MSPK" */
#define MS_PROTO_VERSION 1

enum {
	MS_MSG_HELLO = 1,
	MS_MSG_SETTINGS = 2,
	MS_MSG_RING = 3,
	MS_MSG_TAIL_REQ = 4,
	MS_MSG_TAIL_EVENTS = 5,
	MS_MSG_RING_ACK = 6,
	MS_MSG_UNRECORDED = 7,
	MS_MSG_TOP_REQ = 8,
	MS_MSG_SNAP_PART = 9,
};

enum { MS_ROLE_AGENT = 1, MS_ROLE_TAIL = 2, MS_ROLE_TOP = 3 };
enum { MS_SAMPLING_FULL = 1, MS_SAMPLING_TIERED = 2, MS_SAMPLING_BYTES = 3 };
enum { MS_ON_FULL_DROP = 1, MS_ON_FULL_BLOCK = 2 };

struct ms_msg_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t version;
	uint32_t size; /* whole message, header included */
	uint32_t reserved;
};

struct ms_msg_hello {
	struct ms_msg_hdr hdr;
	uint32_t role;
	uint32_t pid;
	uint32_t ppid;
	uint32_t flags;
	char exe[256]; /* NUL-terminated, may be cut */
};

struct ms_msg_settings {
	struct ms_msg_hdr hdr;
	uint32_t sampling;	 /* MS_SAMPLING_* */
	uint32_t stack_depth;	 /* 0: caller address only */
	uint64_t sampling_param; /* bytes:N mean interval */
	uint64_t ring_kb;
	uint32_t on_full; /* MS_ON_FULL_* */
	uint32_t flags;	  /* MS_SET_* */
	uint64_t tick_hz; /* consumer-calibrated TSC rate; 0: monotonic */
};

/* SETTINGS flags. */
#define MS_SET_RING_ACKS 1u /* each RING is answered by a RING_ACK */
/* FREE records may carry their block's level (record.h, MS_RECF_LEVEL); an
 * agent that does not know the bit writes none, and a consumer that does
 * not send it gets none. */
#define MS_SET_FREE_LEVEL 2u
/*
 * Bits 8..31: the time resolution asked for, in ns (0: the agent's default,
 * MS_DEFAULT_TIME_RES_NS). An agent that does not know them keeps its
 * default; a consumer that does not send them leaves 0.
 */
#define MS_SET_TIME_RES_SHIFT 8
#define MS_SET_TIME_RES_MAX   ((1u << 24) - 1)

/* Sent with the ring's memfd as SCM_RIGHTS ancillary data. */
struct ms_msg_ring {
	struct ms_msg_hdr hdr;
	uint32_t tid;
	uint32_t index; /* the agent's ring number within its process */
};

/*
 * The consumer's answer to a RING: status 0, it drains the ring; else a
 * positive errno saying why it refused it (EMFILE: out of descriptors,
 * ENOSPC: out of mapping budget, EPROTO: not a valid ring, ENOMEM).
 */
struct ms_msg_ring_ack {
	struct ms_msg_hdr hdr;
	uint32_t tid;
	uint32_t index;
	uint32_t status;
	uint32_t reserved;
};

/* Events (allocations, frees, reallocs the sampling kept) of thread `tid`
 * that were not recorded because it has no ring: sent as they add up and
 * when the thread ends. */
struct ms_msg_unrecorded {
	struct ms_msg_hdr hdr;
	uint32_t tid;
	uint32_t reason; /* the refusal's status */
	uint64_t events;
};

#define MS_TAIL_JSON 1u

struct ms_msg_tail_req {
	struct ms_msg_hdr hdr;
	uint32_t pid; /* 0: any */
	uint32_t tid; /* 0: any */
	uint64_t min_size;
	uint32_t flags;
	uint32_t reserved;
};

struct ms_tail_event {
	uint64_t ts_ns; /* CLOCK_MONOTONIC */
	uint32_t pid;
	uint32_t tid;
	uint8_t type; /* MS_REC_* */
	uint8_t pad[7];
	uint64_t size;
	uint64_t addr;
	uint64_t old_addr;
	uint64_t caller; /* first frame of the stack, 0 if unknown */
};

#define MS_TAIL_BATCH 64

struct ms_msg_tail_events {
	struct ms_msg_hdr hdr;
	uint64_t missed; /* events dropped for this client since last batch */
	uint32_t count;
	uint32_t reserved;
	struct ms_tail_event ev[MS_TAIL_BATCH]; /* `count` used */
};

/* A top or snapshot client asks for the live heap now. */
struct ms_msg_top_req {
	struct ms_msg_hdr hdr;
	uint32_t flags; /* none yet: 0 */
	uint32_t reserved;
};

/*
 * One part of a snapshot: bytes [offset, offset + len) of the `total`
 * bytes of snapshot `seq`, in order. The message is 48 + len bytes.
 */
#define MS_SNAP_PART_MAX 32768
struct ms_msg_snap_part {
	struct ms_msg_hdr hdr;
	uint64_t seq;
	uint64_t total;
	uint64_t offset;
	uint32_t len;
	uint32_t reserved;
	uint8_t data[MS_SNAP_PART_MAX];
};

_Static_assert(sizeof(struct ms_msg_hdr) == 16, "hdr");
_Static_assert(sizeof(struct ms_msg_top_req) == 24, "top req");
_Static_assert(offsetof(struct ms_msg_snap_part, data) == 48, "snap part");
_Static_assert(sizeof(struct ms_msg_hello) == 16 + 16 + 256, "hello");
_Static_assert(sizeof(struct ms_msg_settings) == 16 + 40, "settings");
_Static_assert(sizeof(struct ms_msg_ring) == 24, "ring");
_Static_assert(sizeof(struct ms_msg_tail_req) == 40, "tail req");
_Static_assert(sizeof(struct ms_msg_ring_ack) == 32, "ring ack");
_Static_assert(sizeof(struct ms_msg_unrecorded) == 32, "unrecorded");
_Static_assert(sizeof(struct ms_tail_event) == 56, "tail event");
_Static_assert(offsetof(struct ms_msg_tail_events, ev) == 32, "tail evs");

#endif
