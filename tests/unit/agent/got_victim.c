/* SPDX-License-Identifier: MIT */
/*
 * A library for test_agent_gotpatch: each function calls a gt_target_*
 * function of the test program through its PLT. Built twice: lazily bound
 * (victim_lazy_*) and BIND_NOW with its GOT in RELRO (victim_now_*).
 */
#include "got_victim.h"

#ifdef MS_VICTIM_NOW
#define V(n) victim_now_##n
#else
#define V(n) victim_lazy_##n
#endif

int V(a)(int x)
{
	return gt_target_a(x);
}

int V(b)(int x)
{
	return gt_target_b(x);
}

int V(c)(int x)
{
	return gt_target_c(x);
}

int V(d)(int x)
{
	return gt_target_d(x);
}

int V(e)(int x)
{
	return gt_target_e(x);
}
