/* SPDX-License-Identifier: MIT */
/*
 * The interposed functions: the malloc family with glibc's contracts
 * (errno, NULL, zero sizes, alignment errors are the real allocator's own:
 * its result is passed through untouched), dlopen/dlclose for the module
 * map, pthread_setname_np for thread names, and the constructor that
 * attaches at load time. Built into libmemscope.so only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gotpatch.h"
#include "hooks.h"
#include "stackbounds.h"
#include "stackwalk.h"

void cfree(void *p);
void *valloc(size_t size);
void *pvalloc(size_t size);
void *memalign(size_t align, size_t size);

static void *tr_malloc(size_t size)
{
	void *p;

	if (MS_UNLIKELY(ms_booting()))
		return ms_boot_alloc(size, 16);
	p = ms_real.malloc(size);
	ms_on_alloc(p, size, 0, MS_CALLER);
	return p;
}

static void tr_free(void *p)
{
	if (MS_UNLIKELY(!p))
		return;
	if (MS_UNLIKELY(ms_boot_owns(p)) || MS_UNLIKELY(ms_booting()))
		return; /* arena blocks are never released */
	ms_on_free(p, 1);
	ms_real.free(p);
}

static void *tr_calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (MS_UNLIKELY(ms_booting())) {
		if (__builtin_mul_overflow(n, size, &total)) {
			errno = ENOMEM;
			return NULL;
		}
		return ms_boot_alloc(total, 16); /* the arena is zeroed */
	}
	p = ms_real.calloc(n, size);
	ms_on_alloc(p, n * size, 0, MS_CALLER);
	return p;
}

static void *do_realloc(void *old, size_t size, uintptr_t caller)
{
	void *p;

	if (MS_UNLIKELY(ms_booting()))
		return old ? ms_boot_realloc(old, size)
			   : ms_boot_alloc(size, 16);
	if (MS_UNLIKELY(ms_boot_owns(old)))
		return ms_boot_realloc(old, size); /* copied out, untracked */
	if (!old) {
		p = ms_real.realloc(NULL, size);
		ms_on_alloc(p, size, 0, caller);
		return p;
	}
	return ms_on_realloc(old, size, caller);
}

static void *tr_realloc(void *old, size_t size)
{
	return do_realloc(old, size, MS_CALLER);
}

static int tr_posix_memalign(void **out, size_t align, size_t size)
{
	int err;

	if (MS_UNLIKELY(ms_booting())) {
		void *p = ms_boot_alloc(size, align);

		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	err = ms_real.posix_memalign(out, align, size);
	if (err == 0)
		ms_on_alloc(*out, size, align, MS_CALLER);
	return err;
}

static void *tr_aligned_alloc(size_t align, size_t size)
{
	void *p;

	if (MS_UNLIKELY(ms_booting()))
		return ms_boot_alloc(size, align);
	p = ms_real.aligned_alloc(align, size);
	ms_on_alloc(p, size, align, MS_CALLER);
	return p;
}

static void *tr_memalign(size_t align, size_t size)
{
	void *p;

	if (MS_UNLIKELY(ms_booting()))
		return ms_boot_alloc(size, align);
	p = ms_real.memalign(align, size);
	ms_on_alloc(p, size, align, MS_CALLER);
	return p;
}

static void *tr_valloc(size_t size)
{
	void *p;

	if (MS_UNLIKELY(ms_booting()))
		return ms_boot_alloc(size, 4096);
	p = ms_real.valloc(size);
	ms_on_alloc(p, size, (size_t)sysconf(_SC_PAGESIZE), MS_CALLER);
	return p;
}

static void *tr_pvalloc(size_t size)
{
	void *p;

	if (MS_UNLIKELY(ms_booting()))
		return ms_boot_alloc(size, 4096);
	p = ms_real.pvalloc(size);
	ms_on_alloc(p, size, (size_t)sysconf(_SC_PAGESIZE), MS_CALLER);
	return p;
}

/*
 * The exported entry points jump through this table: to the real
 * allocator while nothing is tracked (no consumer: one indirect jump of
 * overhead), to the tr_* functions above while tracking, attaching or
 * still resolving.
 */
static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
} disp = {
	tr_malloc,	  tr_free,     tr_calloc, tr_realloc, tr_posix_memalign,
	tr_aligned_alloc, tr_memalign, tr_valloc, tr_pvalloc,
};

#define DISP(f)	  __atomic_load_n(&disp.f, __ATOMIC_RELAXED)
#define SET(f, v) __atomic_store_n(&disp.f, (v), __ATOMIC_RELAXED)

/* Called after every change of ms_g.state. */
static void update_dispatch(void)
{
	/* Arena blocks must never reach the real free/realloc. */
	int direct = ms_agent_state() == MS_AGENT_OFF && ms_real.free &&
		     !ms_boot_used();

	SET(malloc, direct ? ms_real.malloc : tr_malloc);
	SET(free, direct ? ms_real.free : tr_free);
	SET(calloc, direct ? ms_real.calloc : tr_calloc);
	SET(realloc, direct ? ms_real.realloc : tr_realloc);
	SET(posix_memalign,
	    direct ? ms_real.posix_memalign : tr_posix_memalign);
	SET(aligned_alloc, direct ? ms_real.aligned_alloc : tr_aligned_alloc);
	SET(memalign, direct ? ms_real.memalign : tr_memalign);
	SET(valloc, direct ? ms_real.valloc : tr_valloc);
	SET(pvalloc, direct ? ms_real.pvalloc : tr_pvalloc);
}

/* Sibling calls: the tr_* functions see the program's return address. */
MS_EXPORT void *malloc(size_t size)
{
	return DISP(malloc)(size);
}

MS_EXPORT void free(void *p)
{
	DISP(free)(p);
}

MS_EXPORT void cfree(void *p)
{
	DISP(free)(p);
}

MS_EXPORT void *calloc(size_t n, size_t size)
{
	return DISP(calloc)(n, size);
}

MS_EXPORT void *realloc(void *old, size_t size)
{
	return DISP(realloc)(old, size);
}

MS_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	size_t total;

	/* glibc's contract, without a second trip through realloc(). */
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return DISP(realloc)(old, total);
}

MS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	return DISP(posix_memalign)(out, align, size);
}

MS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return DISP(aligned_alloc)(align, size);
}

MS_EXPORT void *memalign(size_t align, size_t size)
{
	return DISP(memalign)(align, size);
}

MS_EXPORT void *valloc(size_t size)
{
	return DISP(valloc)(size);
}

MS_EXPORT void *pvalloc(size_t size)
{
	return DISP(pvalloc)(size);
}

/*
 * This library's own entry points, whatever the global lookup of their
 * names gives (a program may define malloc itself). Only their addresses
 * are used: glibc's declarations carry attributes these need not repeat.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
#define MS_WRAP_ALIAS(f)                                                       \
	extern __typeof__(f) ms_wrap_##f                                       \
		__attribute__((alias(#f), visibility("hidden")))
MS_WRAP_ALIAS(malloc);
MS_WRAP_ALIAS(free);
MS_WRAP_ALIAS(calloc);
MS_WRAP_ALIAS(realloc);
MS_WRAP_ALIAS(posix_memalign);
MS_WRAP_ALIAS(aligned_alloc);
MS_WRAP_ALIAS(memalign);
MS_WRAP_ALIAS(valloc);
MS_WRAP_ALIAS(pvalloc);
#undef MS_WRAP_ALIAS
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/*
 * A dlopen went through here: its objects may deep-bind (RTLD_DEEPBIND),
 * so unresolved slots are no longer bound by name. Store-then-load on
 * both sides (seq_cst, dlopen only): either bypass_wrappers() sees
 * dlopen_seen, or dlopen sees bypassing and waits for the walk to end.
 */
static int dlopen_seen;
static int bypassing;

static void note_dlopen(void)
{
	__atomic_store_n(&dlopen_seen, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&bypassing, __ATOMIC_SEQ_CST))
		sched_yield();
}

/* Attach failed at start-up: nothing will ever be tracked here. */
static int untracked_for_good(void)
{
	return ms_agent_state() == MS_AGENT_OFF && ms_g.attach_tried &&
	       ms_g.attach_err;
}

/*
 * Attach failed at start-up: nothing will ever be tracked in this process
 * (memscope_init() returns the same error, a fork child of an untracked
 * parent stays untracked), so the PLT slots that lead to the wrappers are
 * pointed at what the wrappers would call (gotpatch.h). Unresolved slots
 * are bound by name only when the dynamic linker would have bound them
 * here: no dlopen yet, no auditor, no LD_BIND_NOT.
 */
static void bypass_wrappers(void)
{
	const struct ms_real_fns wrap = {
		.malloc = ms_wrap_malloc,
		.free = ms_wrap_free,
		.calloc = ms_wrap_calloc,
		.realloc = ms_wrap_realloc,
		.posix_memalign = ms_wrap_posix_memalign,
		.aligned_alloc = ms_wrap_aligned_alloc,
		.memalign = ms_wrap_memalign,
		.valloc = ms_wrap_valloc,
		.pvalloc = ms_wrap_pvalloc,
	};
	struct ms_got_redirect r[MS_GOT_MAX];
	int flags = 0;
	size_t n;

	if (!untracked_for_good())
		return;
	n = ms_got_bypass_table(&wrap, r);
	__atomic_store_n(&bypassing, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&dlopen_seen, __ATOMIC_SEQ_CST) &&
	    !getenv("LD_AUDIT") && !getenv("LD_BIND_NOT"))
		flags |= MS_GOT_LAZY;
	ms_got_redirect(r, n, (uintptr_t)ms_wrap_malloc, flags);
	__atomic_store_n(&bypassing, 0, __ATOMIC_RELEASE); /* note_dlopen() */
}

/* The module map changed: record it on the calling thread. */
static void modules_changed(void)
{
	struct ms_tstate *t = &ms_tls;

	if (!ms_active() || t->guard)
		return;
	ms_guard_enter(t);
	if (ms_track_ready(t) == 0)
		ms_modules_rescan(t);
	ms_guard_leave(t);
}

/*
 * glibc resolves a bare name (no '/') through the RUNPATH of the object
 * that called dlopen, and expands $ORIGIN relative to it. Calling the real
 * dlopen from here would make that object this library, so such calls go
 * to the real dlopen as a tail call (the return address stays the
 * caller's) and the map is refreshed at the next dlopen/dlclose instead.
 */
static int caller_matters(const char *file)
{
	return file && (!strchr(file, '/') || strchr(file, '$'));
}

MS_EXPORT void *dlopen(const char *file, int mode)
{
	void *h;

	if (MS_UNLIKELY(ms_booting()) || !ms_real.dlopen)
		return NULL;
	note_dlopen();
	if (caller_matters(file)) {
		modules_changed();
		return ms_real.dlopen(file, mode);
	}
	h = ms_real.dlopen(file, mode);
	if (h)
		modules_changed();
	return h;
}

MS_EXPORT int dlclose(void *h)
{
	int r;

	if (MS_UNLIKELY(ms_booting()) || !ms_real.dlclose)
		return -1;
	r = ms_real.dlclose(h);
	if (r == 0) {
		ms_stackwalk_forget_all(); /* its code may be unmapped */
		modules_changed();
	}
	return r;
}

/* Counted for the stack capture (stackwalk.h, ms_stackwalk_in_phdr). */
MS_EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *),
			      void *data)
{
	int r;

	if (MS_UNLIKELY(ms_booting()) || !ms_real.dl_iterate_phdr)
		return 0;
	ms_stackwalk_in_phdr++;
	r = ms_real.dl_iterate_phdr(cb, data);
	ms_stackwalk_in_phdr--;
	return r;
}

MS_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	struct ms_tstate *t = &ms_tls;
	int r;

	if (MS_UNLIKELY(ms_booting()) || !ms_real.setname)
		return ENOSYS;
	r = ms_real.setname(th, name);
	if (r == 0 && pthread_equal(th, pthread_self()) && ms_active() &&
	    !t->guard && t->state == MS_T_ACTIVE) {
		ms_guard_enter(t);
		ms_thread_emit_name(t, name);
		ms_guard_leave(t);
	}
	return r;
}

struct start {
	void *(*fn)(void *);
	void *arg;
};

/*
 * A new thread learns its stack's bounds here, before its own code runs
 * and so before it can hold any lock (stackbounds.h), then jumps to its
 * start routine: a tail call, so no frame of ours stays below it.
 */
static void *start_trampoline(void *p)
{
	struct start s = *(struct start *)p;
	struct ms_tstate *t = &ms_tls;

	t->guard++; /* pthread_getattr_np() allocates: not the program's */
	ms_real.free(p);
	ms_stack_bounds_learn();
	t->guard--;
	return s.fn(s.arg);
}

MS_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
			     void *(*fn)(void *), void *arg)
{
	struct start *s;
	int err;

	if (MS_UNLIKELY(ms_booting()) || !ms_real.pthread_create)
		return EAGAIN;
	if (untracked_for_good())
		return ms_real.pthread_create(th, attr, fn, arg);
	s = ms_real.malloc(sizeof(*s));
	if (!s) /* the walker will find the bounds another way */
		return ms_real.pthread_create(th, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	err = ms_real.pthread_create(th, attr, start_trampoline, s);
	if (err)
		ms_real.free(s);
	return err;
}

/*
 * Attach at load time when preloaded or when the environment names a
 * session; a program linked with -lmemscope and no session in its
 * environment starts tracking at memscope_init().
 */
static int autostart(void)
{
	const char *pre = getenv("LD_PRELOAD");

	if (getenv("MEMSCOPE_SESSION") || getenv("MEMSCOPE_SOCKET"))
		return 1;
	return pre && strstr(pre, "libmemscope");
}

__attribute__((constructor)) static void ms_interpose_init(void)
{
	ms_boot_resolve();
	ms_g.on_state = update_dispatch;
	ms_agent_init();
	if (autostart())
		ms_attach(NULL, NULL, 0);
	if (ms_agent_state() == MS_AGENT_EARLY)
		ms_agent_set_state(MS_AGENT_OFF);
	ms_early_replay();
	update_dispatch();
	bypass_wrappers();
}
