/* SPDX-License-Identifier: MIT */
/*
 * The real allocator, and what stands in for it while it is looked up.
 *
 * ms_real is filled with dlsym(RTLD_NEXT, ...) on the first interposed call
 * (or in the constructor, whichever comes first). dlsym may itself
 * allocate; those calls arrive while the table is still empty and are
 * served from a small static arena. Arena blocks are never handed to the
 * real free: free() ignores them and realloc() copies them out.
 */
#include <dlfcn.h>
#include <string.h>

#include "agent.h"

struct ms_real_fns ms_real;
uint8_t ms_boot_arena[MS_BOOT_ARENA_SIZE] __attribute__((aligned(64)));
static _Atomic size_t arena_used;

/* glibc's own entry points: the fallback when dlsym finds nothing. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static int fallback_posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align % sizeof(void *) || (align & (align - 1)) || align == 0)
		return 22; /* EINVAL */
	p = __libc_memalign(align, size);
	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

#define RESOLVE(field, name, fallback)                                         \
	do {                                                                   \
		void *f_ = dlsym(RTLD_NEXT, name);                             \
		if (f_)                                                        \
			memcpy(&fns.field, &f_, sizeof(f_));                   \
		else                                                           \
			fns.field = fallback;                                  \
	} while (0)

void ms_boot_resolve(void)
{
	struct ms_real_fns fns = {0};
	struct ms_tstate *t = &ms_tls;
	int guard = t->guard;

	if (ms_real.free)
		return;
	t->guard = 1; /* dlsym's own allocations: not tracked */
	RESOLVE(malloc, "malloc", __libc_malloc);
	RESOLVE(free, "free", __libc_free);
	RESOLVE(calloc, "calloc", __libc_calloc);
	RESOLVE(realloc, "realloc", __libc_realloc);
	RESOLVE(posix_memalign, "posix_memalign", fallback_posix_memalign);
	RESOLVE(aligned_alloc, "aligned_alloc", __libc_memalign);
	RESOLVE(memalign, "memalign", __libc_memalign);
	RESOLVE(valloc, "valloc", __libc_valloc);
	RESOLVE(pvalloc, "pvalloc", __libc_pvalloc);
	RESOLVE(dlopen, "dlopen", NULL);
	RESOLVE(dlclose, "dlclose", NULL);
	RESOLVE(setname, "pthread_setname_np", NULL);
	RESOLVE(pthread_create, "pthread_create", NULL);
	RESOLVE(dl_iterate_phdr, "dl_iterate_phdr", NULL);
	/* free last: it is the "resolved" flag the hot path tests. */
	ms_real.malloc = fns.malloc;
	ms_real.calloc = fns.calloc;
	ms_real.realloc = fns.realloc;
	ms_real.posix_memalign = fns.posix_memalign;
	ms_real.aligned_alloc = fns.aligned_alloc;
	ms_real.memalign = fns.memalign;
	ms_real.valloc = fns.valloc;
	ms_real.pvalloc = fns.pvalloc;
	ms_real.dlopen = fns.dlopen;
	ms_real.dlclose = fns.dlclose;
	ms_real.setname = fns.setname;
	ms_real.pthread_create = fns.pthread_create;
	ms_real.dl_iterate_phdr = fns.dl_iterate_phdr;
	ms_real.glibc = fns.free == __libc_free && fns.malloc == __libc_malloc;
	__atomic_store_n(&ms_real.free, fns.free, __ATOMIC_RELEASE);
	t->guard = guard;
}

int ms_boot_used(void)
{
	return ms_load_relaxed(&arena_used) != 0;
}

/* Each block: its size in the 16 bytes before it. */
void *ms_boot_alloc(size_t size, size_t align)
{
	size_t off, start;

	if (align < 16)
		align = 16;
	if (size > MS_BOOT_ARENA_SIZE || align > 4096)
		return NULL;
	off = ms_fetch_add_relaxed(&arena_used, size + align + 16);
	start = (off + 16 + align - 1) & ~(align - 1);
	if (start + size > MS_BOOT_ARENA_SIZE)
		return NULL;
	memcpy(ms_boot_arena + start - 16, &size, sizeof(size));
	return ms_boot_arena + start;
}

void *ms_boot_realloc(void *p, size_t size)
{
	size_t old;
	void *q;

	memcpy(&old, (uint8_t *)p - 16, sizeof(old));
	q = ms_real.malloc ? ms_real.malloc(size) : ms_boot_alloc(size, 16);
	if (q)
		memcpy(q, p, old < size ? old : size);
	return q;
}
