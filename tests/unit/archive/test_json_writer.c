/* SPDX-License-Identifier: MIT */
/*
 * The JSON writer (consumer/archive/json_writer.c): escapes only what JSON
 * requires, passes valid UTF-8 through, turns every other byte into
 * U+FFFD, and whatever it writes the parser (archive_json.c) reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_json.h"
#include "json_writer.h"

/* What ms_json_put_str() writes for `len` bytes at `s`. */
static char *put(const void *s, size_t len, size_t *out_len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	assert_non_null(f);
	ms_json_put_str(f, s, len);
	fclose(f);
	if (out_len)
		*out_len = n;
	return buf;
}

/* Writes `len` bytes, parses them back; returns the parsed string. */
static struct ms_json *round_trip(const void *s, size_t len,
				  const struct ms_json_node **str)
{
	size_t n;
	char *text = put(s, len, &n);
	struct ms_json *j = NULL;

	assert_int_equal(ms_json_parse(text, n, &j, NULL), 0);
	free(text);
	*str = ms_json_root(j);
	assert_int_equal((*str)->type, MS_JSON_STRING);
	return j;
}

/* Inputs and exactly what the writer makes of them. */
static const struct {
	const char *in, *out;
} cases[] = {
	/* only '"', '\\' and bytes below 0x20 are escaped; DEL and '/' are
	 * not */
	{"a\"b\\c\n\x01\x1f \x7f/",
	 "\"a\\\"b\\\\c\\u000a\\u0001\\u001f \x7f/\""},
	/* valid UTF-8 as it is: 2, 3 and 4-byte forms, the limits */
	{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\x80 \xef\xbf\xbf "
	 "\xf4\x8f\xbf\xbf",
	 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\x80 \xef\xbf\xbf "
	 "\xf4\x8f\xbf\xbf\""},
	/* each byte outside a valid sequence is one U+FFFD: a stray
	 * continuation, overlong forms, a surrogate, beyond U+10FFFF, a
	 * sequence cut short */
	{"\xff|\x80|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82",
	 "\"\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
	 "\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\""},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = put(cases[i].in, strlen(cases[i].in), NULL);

		assert_string_equal(out, cases[i].out);
		free(out);
	}
}

static void test_time(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	ms_json_put_time(f, 0);
	fputc(' ', f);
	ms_json_put_time(f, 1000000000ull * 86400 + 5000000);
	fclose(f);
	assert_string_equal(out, "null \"1970-01-02T00:00:00.005Z\"");
	free(out);
}

/* UTF-8 encoding of a code point (the test's own, to build inputs). */
static size_t encode(uint32_t cp, uint8_t *o)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* Every code point, in strings of 64, reads back byte for byte. */
static void test_every_code_point(void **state)
{
	uint8_t buf[64 * 4];
	size_t n = 0, k = 0;

	(void)state;
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		const struct ms_json_node *s;
		struct ms_json *j;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		n += encode(cp, buf + n);
		if (++k % 64 && cp != 0x10ffff)
			continue;
		j = round_trip(buf, n, &s);
		assert_int_equal(s->len, n);
		assert_memory_equal(s->str, buf, n);
		ms_json_free(j);
		n = 0;
	}
}

static size_t count(const void *s, size_t n, const char *what)
{
	size_t k = 0, w = strlen(what);

	for (const char *p = s, *e = p + n;
	     (p = memmem(p, (size_t)(e - p), what, w)); p += w)
		k++;
	return k;
}

/*
 * Random bytes: the output always parses; each \ufffd it holds stands for
 * one byte of the input that was not valid UTF-8, and what is read back is
 * valid UTF-8: written again it needs no replacement and reads back the
 * same.
 */
static void test_random_bytes(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[256];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		const struct ms_json_node *s, *s2;
		struct ms_json *j, *j2;
		size_t n = (size_t)(round % 200) + 1, len;
		char *out;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		out = put(buf, n, &len);
		j = round_trip(buf, n, &s);
		assert_int_equal(count(out, len, "\\ufffd") +
					 count(buf, n, "\xef\xbf\xbd"),
				 count(s->str, s->len, "\xef\xbf\xbd"));
		free(out);
		out = put(s->str, s->len, &len);
		assert_int_equal(count(out, len, "\\ufffd"), 0);
		free(out);
		j2 = round_trip(s->str, s->len, &s2);
		assert_int_equal(s2->len, s->len);
		assert_memory_equal(s2->str, s->str, s->len);
		ms_json_free(j2);
		ms_json_free(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_every_code_point),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
