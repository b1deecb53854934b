/* SPDX-License-Identifier: MIT */
/* JSON output of strings and of parsed values (archive_json.h). */
#ifndef MS_JSON_WRITER_H
#define MS_JSON_WRITER_H

#include <stddef.h>
#include <stdio.h>

struct ms_json_node;

/* A JSON string; invalid UTF-8 becomes U+FFFD. */
void ms_arc_json_string(FILE *f, const void *s, size_t len);
/* A scalar node (number, string, bool; anything else as null). */
void ms_arc_json_scalar(FILE *f, const struct ms_json_node *n);
/* An object's scalar members as a JSON object (`nested`: also the scalar
 * members of member objects, one level down). */
void ms_arc_json_scalars(FILE *f, const struct ms_json_node *obj, int nested);

#endif
