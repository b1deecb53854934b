#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages say what --help says (issue 15).

usage: man_test.py MEMSCOPE MAN_DIR

For memscope(1): its COMMANDS are the commands `memscope --help` lists,
and each has a page memscope-COMMAND(1), and no page is left over. For
every page: the options of its OPTIONS section are those the command's
--help names (in the usage line or the option list), plus --help. The
pages compared are the built roff, as installed.
"""
import os
import re
import subprocess
import sys

# An option in --help text: --word or -x, standing alone.
HELP_OPT = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-z])(?![\w-])")
# An option set in bold in roff: \fB--word\fR.
MAN_OPT = re.compile(r"\\fB(--?[a-z][a-z0-9-]*)\\fR")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def help_text(cli, *args):
    p = subprocess.run([cli] + list(args) + ["--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    if p.returncode != 0:
        fail("%s --help exited %d" % (" ".join(args) or "memscope",
                                      p.returncode))
    return p.stdout


def section(roff, name, page):
    m = re.search(r'^\.SH %s\n(.*?)(?=^\.SH |\Z)' % re.escape(name), roff,
                  re.M | re.S)
    if not m:
        fail("%s has no %s section" % (page, name))
    return m.group(1)


def man_options(roff, page):
    """Options that head an entry (a text line starting in bold)."""
    opts = set()
    for line in section(roff, "OPTIONS", page).splitlines():
        if line.startswith("\\fB-"):
            opts |= set(MAN_OPT.findall(line))
    return opts


def compare(what, man, helped):
    extra, missing = sorted(man - helped), sorted(helped - man)
    if extra or missing:
        fail("%s: in the page only %s, in --help only %s" %
             (what, extra, missing))


def read_page(man_dir, page):
    path = os.path.join(man_dir, page + ".1")
    if not os.path.exists(path):
        fail("no page %s" % path)
    with open(path) as f:
        return f.read()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    cli, man_dir = sys.argv[1], sys.argv[2]
    top = help_text(cli)
    m = re.search(r"^commands:\n((?:  \S.*\n)+)", top, re.M)
    if not m:
        fail("no commands in memscope --help")
    commands = [line.split()[0] for line in m.group(1).splitlines()]

    roff = read_page(man_dir, "memscope")
    listed = re.findall(r"^\\fB([a-z]+)\\fR$", section(roff, "COMMANDS",
                                                         "memscope.1"), re.M)
    compare("memscope(1) COMMANDS", set(listed), set(commands))
    compare("memscope(1) OPTIONS", man_options(roff, "memscope.1"),
            set(HELP_OPT.findall(top)) | {"--help"})

    pages = {f[:-2] for f in os.listdir(man_dir) if f.endswith(".1")}
    compare("pages built", pages,
            {"memscope"} | {"memscope-" + c for c in commands})
    for c in commands:
        page = "memscope-" + c
        compare("%s(1) OPTIONS" % page,
                man_options(read_page(man_dir, page), page + ".1"),
                set(HELP_OPT.findall(help_text(cli, c))) | {"--help"})
    print("PASS: memscope(1) and %d command pages in step with --help" %
          len(commands))
    return 0


if __name__ == "__main__":
    sys.exit(main())
