/* SPDX-License-Identifier: MIT */
/*
 * Where a thread's stack lies, for the stack walker's bounds, learned
 * without any lock an allocating caller may already hold.
 *
 * pthread_getattr_np() would tell, but it takes the thread's own lock and
 * then allocates (and, on the main thread, reads /proc/self/maps through
 * stdio): called from inside malloc, while the same thread is inside
 * pthread_getattr_np() -- every Rust program's start-up does that -- it
 * waits for itself forever. So:
 *
 * - threads started by pthread_create(): the agent starts them in a
 *   trampoline (interpose.c) that asks pthread_getattr_np() before the
 *   thread's own code runs, when the thread holds no lock, and hands the
 *   answer to ms_stack_bounds_set();
 * - the main thread: the top is the dynamic linker's __libc_stack_end
 *   (the stack pointer at process entry; every frame lies below it), the
 *   bottom the top minus RLIMIT_STACK;
 * - any other thread (C11 thrd_create(), which calls glibc's internal
 *   pthread_create, threads started before this library was loaded): the
 *   mapping that holds the stack pointer, from /proc/self/maps read with
 *   raw system calls (the PROCMAP_QUERY ioctl where the kernel has it,
 *   Linux 6.11, else the text, streamed through a fixed buffer), accepted
 *   only if it also holds the thread's descriptor pthread_self(), which
 *   glibc places at the top of every thread stack.
 *
 * None of these allocates, takes a lock or is a cancellation point.
 */
#ifndef MS_STACKBOUNDS_H
#define MS_STACKBOUNDS_H

#include <stdint.h>

/* Records the calling thread's stack [lo, hi) (its trampoline). */
void ms_stack_bounds_set(uintptr_t lo, uintptr_t hi);

/* Asks pthread_getattr_np() for the calling thread's stack and records
 * it. Only where the thread holds no lock: its trampoline. */
void ms_stack_bounds_learn(void);

/*
 * The calling thread's stack, holding `sp`: what the trampoline recorded,
 * else worked out as above. Returns 0, or -ENOENT when it cannot be known
 * (the walker then leaves every stack of the thread to libunwind).
 */
int ms_stack_bounds(uintptr_t sp, uintptr_t *lo, uintptr_t *hi);

/* The mapping [lo, hi) holding `addr`, from /proc/self/maps. Returns 0,
 * -ENOENT when no mapping holds it, or the error of opening the file. */
int ms_stack_bounds_vma(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

/* The same from an open maps file `fd` (its text when it is not procfs:
 * for tests), read from its current offset. */
int ms_maps_find(int fd, uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

#endif
