#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the real `memscope stats` and `memscope dump` on synthetic archives
(written by ms_archive_gen, which prints the exact expected counts) and
checks exit statuses, JSON numbers and event lines."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CLI, GEN = sys.argv[1], sys.argv[2]
FIELDS = ("events", "allocs", "frees", "dropped", "raw_bytes",
          "estimated_bytes_allocated")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run([CLI, *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def disk_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        total += sum(os.path.getsize(os.path.join(root, f))
                     for f in files if f.endswith(".mseg"))
    return total


def check_stats(mode, d, want):
    rc, out, err = run("stats", d, "--json")
    damaged = mode != "clean"
    check(rc == (1 if damaged else 0), f"{mode}: stats rc {rc}")
    check(bool(err.strip()) == damaged, f"{mode}: stderr {err!r}")
    got = json.loads(out)
    for k in ("processes", "threads") + FIELDS:
        check(got[k] == want[k], f"{mode}: {k} {got[k]} != {want[k]}")
    check(got["bytes_on_disk"] == disk_bytes(d), f"{mode}: bytes_on_disk")
    check((len(got["errors"]) > 0) == damaged, f"{mode}: errors list")
    rows = {(t["pid"], t["tid"]): t for t in got["per_thread"]}
    for t in want["per_thread"]:
        g = rows.get((t["pid"], t["tid"]))
        check(g is not None, f"{mode}: thread {t['tid']} missing")
        for k in ("name", "segments") + FIELDS:
            check(g and g[k] == t[k], f"{mode}: tid {t['tid']} {k}")
    rc2, text, _ = run("stats", d)
    check(rc2 == rc and "allocs" in text, f"{mode}: text stats")


def check_dump(mode, d, want):
    rc, out, _ = run("dump", d, "--json")
    check(rc == (0 if mode == "clean" else 1), f"{mode}: dump rc {rc}")
    lines = out.splitlines()
    check(len(lines) == want["events"], f"{mode}: dump lines {len(lines)}")
    last, kinds, callers = 0, {}, []
    for line in lines:
        o = json.loads(line)
        check(o["t_ns"] >= last, f"{mode}: dump not in time order")
        last = o["t_ns"]
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
        if o["kind"] == "alloc" and o["tid"] == want["per_thread"][0]["tid"]:
            callers.append(int(o.get("caller", "0x0"), 16))
    check(kinds.get("alloc", 0) + kinds.get("realloc", 0) == want["allocs"],
          f"{mode}: dump allocs")
    check(callers and callers[0] == want["first_caller"], f"{mode}: caller")
    t = want["per_thread"][2]
    rc, out, _ = run("dump", d, "--pid", str(t["pid"]), "--tid",
                     str(t["tid"]))
    n = len(out.splitlines())
    check(n == t["events"], f"{mode}: filtered dump {n} != {t['events']}")
    if mode == "clean":
        rc, out, err = run("dump", d, "--tid", "4242")
        check(rc == 1 and not out and "matches" in err, "dump --tid none")
    rc, out, _ = run("dump", d, "--pid", str(want["per_thread"][-1]["pid"]))
    check(len(out.splitlines()) ==
          sum(x["events"] for x in want["per_thread"]
              if x["pid"] == want["per_thread"][-1]["pid"]),
          f"{mode}: --pid dump")


def usage():
    check(run("stats", "--help")[0] == 0, "stats --help")
    check(run("dump", "--help")[0] == 0, "dump --help")
    check(run("stats")[0] == 2, "stats without ARCHIVE")
    check(run("dump", "x", "--pid", "abc")[0] == 2, "dump --pid abc")
    check(run("stats", "/nonexistent/archive")[0] == 1, "missing archive")
    check(run("dump", "/nonexistent/archive")[0] == 1, "dump missing")


def main():
    usage()
    for mode in ("clean", "nomanifest", "truncated", "corrupt", "junk"):
        d = tempfile.mkdtemp(prefix="ms-arc-cli-")
        try:
            p = subprocess.run([GEN, d, mode], stdout=subprocess.PIPE,
                               check=True)
            want = json.loads(p.stdout)
            check_stats(mode, d, want)
            check_dump(mode, d, want)
        finally:
            shutil.rmtree(d)
    print("ok" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
