/* SPDX-License-Identifier: MIT */
/*
 * A small JSON reader for ARCHIVE/manifest.json. The manifest is untrusted
 * input (a crash can leave it half written, anyone can edit it): the parser
 * bounds nesting depth and input size, rejects anything that is not strict
 * JSON, and never reads past the buffer it is given.
 */
#ifndef MS_ARCHIVE_JSON_H
#define MS_ARCHIVE_JSON_H

#include <stddef.h>
#include <stdint.h>

#define MS_JSON_MAX_DEPTH 64
#define MS_JSON_MAX_INPUT (64u << 20)

enum ms_json_type {
	MS_JSON_NULL = 1,
	MS_JSON_BOOL,
	MS_JSON_NUMBER,
	MS_JSON_STRING,
	MS_JSON_ARRAY,
	MS_JSON_OBJECT,
};

/* A parsed value. Strings are unescaped and NUL-terminated (they may also
 * contain NULs: use `len`). Valid until ms_json_free(). */
struct ms_json_node {
	int type;
	int boolean;
	double number;
	const char *str; /* STRING value; for NUMBER the literal text */
	size_t len;
	const char *key; /* member name when the parent is an OBJECT */
	size_t key_len;
	const struct ms_json_node *child; /* first element / member */
	const struct ms_json_node *next;  /* next sibling */
	size_t off; /* of the value's first byte in the text parsed */
};

struct ms_json;

/*
 * Parses `len` bytes of `text`. Returns 0, -EBADMSG for text that is not
 * one valid JSON value (`*err_off` gets the byte offset of the problem when
 * not NULL), -E2BIG above MS_JSON_MAX_INPUT, or -ENOMEM.
 */
int ms_json_parse(const char *text, size_t len, struct ms_json **out,
		  size_t *err_off);
const struct ms_json_node *ms_json_root(const struct ms_json *j);
void ms_json_free(struct ms_json *j);

/* The member `key` of an object, or NULL (also when `obj` is not one). */
const struct ms_json_node *ms_json_get(const struct ms_json_node *obj,
				       const char *key);

/* 0 and the value when `n` is a non-negative integer that fits, else
 * -EINVAL. */
int ms_json_u64(const struct ms_json_node *n, uint64_t *out);

#endif
