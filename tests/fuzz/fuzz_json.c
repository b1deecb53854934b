/* SPDX-License-Identifier: MIT */
/*
 * The manifest JSON reader (consumer/archive/archive_json.c) on arbitrary
 * text, and the output helpers that print what it parsed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "archive_json.h"
#include "fuzz.h"
#include "json_writer.h"
#include "text_writer.h"

static FILE *null_out(void)
{
	static FILE *f;

	if (!f)
		f = fopen("/dev/null", "w");
	return f;
}

/* Walks the tree: every string within its length, depth bounded. */
static void walk(const struct ms_json_node *n, int depth)
{
	uint64_t v;

	MS_FUZZ_CHECK(depth <= MS_JSON_MAX_DEPTH + 1);
	for (; n; n = n->next) {
		if (n->type == MS_JSON_STRING || n->type == MS_JSON_NUMBER)
			MS_FUZZ_CHECK(n->str && n->str[n->len] == '\0');
		if (n->type == MS_JSON_NUMBER && !ms_json_u64(n, &v))
			MS_FUZZ_CHECK(n->len <= 20);
		walk(n->child, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_json *j;
	size_t off = 0;
	int rc = ms_json_parse((const char *)data, size, &j, &off);

	if (rc) {
		MS_FUZZ_CHECK(rc == -EBADMSG && off <= size);
		return 0;
	}
	walk(ms_json_root(j), 0);
	ms_json_put_scalars(null_out(), ms_json_root(j), 1);
	ms_text_put_scalars(null_out(), ms_json_root(j), "");
	ms_json_put_str(null_out(), data, size);
	ms_json_free(j);
	return 0;
}

void ms_fuzz_seeds(ms_fuzz_emit emit, void *arg)
{
	static const char *seeds[] = {
		"{\"format\": 1, \"session\": \"default\", \"settings\": "
		"{\"sampling\": \"full\", \"ring_kb\": 1024, \"on_full\": "
		"\"block\"}, \"start_ns\": 1700000000000000000, \"processes\": "
		"[{\"pid\": 42, \"exe\": \"/usr/bin/x\", \"status\": "
		"\"running\", \"threads\": [43, 44]}]}",
		"[1, -2.5e-3, true, false, null, \"\\u00e9\\ud83d\\ude00\\n\"]",
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	};

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		emit((const uint8_t *)seeds[i], strlen(seeds[i]), arg);
}
