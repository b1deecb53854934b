/* SPDX-License-Identifier: MIT */
/*
 * Atomic wrappers whose names carry the memory order. Hot paths use only
 * these; no bare sequentially-consistent operation is wanted anywhere.
 */
#ifndef MS_ATOMICS_H
#define MS_ATOMICS_H

#include <stdatomic.h>
#include <stdint.h>

#define ms_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define ms_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define ms_store_relaxed(p, v)                                                 \
	atomic_store_explicit((p), (v), memory_order_relaxed)
#define ms_store_release(p, v)                                                 \
	atomic_store_explicit((p), (v), memory_order_release)
#define ms_fetch_add_relaxed(p, v)                                             \
	atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define ms_fetch_sub_relaxed(p, v)                                             \
	atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define ms_cas_acq_rel(p, expp, v)                                             \
	atomic_compare_exchange_strong_explicit(                               \
		(p), (expp), (v), memory_order_acq_rel, memory_order_acquire)

#define MS_LIKELY(x)	 __builtin_expect(!!(x), 1)
#define MS_UNLIKELY(x)	 __builtin_expect(!!(x), 0)
#define MS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MS_CACHELINE	 64

static inline void ms_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
