/* SPDX-License-Identifier: MIT */
/*
 * Damage found while reading an archive. Reading never stops at damage:
 * each problem becomes one ms_arc_error, is handed to the archive's
 * `on_error` callback as it is found, and is kept in the archive's list
 * (the first MS_ARC_MAX_ERRORS; later ones are only counted).
 */
#ifndef MS_ARCHIVE_ERROR_H
#define MS_ARCHIVE_ERROR_H

#include <stdint.h>

struct ms_archive;

#define MS_ARC_MAX_ERRORS 1000 /* kept in the list; later ones are counted */

struct ms_arc_error {
	char *file;	 /* path, NULL for the archive as a whole */
	uint64_t offset; /* byte offset in `file` when has_offset */
	int has_offset;
	char *msg;
};

typedef void (*ms_arc_error_fn)(const struct ms_arc_error *e, void *arg);

/* Records one error (printf-style message). */
void ms_archive_error(struct ms_archive *a, const char *file, int has_offset,
		      uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
