/* SPDX-License-Identifier: MIT */
/*
 * fork: the child starts from fresh state. It unmaps the parent's rings
 * (MAP_SHARED: a write would land in the parent's stream), closes the
 * parent's socket and, if the parent was tracking, attaches as a new
 * process at its first tracked call. exec needs nothing here: the socket
 * and the memfds are close-on-exec and the new image attaches through the
 * inherited environment.
 */
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "stack.h"

static void prepare(void)
{
	ms_tls.guard++;
	pthread_mutex_lock(&ms_g.lock);
}

static void parent(void)
{
	pthread_mutex_unlock(&ms_g.lock);
	ms_tls.guard--;
}

static void reset_thread(struct ms_tstate *t)
{
	ms_stack_table_destroy(t->stacks);
	t->stacks = NULL;
	t->state = MS_T_UNINIT;
	t->slot = NULL;
	t->exit_rounds = 0;
	t->lost_pending = 0;
	memset(&t->ring, 0, sizeof(t->ring));
	memset(&t->rs, 0, sizeof(t->rs));
	t->smp.mode = 0; /* re-seeded from the new settings */
}

static void child(void)
{
	int was_on = ms_agent_state() == MS_AGENT_ON;

	pthread_mutex_init(&ms_g.lock, NULL);
	ms_agent_set_state(MS_AGENT_OFF);
	ms_attach_close_socket();
	for (uint32_t i = 0; i < ms_g.nslots; i++)
		ms_ring_unmap(&ms_g.slots[i].ring);
	memset(ms_g.slots, 0, sizeof(ms_g.slots[0]) * ms_g.nslots);
	ms_g.nslots = 0;
	ms_addrtab_destroy(ms_g.tab);
	ms_g.tab = NULL;
	ms_g.modules_sent = 0;
	ms_modules_reset();
	ms_g.pid = (uint32_t)getpid();
	reset_thread(&ms_tls);
	if (was_on && !ms_g.finalized)
		ms_agent_set_state(MS_AGENT_PENDING);
	ms_tls.guard--;
}

void ms_fork_install(void)
{
	pthread_atfork(prepare, parent, child);
}
