#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of `memscope export` and `memscope diff` on a recorded
program of known sites (views_prog.c), against `memscope report --format
json` on the same archive.

usage: views_test.py --cli MEMSCOPE --agent LIBMEMSCOPE --dir DIR CASE [ARGS]

Cases:
  record BASE LEAK  records the two builds of views_prog (`full` mode) into
                    DIR/base and DIR/leak; the other cases read them.
  folded            every --weight adds up to the report's figure (also
                    for a thread and a window); the known sites' lines.
  speedscope        the JSON parses; one profile per thread whose weights
                    add up to the report's threads[] bytes (and counts).
  pprof             `go tool pprof -top` reads the export: totals
                    (alloc_space, alloc_objects, inuse_space) and the top
                    function by flat alloc_space are the report's; the
                    thread label. Skipped (77) without Go (golang-go).
  diff              the build with one extra leak, diffed with the other:
                    that site alone grows, by its exact bytes; text, JSON
                    and folded agree; windows of one archive.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "consumer"))
import mstest  # noqa: E402

TIMEOUT = 120
WEIGHTS = {  # export --weight -> the report's JSON figure
    "bytes": "total_allocated_bytes",
    "count": "allocations",
    "leaked": "leaked_bytes",
    "peak": "peak_bytes",
    "temporary": "temporary_allocations",
}
EXTRA = 7 * 3000  # extra_leak: 7 x malloc(3000)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


env = mstest.clean_env


def run(args, *cmd, binary=False):
    try:
        return mstest.run_cli(args.cli, *cmd, timeout=TIMEOUT, binary=binary)
    except mstest.Fail as e:
        fail(str(e))


def report(args, arc, *opts):
    return json.loads(run(args, "report", arc, "--format", "json",
                          "--top", "100", *opts))


def folded(args, arc, *opts):
    """Lines of a folded export as (frames, value...)."""
    out = []
    for line in run(args, "export", arc, "--format", "folded",
                    *opts).splitlines():
        m = re.fullmatch(r"([^;\n]+(?:;[^;\n]+)*)((?: \d+)+)", line)
        if not m:
            fail("not a folded line: %r" % line)
        out.append((m.group(1).split(";"),
                    [int(v) for v in m.group(2).split()]))
    return out


def archive(args, name):
    return os.path.join(args.dir, name)


def case_record(args):
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    for name, prog in (("base", args.rest[0]), ("leak", args.rest[1])):
        e = env()
        e["MEMSCOPE_AGENT"] = args.agent
        p = subprocess.run([args.cli, "record", "--out", archive(args, name),
                            "--sampling", "full", "--", prog],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=e, timeout=TIMEOUT, text=True)
        sys.stderr.write(p.stderr)
        if p.returncode != 0:
            fail("recording %s exited %d" % (prog, p.returncode))
    print("recorded %s" % args.dir)


def check_sums(args, arc, opts, rep, what):
    for w, fig in WEIGHTS.items():
        got = sum(v[0] for _, v in folded(args, arc, "--weight", w, *opts))
        print("%s: folded --weight %s sums to %d, report %s %d" %
              (what, w, got, fig, rep[fig]))
        if got != rep[fig]:
            fail("folded --weight %s: %d, the report says %d" %
                 (w, got, rep[fig]))


def worker_tid(rep):
    for t in rep["threads"]:
        if t["name"] == "views-worker":
            return t["tid"]
    fail("no thread views-worker in the report")


def case_folded(args):
    arc = archive(args, "base")
    rep = report(args, arc)
    check_sums(args, arc, (), rep, "whole run")
    tid = str(worker_tid(rep))
    check_sums(args, arc, ("--tid", tid), report(args, arc, "--tid", tid),
               "thread " + tid)
    half = "%dns" % (rep["duration_ns"] // 2)
    check_sums(args, arc, ("--from", half),
               report(args, arc, "--from", half), "from " + half)
    # the known sites, leaf last; inlined node_new is a frame of its own
    want = {("big_buffers", "bytes"): 20 * 8192,
            ("node_new", "bytes"): 500 * 96,
            ("leak_tables", "leaked"): 10 * 1024,
            ("small_temporaries", "temporary"): 300}
    for (leaf, w), value in want.items():
        lines = [(f, v) for f, v in folded(args, arc, "--weight", w)
                 if f[-1] == leaf]
        if len(lines) != 1 or lines[0][1][0] != value:
            fail("--weight %s: the %s line is %r, expected %d" %
                 (w, leaf, lines, value))
        if leaf == "node_new" and lines[0][0][-2:] != ["worker_nodes",
                                                       "node_new"]:
            fail("the inlined frame is not its own: %r" % lines[0][0])
    print("known sites: big_buffers, node_new (inlined), leak_tables, "
          "small_temporaries as expected")


def speedscope(args, arc, weight, rep):
    doc = json.loads(run(args, "export", arc, "--format", "speedscope",
                         "--weight", weight))
    if doc.get("$schema") != \
            "https://www.speedscope.app/file-format-schema.json":
        fail("no speedscope $schema")
    nframes = len(doc["shared"]["frames"])
    got = {}
    for prof in doc["profiles"]:
        if prof["type"] != "sampled" or \
                len(prof["samples"]) != len(prof["weights"]):
            fail("profile %r is not sampled" % prof["name"])
        if prof["unit"] != ("bytes" if weight == "bytes" else "none"):
            fail("profile %r has unit %r" % (prof["name"], prof["unit"]))
        if sum(prof["weights"]) != prof["endValue"]:
            fail("profile %r: weights do not add up" % prof["name"])
        for s in prof["samples"]:
            if not s or any(i < 0 or i >= nframes for i in s):
                fail("profile %r: bad sample %r" % (prof["name"], s))
        m = re.search(r"tid (\d+)\)$", prof["name"])
        got[int(m.group(1))] = prof["endValue"]
    field = "bytes" if weight == "bytes" else "allocations"
    for t in rep["threads"]:
        print("thread %d (%s): speedscope %s %d, report %d" %
              (t["tid"], t["name"], weight, got.get(t["tid"], 0), t[field]))
        if got.get(t["tid"], 0) != t[field]:
            fail("thread %d: %d, the report says %d" %
                 (t["tid"], got.get(t["tid"], 0), t[field]))
    return doc


def case_speedscope(args):
    arc = archive(args, "base")
    rep = report(args, arc)
    doc = speedscope(args, arc, "bytes", rep)
    speedscope(args, arc, "count", rep)
    names = {f["name"] for f in doc["shared"]["frames"]}
    for fn in ("main", "big_buffers", "worker_nodes", "node_new"):
        if fn not in names:
            fail("no frame %s in the shared frames" % fn)
    if len(rep["threads"]) != 2 or len(doc["profiles"]) != 2:
        fail("expected two threads, two profiles")


def pprof_top(go, path, index, tmp):
    p = mstest.go_pprof(go, tmp, "-top", "-unit=B", "-sample_index=" + index,
                        path, timeout=TIMEOUT)
    if p.returncode != 0:
        fail("go tool pprof exited %d:\n%s" % (p.returncode, p.stdout))
    m = re.search(r"of (\d+)B? total", p.stdout)
    rows = re.findall(r"^\s*(\d+)B?\s+[\d.]+%\s+[\d.]+%\s+\d+B?\s+[\d.]+%"
                      r"\s+(.+?)(?: \(inline\))?$", p.stdout, re.M)
    if not m or not rows:
        fail("cannot read pprof's -top:\n" + p.stdout)
    return int(m.group(1)), rows[0][1], p.stdout


def pprof_tags(go, path, tmp):
    return mstest.go_pprof(go, tmp, "-tags", path, timeout=TIMEOUT).stdout


def top_site_label(rep, key):
    best = max(rep["sites"], key=lambda s: s[key])
    return best["frames"][best["label"]]["function"]


def case_pprof(args):
    arc = archive(args, "base")
    rep = report(args, arc)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "base.pb.gz")
        run(args, "export", arc, "--format", "pprof", "-o", path)
        with gzip.open(path) as f:
            if len(f.read()) < 100:
                fail("the pprof export is nearly empty")
        go = shutil.which("go")
        if not go:
            print("SKIP: go not found (Debian golang-go): the pprof export "
                  "was written and gunzips, but no pprof read it")
            sys.exit(77)
        checks = (("alloc_space", "total_allocated_bytes", "bytes"),
                  ("alloc_objects", "allocations", "allocations"),
                  ("inuse_space", "leaked_bytes", "leaked_bytes"))
        for index, total, key in checks:
            got, top, text = pprof_top(go, path, index, tmp)
            want_top = top_site_label(rep, key)
            print("pprof -top -sample_index=%s: total %d (report %s %d), "
                  "top %s (report's top site by %s: %s)" %
                  (index, got, total, rep[total], top, key, want_top))
            if got != rep[total] or top != want_top:
                fail("pprof disagrees with the report:\n" + text)
        tags = pprof_tags(go, path, tmp)
        want = "views-worker (%d)" % worker_tid(rep)
        if want not in tags or "pid:" not in tags:
            fail("no thread label %r in pprof -tags:\n%s" % (want, tags))
        print("pprof -tags: thread %r and pid labels" % want)


def diff_json(args, *opts):
    return json.loads(run(args, "diff", *opts, "--format", "json"))


def growing(d):
    """Stacks any of whose figures grew, by label."""
    return [s["frames"][0]["function"] for s in d["stacks"]
            if any(v > 0 for v in s["change"].values())]


def case_diff(args):
    base, leak = archive(args, "base"), archive(args, "leak")
    d = diff_json(args, base, leak)
    print("growing stacks: %r; totals change %r" %
          (growing(d), d["totals"]["change"]))
    if growing(d) != ["extra_leak"]:
        fail("expected extra_leak alone to grow, got %r" % growing(d))
    if any(v < 0 for s in d["stacks"] for v in s["change"].values()):
        fail("a stack shrank")
    grown = d["stacks"][0]
    for fig, want in (("bytes", EXTRA), ("leaked_bytes", EXTRA),
                      ("allocations", 7), ("peak_bytes", EXTRA)):
        if grown["change"][fig] != want or grown["base"][fig] != 0:
            fail("extra_leak's %s: %r" % (fig, grown))
        if d["totals"]["change"][fig] != want:
            fail("totals change of %s: %r" % (fig, d["totals"]))
    text = run(args, "diff", base, leak)
    for section in ("bytes allocated", "leaked bytes"):
        m = re.search(r"GROWING: %s[^\n]*\n  1 +\+20\.5 KiB .*extra_leak  "
                      r"views_prog\.c:\d+\n(?:         <- .*\n)*\n"
                      % section, text)
        if not m:
            fail("the text diff does not name extra_leak alone under "
                 "GROWING: %s:\n%s" % (section, text))
    lines = [ln.rsplit(" ", 2) for ln in
             run(args, "diff", base, leak, "--format", "folded").splitlines()]
    changed = [(s, a, b) for s, a, b in lines if a != b]
    if changed != [(changed[0][0], "0", str(EXTRA))] or \
            not changed[0][0].endswith(";main;extra_leak"):
        fail("folded diff: the changed lines are %r" % changed)
    print("diff: extra_leak alone grows, by %d bytes, in JSON, text and "
          "folded" % EXTRA)
    # one archive, two windows: each side is the report of its window
    half = "%dns" % (report(args, base)["duration_ns"] // 2)
    d = diff_json(args, base, base, "--base-to", half, "--new-from", half)
    for side, opts in (("base", ("--to", half)), ("new", ("--from", half))):
        rep = report(args, base, *opts)
        tot = d["totals"][side]
        if tot["bytes"] != rep["total_allocated_bytes"] or \
                tot["leaked_bytes"] != rep["leaked_bytes"]:
            fail("diff %s window %r, report %r" % (side, tot, opts))
    same = diff_json(args, base, base)
    if any(v for s in same["stacks"] for v in s["change"].values()):
        fail("an archive diffed with itself changed")
    print("diff of two windows of one archive matches their reports")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("case")
    ap.add_argument("rest", nargs="*")
    args = ap.parse_args()
    cases = {"record": case_record, "folded": case_folded,
             "speedscope": case_speedscope, "pprof": case_pprof,
             "diff": case_diff}
    if args.case not in cases:
        fail("unknown case " + args.case)
    cases[args.case](args)
    print("PASS")


if __name__ == "__main__":
    main()
