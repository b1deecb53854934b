/* SPDX-License-Identifier: MIT */
#include "json_writer.h"

#include <stdint.h>

#include "archive_json.h"
#include "utf8.h"

void ms_arc_json_string(FILE *f, const void *s, size_t len)
{
	const uint8_t *p = s;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t k = ms_utf8_len(p + i, len - i);

		if (k == 0) {
			fputs("\\ufffd", f);
			i++;
		} else if (k > 1) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else {
			uint8_t c = p[i++];

			if (c == '"' || c == '\\')
				fprintf(f, "\\%c", c);
			else if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

void ms_arc_json_scalar(FILE *f, const struct ms_json_node *n)
{
	switch (n->type) {
	case MS_JSON_NUMBER:
		fwrite(n->str, 1, n->len, f);
		break;
	case MS_JSON_STRING:
		ms_arc_json_string(f, n->str, n->len);
		break;
	case MS_JSON_BOOL:
		fputs(n->boolean ? "true" : "false", f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

void ms_arc_json_scalars(FILE *f, const struct ms_json_node *obj, int nested)
{
	int first = 1;

	fputc('{', f);
	for (const struct ms_json_node *c = obj ? obj->child : NULL; c;
	     c = c->next) {
		if (c->type == MS_JSON_ARRAY ||
		    (c->type == MS_JSON_OBJECT && !nested))
			continue;
		fputs(first ? "" : ",", f);
		first = 0;
		ms_arc_json_string(f, c->key, c->key_len);
		fputc(':', f);
		if (c->type == MS_JSON_OBJECT)
			ms_arc_json_scalars(f, c, 0);
		else
			ms_arc_json_scalar(f, c);
	}
	fputc('}', f);
}
