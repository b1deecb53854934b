/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory layout of a per-thread event ring (docs/format.md, "Ring").
 *
 * A ring is one memfd: a 4096-byte header followed by `data_size` bytes of
 * data (a power of two, a multiple of the page size). Both sides map the
 * data twice, back to back, so a record that wraps is contiguous in memory.
 *
 * Cache lines, each written by one side only:
 *   line 0  identity       producer, once, before the ring is handed over
 *   line 1  producer       head, cached tail, loss counters
 *   line 2  consumer       tail, heartbeat
 *   line 3  hand-off       state, generation, tid (see the state machine)
 *
 * State machine of the `state` word (each transition by one side only):
 *   ACTIVE  -> CLOSED    producer: the owning thread exited, no more writes
 *   CLOSED  -> DRAINED   consumer: every byte up to head has been consumed
 *   DRAINED -> ACTIVE    producer: reused by a new thread; generation and tid
 *                        are written before the release store of ACTIVE
 */
#ifndef MS_RING_ABI_H
#define MS_RING_ABI_H

#include <stddef.h>
#include <stdint.h>

#define MS_RING_MAGIC	 0x4752534du /* "MSRG" little-endian */
#define MS_RING_MAJOR	 1
#define MS_RING_MINOR	 1
#define MS_RING_HDR_SIZE 4096u
#define MS_ENDIAN_MARK	 0x01020304u
#define MS_RING_MIN_DATA 4096u
#define MS_RING_MAX_DATA (1u << 30)

enum {
	MS_RING_ACTIVE = 1,
	MS_RING_CLOSED = 2,
	MS_RING_DRAINED = 3,
};

/* Why events were lost; index into ms_ring_hdr.lost[]. */
enum {
	MS_LOST_FULL = 0,    /* ring full in drop mode */
	MS_LOST_GONE = 1,    /* block mode gave up: consumer stopped draining */
	MS_LOST_TOO_BIG = 2, /* record larger than the ring could ever hold */
	MS_LOST_INTERNAL = 3, /* agent-side failure (stack table full, ...) */
	MS_LOST_NCAUSES = 4,  /* causes an agent counts in ms_ring_hdr.lost[] */
	/* Written by the consumer only, in LOST records of the archive: */
	MS_LOST_DISK = 4, /* the archive could not be written (disk full) */
	/* Written by the agent in a LOST record of its own: events of signal
	 * handlers that ran while the thread was recording, beyond the room
	 * kept to defer them (agent.h, MS_DEFER_MAX). */
	MS_LOST_SIGNAL = 5,
	MS_LOST_REC_NCAUSES = 6,
};

struct ms_ring_hdr {
	/* line 0: identity */
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint32_t hdr_size;
	uint32_t endian;
	uint64_t data_size;
	uint32_t pid;
	uint32_t word_size;
	uint8_t pad0[32];

	/* line 1: producer-written */
	_Atomic uint64_t head;	       /* bytes ever committed */
	uint64_t cached_tail;	       /* producer's last view of tail */
	_Atomic uint64_t lost_pending; /* lost, not yet in a LOST record */
	_Atomic uint64_t lost[MS_LOST_NCAUSES]; /* lost ever, by cause */
	/* Records other than events (thread, clock, module) that found no
	 * room: not in lost[] or LOST records, which count events only. */
	_Atomic uint64_t lost_meta;

	/* line 2: consumer-written */
	_Atomic uint64_t tail;	    /* bytes ever consumed */
	_Atomic uint64_t heartbeat; /* bumped by the consumer on each poll */
	uint8_t pad2[48];

	/* line 3: hand-off */
	_Atomic uint32_t state;
	uint32_t generation;
	uint32_t tid;
	uint8_t pad3[52];

	uint8_t reserved[MS_RING_HDR_SIZE - 256];
};

_Static_assert(sizeof(struct ms_ring_hdr) == MS_RING_HDR_SIZE, "ring hdr");
_Static_assert(offsetof(struct ms_ring_hdr, head) == 64, "head line");
_Static_assert(offsetof(struct ms_ring_hdr, lost_meta) == 120, "meta");
_Static_assert(offsetof(struct ms_ring_hdr, tail) == 128, "tail line");
_Static_assert(offsetof(struct ms_ring_hdr, state) == 192, "state line");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "lock-free u64");

#endif
