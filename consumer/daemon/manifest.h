/* SPDX-License-Identifier: MIT */
/* Small JSON output helpers shared by the manifest and `memscope tail`. */
#ifndef MS_MANIFEST_H
#define MS_MANIFEST_H

#include <stdint.h>
#include <stdio.h>

/* Writes `s` as a JSON string (quotes, escapes). */
void ms_json_str(FILE *f, const char *s);

/* Writes a CLOCK_REALTIME time in ns as an ISO-8601 UTC string, 0: null. */
void ms_json_time(FILE *f, uint64_t rt_ns);

#endif
