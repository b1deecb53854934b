/* SPDX-License-Identifier: MIT */
#include "json_writer.h"

#include <string.h>
#include <time.h>

#include "archive_json.h"
#include "utf8.h"

void ms_json_put_str(FILE *f, const void *s, size_t len)
{
	const uint8_t *p = s;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t k = ms_utf8_len(p + i, len - i);
		uint8_t c = p[i];

		if (k == 0) {
			fputs("\\ufffd", f);
			k = 1;
		} else if (k > 1) {
			fwrite(p + i, 1, k, f);
		} else if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
		i += k;
	}
	fputc('"', f);
}

void ms_json_put_cstr(FILE *f, const char *s)
{
	ms_json_put_str(f, s, strlen(s));
}

void ms_json_put_time(FILE *f, uint64_t rt_ns)
{
	char buf[64];
	time_t t = (time_t)(rt_ns / 1000000000u);
	struct tm tm;

	if (!rt_ns) {
		fputs("null", f);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "\"%s.%03uZ\"", buf, (unsigned)(rt_ns / 1000000u % 1000u));
}

void ms_json_put_scalar(FILE *f, const struct ms_json_node *n)
{
	switch (n->type) {
	case MS_JSON_NUMBER:
		fwrite(n->str, 1, n->len, f);
		break;
	case MS_JSON_STRING:
		ms_json_put_str(f, n->str, n->len);
		break;
	case MS_JSON_BOOL:
		fputs(n->boolean ? "true" : "false", f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

void ms_json_put_scalars(FILE *f, const struct ms_json_node *obj, int nested)
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
		ms_json_put_str(f, c->key, c->key_len);
		fputc(':', f);
		if (c->type == MS_JSON_OBJECT)
			ms_json_put_scalars(f, c, 0);
		else
			ms_json_put_scalar(f, c);
	}
	fputc('}', f);
}
