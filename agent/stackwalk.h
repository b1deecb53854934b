/* SPDX-License-Identifier: MIT */
/*
 * A fast stack walker for the ordinary x86-64 frame, with libunwind as the
 * authority for everything else.
 *
 * The rule of each frame is read once per thread and code address from
 * the object's own .eh_frame (found through PT_GNU_EH_FRAME's search
 * table, as libunwind finds it) and kept in a per-thread table. A frame is
 * walked here only when its rule is the plain one: the CFA is RSP or RBP
 * plus a constant, the return address is at CFA-8, RBP is unchanged or
 * saved at a constant offset from the CFA, RSP has no rule of its own.
 * Anything else -- a signal frame, a CFA expression or another CFA
 * register, code without unwind info, a stack word outside the part of
 * this thread's stack that lies above the walker, a CFA that does not
 * grow -- and ms_stackwalk() gives up, so that the caller asks unw_backtrace()
 * for the whole stack. The frames it does return are the ones
 * unw_backtrace() returns.
 *
 * Reads of stack memory stay within [current RSP, top of this thread's
 * stack) (stackbounds.h, once per thread): always mapped. Rules are
 * forgotten when the program calls dlclose() (code may be unmapped and
 * other code loaded at the same address).
 *
 * Each thread keeps its last walk: for every frame the state the step
 * started from (PC, RSP, RBP) and the stack words it read. A step is a
 * function of that state, the rule of PC and those words, so when a walk
 * reaches a state of the last walk and every word the last walk read from
 * there on still holds the same value, the rest of the walk is the same:
 * it is copied instead of walked (checking the words has no chain of
 * dependent loads; walking has one per frame).
 */
#ifndef MS_STACKWALK_H
#define MS_STACKWALK_H

#include <stdint.h>

/*
 * The same contract as unw_backtrace(): fills buf[0..size) with the
 * return addresses of the calling thread's stack, innermost first,
 * starting with ms_stackwalk()'s own, and returns their count. Returns -1
 * when some frame is not provably walked right here: call unw_backtrace()
 * then. A thread's first walk maps its tables and learns the stack's
 * bounds (stackbounds.h: at most a few system calls); learning a new code
 * address asks _dl_find_object() (lock-free); otherwise no system call.
 * Never a lock, never an allocation.
 */
int ms_stackwalk(void **buf, int size);

/*
 * How many dl_iterate_phdr() calls this thread is inside (interpose.c
 * counts them). Their callbacks run with the loader's lock held, and
 * libunwind takes its global cache lock and then the loader's: a stack
 * taken there must not be asked of libunwind (ms_stack_capture() keeps the
 * caller alone when the walker gives up), or a thread inside libunwind
 * and this one wait for each other.
 */
extern __thread int ms_stackwalk_in_phdr
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

/* Forgets every thread's rules (after dlclose). Async-signal-safe. */
void ms_stackwalk_forget_all(void);

/* Frees the calling thread's rules (thread exit). */
void ms_stackwalk_thread_exit(void);

/* How the calling thread's walks ended: for tests and benchmarks. */
struct ms_stackwalk_stats {
	uint64_t walked;  /* walks that returned a stack */
	uint64_t gave_up; /* walks that returned -1 */
	uint64_t learned; /* rules read from .eh_frame */
	uint64_t unusual; /* of those, rules this walker does not follow */
	uint64_t reused;  /* walks that took frames from the last walk */
};

void ms_stackwalk_get_stats(struct ms_stackwalk_stats *s);

#endif
