/* SPDX-License-Identifier: MIT */
/*
 * consumer/daemon/manifest.c through the archive's parser: what the
 * consumer writes into manifest.json reads back as it was, UTF-8 included
 * (a thread named "café" once read back as "cafÃ©"), and bytes that are
 * not UTF-8 as U+FFFD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_json.h"
#include "daemon_int.h"

#define CAFE "caf\xc3\xa9"
#define FFFD "\xef\xbf\xbd"

static struct ms_proc *add_proc(struct ms_daemon *d)
{
	static const char path[] = "/opt/" CAFE "/lib" CAFE "\xff.so";
	static const uint8_t bid[4] = {0xde, 0xad, 0xbe, 0xef};
	struct ms_event ev = {
		.type = MS_REC_MODULE_LOAD,
		.addr = 0x7f0000000000ull,
		.size = 0x1000,
		.build_id = bid,
		.build_id_len = sizeof(bid),
		.str = (const uint8_t *)path,
		.str_len = sizeof(path) - 1,
	};
	struct ms_proc *p = calloc(1, sizeof(*p));
	struct ms_stream st;

	assert_non_null(p);
	ms_proc_init_info(p);
	p->pid = 42;
	snprintf(p->exe, sizeof(p->exe), "/usr/bin/" CAFE);
	cds_list_add_tail(&p->node, &d->procs);
	memset(&st, 0, sizeof(st));
	snprintf(st.name, sizeof(st.name), CAFE "\x80");
	ms_proc_update_thread(p, ms_proc_add_thread(p, 43), &st, &st.n, 0);
	ms_proc_module(p, &ev);
	return p;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static const char *member(const struct ms_json_node *o, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = ms_json_get(o, key);
		assert_non_null(o);
		if (o->type == MS_JSON_ARRAY)
			o = o->child; /* the first element */
		path = dot + 1;
	}
	o = ms_json_get(o, path);
	assert_non_null(o);
	assert_int_equal(o->type, MS_JSON_STRING);
	return o->str;
}

static void test_utf8_round_trip(void **state)
{
	struct ms_daemon d;
	struct ms_proc *p;
	struct ms_json *j;
	char dir[] = "/tmp/ms-test-manifest-XXXXXX", path[64];
	const struct ms_json_node *r;
	size_t len;
	char *text;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_non_null(mkdtemp(dir));
	snprintf(d.out, sizeof(d.out), "%s", dir);
	snprintf(d.session, sizeof(d.session), CAFE);
	ms_daemon_opts_defaults(&d.o);
	CDS_INIT_LIST_HEAD(&d.procs);
	p = add_proc(&d);
	assert_int_equal(ms_manifest_write(&d, 1), 0);

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	text = read_file(path, &len);
	assert_int_equal(ms_json_parse(text, len, &j, NULL), 0);
	r = ms_json_root(j);
	assert_string_equal(member(r, "session"), CAFE);
	assert_string_equal(member(r, "processes.exe"), "/usr/bin/" CAFE);
	assert_string_equal(member(r, "processes.per_thread.name"), CAFE FFFD);
	assert_string_equal(member(r, "processes.modules.path"),
			    "/opt/" CAFE "/lib" CAFE FFFD ".so");
	assert_string_equal(member(r, "processes.modules.build_id"),
			    "deadbeef");
	ms_json_free(j);
	free(text);
	ms_proc_free(p);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
