/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer tests' program, built with -g -O1 (CMakeLists.txt): three
 * functions, one always_inline function inlined into its caller, and a C++
 * member function (symbols_fixture_cxx.cpp). Each site calls ms_fx_where(),
 * which prints what the test needs to check it:
 *
 *   bias 0x<the program's load bias>
 *   site <function> <line> <caller line> <return address>
 *
 * <line> is the site's own line (__LINE__ of the call) and <caller line>
 * the line of the call the site was inlined at (0 when not inlined). The
 * return address minus 1 lies in the call instruction, whose line is
 * <line>. MS_SYMFIX_SALT only changes the build id.
 */
#include <link.h>
#include <stdint.h>
#include <stdio.h>

#ifndef MS_SYMFIX_SALT
#define MS_SYMFIX_SALT 1
#endif

void ms_fx_where(const char *fn, int line, int caller_line);
void ms_fx_alpha(void);
void ms_fx_beta(void);
void ms_fx_gamma(void);
void ms_fx_outer(void);
void ms_fx_cxx(void);

/* Written after each call, so no call is a tail call. */
volatile int ms_fx_sink;
static const volatile int ms_fx_salt = MS_SYMFIX_SALT;

__attribute__((noinline)) void ms_fx_where(const char *fn, int line,
					   int caller_line)
{
	printf("site %s %d %d %p\n", fn, line, caller_line,
	       __builtin_return_address(0));
}

__attribute__((noinline)) void ms_fx_alpha(void)
{
	ms_fx_where("ms_fx_alpha", __LINE__, 0);
	ms_fx_sink++;
}

__attribute__((noinline)) void ms_fx_beta(void)
{
	ms_fx_where("ms_fx_beta", __LINE__, 0);
	ms_fx_sink += 2;
}

__attribute__((noinline)) void ms_fx_gamma(void)
{
	ms_fx_where("ms_fx_gamma", __LINE__, 0);
	ms_fx_sink += 3;
}

static inline __attribute__((always_inline)) void ms_fx_inner(int caller_line)
{
	ms_fx_where("ms_fx_inner", __LINE__, caller_line);
	ms_fx_sink += 4;
}

__attribute__((noinline)) void ms_fx_outer(void)
{
	ms_fx_inner(__LINE__);
	ms_fx_sink += 5;
}

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(uintptr_t *)arg = info->dlpi_addr;
	return 1; /* the program itself comes first */
}

int main(void)
{
	uintptr_t bias = 0;

	dl_iterate_phdr(first_object, &bias);
	printf("bias 0x%lx\n", (unsigned long)bias);
	ms_fx_alpha();
	ms_fx_beta();
	ms_fx_gamma();
	ms_fx_outer();
	ms_fx_cxx();
	ms_fx_sink += ms_fx_salt;
	return 0;
}
