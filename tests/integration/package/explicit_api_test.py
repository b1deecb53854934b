#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""examples/pool_alloc built against an installed memscope, as a user of
the explicit API would build it (issue 15): `cmake --install` of this build
into a scratch DESTDIR, then the example built twice from that tree alone,
with pkg-config (its Makefile) and with CMake (find_package(memscope),
memscope::agent). Each binary must load libmemscope.so.0 from the
installed tree and, run in the session of the installed `memscope
consumer --sampling full`, have every pool block it reported counted
exactly, per thread.

usage: explicit_api_test.py BUILD_DIR SOURCE_DIR CC
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "consumer"))
import mstest  # noqa: E402
from mstest import Consumer, check, expectations, run_scenario  # noqa: E402

TIMEOUT = 300


def sh(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=TIMEOUT, **kw)
    check(p.returncode == 0, "%s failed:\n%s" % (" ".join(cmd),
                                                 p.stdout[-3000:]))
    return p.stdout


def cache_value(build, key):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        m = re.search(r"^%s:\w+=(.*)$" % re.escape(key), f.read(), re.M)
    check(m is not None, "%s not in the CMake cache" % key)
    return m.group(1)


def install(build, tmp):
    """DESTDIR install; returns (prefix, libdir) inside it."""
    root = os.path.join(tmp, "root")
    sh(["cmake", "--install", build], env=dict(os.environ, DESTDIR=root))
    prefix = root + cache_value(build, "CMAKE_INSTALL_PREFIX")
    libdir = os.path.join(prefix, cache_value(build, "CMAKE_INSTALL_LIBDIR"))
    for f in ("include/memscope.h", "bin/memscope"):
        check(os.path.exists(os.path.join(prefix, f)), f + " not installed")
    return prefix, libdir


def build_pkgconfig(src, cc, libdir, tmp):
    out = os.path.join(tmp, "pc")
    os.mkdir(out)
    ex = os.path.join(src, "examples", "pool_alloc")
    # PKG_CONFIG_LIBDIR, not _PATH: only the scratch tree is searched.
    env = dict(os.environ, PKG_CONFIG_LIBDIR=os.path.join(libdir,
                                                          "pkgconfig"))
    env.pop("PKG_CONFIG_PATH", None)
    sh(["make", "-C", out, "-f", os.path.join(ex, "Makefile"), "VPATH=" + ex,
        "CC=" + cc, "CFLAGS=-O2 -Wall -Wextra -Werror"], env=env)
    return os.path.join(out, "pool_alloc")


def build_cmake(src, cc, prefix, tmp):
    out = os.path.join(tmp, "cm")
    ex = os.path.join(src, "examples", "pool_alloc")
    sh(["cmake", "-S", ex, "-B", out, "-DCMAKE_C_COMPILER=" + cc,
        "-DCMAKE_PREFIX_PATH=" + prefix,
        "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF",
        "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"])
    found = cache_value(out, "memscope_DIR")
    check(found.startswith(prefix + "/"),
          "find_package(memscope) found %s, not the installed tree %s" %
          (found, prefix))
    sh(["cmake", "--build", out])
    return os.path.join(out, "pool_alloc")


def check_loads_installed(prog, env, libdir):
    out = sh(["ldd", prog], env=env)
    m = re.search(r"libmemscope\.so\.0 => (\S+)", out)
    check(m is not None, "%s does not load libmemscope.so.0:\n%s" %
          (prog, out))
    check(os.path.realpath(m.group(1)).startswith(
        os.path.realpath(libdir) + "/"),
        "%s loads %s, not the installed %s" % (prog, m.group(1), libdir))


def run_traced(prog, env, cli, tmp, name):
    out = os.path.join(tmp, "arc-" + name)
    session = "pool%d%s" % (os.getpid(), name)
    c = Consumer(cli, out, session, ["--sampling", "full",
                                     "--exit-when-idle", "--quiet"])
    env = dict(env, MEMSCOPE_SESSION=session)
    p = subprocess.run([prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, timeout=TIMEOUT)
    check(p.returncode == 0, "%s failed: %s" % (prog, p.stderr))
    check(c.wait(TIMEOUT) == 0, "consumer failed: " + c.stderr())
    total, threads = expectations(p.stdout)
    st = mstest.stats(cli, out, TIMEOUT)
    pt = {t["tid"]: t for t in st["per_thread"]}
    for tid, e in threads.items():
        check(tid in pt, "%s: thread %d not in the archive" % (name, tid))
        got = (pt[tid]["allocs"], pt[tid]["frees"])
        check(got == (e["allocs"], e["frees"]),
              "%s: thread %d archived %d/%d allocs/frees, it made %d/%d" %
              ((name, tid) + got + (e["allocs"], e["frees"])))
    # Workers only: linking libmemscope.so also tracks the main thread's
    # malloc (stdio, thread stacks).
    sums = (sum(pt[t]["allocs"] for t in threads),
            sum(pt[t]["frees"] for t in threads))
    check(sums == (total["allocs"], total["frees"]) and st["dropped"] == 0,
          "%s: workers archived %d/%d allocs/frees (%d dropped), the "
          "program made %d/%d" % ((name,) + sums + (st["dropped"],
                                  total["allocs"], total["frees"])))
    print("%s: %d threads, %d allocs and %d frees counted exactly" %
          (name, len(threads), total["allocs"], total["frees"]))


def scenario(args, tmp):
    build, src, cc = args
    prefix, libdir = install(build, tmp)
    cli = os.path.join(prefix, "bin", "memscope")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("LD_LIBRARY_PATH", None)
    prog = build_pkgconfig(src, cc, libdir, tmp)
    # -lmemscope puts no run path in: a user sets LD_LIBRARY_PATH (or
    # installs where the loader looks).
    pc_env = dict(env, LD_LIBRARY_PATH=libdir)
    check_loads_installed(prog, pc_env, libdir)
    run_traced(prog, pc_env, cli, tmp, "pkg-config")
    # CMake gives the program a run path to the imported library.
    prog = build_cmake(src, cc, prefix, tmp)
    check_loads_installed(prog, env, libdir)
    run_traced(prog, env, cli, tmp, "cmake")


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    return run_scenario("explicit_api", scenario, sys.argv[1:],
                        "ms-explicit-api-")


if __name__ == "__main__":
    sys.exit(main())
