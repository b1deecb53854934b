/* SPDX-License-Identifier: MIT */
#include "demangle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "dynload.h"

/* libstdc++ (cxxabi.h); C linkage, so C can call it. */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/*
 * libstdc++ is loaded on the first mangled name, not linked: it costs
 * every memscope command 2-3 ms at start (relocations and constructors),
 * `record --no-symbolize` included, for this one function.
 */
static __typeof__(&__cxa_demangle) cxa_demangle;
static pthread_once_t cxa_once = PTHREAD_ONCE_INIT;

static void load_cxa(void)
{
	static const char *const names[] = {"libstdc++.so.6", NULL};
	static const char *const syms[] = {"__cxa_demangle"};
	void *fn;

	if (ms_dynload("demangling C++ names", names, syms, &fn, 1) == 0)
		cxa_demangle = (__typeof__(&__cxa_demangle))fn;
}

#define RUST_HASH_LEN 16

static int is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* _ZN ... 17h<16 hex>E: rustc's legacy mangling. */
static int is_rust_legacy(const char *name)
{
	size_t n = strlen(name), tail = 3 + RUST_HASH_LEN + 1;

	return n > 3 + tail && !strncmp(name, "_ZN", 3) &&
	       !strncmp(name + n - tail, "17h", 3) &&
	       is_hex(name + n - tail + 3, RUST_HASH_LEN) && name[n - 1] == 'E';
}

static const struct {
	const char *esc;
	char c;
} rust_escapes[] = {
	{"$SP$", '@'}, {"$BP$", '*'}, {"$RF$", '&'}, {"$LT$", '<'},
	{"$GT$", '>'}, {"$LP$", '('}, {"$RP$", ')'}, {"$C$", ','},
};

/* One $..$ escape at p: the character, with *len its length; 0 if none. */
static char rust_escape(const char *p, size_t *len)
{
	for (size_t i = 0; i < MS_ARRAY_SIZE(rust_escapes); i++) {
		*len = strlen(rust_escapes[i].esc);
		if (!strncmp(p, rust_escapes[i].esc, *len))
			return rust_escapes[i].c;
	}
	/* $u7e$: an ASCII character by its code */
	if (p[1] == 'u' && is_hex(p + 2, 2) && p[4] == '$') {
		long c = strtol((char[3]){p[2], p[3], 0}, NULL, 16);

		if (c >= 0x20 && c < 0x7f) {
			*len = 5;
			return (char)c;
		}
	}
	return 0;
}

/* Decodes the escapes in place; the output is never longer. */
static void rust_unescape(char *s)
{
	char *o = s;
	const char *p = s;

	while (*p) {
		size_t len;
		char c;

		/* a segment starting with '$' was written "_$" */
		if (p[0] == '_' && p[1] == '$' &&
		    (o == s || (o - s >= 2 && o[-1] == ':' && o[-2] == ':'))) {
			p++;
		} else if (*p == '$' && (c = rust_escape(p, &len))) {
			*o++ = c;
			p += len;
		} else if (p[0] == '.' && p[1] == '.') {
			*o++ = ':';
			*o++ = ':';
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
}

char *ms_demangle(const char *name)
{
	int status = -1;
	char *d;
	size_t n;

	if (strncmp(name, "_Z", 2))
		return NULL;
	pthread_once(&cxa_once, load_cxa);
	if (!cxa_demangle) /* said once on stderr: names stay mangled */
		return NULL;
	d = cxa_demangle(name, NULL, NULL, &status);
	if (!d || status != 0) {
		free(d);
		return NULL;
	}
	n = strlen(d);
	if (is_rust_legacy(name) && n > 3 + RUST_HASH_LEN &&
	    !strncmp(d + n - 3 - RUST_HASH_LEN, "::h", 3)) {
		d[n - 3 - RUST_HASH_LEN] = 0;
		rust_unescape(d);
	}
	return d;
}
