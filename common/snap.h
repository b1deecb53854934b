/* SPDX-License-Identifier: MIT */
/*
 * Reading a live-heap snapshot (snap_abi.h) from untrusted bytes: every
 * count, length and string is checked against the blob before use.
 */
#ifndef MS_SNAP_H
#define MS_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "snap_abi.h"

struct ms_snap_site_v {
	const struct ms_snap_site *s;
	const uint64_t *frames; /* s->nframes */
};

struct ms_snap_mod_v {
	const struct ms_snap_mod *m;
	const char *path; /* m->path_len bytes, not NUL-terminated */
};

struct ms_snap_proc_v {
	const struct ms_snap_proc *p;
	const struct ms_snap_thread *threads; /* p->nthreads */
	struct ms_snap_site_v *sites;	      /* p->nsites */
	struct ms_snap_mod_v *mods;	      /* p->nmods */
};

struct ms_snap {
	const struct ms_snap_hdr *h;
	struct ms_snap_proc_v *procs; /* h->nprocs */
	uint32_t nprocs; /* h->nprocs, for ms_snap_free(): it never reads
			    the blob, which may be gone by then */
};

/*
 * Parses the blob [buf, buf + len), which must be 8-byte aligned and
 * outlive *out. Returns 0, -EBADMSG when the bytes are not a valid
 * snapshot, or -ENOMEM. ms_snap_free() releases what it allocated (and
 * may be called after the blob itself was freed).
 */
int ms_snap_parse(const uint8_t *buf, size_t len, struct ms_snap *out);
void ms_snap_free(struct ms_snap *s);

#endif
