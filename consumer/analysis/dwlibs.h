/* SPDX-License-Identifier: MIT */
/*
 * elfutils' libdw (and the libelf it depends on), loaded with dlopen() by
 * the first symbolizer or build-id read, not linked: with the libraries
 * they pull in (libz, liblzma, libbz2) they cost every memscope command
 * about 1.5 ms at start, `record --no-symbolize`, `run` and `consumer`
 * included, which never read DWARF.
 *
 * symbols.c and cuindex.c include the elfutils headers first, then this:
 * each function they call becomes a call through the table below, filled
 * by ms_dw_load().
 */
#ifndef MS_DWLIBS_H
#define MS_DWLIBS_H

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <libelf.h>

#define MS_DW_FNS(X)                                                           \
	X(dwarf_attr)                                                          \
	X(dwarf_attr_integrate)                                                \
	X(dwarf_child)                                                         \
	X(dwarf_diecu)                                                         \
	X(dwarf_diename)                                                       \
	X(dwarf_filesrc)                                                       \
	X(dwarf_formstring)                                                    \
	X(dwarf_formudata)                                                     \
	X(dwarf_get_units)                                                     \
	X(dwarf_getsrc_die)                                                    \
	X(dwarf_getsrcfiles)                                                   \
	X(dwarf_haspc)                                                         \
	X(dwarf_lineno)                                                        \
	X(dwarf_linesrc)                                                       \
	X(dwarf_ranges)                                                        \
	X(dwarf_siblingof)                                                     \
	X(dwarf_tag)                                                           \
	X(dwelf_elf_gnu_build_id)                                              \
	X(dwfl_begin)                                                          \
	X(dwfl_build_id_find_elf)                                              \
	X(dwfl_end)                                                            \
	X(dwfl_module_addrinfo)                                                \
	X(dwfl_module_build_id)                                                \
	X(dwfl_module_getdwarf)                                                \
	X(dwfl_offline_section_address)                                        \
	X(dwfl_report_begin)                                                   \
	X(dwfl_report_elf)                                                     \
	X(dwfl_report_end)                                                     \
	X(dwfl_standard_find_debuginfo)                                        \
	X(elf_begin)                                                           \
	X(elf_end)                                                             \
	X(elf_kind)                                                            \
	X(elf_version)

#define MS_DW_FIELD(name) __typeof__(&name) name;
struct ms_dw_fns {
	MS_DW_FNS(MS_DW_FIELD)
};
#undef MS_DW_FIELD
extern struct ms_dw_fns ms_dw;

/*
 * Loads libdw once (thread-safe); 0, or -ENOENT when it cannot be loaded
 * (said once on stderr).
 */
int ms_dw_load(void);

#ifndef MS_DWLIBS_IMPL
#define dwarf_attr		     (*ms_dw.dwarf_attr)
#define dwarf_attr_integrate	     (*ms_dw.dwarf_attr_integrate)
#define dwarf_child		     (*ms_dw.dwarf_child)
#define dwarf_diecu		     (*ms_dw.dwarf_diecu)
#define dwarf_diename		     (*ms_dw.dwarf_diename)
#define dwarf_filesrc		     (*ms_dw.dwarf_filesrc)
#define dwarf_formstring	     (*ms_dw.dwarf_formstring)
#define dwarf_formudata		     (*ms_dw.dwarf_formudata)
#define dwarf_get_units		     (*ms_dw.dwarf_get_units)
#define dwarf_getsrc_die	     (*ms_dw.dwarf_getsrc_die)
#define dwarf_getsrcfiles	     (*ms_dw.dwarf_getsrcfiles)
#define dwarf_haspc		     (*ms_dw.dwarf_haspc)
#define dwarf_lineno		     (*ms_dw.dwarf_lineno)
#define dwarf_linesrc		     (*ms_dw.dwarf_linesrc)
#define dwarf_ranges		     (*ms_dw.dwarf_ranges)
#define dwarf_siblingof		     (*ms_dw.dwarf_siblingof)
#define dwarf_tag		     (*ms_dw.dwarf_tag)
#define dwelf_elf_gnu_build_id	     (*ms_dw.dwelf_elf_gnu_build_id)
#define dwfl_begin		     (*ms_dw.dwfl_begin)
#define dwfl_build_id_find_elf	     (*ms_dw.dwfl_build_id_find_elf)
#define dwfl_end		     (*ms_dw.dwfl_end)
#define dwfl_module_addrinfo	     (*ms_dw.dwfl_module_addrinfo)
#define dwfl_module_build_id	     (*ms_dw.dwfl_module_build_id)
#define dwfl_module_getdwarf	     (*ms_dw.dwfl_module_getdwarf)
#define dwfl_offline_section_address (*ms_dw.dwfl_offline_section_address)
#define dwfl_report_begin	     (*ms_dw.dwfl_report_begin)
#define dwfl_report_elf		     (*ms_dw.dwfl_report_elf)
#define dwfl_report_end		     (*ms_dw.dwfl_report_end)
#define dwfl_standard_find_debuginfo (*ms_dw.dwfl_standard_find_debuginfo)
#define elf_begin		     (*ms_dw.elf_begin)
#define elf_end			     (*ms_dw.elf_end)
#define elf_kind		     (*ms_dw.elf_kind)
#define elf_version		     (*ms_dw.elf_version)
#endif

#endif
