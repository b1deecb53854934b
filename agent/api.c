/* SPDX-License-Identifier: MIT */
/*
 * The explicit API (memscope.h): custom allocators report their blocks
 * into the same per-thread rings as the interposed malloc family.
 */
#include <errno.h>
#include <string.h>

#include "hooks.h"
#include "memscope.h"

MS_EXPORT int memscope_init(const struct memscope_options *opt)
{
	struct ms_settings api;
	int mask = 0;

	if (ms_booting())
		return -EAGAIN;
	ms_agent_init();
	ms_settings_defaults(&api);
	if (opt && opt->version != MEMSCOPE_API_VERSION)
		return -EINVAL;
	if (opt && opt->sampling) {
		if (ms_parse_sampling(opt->sampling, &api) < 0)
			return -EINVAL;
		mask |= MS_API_SAMPLING;
	}
	if (opt && opt->stack_depth >= 0) {
		if (opt->stack_depth > MS_MAX_STACK_DEPTH)
			return -EINVAL;
		api.stack_depth = (uint32_t)opt->stack_depth;
		mask |= MS_API_DEPTH;
	}
	return ms_attach(opt ? opt->session : NULL, &api, mask);
}

MS_EXPORT int memscope_thread_init(void)
{
	struct ms_tstate *t = &ms_tls;

	if (!ms_active())
		return -ENOTCONN;
	return ms_track_ready(t);
}

MS_EXPORT void memscope_track_alloc(const void *ptr, size_t size)
{
	ms_on_alloc((void *)ptr, size, 0, MS_CALLER);
}

MS_EXPORT void memscope_track_free(const void *ptr)
{
	if (ptr)
		ms_on_free((void *)ptr, 0);
}

MS_EXPORT void memscope_finalize(void)
{
	struct ms_tstate *t = &ms_tls;

	if (ms_booting())
		return;
	t->guard++;
	pthread_mutex_lock(&ms_g.lock);
	if (ms_agent_state() == MS_AGENT_ON) {
		/* Everything committed stays in the rings; EOF tells the
		 * consumer to drain them all. */
		ms_g.finalized = 1;
		ms_agent_set_state(MS_AGENT_OFF);
		ms_attach_close_socket();
	}
	ms_g.attach_tried = 1;
	pthread_mutex_unlock(&ms_g.lock);
	t->guard--;
}
