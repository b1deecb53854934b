/* SPDX-License-Identifier: MIT */
/*
 * The JSON writer: every JSON the consumer side prints or stores (the
 * manifest, `stats --json`, `dump --json`) writes its strings and values
 * here; archive_json.h is the one parser that reads them back.
 *
 * Strings are untrusted bytes. Only what JSON requires is escaped ('"',
 * '\\' and control characters below 0x20, as \u00XX); valid UTF-8 passes
 * through as it is, and each byte that is not part of a valid UTF-8
 * sequence becomes U+FFFD, so the output is always valid JSON in UTF-8.
 */
#ifndef MS_JSON_WRITER_H
#define MS_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ms_json_node;

/* `len` bytes at `s` as a JSON string. */
void ms_json_put_str(FILE *f, const void *s, size_t len);
/* A NUL-terminated string as a JSON string. */
void ms_json_put_cstr(FILE *f, const char *s);
/* A CLOCK_REALTIME time in ns as an ISO-8601 UTC string; 0: null. */
void ms_json_put_time(FILE *f, uint64_t rt_ns);
/* A parsed scalar (number, string, bool; anything else as null). */
void ms_json_put_scalar(FILE *f, const struct ms_json_node *n);
/* An object's scalar members as a JSON object (`nested`: also the scalar
 * members of member objects, one level down). */
void ms_json_put_scalars(FILE *f, const struct ms_json_node *obj, int nested);

#endif
