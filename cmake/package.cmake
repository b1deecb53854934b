# The Debian package (scripts/package): `cpack -G DEB` in a build tree
# packs what `cmake --install` installs, under /usr. dpkg-shlibdeps
# computes the dependencies from the binaries (so the package asks for
# the libzstd, liburcu, libunwind, libdw ... it was linked with), and the
# shlibs file for libmemscope.so.0 lets other packages depend on it the
# same way. It needs dpkg-dev and file (CPack finds ELF files with it).
set(MS_PACKAGE_MAINTAINER "memscope maintainers" CACHE STRING
	"Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME memscope)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${MS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
	"heap-allocation tracker for multi-threaded programs")
set(CPACK_PACKAGE_DESCRIPTION
	"memscope records every heap allocation of a running, heavily
multi-threaded program (C, C++, Rust, anything on glibc malloc) with a
preloaded agent writing to per-thread rings, and reports where the memory
went: peak, leaks, call sites, threads, the heap over time, with exports
for pprof, flamegraph.pl and speedscope. Includes the agent library
libmemscope.so, the memscope program, memscope.h with pkg-config and CMake
files for custom allocators, man pages and bash completion.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Loaded with dlopen() when first needed (common/dynload.h), so
# dpkg-shlibdeps does not see them either; the symbols and demangled
# names of every report need them: depended on, added to what it finds
set(CPACK_DEBIAN_PACKAGE_DEPENDS
	"libdw1 (>= 0.171), libelf1 (>= 0.131), libstdc++6")
# Loaded with dlopen() for --push and --metrics only (fleet_libs.h), so
# dpkg-shlibdeps does not see them: recommended, as the rest works without
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libmicrohttpd12, libcurl4")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
include(CPack)
