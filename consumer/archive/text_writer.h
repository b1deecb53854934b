/* SPDX-License-Identifier: MIT */
/* Text output of untrusted strings and of parsed values (archive_json.h). */
#ifndef MS_TEXT_WRITER_H
#define MS_TEXT_WRITER_H

#include <stddef.h>
#include <stdio.h>

struct ms_json_node;

/* Printable ASCII and valid UTF-8 as is, other bytes as \xNN. */
void ms_text_put_str(FILE *f, const void *s, size_t len);
/* An object's scalar members as " prefixKEY=VALUE". */
void ms_text_put_scalars(FILE *f, const struct ms_json_node *obj,
			 const char *prefix);

#endif
