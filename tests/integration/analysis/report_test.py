#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of `memscope report` and `memscope symbolize`: real
programs recorded by the real consumer with the agent preloaded, and every
figure of their reports checked.

usage: report_test.py CASE [--program P] --cli MEMSCOPE --agent LIBMEMSCOPE
                      --schema docs/report-schema.json --known REPORT_KNOWN
                      --known-v2 REPORT_KNOWN_V2 --stress STRESS_TEST

The truth comes from three places: what report_known.c knows of its own
calls (it prints its sites' lines, sizes, counts, thread ids and a time
bracket around its peak), a replay of the archive's events written here
(`replay()`, from `memscope dump --json`, the heap model's rules in a few
lines of Python), and heaptrack on the same command. Every JSON report is
validated against docs/report-schema.json.

Cases:
  known      report_known in `full` mode: leaks (bytes, blocks, function,
             file:line), the peak (bytes exactly, its time inside the
             program's bracket), temporaries, the realloc chain, the block
             freed by another thread, the inlined frame; totals equal the
             program's own calls plus what glibc allocated for it, and the
             replay's; the text report shows the same names and numbers.
  debug-dir  the program stripped, its debug file in a .build-id tree given
             with --debug-dir: the same names and lines; without it,
             `module+0x...`, never a name.
  rebuilt    the program replaced after recording by a build with another
             build id: its frames are `report_known+0x<offset>`, nothing
             else, named as `--no-symbols` names them.
  store      `memscope symbolize`, then the archive moved elsewhere and the
             program renamed away: the same names from ARCHIVE/symbols.msym
             (and without the store, none); prints symbolize's time and the
             store's size.
  fifo-module  the program's path replaced by a FIFO: the report must
             finish (a known bug makes it wait forever: WILL_FAIL).
  window     --from/--to: around the peak (its block alone, the same peak),
             before it, after it; each equal to the replay of that window.
  filters    --tid (the cross-thread block counts for the thread that
             allocated it) and --pid on a forking run (parent, child, and
             the count of processes).
  damage     a segment cut short, bytes flipped in a frame, the manifest
             deleted or garbled, a segment emptied or replaced by garbage:
             a report of what is readable, the damage named on stderr and
             counted in the report, exit status 1, never a crash.
  sampled    stress_test --threads 8 --ops 200000 --seed 1 --peak 1 in
             `full`, `tiered` and `bytes:4096`: estimated bytes within 5% of
             the full run's exact total; estimated peak within 5% of the
             peak the program counted itself in the same run (the peak of
             this workload moves by +-15% from run to run, so another
             run's is no reference: printed, not checked).
  heaptrack  --program perl|python|awk: the same command under heaptrack
             and under `memscope record`: allocations, temporary
             allocations, peak and leaked bytes within 1% (and heaptrack's
             rounding), once heaptrack's own block is taken off its figures
             and the leaks it suppresses are counted back (see
             case_heaptrack()). Skipped (exit 77) without heaptrack.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

TIMEOUT = 240
SKIP = 77


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def clean_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("MEMSCOPE_") or k in ("LD_PRELOAD", "DEBUGINFOD_URLS"):
            del env[k]
    return env


def run(cmd, env=None, rc=0, timeout=TIMEOUT):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env if env is not None else clean_env(),
                       timeout=timeout, text=True, errors="replace")
    if rc is not None and p.returncode != rc:
        sys.stderr.write(p.stderr)
        raise Fail("%s: exit status %d, expected %d" %
                   (" ".join(cmd), p.returncode, rc))
    return p


# ---- the schema ----

SCHEMA_WORDS = {"$schema", "$id", "title", "description", "type",
                "properties", "required", "additionalProperties", "items",
                "enum", "minimum", "maximum", "minLength", "pattern",
                "minItems", "maxItems", "$ref", "$defs"}
TYPES = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": lambda x: isinstance(x, (int, float)) and
    not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


class Schema:
    """The JSON Schema subset docs/report-schema.json uses (draft
    2020-12): a keyword it does not know is an error, so the schema cannot
    grow a rule that goes unchecked. When the `jsonschema` module is
    there, it validates too."""

    def __init__(self, path):
        with open(path) as f:
            self.root = json.load(f)
        self._words(self.root)
        try:
            import jsonschema
            self.full = jsonschema.Draft202012Validator(self.root)
        except ImportError:
            self.full = None

    def _words(self, s):
        for k, v in s.items():
            check(k in SCHEMA_WORDS, "schema keyword %r not checked by "
                  "report_test.py" % k)
            if k in ("properties", "$defs"):
                for sub in v.values():
                    self._words(sub)
            elif k == "items":
                self._words(v)

    def _ref(self, ref):
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def _v(self, x, s, path, errs):
        if "$ref" in s:
            self._v(x, self._ref(s["$ref"]), path, errs)
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(TYPES[t](x) for t in types):
                errs.append("%s: %r is not %s" % (path, x, s["type"]))
                return
        if "enum" in s and x not in s["enum"]:
            errs.append("%s: %r not in %s" % (path, x, s["enum"]))
        if isinstance(x, str):
            if len(x) < s.get("minLength", 0):
                errs.append("%s: too short" % path)
            if "pattern" in s and not re.search(s["pattern"], x):
                errs.append("%s: %r does not match %s" %
                            (path, x, s["pattern"]))
        if TYPES["number"](x):
            if "minimum" in s and x < s["minimum"]:
                errs.append("%s: %r < %r" % (path, x, s["minimum"]))
            if "maximum" in s and x > s["maximum"]:
                errs.append("%s: %r > %r" % (path, x, s["maximum"]))
        if isinstance(x, dict):
            for k in s.get("required", []):
                if k not in x:
                    errs.append("%s: no %r" % (path, k))
            props = s.get("properties", {})
            for k, v in x.items():
                if k in props:
                    self._v(v, props[k], path + "." + k, errs)
                elif s.get("additionalProperties", True) is False:
                    errs.append("%s: unexpected member %r" % (path, k))
        if isinstance(x, list):
            if len(x) < s.get("minItems", 0) or \
                    len(x) > s.get("maxItems", len(x)):
                errs.append("%s: %d items" % (path, len(x)))
            if "items" in s:
                for i, v in enumerate(x):
                    self._v(v, s["items"], "%s[%d]" % (path, i), errs)

    def validate(self, doc, what):
        errs = []
        self._v(doc, self.root, "$", errs)
        check(not errs, "%s: not as docs/report-schema.json says:\n  %s" %
              (what, "\n  ".join(errs[:20])))
        if self.full:
            self.full.validate(doc)


# ---- tools ----

class Tools:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.schema = Schema(args.schema)
        self.reports = 0

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def record(self, prog, name, sampling="full", env=None, symbolize=False):
        """`memscope record`; without `symbolize`, --no-symbolize: the
        names then come from the binaries alone, which the cases check."""
        out = self.path(name)
        e = clean_env()
        e.update(env or {})
        e["MEMSCOPE_AGENT"] = self.a.agent
        opts = [] if symbolize else ["--no-symbolize"]
        p = run([self.a.cli, "record", "--out", out, "--sampling", sampling,
                 "--quiet"] + opts + ["--"] + prog, env=e)
        return p.stdout, out

    def report(self, archive, *opts, rc=0, stderr=False):
        p = run([self.a.cli, "report", archive, "--format", "json",
                 "--top", "1000"] + list(opts), rc=rc)
        try:
            doc = json.loads(p.stdout)
        except ValueError as e:
            raise Fail("report %s %s: not JSON (%s)" % (archive, opts, e))
        self.schema.validate(doc, "report %s %s" % (archive, " ".join(opts)))
        self.reports += 1
        return (doc, p.stderr) if stderr else doc

    def text(self, archive, *opts, rc=0):
        return run([self.a.cli, "report", archive, "--top", "1000"] +
                   list(opts), rc=rc).stdout

    def events(self, archive):
        p = run([self.a.cli, "dump", archive, "--json"])
        return [json.loads(line) for line in p.stdout.splitlines()]


def facts(stdout):
    """The program's "known KIND key=value ..." lines."""
    out = {}
    for line in stdout.splitlines():
        w = line.split()
        if len(w) < 2 or w[0] != "known":
            continue
        d = {}
        for kv in w[2:]:
            k, v = kv.split("=", 1)
            d[k] = int(v) if re.fullmatch(r"-?\d+", v) else v
        out.setdefault(w[1], []).append(d)
    check(out, "the program printed no 'known' line")
    return out


def one(f, kind):
    check(len(f.get(kind, [])) == 1, "expected one 'known %s' line" % kind)
    return f[kind][0]


# ---- the replay: the heap model's rules (consumer/analysis/heap.h) ----

def replay(events, frm=0, to=None, pid=0, tid=0):
    """Totals of a `full` archive's events (dump order), for the window
    [frm, to] (ns from the first event) and the filters: events before the
    window only build the live table; leaks are the blocks allocated in
    the window and live at its end; a tid keeps the figures of the blocks
    that thread allocated; a temporary is freed before its thread's next
    call."""
    base = events[0]["t_ns"]
    lo, hi = base + frm, None if to is None else base + to
    r = dict.fromkeys(["allocations", "frees", "realloc_calls",
                       "total_allocated_bytes", "total_freed_bytes",
                       "peak_bytes", "peak_time_ns", "leaked_bytes",
                       "leaked_allocations", "temporary_allocations",
                       "lost_events"], 0)
    st = {"live": {}, "last": {}, "cur": 0, "on": False, "other": {}}

    def release(e, b, addr):
        size, owner, t0, sel = b
        key = (e["pid"], e["tid"])
        if not sel:
            return
        st["cur"] -= size
        if st["on"]:
            r["frees"] += 1
            r["total_freed_bytes"] += size
            if owner != key:
                st["other"][owner] = st["other"].get(owner, 0) + 1
            if t0 >= lo and st["last"].get(key) == addr:
                r["temporary_allocations"] += 1

    def free_at(e, addr):
        b = st["live"].pop((e["pid"], addr), None)
        if b:
            release(e, b, addr)
        st["last"][(e["pid"], e["tid"])] = 0

    def alloc(e, addr):
        key = (e["pid"], e["tid"])
        old = st["live"].pop((e["pid"], addr), None)
        if old:  # its free was lost
            release(e, old, addr)
        check("weight" not in e, "replay() takes `full` archives only")
        sel = not tid or e["tid"] == tid
        st["live"][(e["pid"], addr)] = (e["size"], key, e["t_ns"], sel)
        st["last"][key] = addr
        if sel:
            st["cur"] += e["size"]
            if st["on"]:
                r["allocations"] += 1
                r["total_allocated_bytes"] += e["size"]
                if st["cur"] > r["peak_bytes"]:
                    r["peak_bytes"] = st["cur"]
                    r["peak_time_ns"] = e["t_ns"] - base

    for e in events:
        k = e["kind"]
        if k not in ("alloc", "free", "realloc", "lost"):
            continue
        if pid and e["pid"] != pid:
            continue
        if hi is not None and e["t_ns"] > hi:
            break
        if not st["on"] and e["t_ns"] >= lo:
            st["on"] = True
            r["peak_bytes"], r["peak_time_ns"] = st["cur"], e["t_ns"] - base
        addr = int(e.get("addr", "0x0"), 16)
        if k == "alloc":
            alloc(e, addr)
        elif k == "free":
            free_at(e, addr)
        elif k == "realloc":
            free_at(e, int(e["old_addr"], 16))
            if st["on"] and (not tid or e["tid"] == tid):
                r["realloc_calls"] += 1
            if addr:
                alloc(e, addr)
        elif st["on"]:
            r["lost_events"] += e["count"]
    for size, _, t0, sel in st["live"].values():
        if sel and t0 >= lo:
            r["leaked_bytes"] += size
            r["leaked_allocations"] += 1
    r["freed_by_other_threads"] = st["other"]
    return r


def check_replay(rep, events, what, **window):
    want = replay(events, **window)
    for k, v in want.items():
        if k != "freed_by_other_threads":
            check(rep[k] == v, "%s: %s %d, the replay of the events says %d"
                  % (what, k, rep[k], v))
    for t in rep["threads"]:
        n = want["freed_by_other_threads"].get((t["pid"], t["tid"]), 0)
        check(t["freed_by_other_threads"] == n,
              "%s: thread %d freed_by_other_threads %d, replay %d" %
              (what, t["tid"], t["freed_by_other_threads"], n))
    print("%s: equal to the replay of %d events (%d allocations, peak %d, "
          "leaked %d)" % (what, len(events), want["allocations"],
                          want["peak_bytes"], want["leaked_bytes"]))
    return want


# ---- sites ----

def label(site):
    return site["frames"][site["label"]] if site["label"] >= 0 else None


def labelled(rep, fn, line):
    """The sites whose label is fn at line of report_known.c."""
    out = []
    for s in rep["sites"]:
        f = label(s)
        if f and f["function"] == fn and f["line"] == line:
            check(f["file"] and f["file"].endswith("report_known.c"),
                  "%s:%d: file %r" % (fn, line, f["file"]))
            out.append(s)
    return out


SITE_KEYS = ("allocations", "bytes", "temporary", "leaked_bytes",
             "leaked_allocations", "peak_bytes", "peak_allocations", "freed")


def site_sum(rep, fn, line, present=True):
    ss = labelled(rep, fn, line)
    check(bool(ss) == present, "site %s:%d %s" %
          (fn, line, "missing" if present else "present"))
    return {k: sum(s[k] for s in ss) for k in SITE_KEYS}


def expect_site(rep, fn, line, **want):
    got = site_sum(rep, fn, line)
    for k, v in want.items():
        check(got[k] == v, "site %s:%d: %s %d, expected %d" %
              (fn, line, k, got[k], v))
    print("site %-22s line %3d: %s" % (fn, line, ", ".join(
        "%s %d" % (k, got[k]) for k in want)))
    return got


def thread(rep, tid):
    t = [t for t in rep["threads"] if t["tid"] == tid]
    check(len(t) == 1, "thread %d: %d entries" % (tid, len(t)))
    return t[0]


def base_ns(events):
    return events[0]["t_ns"]


# ---- known ----

def record_known(t, name="known", prog=None):
    stdout, arc = t.record([prog or t.a.known], name)
    return facts(stdout), arc


def own_sites(f):
    """(function, line) of every site of the program's own calls."""
    s = [(x["fn"], x["line"]) for k in ("leak", "temp", "inline", "peak",
                                        "cross", "worker") for x in f[k]]
    r = one(f, "realloc")
    return s + [(r["fn"], r["malloc_line"]), (r["fn"], r["realloc_line"])]


def glibc_sites(rep, f):
    """What glibc allocated for the program (pthread_create's thread
    data): every site that is not one of the program's own calls, each
    of which must be labelled with the pthread_create line."""
    own = set(own_sites(f))
    g = one(f, "glibc")
    other = []
    for s in rep["sites"]:
        fr = label(s)
        key = (fr["function"], fr["line"]) if fr else None
        if key in own:
            continue
        check(key == (g["fn"], g["line"]),
              "an allocation the program did not make: %s" %
              [(x["function"], x["file"], x["line"]) for x in s["frames"]])
        other.append(s)
    return {k: sum(s[k] for s in other) for k in SITE_KEYS}


def check_totals(rep, f, g):
    own = one(f, "own")
    want = {
        "allocations": own["allocs"] + g["allocations"],
        "total_allocated_bytes": own["bytes"] + g["bytes"],
        "frees": own["frees"] + g["freed"],
        "realloc_calls": own["reallocs"],
        "leaked_bytes": own["leaked"] + g["leaked_bytes"],
        "leaked_allocations": own["leaked_blocks"] +
        g["leaked_allocations"],
        "temporary_allocations": own["temporary"] + g["temporary"],
        "lost_events": 0,
    }
    for k, v in want.items():
        check(rep[k] == v, "%s %d, expected %d (the program's own and "
              "glibc's)" % (k, rep[k], v))
    check(rep["findings"]["double_frees"] == 0 and
          rep["findings"]["unknown_frees"] == 0, "findings: %s" %
          rep["findings"])
    check(rep["sampling"] == "full" and not rep["estimated"],
          "sampling %s, estimated %s" % (rep["sampling"], rep["estimated"]))
    check(rep["archive_errors"] == 0, "archive errors")
    print("totals: %s (glibc: %d allocations, %d bytes, %d leaked)" % (
        ", ".join("%s %d" % kv for kv in want.items()), g["allocations"],
        g["bytes"], g["leaked_bytes"]))


def check_inlined(rep, f):
    x = one(f, "inline")
    ss = labelled(rep, x["fn"], x["line"])
    check(len(ss) == 1, "inlined site: %d sites" % len(ss))
    fr = ss[0]["frames"]
    check(ss[0]["label"] == 0 and len(fr) >= 2, "inlined site: label %d"
          % ss[0]["label"])
    check((fr[0]["function"], fr[0]["line"], fr[0]["inlined"]) ==
          (x["fn"], x["line"], True), "inlined frame: %s" % fr[0])
    check((fr[1]["function"], fr[1]["line"], fr[1]["inlined"]) ==
          (x["caller"], x["call_line"], False), "its caller: %s" % fr[1])
    check(fr[0]["address"] == fr[1]["address"], "one return address")
    check(fr[1]["file"].endswith("report_known.c"), "caller's file")
    print("inlined: %s:%d inlined into %s at line %d" %
          (x["fn"], x["line"], x["caller"], x["call_line"]))
    expect_site(rep, x["fn"], x["line"], allocations=1, bytes=x["size"],
                leaked_bytes=0, temporary=0, peak_bytes=x["size"])


def check_peak(rep, f, events):
    pk = one(f, "peak")
    base = base_ns(events)
    want = pk["size"] + pk["live_before"]
    check(rep["peak_bytes"] == want, "peak %d, expected %d (%d held + %d "
          "live before)" % (rep["peak_bytes"], want, pk["size"],
                            pk["live_before"]))
    at = rep["peak_time_ns"] + base
    check(pk["t0"] <= at <= pk["t1"], "peak at %d ns, outside the "
          "program's bracket [%d, %d]" % (at, pk["t0"], pk["t1"]))
    expect_site(rep, pk["fn"], pk["line"], allocations=1, bytes=pk["size"],
                peak_bytes=pk["size"], peak_allocations=1, temporary=1,
                leaked_bytes=0)
    print("peak: %d bytes at %.6f s, inside [%.6f, %.6f]" % (
        rep["peak_bytes"], rep["peak_time_ns"] / 1e9,
        (pk["t0"] - base) / 1e9, (pk["t1"] - base) / 1e9))


def check_sites(rep, f):
    for x in f["leak"]:
        expect_site(rep, x["fn"], x["line"], leaked_bytes=x["size"] *
                    x["count"], leaked_allocations=x["count"],
                    allocations=x["count"], bytes=x["size"] * x["count"],
                    peak_bytes=x["size"] * x["count"], temporary=0)
    x = one(f, "temp")
    expect_site(rep, x["fn"], x["line"], allocations=x["count"],
                temporary=x["count"], bytes=x["size"] * x["count"],
                freed=x["count"], leaked_bytes=0, peak_bytes=0)
    r = one(f, "realloc")
    sizes = [r["first"] << i for i in range(r["calls"] + 1)]
    check(sizes[-1] == r["last"], "realloc sizes %s" % sizes)
    expect_site(rep, r["fn"], r["malloc_line"], allocations=1,
                bytes=sizes[0], temporary=1, leaked_bytes=0)
    expect_site(rep, r["fn"], r["realloc_line"], allocations=r["calls"],
                bytes=sum(sizes[1:]), temporary=r["calls"], leaked_bytes=0)
    check(rep["realloc_calls"] == r["calls"], "realloc_calls %d" %
          rep["realloc_calls"])
    c = one(f, "cross")
    expect_site(rep, c["fn"], c["line"], allocations=1, bytes=c["size"],
                temporary=0, leaked_bytes=0, freed=1)
    w = one(f, "worker")
    expect_site(rep, w["fn"], w["line"], allocations=w["count"],
                temporary=w["count"], bytes=w["size"] * w["count"])


def check_threads(rep, f):
    c, w = one(f, "cross"), one(f, "worker")
    main, work = thread(rep, c["alloc_tid"]), thread(rep, c["free_tid"])
    check(main["freed_by_other_threads"] == 1, "main thread: %d of its "
          "blocks freed by others" % main["freed_by_other_threads"])
    check(work["freed_by_other_threads"] == 0, "worker: freed by others")
    check(work["allocations"] == w["count"] and
          work["frees"] == w["count"] + 1, "worker: %d allocations, %d "
          "frees; expected %d, %d" % (work["allocations"], work["frees"],
                                     w["count"], w["count"] + 1))
    check(len(rep["threads"]) == 2 and rep["processes"] == 1,
          "%d threads, %d processes" % (len(rep["threads"]),
                                        rep["processes"]))
    print("threads: main %d (%d of its blocks freed by another), worker %d "
          "(%d frees)" % (main["tid"], main["freed_by_other_threads"],
                          work["tid"], work["frees"]))


# ---- the text report ----

def fmt_bytes(v):
    """report_text.c's fmt_bytes()."""
    d, u = float(v), 0
    while d >= 1024 and u < 4:
        d /= 1024
        u += 1
    if u == 0:
        return "%d B" % v
    return "%.*f %s" % (2 if d < 10 else 1 if d < 100 else 0, d,
                        ["B", "KiB", "MiB", "GiB", "TiB"][u])


def has_line(text, pattern, what):
    check(re.search(pattern, text, re.M), "text report: no %s (/%s/)" %
          (what, pattern))


def check_text(text, rep, f):
    e = re.escape
    n = "{:,}".format
    has_line(text, r"^  allocations +%s, %s allocated \(%s by realloc\)$" %
             (e(n(rep["allocations"])), e(fmt_bytes(
                 rep["total_allocated_bytes"])), n(rep["realloc_calls"])),
             "allocations")
    has_line(text, r"^  frees +%s, %s$" % (e(n(rep["frees"])), e(fmt_bytes(
        rep["total_freed_bytes"]))), "frees")
    has_line(text, r"^  temporary +%s \(" % e(n(rep[
        "temporary_allocations"])), "temporary")
    has_line(text, r"^  peak heap +%s at %.3f s$" % (e(fmt_bytes(
        rep["peak_bytes"])), rep["peak_time_ns"] / 1e9), "peak")
    has_line(text, r"^  leaked +%s in %s blocks" % (e(fmt_bytes(
        rep["leaked_bytes"])), e(n(rep["leaked_allocations"]))), "leaked")
    has_line(text, r"^figures: +exact \(sampling full\)$", "exactness")
    for x in f["leak"]:
        for s in labelled(rep, x["fn"], x["line"]):
            has_line(text, r"^ *\d+ +%s in +%s blocks  %s  report_known\.c:"
                     r"%d$" % (e(fmt_bytes(s["leaked_bytes"])),
                               n(s["leaked_allocations"]), x["fn"],
                               x["line"]), "leak of " + x["fn"])
    pk = one(f, "peak")
    has_line(text, r"^PEAK HEAP: %s at %.3f s" % (
        e(fmt_bytes(rep["peak_bytes"])), rep["peak_time_ns"] / 1e9),
        "peak title")
    has_line(text, r"^  1 +%s +\d+\.\d%% +1 blocks  %s  report_known\.c:%d$" %
             (e(fmt_bytes(pk["size"])), pk["fn"], pk["line"]), "peak site")
    x = one(f, "temp")
    has_line(text, r"^ *\d+ +%s temporary \(100\.0%% of its calls\)  %s  "
             r"report_known\.c:%d$" % (x["count"], x["fn"], x["line"]),
             "temporary site")
    x = one(f, "inline")
    has_line(text, r"^ *\d+ .*  %s  report_known\.c:%d\n +<- %s  "
             r"report_known\.c:%d$" % (x["fn"], x["line"], x["caller"],
                                      x["call_line"]), "inlined frame")
    c = one(f, "cross")
    has_line(text, r"^ +\d+ +%d .* 1$" % c["alloc_tid"],
             "main thread's row (1 block freed by others)")
    print("text report: the same names and figures")


def case_known(t):
    f, arc = record_known(t)
    rep = t.report(arc)
    events = t.events(arc)
    check(len(rep["sites"]) == rep["sites_total"] - 1,
          "%d sites listed of %d" % (len(rep["sites"]), rep["sites_total"]))
    check_sites(rep, f)
    check_inlined(rep, f)
    check_peak(rep, f, events)
    check_threads(rep, f)
    check_totals(rep, f, glibc_sites(rep, f))
    check_replay(rep, events, "whole run")
    check_text(t.text(arc), rep, f)


# ---- symbols: debug files, rebuilds, the store ----

def names(rep, f):
    """(function, file basename, line) of each of the program's sites."""
    out = set()
    for fn, line in own_sites(f):
        for s in labelled(rep, fn, line):
            out.add((fn, os.path.basename(label(s)["file"]), line))
    return out


def check_named(rep, f, what):
    want = set((fn, "report_known.c", line) for fn, line in own_sites(f))
    got = names(rep, f)
    check(got == want, "%s: sites %s, expected %s" % (what, sorted(got),
                                                      sorted(want)))
    check_inlined(rep, f)
    print("%s: all %d sites named, with file and line" % (what, len(want)))


def unnamed(module, offset):
    """docs/symbols.md: a frame without a name is module+0x<offset of the
    call>, the return address's offset minus 1."""
    return "%s+0x%x" % (module, max(int(offset, 16) - 1, 0))


def check_unnamed(rep, module, what):
    """Every frame in `module` is module+0xoffset: no name, no line."""
    n = 0
    for s in rep["sites"]:
        for fr in s["frames"]:
            check(not fr["function"].startswith("known_"),
                  "%s: a name where none can be trusted: %s" % (what, fr))
            if fr["module"] != module:
                continue
            check(fr["function"] == unnamed(module, fr["offset"]) and
                  fr["file"] is None and fr["line"] == 0 and
                  not fr["inlined"], "%s: frame %s" % (what, fr))
            n += 1
    check(n > 0, "%s: no frame in %s" % (what, module))
    print("%s: %d frames in %s, each %s+0x<offset>" % (what, n, module,
                                                       module))


def build_id(arc, path):
    with open(os.path.join(arc, "manifest.json")) as fh:
        man = json.load(fh)
    ids = [m["build_id"] for p in man["processes"] for m in p["modules"]
           if m["path"] == path]
    check(ids and re.fullmatch(r"[0-9a-f]{40}", ids[0]),
          "no build id for %s in the manifest" % path)
    return ids[0]


def case_debug_dir(t):
    prog = t.path("bin", "report_known")
    shutil.copy(t.a.known + ".stripped", prog)
    f, arc = record_known(t, "stripped", prog)
    bid = build_id(arc, prog)
    dbg = t.path("debug", ".build-id", bid[:2], bid[2:] + ".debug")
    shutil.copy(t.a.known + ".debug", dbg)
    check_unnamed(t.report(arc), "report_known", "stripped, no debug file")
    rep = t.report(arc, "--debug-dir", t.path("debug"))
    check_named(rep, f, "stripped, --debug-dir with .build-id/%s/%s.debug"
                % (bid[:2], bid[2:]))
    check_totals(rep, f, glibc_sites(rep, f))


def case_rebuilt(t):
    prog = t.path("bin", "report_known")
    shutil.copy(t.a.known, prog)
    f, arc = record_known(t, "rebuilt", prog)
    check_named(t.report(arc), f, "before the rebuild")
    shutil.copy(t.a.known_v2, prog)
    now = re.search(r"Build ID: ([0-9a-f]+)", run(["readelf", "-n", prog]
                                                  ).stdout)
    check(now and now.group(1) != build_id(arc, prog),
          "the rebuild has the same build id")
    rep = t.report(arc)
    check_unnamed(rep, "report_known", "after the rebuild")
    # --no-symbols gives each of those frames the same name
    bare = {s["id"]: s["frames"] for s in t.report(arc, "--no-symbols")[
        "sites"]}
    for s in rep["sites"]:
        got = [fr["function"] for fr in bare[s["id"]]
               if fr["module"] == "report_known"]
        want = [fr["function"] for fr in s["frames"]
                if fr["module"] == "report_known"]
        check(got == want, "--no-symbols names %s, the report %s" %
              (got, want))
    libc = [fr for s in rep["sites"] for fr in s["frames"]
            if fr["module"] and fr["module"].startswith("libc.so")]
    check(libc and all("+0x" not in fr["function"] for fr in libc
                       if fr["function"].startswith("__libc_start")),
          "libc's frames lost their names")


def case_store(t):
    prog = t.path("bin", "report_known")
    shutil.copy(t.a.known, prog)
    f, arc = record_known(t, os.path.join("here", "archive"), prog)
    bare = t.path("bare", "archive")
    shutil.copytree(arc, bare)
    t0 = time.monotonic()
    p = run([t.a.cli, "symbolize", arc])
    took = time.monotonic() - t0
    store = os.path.join(arc, "symbols.msym")
    check(os.path.getsize(store) > 0, "no symbols.msym")
    print("symbolize: %.3f s, symbols.msym %d bytes (%s)" %
          (took, os.path.getsize(store), p.stderr.strip()))
    # record stores the names by itself when the program ends
    prog2 = t.path("bin2", "report_known")
    shutil.copy(t.a.known, prog2)
    e = clean_env()
    e["MEMSCOPE_AGENT"] = t.a.agent
    own = t.path("own", "archive")
    run([t.a.cli, "record", "--out", own, "--sampling", "full", "--quiet",
         "--", prog2], env=e)
    check(os.path.exists(os.path.join(own, "symbols.msym")),
          "record did not store the names")
    moved = t.path("elsewhere", "moved")
    os.rename(arc, moved)
    os.rename(prog, prog + ".away")
    os.rename(prog2, prog2 + ".away")
    rep = t.report(moved)
    check_named(rep, f, "moved, binary gone, names from the store")
    check_totals(rep, f, glibc_sites(rep, f))
    check(any(fr["function"] == "known_peak_hold" for s in
              t.report(own)["sites"] for fr in s["frames"]),
          "record's own store: no names with the binary gone")
    check_unnamed(t.report(bare), "report_known", "binary gone, no store")


def case_fifo_module(t):
    """A module whose recorded path is a FIFO by the time of the report:
    no module file there, so its frames are module+0x..., and the report
    finishes (a blocking open(2) would wait for a writer that never
    comes)."""
    prog = t.path("bin", "report_known")
    shutil.copy(t.a.known, prog)
    f, arc = record_known(t, "fifo", prog)
    os.unlink(prog)
    os.mkfifo(prog)
    try:
        p = run([t.a.cli, "report", arc, "--format", "json"], timeout=5)
    except subprocess.TimeoutExpired:
        raise Fail("memscope report still waits after 5 s: it opened the "
                   "FIFO %s as a module file" % prog)
    rep = json.loads(p.stdout)
    t.schema.validate(rep, "report with a FIFO for a module")
    t.reports += 1
    check_unnamed(rep, "report_known", "module path now a FIFO")


# ---- window and filters ----

def case_window(t):
    f, arc = record_known(t)
    events = t.events(arc)
    base = base_ns(events)
    pk, own, g = one(f, "peak"), one(f, "own"), one(f, "glibc")
    t0, t1 = pk["t0"] - base, pk["t1"] - base
    # around the peak: its block alone, and the same peak
    rep = t.report(arc, "--from", "%dns" % t0, "--to", "%dns" % t1)
    check_replay(rep, events, "window around the peak", frm=t0, to=t1)
    want = dict(allocations=1, frees=1, total_allocated_bytes=pk["size"],
                peak_bytes=pk["size"] + pk["live_before"], leaked_bytes=0,
                temporary_allocations=1, realloc_calls=0)
    for k, v in want.items():
        check(rep[k] == v, "window around the peak: %s %d, expected %d" %
              (k, rep[k], v))
    check(t0 <= rep["peak_time_ns"] <= t1, "peak time outside the window")
    check(rep["window"] == {"from_ns": t0, "to_ns": t1}, "window %s" %
          rep["window"])
    sites = [s for s in rep["sites"] if s["allocations"]]
    check(len(sites) == 1 and label(sites[0])["function"] == pk["fn"],
          "window around the peak: sites %s" % sites)
    has_line(t.text(arc, "--from", "%dns" % t0, "--to", "%dns" % t1),
             r"^window: +%.3f s to %.3f s$" % (t0 / 1e9, t1 / 1e9),
             "window line")
    # before it: the blocks live then are its leaks, and its peak
    rep = t.report(arc, "--to", "%dns" % t0)
    check_replay(rep, events, "window before the peak", to=t0)
    check(rep["leaked_bytes"] == pk["live_before"] and
          rep["peak_bytes"] == pk["live_before"], "before the peak: "
          "leaked %d, peak %d, expected %d" % (rep["leaked_bytes"],
                                               rep["peak_bytes"],
                                               pk["live_before"]))
    check(rep["allocations"] == own["allocs"] - 1 - 1 - 3,
          "before the peak: %d allocations" % rep["allocations"])
    # after it: the blocks from before are no leaks, the peak is lower
    rep = t.report(arc, "--from", "%dns" % t1)
    check_replay(rep, events, "window after the peak", frm=t1)
    gl = site_sum(rep, g["fn"], g["line"])
    check(rep["leaked_bytes"] == gl["leaked_bytes"] and
          rep["peak_bytes"] == pk["live_before"] + one(f, "cross")["size"] +
          gl["bytes"], "after the peak: leaked %d, peak %d" %
          (rep["leaked_bytes"], rep["peak_bytes"]))
    site_sum(rep, pk["fn"], pk["line"], present=False)


def case_filters(t):
    f, arc = record_known(t)
    events = t.events(arc)
    c, w, own = one(f, "cross"), one(f, "worker"), one(f, "own")
    g = glibc_sites(t.report(arc), f)
    rep = t.report(arc, "--tid", str(c["alloc_tid"]))
    check(rep["tid"] == c["alloc_tid"], "tid %s" % rep["tid"])
    check_replay(rep, events, "--tid main", tid=c["alloc_tid"])
    check(rep["allocations"] == own["allocs"] - w["count"] +
          g["allocations"] and rep["frees"] == own["frees"] - w["count"],
          "--tid main: %d allocations, %d frees" % (rep["allocations"],
                                                    rep["frees"]))
    expect_site(rep, c["fn"], c["line"], allocations=1, freed=1)
    site_sum(rep, w["fn"], w["line"], present=False)
    check(thread(rep, c["free_tid"])["frees"] == 1, "--tid main: the "
          "worker freed one of main's blocks")
    check(thread(rep, c["alloc_tid"])["freed_by_other_threads"] == 1,
          "--tid main: freed by others")
    rep = t.report(arc, "--tid", str(c["free_tid"]))
    check_replay(rep, events, "--tid worker", tid=c["free_tid"])
    check((rep["allocations"], rep["frees"], rep["temporary_allocations"],
           rep["leaked_bytes"]) == (w["count"], w["count"], w["count"], 0),
          "--tid worker: %s" % rep)
    site_sum(rep, c["fn"], c["line"], present=False)
    print("--tid: the block freed on the worker counts for main only")
    # --pid on a forking run
    stdout, arc = t.record([t.a.known, "fork"], "fork")
    f = facts(stdout)
    events = t.events(arc)
    par, ch, th = one(f, "fork_parent"), one(f, "fork_child"), \
        one(f, "fork_thread")
    rep = t.report(arc)
    check_replay(rep, events, "fork, all")
    check(rep["processes"] == 2, "fork: %d processes, expected 2 (parent, "
          "child, then a thread of the parent)" % rep["processes"])
    for x, other in ((par, ch), (ch, par)):
        rep = t.report(arc, "--pid", str(x["pid"]))
        check_replay(rep, events, "--pid %d" % x["pid"], pid=x["pid"])
        expect_site(rep, x["fn"], x["line"], leaked_bytes=x["size"] *
                    x["count"], leaked_allocations=x["count"])
        site_sum(rep, other["fn"], other["line"], present=False)
        check(rep["processes"] == 1 and rep["pid"] == x["pid"] and
              {t["pid"] for t in rep["threads"]} == {x["pid"]},
              "--pid %d: %s" % (x["pid"], rep["threads"]))
    check(rep["leaked_bytes"] == ch["size"] * ch["count"] and
          rep["allocations"] == ch["count"], "--pid child: %d allocations,"
          " %d leaked" % (rep["allocations"], rep["leaked_bytes"]))
    expect_site(t.report(arc, "--pid", str(th["pid"])), th["fn"],
                th["line"], allocations=1, temporary=1)


# ---- damage ----

def damage_cases(arc):
    segs = sorted((os.path.getsize(os.path.join(d, n)), os.path.join(d, n))
                  for d, _, ns in os.walk(arc) for n in ns
                  if n.endswith(".mseg"))
    big, small = segs[-1][1], segs[-2][1]
    man = os.path.join(arc, "manifest.json")

    def cut(d):
        os.truncate(d(big), os.path.getsize(d(big)) // 2)

    def flip(d):
        with open(d(big), "r+b") as fh:
            fh.seek(os.path.getsize(d(big)) // 2)
            b = fh.read(16)
            fh.seek(-len(b), 1)
            fh.write(bytes(x ^ 0xff for x in b))

    def no_manifest(d):
        os.unlink(d(man))

    def bad_manifest(d):
        with open(d(man), "w") as fh:
            fh.write('{"format": 1, "processes": [{"pid": ')

    def empty(d):
        os.truncate(d(small), 0)

    def garbage(d):
        rnd = random.Random(8)
        with open(d(small), "wb") as fh:
            fh.write(bytes(rnd.randrange(256) for _ in range(5000)))

    return [("segment cut in half", cut, big),
            ("16 bytes flipped in a frame", flip, big),
            ("manifest deleted", no_manifest, man),
            ("manifest cut short", bad_manifest, man),
            ("segment emptied", empty, small),
            ("segment of random bytes", garbage, small)]


def case_damage(t):
    stdout, arc = t.record([t.a.stress, "--threads", "2", "--ops", "100000",
                            "--seed", "1"], "intact")
    whole = t.report(arc)
    for name, hurt, victim in damage_cases(arc):
        d = t.path("damaged-" + name.replace(" ", "-"))
        shutil.copytree(arc, d)
        hurt(lambda p: os.path.join(d, os.path.relpath(p, arc)))
        where = os.path.join(d, os.path.relpath(victim, arc))
        rep, err = t.report(d, rc=1, stderr=True)
        check(where in err, "%s: stderr does not name %s: %r" %
              (name, where, err))
        check(rep["archive_errors"] >= 1, "%s: archive_errors %d" %
              (name, rep["archive_errors"]))
        check(rep["allocations"] <= whole["allocations"], "%s: more "
              "allocations than the intact archive" % name)
        text = t.text(d, rc=1)
        has_line(text, r"^damage: +\d+ problems? in the archive", name)
        has_line(text, r"^SUMMARY$", name + ": the summary")
        print("%-28s exit 1, %d allocations of %d read, %d problem(s): %s"
              % (name, rep["allocations"], whole["allocations"],
                 rep["archive_errors"], err.strip().splitlines()[0]))


# ---- sampling ----

def case_sampled(t):
    cmd = [t.a.stress, "--threads", "8", "--ops", "200000", "--seed", "1",
           "--peak", "1"]
    runs = {}
    for mode in ("full", "tiered", "bytes:4096"):
        stdout, arc = t.record(cmd, mode.replace(":", "-"), sampling=mode)
        m = re.search(r"^memscope-expect peak bytes=(\d+)$", stdout, re.M)
        check(m, "stress_test printed no peak")
        rep = t.report(arc)
        check(rep["estimated"] == (mode != "full"), "%s: estimated %s" %
              (mode, rep["estimated"]))
        runs[mode] = (rep, int(m.group(1)))
    full, own_peak = runs["full"]
    # in full mode the report's peak is the program's own plus what glibc
    # allocated for its threads (a few hundred bytes each)
    check(own_peak <= full["peak_bytes"] <= own_peak * 1.001,
          "full: peak %d, the program counted %d" % (full["peak_bytes"],
                                                    own_peak))
    print("%-10s %16s %10s %14s %10s %14s" % ("mode", "bytes", "error",
                                             "peak", "error", "vs full run"))
    print("%-10s %16d %10s %14d %+9.2f%% %14s" % (
        "full", full["total_allocated_bytes"], "", full["peak_bytes"],
        100.0 * (full["peak_bytes"] - own_peak) / own_peak, ""))
    bad = []
    for mode in ("tiered", "bytes:4096"):
        rep, peak = runs[mode]
        eb = (rep["total_allocated_bytes"] - full["total_allocated_bytes"]
              ) / full["total_allocated_bytes"]
        ep = (rep["peak_bytes"] - peak) / peak
        ef = (rep["peak_bytes"] - full["peak_bytes"]) / full["peak_bytes"]
        print("%-10s %16d %+9.2f%% %14d %+9.2f%% %+13.2f%%" % (
            mode, rep["total_allocated_bytes"], 100 * eb, rep["peak_bytes"],
            100 * ep, 100 * ef))
        if abs(eb) > 0.05:
            bad.append("%s: bytes %+.2f%%" % (mode, 100 * eb))
        if abs(ep) > 0.05:
            bad.append("%s: peak %+.2f%% of the run's own %d" %
                       (mode, 100 * ep, peak))
    print("(peak error: against the peak the program counted in the same "
          "run; 'vs full run': against the full run's, for information)")
    check(not bad, "estimates off by more than 5%: " + "; ".join(bad))


# ---- heaptrack ----

PROGRAMS = {
    # a hash of 200,000 keys built, two thirds deleted, the rest kept
    "perl": (["perl", "-e", "my %h; $h{$_} = q(x) x ($_ % 97) for "
              "1..200000; delete $h{$_} for grep { $_ % 3 } 1..200000; "
              "print scalar(keys %h), qq(\\n)"],
             {"PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"}),
    # dicts of lists built and dropped, a list of interned strings kept;
    # every object through malloc, so that each is a call both count
    "python": (["/usr/bin/python3", "-c", "import sys; d = {i: [i] * (i % 7)"
                " for i in range(150000)}; s = [sys.intern('k%d' % k * 3) "
                "for k in d if k % 2]; del d; print(len(s), s[-1])"],
               {"PYTHONHASHSEED": "0", "PYTHONMALLOC": "malloc"}),
    # mawk counting the words of 200,000 lines and keeping 50,000 of them
    "awk": (["mawk", "{ c[$2]++; s[NR % 50000] = $0 \" \" NR } END { n = 0; "
             "for (k in c) n++; print n, length(s) }", "{lines}"], {}),
}
UNIT = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
FIGURES = [("allocations", "calls to allocation functions"),
           ("temporary_allocations", "temporary memory allocations"),
           ("peak_bytes", "peak heap memory consumption"),
           ("leaked_bytes", "total memory leaked")]


def heaptrack_figure(text, what, need=True):
    """heaptrack_print's "<what>: 72.28M" (1000-based units) as (value,
    half its last digit: the rounding)."""
    m = re.search(r"^%s: ([0-9.]+)([KMGT]?)B?\b" % re.escape(what), text,
                  re.M)
    check(m or not need, "heaptrack_print: no '%s' line" % what)
    if not m:
        return 0.0, 0.0
    num, scale = m.group(1), UNIT[m.group(2)]
    digits = len(num.split(".")[1]) if "." in num else 0
    return float(num) * scale, 0.5 * 10 ** -digits * scale


def heaptrack(t, cmd, env, name):
    """heaptrack_print's figures for cmd: {key: (value, rounding)}, the
    leaks it suppresses counted back (memscope suppresses none)."""
    out = t.path("heaptrack", name, "data")
    run(["heaptrack", "-o", out] + cmd, env=env)
    data = [os.path.join(os.path.dirname(out), n)
            for n in os.listdir(os.path.dirname(out))]
    check(len(data) == 1, "heaptrack wrote %s" % data)
    text = run(["heaptrack_print", "--print-leaks", "0", "--print-peaks",
                "0", "--print-allocators", "0", "--print-temporary", "0",
                "-f", data[0]]).stdout
    fig = {k: heaptrack_figure(text, what) for k, what in FIGURES}
    sup = heaptrack_figure(text, "suppressed leaks", need=False)
    fig["leaked_bytes"] = (fig["leaked_bytes"][0] + sup[0],
                           fig["leaked_bytes"][1] + sup[1])
    return fig


def case_heaptrack(t):
    """heaptrack's preload library links libstdc++, whose start-up
    allocates its emergency exception pool (72.70K): heaptrack counts that
    block in every program's figures (`heaptrack /bin/true`: 1 call, 1
    temporary, peak 72.70K). A program that does not load libstdc++ itself
    never makes it, so those figures are taken off heaptrack's first."""
    if not shutil.which("heaptrack") or not shutil.which("heaptrack_print"):
        print("SKIP: heaptrack is not installed (Debian: apt-get install "
              "heaptrack); nothing compared")
        sys.exit(SKIP)
    cmd, env = PROGRAMS[t.a.program]
    lines = t.path("lines")
    rnd = random.Random(1)
    with open(lines, "w") as fh:
        for i in range(200000):
            fh.write("%d %s\n" % (rnd.randrange(10 ** 6),
                                  "abcdefghij"[:1 + i % 10]))
    cmd = [c.replace("{lines}", lines) for c in cmd]
    check(shutil.which(cmd[0]), "%s is not installed" % cmd[0])
    e = clean_env()
    e.update(env)
    t0 = time.monotonic()
    plain = run(cmd, env=e)
    t1 = time.monotonic()
    ht = heaptrack(t, cmd, e, "program")
    t2 = time.monotonic()
    stdout, arc = t.record(cmd, "memscope", env=env)
    t3 = time.monotonic()
    check(stdout == plain.stdout, "stdout differs under memscope")
    rep = t.report(arc)
    with open(os.path.join(arc, "manifest.json")) as fh:
        cxx = any("libstdc++" in m["path"] for p in json.load(fh)[
            "processes"] for m in p["modules"])
    own = {k: (0.0, 0.0) for k, _ in FIGURES}
    if not cxx:
        own = heaptrack(t, ["/bin/true"], e, "true")
    print("%s (%.2f s untracked, %.2f s heaptrack, %.2f s memscope): %s" %
          (t.a.program, t1 - t0, t2 - t1, t3 - t2, " ".join(cmd)))
    print("%-24s %12s %12s %12s %9s" % ("", "memscope", "heaptrack",
                                       "(its own)", "diff"))
    bad = []
    for key, _ in FIGURES:
        (h, hr), (o, orr) = ht[key], own[key]
        m, want, rounding = rep[key], h - o, hr + orr
        diff = (m - want) / want if want else 0.0
        print("%-24s %12d %12.0f %12.0f %+8.3f%%" % (key, m, h, o,
                                                     100 * diff))
        if abs(m - want) > 0.01 * want + rounding:
            bad.append("%s: memscope %d, heaptrack %.0f" % (key, m, want))
    check(not bad, "more than 1%% apart: " + "; ".join(bad))


CASES = {
    "known": case_known,
    "debug-dir": case_debug_dir,
    "rebuilt": case_rebuilt,
    "store": case_store,
    "fifo-module": case_fifo_module,
    "window": case_window,
    "filters": case_filters,
    "damage": case_damage,
    "sampled": case_sampled,
    "heaptrack": case_heaptrack,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--program", choices=sorted(PROGRAMS))
    for opt in ("cli", "agent", "schema", "known", "known-v2", "stress"):
        ap.add_argument("--" + opt, required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ms-report-test-")
    t = Tools(args, tmp)
    try:
        CASES[args.case](t)
    except Fail as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS (%d JSON reports valid against %s%s)" % (
        t.reports, os.path.basename(args.schema),
        ", also by jsonschema" if t.schema.full else ""))


if __name__ == "__main__":
    main()
