/* SPDX-License-Identifier: MIT */
#include "archive_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NODES_PER_BLOCK 256

struct node_block {
	struct node_block *next;
	struct ms_json_node n[NODES_PER_BLOCK];
};

struct ms_json {
	struct node_block *blocks;
	unsigned used; /* nodes used in blocks (the newest block) */
	char *strings; /* unescaped strings and number literals */
	size_t str_used;
	const struct ms_json_node *root;
};

struct parser {
	struct ms_json *j;
	const char *p, *start, *end;
	int err;
};

static struct ms_json_node *new_node(struct parser *ps, int type)
{
	struct ms_json *j = ps->j;
	struct ms_json_node *n;

	if (!j->blocks || j->used == NODES_PER_BLOCK) {
		struct node_block *b = malloc(sizeof(*b));

		if (!b) {
			ps->err = -ENOMEM;
			return NULL;
		}
		b->next = j->blocks;
		j->blocks = b;
		j->used = 0;
	}
	n = &j->blocks->n[j->used++];
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

static int fail(struct parser *ps)
{
	if (!ps->err)
		ps->err = -EBADMSG;
	return ps->err;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return fail(ps);
	ps->p += n;
	return 0;
}

static int hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;

	if (ps->end - ps->p < 4)
		return fail(ps);
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(ps);
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* \uXXXX, with a following low surrogate for a high one. */
static int unicode_escape(struct parser *ps, char **o)
{
	unsigned cp, lo;

	if (hex4(ps, &cp))
		return ps->err;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(ps);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return fail(ps);
		ps->p += 2;
		if (hex4(ps, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return fail(ps);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*o = put_utf8(*o, cp);
	return 0;
}

static int escape(struct parser *ps, char **o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *k;

	if (ps->p >= ps->end)
		return fail(ps);
	if (*ps->p == 'u') {
		ps->p++;
		return unicode_escape(ps, o);
	}
	k = memchr(from, *ps->p, sizeof(from) - 1);
	if (!k)
		return fail(ps);
	*(*o)++ = to[k - from];
	ps->p++;
	return 0;
}

/* A string at ps->p (the opening quote). The unescaped text never takes
 * more room than the quoted input. */
static int string(struct parser *ps, const char **s, size_t *len)
{
	char *o0 = ps->j->strings + ps->j->str_used, *o = o0;

	ps->p++;
	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end)
			return fail(ps);
		c = (unsigned char)*ps->p;
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(ps);
		if (c == '\\') {
			ps->p++;
			if (escape(ps, &o))
				return ps->err;
			continue;
		}
		*o++ = (char)c;
		ps->p++;
	}
	ps->p++;
	*o = '\0';
	*s = o0;
	*len = (size_t)(o - o0);
	ps->j->str_used += *len + 1;
	return 0;
}

static int digits(struct parser *ps)
{
	const char *s = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > s ? 0 : fail(ps);
}

static int number(struct parser *ps, struct ms_json_node *n)
{
	const char *s = ps->p;
	char buf[64];

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (digits(ps))
		return ps->err;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (digits(ps))
			return ps->err;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (digits(ps))
			return ps->err;
	}
	/* Keep the literal: the input may be gone by the time it is read. */
	n->len = (size_t)(ps->p - s);
	n->str = ps->j->strings + ps->j->str_used;
	memcpy(ps->j->strings + ps->j->str_used, s, n->len);
	ps->j->strings[ps->j->str_used + n->len] = '\0';
	ps->j->str_used += n->len + 1;
	if (n->len >= sizeof(buf)) {
		n->number = 0; /* absurdly long: keep the text only */
		return 0;
	}
	memcpy(buf, s, n->len);
	buf[n->len] = '\0';
	n->number = strtod(buf, NULL);
	return 0;
}

static struct ms_json_node *value(struct parser *ps, int depth);

/* Elements of an array or members of an object, up to `close`. */
static int items(struct parser *ps, struct ms_json_node *parent, char close,
		 int depth)
{
	struct ms_json_node *last = NULL, *n;
	const char *key = NULL;
	size_t key_len = 0;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		skip_ws(ps);
		if (close == '}') {
			if (ps->p >= ps->end || *ps->p != '"' ||
			    string(ps, &key, &key_len))
				return fail(ps);
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p++ != ':')
				return fail(ps);
		}
		n = value(ps, depth + 1);
		if (!n)
			return fail(ps);
		n->key = key;
		n->key_len = key_len;
		if (last)
			last->next = n;
		else
			parent->child = n;
		last = n;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps);
		if (*ps->p == close) {
			ps->p++;
			return 0;
		}
		if (*ps->p++ != ',')
			return fail(ps);
	}
}

static struct ms_json_node *value(struct parser *ps, int depth)
{
	struct ms_json_node *n = NULL;
	size_t off;
	char c;

	skip_ws(ps);
	off = (size_t)(ps->p - ps->start);
	if (ps->p >= ps->end || depth > MS_JSON_MAX_DEPTH) {
		fail(ps);
		return NULL;
	}
	c = *ps->p;
	if (c == '{' || c == '[') {
		n = new_node(ps, c == '{' ? MS_JSON_OBJECT : MS_JSON_ARRAY);
		if (n && items(ps, n, c == '{' ? '}' : ']', depth))
			n = NULL;
	} else if (c == '"') {
		n = new_node(ps, MS_JSON_STRING);
		if (n && string(ps, &n->str, &n->len))
			n = NULL;
	} else if (c == 't' || c == 'f') {
		n = new_node(ps, MS_JSON_BOOL);
		if (n)
			n->boolean = c == 't';
		if (n && literal(ps, c == 't' ? "true" : "false"))
			n = NULL;
	} else if (c == 'n') {
		n = new_node(ps, MS_JSON_NULL);
		if (n && literal(ps, "null"))
			n = NULL;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		n = new_node(ps, MS_JSON_NUMBER);
		if (n && number(ps, n))
			n = NULL;
	} else {
		fail(ps);
	}
	if (n)
		n->off = off;
	return n;
}

int ms_json_parse(const char *text, size_t len, struct ms_json **out,
		  size_t *err_off)
{
	struct parser ps = {.p = text, .start = text, .end = text + len};
	struct ms_json *j;

	if (len > MS_JSON_MAX_INPUT)
		return -E2BIG;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	/* Strings and number literals: each takes no more than its input
	 * plus a NUL, and a NUL is always paid for by a quote or delimiter,
	 * except for a lone top-level number: 2 * len + 2 is always enough. */
	j->strings = malloc(2 * len + 2);
	if (!j->strings) {
		free(j);
		return -ENOMEM;
	}
	ps.j = j;
	j->root = value(&ps, 0);
	skip_ws(&ps);
	if (j->root && ps.p != ps.end)
		fail(&ps);
	if (!j->root || ps.err) {
		if (err_off)
			*err_off = (size_t)(ps.p - ps.start);
		ms_json_free(j);
		return ps.err ? ps.err : -EBADMSG;
	}
	*out = j;
	return 0;
}

const struct ms_json_node *ms_json_root(const struct ms_json *j)
{
	return j->root;
}

void ms_json_free(struct ms_json *j)
{
	if (!j)
		return;
	while (j->blocks) {
		struct node_block *b = j->blocks;

		j->blocks = b->next;
		free(b);
	}
	free(j->strings);
	free(j);
}

const struct ms_json_node *ms_json_get(const struct ms_json_node *obj,
				       const char *key)
{
	size_t n = strlen(key);

	if (!obj || obj->type != MS_JSON_OBJECT)
		return NULL;
	for (const struct ms_json_node *c = obj->child; c; c = c->next)
		if (c->key_len == n && !memcmp(c->key, key, n))
			return c;
	return NULL;
}

int ms_json_u64(const struct ms_json_node *n, uint64_t *out)
{
	uint64_t v = 0;

	if (!n || n->type != MS_JSON_NUMBER || n->len == 0 || n->len > 20)
		return -EINVAL;
	for (size_t i = 0; i < n->len; i++) {
		unsigned d = (unsigned)(n->str[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
