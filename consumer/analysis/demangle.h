/* SPDX-License-Identifier: MIT */
/*
 * Names for people: C++ (Itanium ABI) and Rust "legacy" symbol names
 * demangled with libstdc++'s __cxa_demangle, loaded on the first mangled
 * name (without it, names stay mangled, said once on stderr). A Rust
 * legacy name (_ZN... ending in a 17h<16 hex digits>E hash segment) also
 * loses the hash and has its $..$ escapes and ".." decoded, as Rust's own
 * tools print it.
 */
#ifndef MS_DEMANGLE_H
#define MS_DEMANGLE_H

/*
 * The demangled form of `name` (malloc'ed: the caller frees it), or NULL
 * when `name` is not a mangled name the demangler accepts.
 */
char *ms_demangle(const char *name);

#endif
