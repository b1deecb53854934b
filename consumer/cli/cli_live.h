/* SPDX-License-Identifier: MIT */
/*
 * Talking to a running consumer over its session socket: connecting, and
 * asking for live-heap snapshots (`top`, `snapshot`).
 */
#ifndef MS_CLI_LIVE_H
#define MS_CLI_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "snap.h"

/*
 * Connects to the session's socket; on failure prints one line naming
 * `cmd` and the fix, and returns -1. Returns the socket.
 */
int ms_cli_connect(const char *cmd, const char *session);

/* A snapshot as received: its bytes and their parsed view. */
struct ms_cli_snap {
	uint64_t *buf; /* 8-byte aligned for the parser */
	size_t len;
	struct ms_snap s;
};

/* Connects as a top client: ms_cli_connect() and the HELLO. */
int ms_cli_top_connect(const char *cmd, const char *session);

/*
 * Asks for a snapshot and waits up to `timeout_ms` for all of it; the
 * consumer's bytes are checked (messages, parts, the snapshot itself).
 * Returns 0, -ETIMEDOUT, -EPIPE (the consumer went away), -EBADMSG or
 * -ENOMEM. ms_cli_snap_free() releases it.
 */
int ms_cli_snap_get(int fd, int timeout_ms, struct ms_cli_snap *out);
void ms_cli_snap_free(struct ms_cli_snap *s);

#endif
