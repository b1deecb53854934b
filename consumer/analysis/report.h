/* SPDX-License-Identifier: MIT */
/*
 * `memscope report`: a profile (profile.h) as text for a terminal, or as
 * JSON (docs/report.md has both, section by section, and the JSON schema).
 */
#ifndef MS_REPORT_H
#define MS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "profile.h"

struct ms_report_opts {
	unsigned top;	/* rows per table */
	unsigned width; /* columns of the text chart */
};

/* The sites that rank highest by `key`, best first: at most `max` ids
 * with a nonzero key into ids[]. Returns how many. */
typedef uint64_t (*ms_site_key)(const struct ms_site *s);
size_t ms_report_top(const struct ms_profile *p, ms_site_key key, uint32_t *ids,
		     size_t max);

/* The keys the report ranks by. */
uint64_t ms_key_calls(const struct ms_site *s);
uint64_t ms_key_bytes(const struct ms_site *s);
uint64_t ms_key_temporary(const struct ms_site *s);
uint64_t ms_key_leaked(const struct ms_site *s);
uint64_t ms_key_peak(const struct ms_site *s);

/* Q16 sums as counts, rounded. */
static inline uint64_t ms_q16_count(uint64_t q16)
{
	return (q16 + 32768) >> 16;
}

/*
 * Pieces of the JSON report that the HTML report's figures share
 * (report_json.c), each the members of an object without its braces and
 * without a comma after the last.
 */
/* `"key": v`, and ", " after it when `comma`. */
void ms_report_json_u(FILE *f, const char *key, uint64_t v, int comma);
/* "archive", "sampling", "estimated", ... "archive_errors". */
void ms_report_json_session(FILE *f, const struct ms_profile *p);
/* "allocations", "frees", ... "lost_events" of the heap's totals. */
void ms_report_json_totals(FILE *f, const struct ms_profile *p);
/* "id", "pid", "allocations", ... "lifetime_p99_ns" of site `id`. */
void ms_report_json_site(FILE *f, struct ms_profile *p, uint32_t id);
/* "pid", "tid", "name", "allocations", ... "lost_events". */
void ms_report_json_thread(FILE *f, const struct ms_profile_thread *t);

/* Return 0, or -errno of the output (or -ENOMEM). */
int ms_report_text(FILE *f, struct ms_profile *p,
		   const struct ms_report_opts *o);
int ms_report_json(FILE *f, struct ms_profile *p,
		   const struct ms_report_opts *o);

#endif
