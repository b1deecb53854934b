/* SPDX-License-Identifier: MIT */
/* libdw and libelf loaded when first needed (dwlibs.h). */
#define MS_DWLIBS_IMPL
#include "dwlibs.h"

#include <errno.h>
#include <pthread.h>

#include "dynload.h"

struct ms_dw_fns ms_dw;

static pthread_once_t dw_once = PTHREAD_ONCE_INIT;
static int dw_err;

#define MS_DW_NAME(name) #name,

static void load_dw(void)
{
	/* libelf's functions are found through libdw, which needs it */
	static const char *const names[] = {"libdw.so.1", NULL};
	static const char *const syms[] = {MS_DW_FNS(MS_DW_NAME)};

	_Static_assert(sizeof(syms) / sizeof(syms[0]) * sizeof(void *) ==
			       sizeof(ms_dw),
		       "one name per pointer");
	dw_err = ms_dynload("reading symbols (elfutils)", names, syms,
			    (void **)&ms_dw, sizeof(syms) / sizeof(syms[0]));
	if (!dw_err)
		ms_dw.elf_version(EV_CURRENT);
}

int ms_dw_load(void)
{
	pthread_once(&dw_once, load_dw);
	return dw_err;
}
