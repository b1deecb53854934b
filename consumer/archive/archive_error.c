/* SPDX-License-Identifier: MIT */
#include "archive_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void ms_archive_error(struct ms_archive *a, const char *file, int has_offset,
		      uint64_t offset, const char *fmt, ...)
{
	struct ms_arc_error e = {.has_offset = has_offset, .offset = offset};
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e.file = (char *)file;
	e.msg = msg;
	if (a->on_error)
		a->on_error(&e, a->on_error_arg);
	if (a->nerrors == MS_ARC_MAX_ERRORS) {
		a->errors_dropped++;
		return;
	}
	if (!a->errors) {
		a->errors = calloc(MS_ARC_MAX_ERRORS, sizeof(*a->errors));
		if (!a->errors) {
			a->errors_dropped++;
			return;
		}
	}
	e.file = xstrdup(file);
	e.msg = strdup(msg);
	a->errors[a->nerrors++] = e;
}
