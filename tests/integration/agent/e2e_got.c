/* SPDX-License-Identifier: MIT */
/*
 * Where this program's own PLT slots for malloc and free lead, for the
 * "got" case of agent_e2e.py. argv[1] says how it runs:
 *
 *   untracked  no agent: at main, unresolved (lazy build) or libc's
 *   bypassed   agent preloaded, no consumer: libc's, already at main
 *   tracked    agent attached: the agent's (or unresolved at main)
 *
 * The slots are read first thing in main, again after some work, and in a
 * forked child. Then the program frees the blocks its library's
 * constructor allocated and prints a checksum of its work: stdout must be
 * the same in every mode. Exit status 3 if a slot is not where expected.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_got_early.h"

enum { LAZY = 1, LIBC = 2, AGENT = 4, OTHER = 8 };

static const char *const names[] = {"malloc", "free"};

struct slots {
	uintptr_t *at[2];
	uintptr_t base;
};

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
	return v < base ? v + base : v;
}

/* The main program is the first object dl_iterate_phdr reports. */
static int find_slots(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct slots *s = arg;
	const Elf64_Dyn *d = NULL;
	const Elf64_Rela *rel = NULL;
	const Elf64_Sym *sym = NULL;
	const char *str = NULL;
	size_t relsz = 0;

	(void)size;
	s->base = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			d = (const void *)(info->dlpi_addr +
					   info->dlpi_phdr[i].p_vaddr);
	for (; d && d->d_tag != DT_NULL; d++) {
		uintptr_t p = dyn_ptr(info->dlpi_addr, d->d_un.d_ptr);

		if (d->d_tag == DT_JMPREL)
			rel = (const void *)p;
		else if (d->d_tag == DT_PLTRELSZ)
			relsz = d->d_un.d_val;
		else if (d->d_tag == DT_SYMTAB)
			sym = (const void *)p;
		else if (d->d_tag == DT_STRTAB)
			str = (const void *)p;
	}
	for (size_t k = 0; rel && sym && str && k < relsz / sizeof(*rel); k++) {
		const char *n = str + sym[ELF64_R_SYM(rel[k].r_info)].st_name;

		for (int i = 0; i < 2; i++)
			if (ELF64_R_TYPE(rel[k].r_info) == R_X86_64_JUMP_SLOT &&
			    !strcmp(n, names[i]))
				s->at[i] = (uintptr_t *)(info->dlpi_addr +
							 rel[k].r_offset);
	}
	return 1;
}

static int classify(const struct slots *s, uintptr_t v, const char *name)
{
	void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
	Dl_info di;

	if (libc && v == (uintptr_t)dlsym(libc, name))
		return LIBC;
	if (!dladdr((void *)v, &di))
		return OTHER;
	if ((uintptr_t)di.dli_fbase == s->base)
		return LAZY;
	return strstr(di.dli_fname, "libmemscope") ? AGENT : OTHER;
}

static int check(const char *when, const uintptr_t v[2], int want)
{
	static const char *const cls[] = {"?", "unresolved", "libc's", "?",
					  "the agent's"};
	struct slots s = {{0}, 0};
	int bad = 0;

	dl_iterate_phdr(find_slots, &s);
	for (int i = 0; i < 2; i++) {
		int c = classify(&s, v[i], names[i]);

		if (!(c & want)) {
			fprintf(stderr,
				"e2e_got: %s: the %s slot leads to %s "
				"(%#lx)\n",
				when, names[i],
				c <= AGENT ? cls[c] : "something else",
				(unsigned long)v[i]);
			bad = 1;
		}
	}
	return bad;
}

static int read_and_check(const char *when, int want)
{
	struct slots s = {{0}, 0};
	uintptr_t v[2];

	dl_iterate_phdr(find_slots, &s);
	if (!s.at[0] || !s.at[1]) {
		fprintf(stderr, "e2e_got: no PLT slot for malloc/free\n");
		return 1;
	}
	v[0] = *s.at[0];
	v[1] = *s.at[1];
	return check(when, v, want);
}

static unsigned long work(void)
{
	unsigned long sum = 0;
	void *live[64] = {0};
	void *a = NULL;

	for (unsigned i = 0; i < 20000; i++) {
		unsigned k = i * 37 % 64;
		unsigned char *p;

		free(live[k]);
		p = i % 3 ? malloc(16 + i % 300) : calloc(1, 8 + i % 50);
		p[0] = (unsigned char)i;
		sum = sum * 31 + p[0] + (i % 3 ? 0 : p[1]);
		live[k] = p;
	}
	for (int k = 0; k < 64; k++)
		free(live[k]);
	if (posix_memalign(&a, 64, 100) == 0)
		sum += (uintptr_t)a % 64;
	free(a);
	a = realloc(NULL, 10);
	a = realloc(a, 100000);
	free(a);
	return sum;
}

static int early_blocks(void)
{
	int ok = ms_e2e_early[0] && ms_e2e_early[1] && ms_e2e_early[2] &&
		 !strcmp(ms_e2e_early[2], "early") &&
		 !strcmp(ms_e2e_early[3], "allocated inside libc");

	for (int i = 0; i < MS_E2E_EARLY; i++)
		free(ms_e2e_early[i]);
	return ok;
}

int main(int argc, char **argv)
{
	struct slots s = {{0}, 0};
	uintptr_t v[2] = {0, 0};
	int at_main, after, bad, st;
	pid_t pid;

	/* Before the program's first own call of malloc or free. */
	dl_iterate_phdr(find_slots, &s);
	if (s.at[0] && s.at[1]) {
		v[0] = *s.at[0];
		v[1] = *s.at[1];
	}
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "untracked")) {
		at_main = LAZY | LIBC;
		after = LIBC;
	} else if (!strcmp(argv[1], "bypassed")) {
		at_main = after = LIBC;
	} else if (!strcmp(argv[1], "tracked")) {
		at_main = LAZY | AGENT;
		after = AGENT;
	} else {
		return 2;
	}
	bad = check("at main", v, at_main);
	printf("early blocks %s\n", early_blocks() ? "intact" : "damaged");
	printf("checksum %lu\n", work());
	bad |= read_and_check("after work", after);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		unsigned long sum = work();

		printf("child checksum %lu\n", sum);
		fflush(stdout);
		_exit(read_and_check("in a forked child", after) ? 3 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		bad = 1;
	return bad ? 3 : 0;
}
