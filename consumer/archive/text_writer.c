/* SPDX-License-Identifier: MIT */
#include "text_writer.h"

#include <stdint.h>

#include "archive_json.h"
#include "json_writer.h"
#include "utf8.h"

void ms_text_put_str(FILE *f, const void *s, size_t len)
{
	const uint8_t *p = s;

	for (size_t i = 0; i < len;) {
		size_t k = ms_utf8_len(p + i, len - i);

		if (k > 1) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else if (k == 1 && p[i] > 0x20 && p[i] < 0x7f &&
			   p[i] != '\\') {
			fputc(p[i++], f);
		} else {
			fprintf(f, "\\x%02x", p[i++]);
		}
	}
}

void ms_text_put_scalars(FILE *f, const struct ms_json_node *obj,
			 const char *prefix)
{
	for (const struct ms_json_node *c = obj ? obj->child : NULL; c;
	     c = c->next) {
		if (c->type == MS_JSON_ARRAY || c->type == MS_JSON_OBJECT)
			continue;
		fprintf(f, " %s", prefix);
		ms_text_put_str(f, c->key, c->key_len);
		fputc('=', f);
		if (c->type == MS_JSON_STRING)
			ms_text_put_str(f, c->str, c->len);
		else
			ms_json_put_scalar(f, c);
	}
}
