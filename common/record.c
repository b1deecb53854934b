/* SPDX-License-Identifier: MIT */
#include "record.h"

#include <errno.h>
#include <string.h>

#include "ring_abi.h"

static const char *const type_names[MS_REC_NTYPES] = {
	[MS_REC_SYNC] = "sync",
	[MS_REC_CLOCK] = "clock",
	[MS_REC_ALLOC] = "alloc",
	[MS_REC_FREE] = "free",
	[MS_REC_REALLOC] = "realloc",
	[MS_REC_STACK] = "stack",
	[MS_REC_MODULE_LOAD] = "module_load",
	[MS_REC_MODULE_UNLOAD] = "module_unload",
	[MS_REC_THREAD_START] = "thread_start",
	[MS_REC_THREAD_EXIT] = "thread_exit",
	[MS_REC_THREAD_NAME] = "thread_name",
	[MS_REC_LOST] = "lost",
};

const char *ms_rec_type_name(unsigned type)
{
	if (type < MS_REC_NTYPES && type_names[type])
		return type_names[type];
	return "unknown";
}

uint8_t *ms_rec_put_sync(struct ms_rec_state *s, uint8_t *p)
{
	*p++ = MS_REC_SYNC;
	p = ms_put_varint(p, s->last_ts);
	return ms_put_varint(p, s->last_addr);
}

uint8_t *ms_rec_put_clock(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
			  uint64_t mono_ns, uint64_t tick_hz)
{
	*p++ = MS_REC_CLOCK;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_put_varint(p, mono_ns);
	return ms_put_varint(p, tick_hz);
}

uint8_t *ms_rec_put_stack(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
			  uint64_t id, const uint64_t *frames, uint32_t n)
{
	uint64_t prev = 0;

	if (n > MS_STACK_MAX)
		n = MS_STACK_MAX;
	*p++ = MS_REC_STACK;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_put_varint(p, id);
	p = ms_put_varint(p, n);
	for (uint32_t i = 0; i < n; i++) {
		p = ms_put_varint(p, ms_zigzag((int64_t)(frames[i] - prev)));
		prev = frames[i];
	}
	return p;
}

static uint8_t *put_bytes(uint8_t *p, const void *b, uint32_t len)
{
	p = ms_put_varint(p, len);
	memcpy(p, b, len);
	return p + len;
}

uint8_t *ms_rec_put_module_load(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
				uint64_t base, uint64_t size,
				const uint8_t *build_id, uint32_t build_id_len,
				const char *path, uint32_t path_len)
{
	if (build_id_len > MS_BUILD_ID_MAX)
		build_id_len = MS_BUILD_ID_MAX;
	if (path_len > MS_PATH_MAX)
		path_len = MS_PATH_MAX;
	*p++ = MS_REC_MODULE_LOAD;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_put_varint(p, base);
	p = ms_put_varint(p, size);
	p = put_bytes(p, build_id, build_id_len);
	return put_bytes(p, path, path_len);
}

uint8_t *ms_rec_put_module_unload(struct ms_rec_state *s, uint8_t *p,
				  uint64_t ts, uint64_t base)
{
	*p++ = MS_REC_MODULE_UNLOAD;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	return ms_put_varint(p, base);
}

uint8_t *ms_rec_put_thread_start(struct ms_rec_state *s, uint8_t *p,
				 uint64_t ts, uint64_t pid, uint64_t tid)
{
	*p++ = MS_REC_THREAD_START;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_put_varint(p, pid);
	return ms_put_varint(p, tid);
}

uint8_t *ms_rec_put_thread_exit(struct ms_rec_state *s, uint8_t *p, uint64_t ts)
{
	*p++ = MS_REC_THREAD_EXIT;
	return ms_put_varint(p, ms_rec_dt(s, ts));
}

uint8_t *ms_rec_put_thread_name(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
				const char *name, uint32_t len)
{
	if (len > MS_NAME_MAX)
		len = MS_NAME_MAX;
	*p++ = MS_REC_THREAD_NAME;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	return put_bytes(p, name, len);
}

uint8_t *ms_rec_put_lost(struct ms_rec_state *s, uint8_t *p, uint64_t ts,
			 uint64_t count, uint64_t cause)
{
	*p++ = MS_REC_LOST;
	p = ms_put_varint(p, ms_rec_dt(s, ts));
	p = ms_put_varint(p, count);
	return ms_put_varint(p, cause);
}

/* ---- decoding (untrusted input) ---- */

struct cursor {
	const uint8_t *p, *end;
	int err; /* sticky: -ENODATA or -EBADMSG */
};

static uint64_t get_u(struct cursor *c)
{
	uint64_t v = 0;

	if (c->err)
		return 0;
	if (ms_get_varint(&c->p, c->end, &v) < 0) {
		/* Ran off the end, or a malformed value before it? */
		const uint8_t *q = c->p;
		int k = 0;

		while (q < c->end && (*q & 0x80) && k < MS_VARINT_MAX) {
			q++;
			k++;
		}
		c->err = (q >= c->end && k < MS_VARINT_MAX) ? -ENODATA
							    : -EBADMSG;
	}
	return v;
}

static uint64_t get_addr(struct cursor *c, struct ms_rec_state *s)
{
	uint64_t a = s->last_addr + (uint64_t)ms_unzigzag(get_u(c));

	s->last_addr = a;
	return a;
}

/* A length-prefixed byte string of at most `max` bytes. */
static const uint8_t *get_bytes(struct cursor *c, uint64_t max, uint32_t *len)
{
	uint64_t n = get_u(c);
	const uint8_t *b = c->p;

	*len = 0;
	if (c->err)
		return NULL;
	if (n > max) {
		c->err = -EBADMSG;
		return NULL;
	}
	if (n > (uint64_t)(c->end - c->p)) {
		c->err = -ENODATA;
		return NULL;
	}
	c->p += n;
	*len = (uint32_t)n;
	return b;
}

static void get_stack(struct cursor *c, struct ms_event *ev)
{
	uint64_t n, prev = 0;

	ev->stack_id = get_u(c);
	n = get_u(c);
	if (c->err)
		return;
	if (n > MS_STACK_MAX) {
		c->err = -EBADMSG;
		return;
	}
	for (uint64_t i = 0; i < n && !c->err; i++) {
		prev += (uint64_t)ms_unzigzag(get_u(c));
		ev->frames[i] = prev;
	}
	ev->nframes = (uint32_t)n;
}

static void get_weight(struct cursor *c, struct ms_event *ev)
{
	if (ev->flags & MS_RECF_WEIGHT) {
		ev->weight = get_u(c);
		if (!c->err && ev->weight == 0)
			c->err = -EBADMSG;
	}
}

/* Flags each type may carry. */
static uint8_t allowed_flags(unsigned type)
{
	if (type == MS_REC_ALLOC)
		return MS_RECF_ALIGN | MS_RECF_WEIGHT;
	if (type == MS_REC_REALLOC)
		return MS_RECF_WEIGHT;
	if (type == MS_REC_FREE)
		return MS_RECF_LEVEL;
	return 0;
}

static void decode_body(struct cursor *c, struct ms_rec_state *s,
			struct ms_event *ev)
{
	switch (ev->type) {
	case MS_REC_ALLOC:
		ev->addr = get_addr(c, s);
		ev->size = get_u(c);
		ev->stack_id = get_u(c);
		if (ev->flags & MS_RECF_ALIGN)
			ev->align = get_u(c);
		get_weight(c, ev);
		break;
	case MS_REC_FREE:
		ev->addr = get_addr(c, s);
		break;
	case MS_REC_REALLOC:
		ev->old_addr = get_addr(c, s);
		ev->addr = get_addr(c, s);
		ev->size = get_u(c);
		ev->stack_id = get_u(c);
		get_weight(c, ev);
		break;
	case MS_REC_STACK:
		get_stack(c, ev);
		break;
	case MS_REC_CLOCK:
		ev->mono_ns = get_u(c);
		ev->tick_hz = get_u(c);
		if (!c->err && ev->tick_hz == 0)
			c->err = -EBADMSG;
		break;
	case MS_REC_MODULE_LOAD:
		ev->addr = get_u(c);
		ev->size = get_u(c);
		ev->build_id = get_bytes(c, MS_BUILD_ID_MAX, &ev->build_id_len);
		ev->str = get_bytes(c, MS_PATH_MAX, &ev->str_len);
		break;
	case MS_REC_MODULE_UNLOAD:
		ev->addr = get_u(c);
		break;
	case MS_REC_THREAD_START:
		ev->pid = get_u(c);
		ev->tid = get_u(c);
		break;
	case MS_REC_THREAD_NAME:
		ev->str = get_bytes(c, MS_NAME_MAX, &ev->str_len);
		break;
	case MS_REC_LOST:
		ev->count = get_u(c);
		ev->cause = get_u(c);
		if (!c->err && ev->cause >= MS_LOST_REC_NCAUSES)
			c->err = -EBADMSG;
		break;
	default: /* THREAD_EXIT has no body */
		break;
	}
}

ssize_t ms_rec_decode(struct ms_rec_state *s, const uint8_t *p, size_t len,
		      struct ms_event *ev)
{
	struct cursor c = {.p = p, .end = p + len, .err = 0};
	struct ms_rec_state st = *s;

	if (len == 0)
		return -ENODATA;
	memset(ev, 0, offsetof(struct ms_event, frames));
	ev->type = p[0] & 0x0f;
	ev->flags = p[0] & 0xf0;
	ev->weight = MS_WEIGHT_ONE;
	c.p++;
	if (ev->type == 0 || ev->type >= MS_REC_NTYPES ||
	    (ev->flags & ~allowed_flags(ev->type)))
		return -EBADMSG;
	if (ev->type == MS_REC_SYNC) {
		st.last_ts = get_u(&c);
		st.last_addr = get_u(&c);
		ev->addr = st.last_addr;
	} else {
		st.last_ts += get_u(&c);
	}
	ev->ts = st.last_ts;
	decode_body(&c, &st, ev);
	if (c.err)
		return c.err;
	*s = st;
	return c.p - p;
}
