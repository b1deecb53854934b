/* SPDX-License-Identifier: MIT */
/*
 * Building and checking session-socket messages (layouts in proto_abi.h).
 * Every side of the protocol, and the test stand-ins for them, use these,
 * so a header is filled and validated the same way everywhere.
 */
#ifndef MS_PROTO_H
#define MS_PROTO_H

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "proto_abi.h"

/* Fills the header of a whole message of `size` bytes. */
static inline void ms_msg_init(struct ms_msg_hdr *h, unsigned type, size_t size)
{
	memset(h, 0, sizeof(*h));
	h->magic = MS_MSG_MAGIC;
	h->type = (uint16_t)type;
	h->version = MS_PROTO_VERSION;
	h->size = (uint32_t)size;
}

/* Zeroes `m` and fills a HELLO for `role` from the calling process; the
 * caller names the executable in m->exe. */
static inline void ms_msg_hello_init(struct ms_msg_hello *m, uint32_t role)
{
	memset(m, 0, sizeof(*m));
	ms_msg_init(&m->hdr, MS_MSG_HELLO, sizeof(*m));
	m->role = role;
	m->pid = (uint32_t)getpid();
	m->ppid = (uint32_t)getppid();
}

/*
 * 1 when the `len` bytes received at `h` are exactly one message of `type`
 * whose struct is `size` bytes: magic, version, type, declared and actual
 * size all agree. The caller then checks the body's own fields.
 */
static inline int ms_msg_valid(const struct ms_msg_hdr *h, size_t len,
			       unsigned type, size_t size)
{
	return len == size && len >= sizeof(*h) && h->magic == MS_MSG_MAGIC &&
	       h->version == MS_PROTO_VERSION && h->type == type &&
	       h->size == size;
}

#endif
