#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libmemscope.so exports exactly the explicit API and the interposed
functions, each once and unversioned (issue 15).

usage: exports_test.py LIBMEMSCOPE AGENT_SRC_DIR

Three lists must agree: the functions memscope.h declares plus those
interpose.c defines with MS_EXPORT (what the agent means to export), the
global names of memscope.map (what the linker is told), and
`nm -D --defined-only` of the built library (what a program sees).
Interposed names must carry no symbol version, or references to
malloc@GLIBC_2.2.5 would not bind to them; and the SONAME is
libmemscope.so.N.
"""
import os
import re
import subprocess
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def read(path):
    with open(path) as f:
        return f.read()


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def intended(src):
    header = strip_comments(read(os.path.join(src, "memscope.h")))
    api = set(re.findall(r"^[a-z][\w \*]*?\b(memscope_\w+)\s*\(", header,
                         re.M))
    interpose = read(os.path.join(src, "interpose.c"))
    hooks = set(re.findall(r"^MS_EXPORT\b[^(]*?\b(\w+)\s*\(", interpose,
                           re.M))
    if not api or not hooks:
        fail("no API (%s) or no interposed function (%s) found" %
             (sorted(api), sorted(hooks)))
    return api, hooks


def map_globals(src):
    text = strip_comments(read(os.path.join(src, "memscope.map")))
    m = re.search(r"global:(.*?)local:", text, re.S)
    if not m:
        fail("memscope.map has no global: ... local: section")
    return set(re.findall(r"(\w+)\s*;", m.group(1)))


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    versioned = [n for n in names if "@" in n]
    if versioned:
        fail("versioned exports (LD_PRELOAD would not bind them): %s" %
             versioned)
    if len(names) != len(set(names)):
        fail("a name exported twice: %s" % names)
    return set(names)


def soname(lib):
    out = subprocess.run(["readelf", "-d", lib], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return m.group(1) if m else None


def differ(what, have, want):
    extra, missing = sorted(have - want), sorted(want - have)
    if extra or missing:
        fail("%s: extra %s, missing %s" % (what, extra, missing))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    lib, src = sys.argv[1], sys.argv[2]
    api, hooks = intended(src)
    differ("memscope.map against memscope.h + interpose.c",
           map_globals(src), api | hooks)
    differ("nm -D --defined-only %s against memscope.map" % lib,
           exported(lib), api | hooks)
    name = soname(lib)
    if not name or not re.fullmatch(r"libmemscope\.so\.\d+", name):
        fail("SONAME is %s, not libmemscope.so.N" % name)
    print("PASS: %d API functions and %d interposed functions exported, "
          "SONAME %s" % (len(api), len(hooks), name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
