/* SPDX-License-Identifier: MIT */
/*
 * `memscope report --format html`: one self-contained HTML file (no
 * network: every script, style sheet and figure inside it) with the heap
 * over time, per-thread lanes, a flamegraph and sortable tables, all cut
 * to a time window and a thread picked in the page (docs/views.md).
 *
 * The page is web/report.html with its markers replaced: the style
 * sheets, the scripts (the libraries bundled from npm at build time,
 * web/build.sh, and web/report.js), their licences, and the figures: the
 * profile's totals and per-site figures, and the slices (slices.h) as
 * gzipped JSON in base64, which the page unpacks with the browser's own
 * DecompressionStream.
 */
#ifndef MS_REPORT_HTML_H
#define MS_REPORT_HTML_H

#include <stddef.h>
#include <stdio.h>

#include "profile.h"
#include "slices.h"

/* The files of a web directory the report inlines. */
extern const char *const ms_html_assets[];

struct ms_html_opts {
	const char *web_dir; /* holding ms_html_assets */
	size_t budget;	     /* the file's largest size, bytes */
	int quiet;	     /* no note on stderr when detail is cut */
};

#define MS_HTML_BUDGET 9500000 /* bytes: under 10 MB */

/*
 * Whether web_dir holds every asset. Returns 0, or -ENOENT with *missing
 * set to the first file not found.
 */
int ms_report_html_check(const char *web_dir, const char **missing);

/*
 * Writes the page for profile p, built with s's sink, after
 * ms_slices_finish(). When the figures would pass the budget, the page
 * keeps fewer sites apart per slice (the others become one "other sites"
 * per thread) and then coarser slices; every total stays exact. May
 * halve s's slices. Returns 0 or -errno.
 */
int ms_report_html(FILE *f, struct ms_profile *p, struct ms_slices *s,
		   const struct ms_html_opts *o);

#endif
