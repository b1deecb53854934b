/* SPDX-License-Identifier: MIT */
/*
 * memscope dump ARCHIVE [--json] [--pid P] [--tid T]: every event of an
 * archive, one per line, in global time order as far as the clocks allow
 * (the archive's merge, archive_merge.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive.h"
#include "archive_merge.h"
#include "cli.h"
#include "cli_progress.h"
#include "json_writer.h"
#include "text_writer.h"
#include "ring_abi.h"
#include "session.h"

struct dump_opts {
	const char *dir;
	int json;
	struct ms_arc_filter f;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: memscope dump ARCHIVE [--json] [--pid P] [--tid T]\n"
		   "\n"
		   "Every event of an archive, one per line, in time order:\n"
		   "time (CLOCK_MONOTONIC seconds), pid, tid, kind, then the\n"
		   "event's fields (size, addr, old, stack, caller, weight, "
		   "...).\n"
		   "\n"
		   "  --json    one JSON object per line (fields in "
		   "docs/reading.md)\n"
		   "  --pid P   only process P\n"
		   "  --tid T   only thread T\n"
		   "  --help    this text\n"
		   "\n"
		   "Damage is reported on stderr and skipped; exit status 1 "
		   "then.\n");
}

static const char *cause_name(uint64_t cause)
{
	static const char *const names[MS_LOST_REC_NCAUSES] = {
		[MS_LOST_FULL] = "full",       [MS_LOST_GONE] = "gone",
		[MS_LOST_TOO_BIG] = "too_big", [MS_LOST_INTERNAL] = "internal",
		[MS_LOST_DISK] = "disk",       [MS_LOST_SIGNAL] = "signal",
	};

	return cause < MS_LOST_REC_NCAUSES ? names[cause] : "unknown";
}

/* ---- text ---- */

static void text_alloc(FILE *f, const struct ms_arc_event *e)
{
	const struct ms_event *ev = e->ev;

	fprintf(f, " size=%" PRIu64 " addr=0x%" PRIx64, ev->size, ev->addr);
	if (ev->type == MS_REC_REALLOC)
		fprintf(f, " old=0x%" PRIx64, ev->old_addr);
	if (ev->align)
		fprintf(f, " align=%" PRIu64, ev->align);
	fprintf(f, " stack=%" PRIu64, ev->stack_id);
	if (e->stack && e->stack->nframes)
		fprintf(f, " caller=0x%" PRIx64, e->stack->frames[0]);
	if (ev->weight != MS_WEIGHT_ONE)
		fprintf(f, " weight=%.4f", (double)ev->weight / MS_WEIGHT_ONE);
}

static void text_other(FILE *f, const struct ms_event *ev)
{
	unsigned code = ms_rec_level_code(ev->flags);

	switch (ev->type) {
	case MS_REC_FREE:
		fprintf(f, " addr=0x%" PRIx64, ev->addr);
		if (code)
			fprintf(f, " level=%u%s", code - 1,
				code == MS_REC_LEVEL_TOP ? "+" : "");
		break;
	case MS_REC_CLOCK:
		fprintf(f, " mono_ns=%" PRIu64 " tick_hz=%" PRIu64, ev->mono_ns,
			ev->tick_hz);
		break;
	case MS_REC_STACK:
		fprintf(f, " id=%" PRIu64 " frames=%u", ev->stack_id,
			ev->nframes);
		for (uint32_t i = 0; i < ev->nframes; i++)
			fprintf(f, "%s0x%" PRIx64, i ? "," : " ",
				ev->frames[i]);
		break;
	case MS_REC_MODULE_LOAD:
		fprintf(f, " base=0x%" PRIx64 " size=%" PRIu64 " build_id=",
			ev->addr, ev->size);
		for (uint32_t i = 0; i < ev->build_id_len; i++)
			fprintf(f, "%02x", ev->build_id[i]);
		fputs(" path=", f);
		ms_text_put_str(f, ev->str, ev->str_len);
		break;
	case MS_REC_MODULE_UNLOAD:
		fprintf(f, " base=0x%" PRIx64, ev->addr);
		break;
	case MS_REC_THREAD_START:
		fprintf(f, " start_pid=%" PRIu64 " start_tid=%" PRIu64, ev->pid,
			ev->tid);
		break;
	case MS_REC_THREAD_NAME:
		fputs(" name=", f);
		ms_text_put_str(f, ev->str, ev->str_len);
		break;
	case MS_REC_LOST:
		fprintf(f, " count=%" PRIu64 " cause=%s", ev->count,
			cause_name(ev->cause));
		break;
	default:
		break;
	}
}

static void print_text(FILE *f, const struct ms_arc_event *e)
{
	fprintf(f, "%" PRIu64 ".%09" PRIu64 " %u %u %s", e->ns / 1000000000u,
		e->ns % 1000000000u, e->pid, e->tid,
		ms_rec_type_name(e->ev->type));
	if (e->ev->type == MS_REC_ALLOC || e->ev->type == MS_REC_REALLOC)
		text_alloc(f, e);
	else
		text_other(f, e->ev);
	fputc('\n', f);
}

/* ---- JSON ---- */

static void json_alloc(FILE *f, const struct ms_arc_event *e)
{
	const struct ms_event *ev = e->ev;

	fprintf(f, ",\"size\":%" PRIu64 ",\"addr\":\"0x%" PRIx64 "\"", ev->size,
		ev->addr);
	if (ev->type == MS_REC_REALLOC)
		fprintf(f, ",\"old_addr\":\"0x%" PRIx64 "\"", ev->old_addr);
	if (ev->align)
		fprintf(f, ",\"align\":%" PRIu64, ev->align);
	fprintf(f, ",\"stack\":%" PRIu64, ev->stack_id);
	if (e->stack && e->stack->nframes)
		fprintf(f, ",\"caller\":\"0x%" PRIx64 "\"",
			e->stack->frames[0]);
	if (ev->weight != MS_WEIGHT_ONE)
		fprintf(f, ",\"weight\":%.6f",
			(double)ev->weight / MS_WEIGHT_ONE);
}

static void json_module(FILE *f, const struct ms_event *ev)
{
	fprintf(f,
		",\"base\":\"0x%" PRIx64 "\",\"size\":%" PRIu64
		",\"build_id\":\"",
		ev->addr, ev->size);
	for (uint32_t i = 0; i < ev->build_id_len; i++)
		fprintf(f, "%02x", ev->build_id[i]);
	fputs("\",\"path\":", f);
	ms_json_put_str(f, ev->str, ev->str_len);
}

static void json_other(FILE *f, const struct ms_event *ev)
{
	switch (ev->type) {
	case MS_REC_FREE:
		fprintf(f, ",\"addr\":\"0x%" PRIx64 "\"", ev->addr);
		if (ms_rec_level_code(ev->flags))
			fprintf(f, ",\"level\":%u",
				ms_rec_level_code(ev->flags) - 1);
		break;
	case MS_REC_CLOCK:
		fprintf(f, ",\"mono_ns\":%" PRIu64 ",\"tick_hz\":%" PRIu64,
			ev->mono_ns, ev->tick_hz);
		break;
	case MS_REC_STACK:
		fprintf(f, ",\"id\":%" PRIu64 ",\"frames\":[", ev->stack_id);
		for (uint32_t i = 0; i < ev->nframes; i++)
			fprintf(f, "%s\"0x%" PRIx64 "\"", i ? "," : "",
				ev->frames[i]);
		fputc(']', f);
		break;
	case MS_REC_MODULE_LOAD:
		json_module(f, ev);
		break;
	case MS_REC_MODULE_UNLOAD:
		fprintf(f, ",\"base\":\"0x%" PRIx64 "\"", ev->addr);
		break;
	case MS_REC_THREAD_START:
		fprintf(f, ",\"start_pid\":%" PRIu64 ",\"start_tid\":%" PRIu64,
			ev->pid, ev->tid);
		break;
	case MS_REC_THREAD_NAME:
		fputs(",\"name\":", f);
		ms_json_put_str(f, ev->str, ev->str_len);
		break;
	case MS_REC_LOST:
		fprintf(f, ",\"count\":%" PRIu64 ",\"cause\":\"%s\"", ev->count,
			cause_name(ev->cause));
		break;
	default:
		break;
	}
}

static void print_json(FILE *f, const struct ms_arc_event *e)
{
	fprintf(f,
		"{\"t_ns\":%" PRIu64 ",\"pid\":%u,\"tid\":%u,\"kind\":\"%s\"",
		e->ns, e->pid, e->tid, ms_rec_type_name(e->ev->type));
	if (e->ev->type == MS_REC_ALLOC || e->ev->type == MS_REC_REALLOC)
		json_alloc(f, e);
	else
		json_other(f, e->ev);
	fputs("}\n", f);
}

/* Every record of the selected threads, in time order. */
static int print_all(struct ms_archive *a, const struct dump_opts *o,
		     size_t *nthreads)
{
	const struct ms_arc_event *e;
	struct ms_arc_merge *m;
	int rc = ms_arc_merge_open(a, &o->f, &m);

	if (rc)
		return rc;
	while ((rc = ms_arc_merge_next(m, &e)) > 0) {
		if (o->json)
			print_json(stdout, e);
		else
			print_text(stdout, e);
	}
	*nthreads = ms_arc_merge_nthreads(m);
	ms_arc_merge_close(m);
	return rc;
}

/* ---- command ---- */

static int parse_id(const char *opt, const char *s, uint32_t *out)
{
	uint64_t v;

	if (ms_parse_u64(s, &v) || v > UINT32_MAX) {
		fprintf(stderr, "memscope dump: %s wants a number, got '%s'\n",
			opt, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct dump_opts *o)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"pid", required_argument, NULL, 'p'},
		{"tid", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jp:t:h", opts, NULL)) != -1) {
		if (c == 'j') {
			o->json = 1;
		} else if (c == 'p') {
			if (parse_id("--pid", optarg, &o->f.pid))
				return 2;
			o->f.has_pid = 1;
		} else if (c == 't') {
			if (parse_id("--tid", optarg, &o->f.tid))
				return 2;
			o->f.has_tid = 1;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	return ms_cli_archive_operand("dump", argc, argv, &o->dir);
}

int ms_cmd_dump(int argc, char **argv)
{
	static char obuf[1 << 20];
	struct dump_opts o = {0};
	struct ms_archive *a;
	struct ms_cli_progress cli;
	size_t nthreads = 0;
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	ms_cli_progress_init(&cli, "dump");
	rc = ms_archive_open(o.dir, ms_cli_on_error, &cli, &a);
	if (rc) {
		fprintf(stderr, "memscope dump: cannot read archive %s: %s\n",
			o.dir, strerror(-rc));
		return 1;
	}
	a->on_progress = ms_cli_on_progress;
	a->on_progress_arg = &cli;
	rc = print_all(a, &o, &nthreads);
	ms_cli_progress_done(&cli);
	if (rc)
		fprintf(stderr, "memscope dump: %s\n", strerror(-rc));
	if (!rc && !nthreads && (o.f.has_pid || o.f.has_tid)) {
		fprintf(stderr,
			"memscope dump: no thread of %s matches "
			"--pid/--tid; 'memscope stats %s' lists them\n",
			o.dir, o.dir);
		rc = -ENOENT;
	}
	rc = rc || a->nerrors || a->errors_dropped || fflush(stdout) ? 1 : 0;
	ms_archive_close(a);
	return rc;
}
