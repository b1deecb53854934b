/* SPDX-License-Identifier: MIT */
/*
 * Places where glibc calls malloc or free while it holds one of its own
 * locks, or where the agent's work could act on the program's behalf
 * (cancellation). Under a tracker that takes the same lock from inside
 * malloc, these hang; agent_e2e.py runs each scenario under a timeout and
 * compares its output with the untracked run's.
 *
 * usage: e2e_locks SCENARIO [PLUGIN]
 *   getattr-main    pthread_getattr_np() on the main thread, first thing
 *   getattr-thread  ... on new threads, first thing, and on other threads
 *   phdr            malloc inside dl_iterate_phdr() callbacks, 4 threads
 *   phdr-unwind     the same where every allocation's stack needs
 *                   libunwind (a frame with a CFA expression), from 256
 *                   functions, on fresh threads each round
 *   dlopen PLUGIN   dlopen()/dlclose() of a library whose constructor and
 *                   destructor allocate, ask pthread_getattr_np() and start
 *                   a thread; on 2 threads at once
 *   atexit          atexit() and on_exit() handlers that allocate
 *   atfork          pthread_atfork() handlers that allocate, fork() from a
 *                   thread while others allocate
 *   tls-dtor        thread-local (C++ style) and pthread key destructors
 *                   that allocate, on 8 threads
 *   stdio           fopen/fgets/fclose, open_memstream and fflush(NULL)
 *                   storms on 5 threads
 *   nss             getpwnam, getgrnam, getaddrinfo on 4 threads
 *   cancel          a thread with a cancellation request pending makes its
 *                   first allocations: it must reach its next cancellation
 *                   point, and later threads must still start
 *
 * Each prints one deterministic line per step; any hang is the failure.
 */
#include <dlfcn.h>
#include <grp.h>
#include <link.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Stores through this keep the compiler from eliding malloc/free pairs;
 * one per thread, or threads would free each other's blocks. */
static __thread void *volatile sink;

static void churn(int n)
{
	for (int i = 0; i < n; i++) {
		sink = malloc((size_t)(i % 200) + 1);
		free(sink);
	}
}

static void spawn(pthread_t *th, int n, void *(*fn)(void *))
{
	for (intptr_t i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, fn, (void *)i) != 0) {
			perror("pthread_create");
			exit(1);
		}
}

static void join(pthread_t *th, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

/* ---- pthread_getattr_np ---- */

static size_t stack_size_of(pthread_t t)
{
	pthread_attr_t a;
	size_t size = 0;
	void *addr;

	if (pthread_getattr_np(t, &a) != 0)
		return 0;
	pthread_attr_getstack(&a, &addr, &size);
	pthread_attr_destroy(&a);
	return size;
}

static void *getattr_self(void *arg)
{
	(void)arg;
	if (stack_size_of(pthread_self()) == 0)
		puts("getattr: no stack size");
	churn(100);
	return NULL;
}

static void *getattr_others(void *arg)
{
	pthread_t *peers = arg;

	for (int r = 0; r < 50; r++)
		for (int i = 0; i < 4; i++)
			stack_size_of(peers[i]);
	return NULL;
}

static void *getattr_busy(void *arg)
{
	(void)arg;
	for (int r = 0; r < 50; r++) {
		stack_size_of(pthread_self());
		churn(20);
	}
	return NULL;
}

static int getattr_main(void)
{
	size_t size = stack_size_of(pthread_self());

	printf("getattr-main: stack size %s\n", size ? "known" : "unknown");
	churn(100);
	printf("getattr-main: again %s\n",
	       stack_size_of(pthread_self()) == size ? "same" : "differs");
	return 0;
}

static int getattr_thread(void)
{
	pthread_t th[8], peer;

	spawn(th, 8, getattr_self);
	join(th, 8);
	puts("getattr-thread: 8 threads asked about themselves");
	spawn(th, 4, getattr_busy);
	pthread_create(&peer, NULL, getattr_others, th);
	join(th, 4);
	pthread_join(peer, NULL);
	puts("getattr-thread: 4 threads asked about while allocating");
	return 0;
}

/* ---- dl_iterate_phdr ---- */

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	int *n = arg;

	(void)size;
	sink = malloc(strlen(info->dlpi_name) + 64);
	free(sink);
	churn(3);
	(*n)++;
	return 0;
}

static void *phdr_worker(void *arg)
{
	int n = 0;

	(void)arg;
	for (int r = 0; r < 100; r++)
		dl_iterate_phdr(phdr_cb, &n);
	return n > 0 ? NULL : (void *)1;
}

static int phdr(void)
{
	pthread_t th[4];
	int n = 0;

	dl_iterate_phdr(phdr_cb, &n); /* the main thread's first walk */
	spawn(th, 4, phdr_worker);
	churn(2000);
	join(th, 4);
	printf("phdr: %s\n", n > 0 ? "objects seen" : "nothing seen");
	return 0;
}

/*
 * via_expression(fn, arg) calls fn(arg) from a frame whose CFA rule is a
 * DWARF expression (rsp + 16, written as one): the agent's walker leaves
 * such stacks to libunwind. 256 distinct callees keep libunwind's caches
 * missing.
 */
void via_expression(void (*fn)(size_t), size_t arg);
__asm__(".text\n"
	".type via_expression, @function\n"
	"via_expression:\n"
	".cfi_startproc\n"
	"push %rbx\n"
	".cfi_escape 0x0f, 0x02, 0x77, 0x10\n" /* CFA = DW_OP_breg7 16 */
	".cfi_offset %rbx, -16\n"
	"mov %rdi, %rax\n"
	"mov %rsi, %rdi\n"
	"call *%rax\n"
	"pop %rbx\n"
	".cfi_def_cfa %rsp, 8\n"
	"ret\n"
	".cfi_endproc\n"
	".size via_expression, .-via_expression\n");

#define CALLEE(n)                                                              \
	static __attribute__((noinline)) void callee_##n(size_t s)             \
	{                                                                      \
		sink = malloc(s + n % 3);                                      \
		free(sink);                                                    \
	}
#define CALLEE4(n)  CALLEE(n##0) CALLEE(n##1) CALLEE(n##2) CALLEE(n##3)
#define CALLEE16(n) CALLEE4(n##0) CALLEE4(n##1) CALLEE4(n##2) CALLEE4(n##3)
#define CALLEE64(n) CALLEE16(n##0) CALLEE16(n##1) CALLEE16(n##2) CALLEE16(n##3)
CALLEE64(1)
CALLEE64(2) CALLEE64(3) CALLEE64(4)
#define REF(n)	 callee_##n,
#define REF4(n)	 REF(n##0) REF(n##1) REF(n##2) REF(n##3)
#define REF16(n) REF4(n##0) REF4(n##1) REF4(n##2) REF4(n##3)
#define REF64(n) REF16(n##0) REF16(n##1) REF16(n##2) REF16(n##3)
	static void (*const callees[256])(size_t) = {REF64(1) REF64(2) REF64(3)
							     REF64(4)};

static int phdr_unwind_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned *next = arg;

	(void)info;
	(void)size;
	via_expression(callees[(*next)++ % 256], 32);
	return 0;
}

static void *phdr_unwind_iter(void *arg)
{
	unsigned next = (unsigned)(uintptr_t)arg * 97;

	for (int r = 0; r < 20; r++)
		dl_iterate_phdr(phdr_unwind_cb, &next);
	return NULL;
}

static void *phdr_unwind_alloc(void *arg)
{
	(void)arg;
	for (int r = 0; r < 4; r++)
		for (int i = 0; i < 256; i++)
			via_expression(callees[(i * 7 + r) % 256], 48);
	return NULL;
}

static int phdr_unwind(void)
{
	pthread_t th[4];

	for (int round = 0; round < 10; round++) {
		pthread_create(&th[0], NULL, phdr_unwind_iter, (void *)0);
		pthread_create(&th[1], NULL, phdr_unwind_iter, (void *)1);
		pthread_create(&th[2], NULL, phdr_unwind_alloc, NULL);
		pthread_create(&th[3], NULL, phdr_unwind_alloc, NULL);
		join(th, 4);
	}
	puts("phdr-unwind: 10 rounds");
	return 0;
}

/* ---- dlopen constructors ---- */

static const char *plugin_path;

static void *dlopen_worker(void *arg)
{
	int (*count)(void);
	int bad = 0;

	(void)arg;
	for (int r = 0; r < 20; r++) {
		void *h = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);

		if (!h)
			return (void *)1;
		count = (int (*)(void))dlsym(h, "e2e_locks_plugin_blocks");
		bad |= !count || count() != 3;
		dlclose(h);
		churn(10);
	}
	return bad ? (void *)1 : NULL;
}

static int dlopen_case(const char *path)
{
	pthread_t th[2];
	void *r0, *r1;

	if (!path) {
		fputs("dlopen: PLUGIN argument missing\n", stderr);
		return 2;
	}
	plugin_path = path;
	spawn(th, 2, dlopen_worker);
	pthread_join(th[0], &r0);
	pthread_join(th[1], &r1);
	printf("dlopen: %s\n", !r0 && !r1 ? "40 loads" : "a load failed");
	return !r0 && !r1 ? 0 : 1;
}

/* ---- atexit, on_exit ---- */

static void at_exit_handler(void)
{
	churn(50);
	/* A first allocation of a thread inside exit(): fine too. */
	sink = strdup("atexit");
	free(sink);
}

static void on_exit_handler(int status, void *arg)
{
	(void)status;
	free(arg);
	churn(50);
}

static int atexit_case(void)
{
	atexit(at_exit_handler);
	on_exit(on_exit_handler, malloc(32));
	churn(10);
	puts("atexit: handlers registered");
	return 0; /* through exit(): the handlers run */
}

/* ---- pthread_atfork ---- */

static void *fork_block;

static void fork_prepare(void)
{
	fork_block = malloc(64);
}

static void fork_parent(void)
{
	free(fork_block);
	churn(5);
}

static void fork_child(void)
{
	free(fork_block);
	churn(5); /* the child's first calls: it attaches here */
}

static void *fork_churn(void *arg)
{
	(void)arg;
	churn(20000);
	return NULL;
}

static int atfork_case(void)
{
	pthread_t th[3];
	int ok = 1;

	pthread_atfork(fork_prepare, fork_parent, fork_child);
	spawn(th, 3, fork_churn);
	for (int i = 0; i < 10; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			churn(100);
			exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
			ok = 0;
	}
	join(th, 3);
	printf("atfork: %s\n", ok ? "10 children exited 0" : "a child failed");
	return ok ? 0 : 1;
}

/* ---- thread-local destructors ---- */

/* What a C++ thread_local with a destructor registers; in glibc. */
int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso);
extern void *__dso_handle;

static pthread_key_t dtor_key;

static void tls_dtor(void *p)
{
	free(p);
	churn(20);
}

static void key_dtor(void *p)
{
	free(p);
	churn(20);
}

static void *tls_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		__cxa_thread_atexit_impl(tls_dtor, malloc(40), &__dso_handle);
	pthread_setspecific(dtor_key, malloc(24));
	churn(10);
	return NULL;
}

static int tls_dtor_case(void)
{
	pthread_t th[8];

	pthread_key_create(&dtor_key, key_dtor);
	for (int r = 0; r < 5; r++) {
		spawn(th, 8, tls_worker);
		join(th, 8);
	}
	puts("tls-dtor: 40 threads ran their destructors");
	return 0;
}

/* ---- stdio ---- */

static void *stdio_reader(void *arg)
{
	const char *files[] = {"/proc/self/maps", "/proc/self/status",
			       "/etc/passwd"};
	char line[256];

	for (int r = 0; r < 200; r++) {
		FILE *f = fopen(files[(r + (intptr_t)arg) % 3], "re");

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			;
		fclose(f);
	}
	return NULL;
}

static void *stdio_writer(void *arg)
{
	(void)arg;
	for (int r = 0; r < 200; r++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		if (!m)
			continue;
		for (int i = 0; i < 100; i++)
			fprintf(m, "line %d of round %d\n", i, r);
		fclose(m);
		free(buf);
		fflush(NULL);
	}
	return NULL;
}

static int stdio_case(void)
{
	pthread_t th[5];

	spawn(th, 4, stdio_reader);
	pthread_create(&th[4], NULL, stdio_writer, NULL);
	join(th, 5);
	puts("stdio: 800 files read, 200 memstreams written");
	return 0;
}

/* ---- NSS ---- */

static void *nss_worker(void *arg)
{
	struct addrinfo hints = {.ai_family = AF_INET,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	intptr_t bad = 0;

	(void)arg;
	for (int r = 0; r < 50; r++) {
		struct addrinfo *ai = NULL;

		bad |= getpwnam("root") == NULL;
		bad |= getgrnam("root") == NULL;
		if (getaddrinfo("localhost", "80", &hints, &ai) == 0)
			freeaddrinfo(ai);
		else
			bad |= 2;
	}
	return (void *)bad;
}

static int nss_case(void)
{
	pthread_t th[4];
	intptr_t bad = 0;
	void *r;

	spawn(th, 4, nss_worker);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &r);
		bad |= (intptr_t)r;
	}
	printf("nss: root %s, localhost %s\n", bad & 1 ? "missing" : "found",
	       bad & 2 ? "unresolved" : "resolved");
	return 0;
}

/* ---- cancellation ---- */

static volatile int reached[4];

static void *cancelled(void *arg)
{
	intptr_t i = (intptr_t)arg;

	pthread_cancel(pthread_self()); /* pending: deferred type */
	sink = malloc(100);		/* this thread's first tracked calls */
	free(sink);
	reached[i] = 1;
	pthread_testcancel(); /* its first cancellation point */
	reached[i] = 2;
	return NULL;
}

static void *after(void *arg)
{
	(void)arg;
	churn(100);
	return NULL;
}

static int cancel_case(void)
{
	pthread_t th[4];
	void *r;
	int n = 0;

	spawn(th, 4, cancelled);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &r);
		n += r == PTHREAD_CANCELED && reached[i] == 1;
	}
	printf("cancel: %d of 4 threads cancelled at their own "
	       "cancellation point\n",
	       n);
	spawn(th, 4, after);
	join(th, 4);
	puts("cancel: later threads started and allocated");
	return 0;
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";

	/* stdout to a pipe: line-buffered keeps the order with children */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(s, "getattr-main"))
		return getattr_main();
	if (!strcmp(s, "getattr-thread"))
		return getattr_thread();
	if (!strcmp(s, "phdr"))
		return phdr();
	if (!strcmp(s, "phdr-unwind"))
		return phdr_unwind();
	if (!strcmp(s, "dlopen"))
		return dlopen_case(argc > 2 ? argv[2] : NULL);
	if (!strcmp(s, "atexit"))
		return atexit_case();
	if (!strcmp(s, "atfork"))
		return atfork_case();
	if (!strcmp(s, "tls-dtor"))
		return tls_dtor_case();
	if (!strcmp(s, "stdio"))
		return stdio_case();
	if (!strcmp(s, "nss"))
		return nss_case();
	if (!strcmp(s, "cancel"))
		return cancel_case();
	fprintf(stderr, "usage: %s SCENARIO [PLUGIN]\n", argv[0]);
	return 2;
}
