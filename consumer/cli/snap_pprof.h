/* SPDX-License-Identifier: MIT */
/*
 * A live-heap snapshot written as gzipped pprof by the export's writer
 * (export_pprof.c): inuse_* are the blocks live when it was taken, alloc_*
 * the allocations since the live heap began, one sample per call site and
 * process (label pid). Used by `memscope snapshot` and by the consumer's
 * scheduled profiles (fleet_profiles.c).
 */
#ifndef MS_SNAP_PPROF_H
#define MS_SNAP_PPROF_H

#include <stdio.h>

#include "cli_live.h"
#include "top_model.h"

/*
 * Writes `snap` (taken over: released here) to `f`, sites symbolized as
 * `m` says (m->pid: that process only). Returns 0 or -errno.
 */
int ms_snap_pprof(FILE *f, struct ms_cli_snap *snap,
		  const struct ms_top_opts *m);

/*
 * The same into `path` (NULL or "-": stdout), with one line naming `cmd`
 * on failure. Returns an exit status: 0, or 1.
 */
int ms_snap_pprof_write(const char *cmd, const char *path,
			struct ms_cli_snap *snap, const struct ms_top_opts *m);

#endif
