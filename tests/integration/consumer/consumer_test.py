#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end, stress and fault tests of `memscope consumer`.

usage: consumer_test.py CLI FAKE_AGENT SCENARIO [--threads T] [--ops N]

Each scenario starts a consumer on a private session, drives it with the
fake agent (known events) and checks the archive with `memscope stats
--json`. Exits 0 on success, 1 with a message on failure.
"""
import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import mstest
from mstest import CHILDREN, Consumer, Fail, check, expectations, run_scenario

TIMEOUT = 600


def fake(args, session, *extra, env=None, check_rc=True):
    cmd = [args.fake, "--session", session] + [str(x) for x in extra]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=TIMEOUT, env=env)
    if check_rc:
        check(p.returncode == 0, "fake agent failed (%d): %s" %
              (p.returncode, p.stderr))
    return p


def stats(args, out):
    return mstest.stats(args.cli, out, TIMEOUT)


def per_thread(st):
    return {t["tid"]: t for t in st["per_thread"]}


def compare(st, total, threads, exact_drop=True, skip=()):
    pt = per_thread(st)
    for tid, e in threads.items():
        if tid in skip:
            continue
        check(tid in pt, "thread %d missing from the archive" % tid)
        a = pt[tid]
        check(a["allocs"] == e["allocs"] and a["frees"] == e["frees"],
              "thread %d: archive %d/%d allocs/frees, expected %d/%d" %
              (tid, a["allocs"], a["frees"], e["allocs"], e["frees"]))
        if exact_drop:
            check(a["dropped"] == e["lost"], "thread %d: dropped %d, "
                  "expected %d" % (tid, a["dropped"], e["lost"]))
    if not skip:
        check(st["allocs"] == total["allocs"] and
              st["frees"] == total["frees"],
              "total: archive %d/%d allocs/frees, expected %d/%d" %
              (st["allocs"], st["frees"], total["allocs"], total["frees"]))
        if exact_drop:
            check(st["dropped"] == total["lost"], "dropped %d, expected %d"
                  % (st["dropped"], total["lost"]))


def run_basic(args, tmp, extra_consumer=(), extra_fake=(), mode="block"):
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                 "--on-full", mode, "--exit-when-idle"] +
                 list(extra_consumer))
    t0 = time.time()
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops, *extra_fake)
    rc = c.wait()
    dt = time.time() - t0
    check(rc == 0, "consumer exit %d: %s" % (rc, c.stderr()))
    total, threads = expectations(p.stdout)
    st = stats(args, out)
    print("%s: %d threads, %d events archived, %d dropped, %.2f s, "
          "%.2f bytes/event" % (args.scenario, len(threads), st["events"],
                                st["dropped"], dt,
                                st["bytes_on_disk"] / max(st["events"], 1)))
    return c, st, total, threads


def sc_basic(args, tmp):
    _, st, total, threads = run_basic(args, tmp)
    check(st["dropped"] == 0, "dropped in block mode")
    compare(st, total, threads)
    check(st["threads"] == args.threads, "threads %d" % st["threads"])


def sc_reuse(args, tmp):
    _, st, total, threads = run_basic(args, tmp, extra_fake=["--reuse", 5])
    compare(st, total, threads)


def sc_stress_block(args, tmp):
    _, st, total, threads = run_basic(args, tmp, ["--ring-kb", "64"])
    check(st["dropped"] == 0 and total["lost"] == 0, "lost in block mode")
    compare(st, total, threads)


def sc_stress_drop(args, tmp):
    _, st, total, threads = run_basic(args, tmp, ["--ring-kb", "4"],
                                      mode="drop")
    compare(st, total, threads)
    check(st["allocs"] + st["frees"] + st["dropped"] == total["attempted"],
          "archived + dropped %d != attempted %d" %
          (st["allocs"] + st["frees"] + st["dropped"], total["attempted"]))
    print("  drop: %d of %d events dropped" % (st["dropped"],
                                                total["attempted"]))


def sc_crash(args, tmp):
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                                               "--exit-when-idle"])
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops, "--fault", "crash", check_rc=False)
    check(p.returncode == -signal.SIGKILL, "not killed: %d" % p.returncode)
    check(c.wait() == 0, "consumer failed: " + c.stderr())
    total, threads = expectations(p.stdout)
    st = stats(args, out)
    compare(st, total, threads)
    print("crash: %d allocs archived of a SIGKILLed process" % st["allocs"])


def sc_faults(args, tmp, fault):
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                                               "--exit-when-idle"])
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops, "--fault", fault)
    rc = c.wait()
    err = c.stderr()
    check(rc == 0, "consumer exit %d: %s" % (rc, err))
    total, threads = expectations(p.stdout)
    return stats(args, out), total, threads, err


def sc_small_ring(args, tmp):
    st, total, threads, err = sc_faults(args, tmp, "small-ring")
    check("refused the ring of thread" in err, "no refusal logged: " + err)
    compare(st, total, threads)


def sc_unsealed(args, tmp):
    st, total, threads, err = sc_faults(args, tmp, "unsealed")
    check("refused the ring of thread" in err, "no refusal logged: " + err)
    compare(st, total, threads)


def sc_unread_acks(args, tmp):
    """The agent leaves an answer unread and closes while its rings still
    wait in the consumer's queue: every one of them is archived."""
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                 "--ring-kb", "4096", "--exit-when-idle"])
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops, "--fault", "unread-acks", "--stop-pid", c.p.pid)
    rc = c.wait()
    check(rc == 0, "consumer exit %d: %s" % (rc, c.stderr()))
    total, threads = expectations(p.stdout)
    st = stats(args, out)
    check(st["threads"] == args.threads, "%d of %d threads archived" %
          (st["threads"], args.threads))
    compare(st, total, threads)


def sc_garbage_msg(args, tmp):
    st, total, threads, err = sc_faults(args, tmp, "garbage-msg")
    check("invalid message" in err, "no invalid message logged: " + err)
    compare(st, total, threads)


def sc_garbage_ring(args, tmp):
    st, total, threads, err = sc_faults(args, tmp, "garbage-ring")
    check("invalid bytes in ring" in err, "no abandon logged: " + err)
    pt = per_thread(st)
    bad = [t for t in threads if pt.get(t, {}).get("allocs") !=
           threads[t]["allocs"]]
    check(len(bad) <= 3, "more than the three bad threads differ: %s" %
          bad)
    check(st["threads"] >= args.threads - 3, "threads lost")
    compare(st, total, threads, skip=tuple(bad) or (-1,))


def sc_killed(args, tmp):
    """Consumer SIGKILLed while the producer blocks: producer finishes."""
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                                               "--ring-kb", "4"])
    p = subprocess.Popen([args.fake, "--session", args.session, "--threads",
                          "4", "--ops", "20000000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # Killed once the producer is attached and writing, however slowly a
    # loaded machine starts it.
    deadline = time.time() + 30
    while "attached" not in c.stderr() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    check(p.poll() is None, "the producer ended before the consumer "
          "was killed; make the run longer")
    c.p.kill()
    c.wait()
    t0 = time.time()
    try:
        so, se = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Fail("producer hung after the consumer died")
    check(p.returncode == 0, "producer failed: %d %s" % (p.returncode, se))
    total, _ = expectations(so)
    check(total["lost"] > 0, "nothing counted lost")
    print("killed: producer finished %.1f s after the consumer died, "
          "%d events counted lost" % (time.time() - t0, total["lost"]))


def sc_other_uid(args, tmp):
    os.chmod(tmp, 0o755)
    sockdir = tmp + "/s"
    os.mkdir(sockdir, 0o755)
    env = dict(os.environ, MEMSCOPE_SOCKET=sockdir + "/x.sock")
    env.pop("MEMSCOPE_SESSION", None)
    c = Consumer(args.cli, tmp + "/arc", None, [], env=env)
    os.chmod(sockdir + "/x.sock", 0o666)  # let the kernel pass it on
    if os.getuid() != 0:
        print("other-uid: not root, cannot setuid; skipped")
        c.stop()
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.execve(args.fake, [args.fake, "--fault", "peer"], env)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    time.sleep(0.2)
    check(c.stop() == 0, "consumer failed")
    err = c.stderr()
    check(os.WEXITSTATUS(status) == 0, "peer of another uid was accepted")
    check("refused a connection from uid 65534" in err, "no refusal: " + err)
    print("other-uid: refused by SO_PEERCRED")


def sc_sigterm(args, tmp):
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full"])
    p = fake(args, args.session, "--threads", 2, "--ops", 1000)
    time.sleep(0.3)
    check(c.stop(signal.SIGINT) == 0, "consumer exit status on SIGINT")
    with open(out + "/manifest.json") as f:
        m = json.load(f)
    check(m["state"] == "finished", "manifest not final")
    total, threads = expectations(p.stdout)
    compare(stats(args, out), total, threads)
    check(not os.path.exists(c.sock), "socket left behind")


def sc_in_use(args, tmp):
    c = Consumer(args.cli, tmp + "/a1", args.session, [])
    p = subprocess.run([args.cli, "consumer", "--session", args.session,
                        "--out", tmp + "/a2"], stderr=subprocess.PIPE,
                       text=True, timeout=30)
    check(p.returncode == 1 and "already has a consumer" in p.stderr,
          "second consumer: %d %s" % (p.returncode, p.stderr))
    c.stop()
    # a stale socket (its consumer died) is replaced
    c = Consumer(args.cli, tmp + "/a3", args.session, [])
    c.p.kill()
    c.wait()
    check(os.path.exists(c.sock), "no stale socket to test with")
    c = Consumer(args.cli, tmp + "/a4", args.session, [])
    check(c.stop() == 0, "consumer on a stale socket failed")
    print("in-use: refused a second consumer, replaced a stale socket")


def sc_tail(args, tmp):
    """Two tail clients: one reads (JSON), one is stopped; neither slows
    or stops the consumer, the stopped one is told what it missed."""
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full"])
    reader = subprocess.Popen([args.cli, "tail", "--session", args.session,
                               "--json", "--count", "50"],
                              stdout=subprocess.PIPE, text=True)
    stopped = subprocess.Popen([args.cli, "tail", "--session",
                                args.session], stdout=subprocess.PIPE,
                               text=True)
    CHILDREN.extend([reader, stopped])
    time.sleep(0.5)
    stopped.send_signal(signal.SIGSTOP)
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops)
    stopped.send_signal(signal.SIGCONT)
    time.sleep(1.0)  # it drains its socket; the consumer sends the count
    check(c.stop() == 0, "consumer failed: " + c.stderr())
    lines = reader.communicate(timeout=60)[0].splitlines()
    evs = [e for e in (json.loads(x) for x in lines) if "kind" in e]
    check(len(evs) == 50, "reader got %d events" % len(evs))
    ts = [e["t_ns"] for e in evs]
    check(ts == sorted(ts), "reader's events out of time order: %s" % ts)
    check(all(e.get("kind") in ("alloc", "free") for e in evs if
              "kind" in e), "unexpected kinds")
    so = stopped.communicate(timeout=60)[0]
    check("events missed" in so, "stopped client not told what it missed")
    total, threads = expectations(p.stdout)
    compare(stats(args, out), total, threads)
    print("tail: reader got 50 JSON events; stopped client: %s" %
          [x for x in so.splitlines() if "missed" in x][0])


def sc_top(args, tmp):
    """Top clients while the fake agent runs: one reads (JSON, every 0.1
    s), one is stopped; the archive is exact, the reader's snapshots are
    whole and their counts only grow. The fake agent writes faster than
    the 1 M events/s above which the live heap follows fewer blocks
    (one address in 16, 64 or 256 for small ones), so the live heap is kept
    exact (--live-exact) to compare counts."""
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                 "--live", "--live-exact"])
    top = [args.cli, "top", "--session", args.session, "--json",
           "--interval", "0.1", "--no-symbols"]
    reader = subprocess.Popen(top, stdout=subprocess.PIPE, text=True)
    stopped = subprocess.Popen(top, stdout=subprocess.PIPE, text=True)
    CHILDREN.extend([reader, stopped])
    time.sleep(0.5)
    stopped.send_signal(signal.SIGSTOP)
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops)
    time.sleep(0.5)
    reader.send_signal(signal.SIGINT)
    lines = reader.communicate(timeout=60)[0].splitlines()
    check(c.stop() == 0, "consumer failed: " + c.stderr())
    docs = [json.loads(x) for x in lines]
    allocs = [d["allocs"] for d in docs]
    check(len(docs) >= 3, "the reader got %d snapshots" % len(docs))
    seen = max(allocs)
    check(seen > 0, "no allocation in any snapshot")
    check(all(d["address_sample"] == 1 and not d["estimated"]
              for d in docs), "--live-exact: a snapshot says estimated")
    grown = allocs[:allocs.index(seen) + 1]  # then the process ends
    check(grown == sorted(grown), "allocations went down: %r" % allocs)
    total, threads = expectations(p.stdout)
    check(seen <= total["allocs"], "top saw %d allocations of %d" %
          (seen, total["allocs"]))
    compare(stats(args, out), total, threads)
    print("top: %d snapshots, up to %d of %d allocations; stopped client "
          "left behind" % (len(docs), seen, total["allocs"]))


# "café" and a byte that is not UTF-8, as the agent would pass them on.
NAME = os.fsdecode(b"caf\xc3\xa9\xff")
WANT = "caf\u00e9\ufffd"


def sc_utf8(args, tmp):
    """A thread name and a module path holding "café" and a byte that is
    not UTF-8 read back as "café" and U+FFFD from the manifest, stats
    --json and dump --json (strict UTF-8 JSON)."""
    _, st, total, threads = run_basic(args, tmp, extra_fake=["--name", NAME])
    compare(st, total, threads)
    out = tmp + "/arc"
    with open(out + "/manifest.json", encoding="utf-8") as f:
        procs = json.load(f)["processes"]
    names = {t["name"] for p in procs for t in p["per_thread"]}
    paths = {m["path"] for p in procs for m in p["modules"]}
    check(names == {WANT}, "manifest: thread names %r" % names)
    check(paths == {"/opt/%s/lib.so" % WANT}, "manifest: paths %r" % paths)
    names = {t["name"] for t in st["per_thread"]}
    check(names == {WANT}, "stats: thread names %r" % names)
    p = subprocess.run([args.cli, "dump", out, "--json"],
                       stdout=subprocess.PIPE, timeout=TIMEOUT)
    evs = [json.loads(x) for x in p.stdout.decode("utf-8").splitlines()]
    names = {e["name"] for e in evs if e["kind"] == "thread_name"}
    paths = {e["path"] for e in evs if e["kind"] == "module_load"}
    check(p.returncode == 0 and names == {WANT} and
          paths == {"/opt/%s/lib.so" % WANT},
          "dump: names %r, paths %r" % (names, paths))
    print("utf8: %r read back as %r everywhere" % (os.fsencode(NAME), WANT))


def sc_modes(args, tmp):
    """Archives are their owner's alone (issue 11, defect 6): 0700 / 0600
    under a umask of 022, as perf record keeps its data; --share-archive
    gives 0755 / 0644; the traced command keeps the user's umask. With
    --compact (issue 12) the rewritten segments and manifest keep theirs,
    and stats still counts from the manifest."""
    def modes(arc):
        got = {}
        for root, dirs, files in os.walk(arc):
            for n in dirs + files:
                p = os.path.join(root, n)
                got[os.path.relpath(p, arc)] = os.stat(p).st_mode & 0o777
        return os.stat(arc).st_mode & 0o777, got

    old = os.umask(0o022)
    try:
        for share, dmode, fmode in ((False, 0o700, 0o600),
                                    (True, 0o755, 0o644)):
            arc = os.path.join(tmp, "arc-%d" % share)
            made = os.path.join(tmp, "made-%d" % share)
            # enough blocks for a segment of its own, not bundled
            cmd = [args.cli, "record", "--quiet", "--compact", "--out",
                   arc] + (["--share-archive"] if share else []) + \
                ["--", "sh", "-c", "touch %s && %s -c 'x = [bytearray(64) "
                 "for _ in range(30000)]'" % (made, sys.executable)]
            p = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
            check(p.returncode == 0, "record failed: %r" % p.stderr)
            top, inner = modes(arc)
            bad = {k: oct(m) for k, m in inner.items()
                   if m != (dmode if os.path.isdir(os.path.join(arc, k))
                            else fmode)}
            print("share=%s: %s %o, %d entries, command's file %o" %
                  (share, arc, top, len(inner),
                   os.stat(made).st_mode & 0o777))
            check(top == dmode and not bad and len(inner) >= 3,
                  "modes: top %o, wrong: %r" % (top, bad))
            check(os.stat(made).st_mode & 0o777 == 0o644,
                  "the traced command's umask changed")
            check("compacted:" in p.stderr.decode() and
                  any(k.endswith(".mseg") for k in inner),
                  "record --compact: no segment compacted: %s" % p.stderr)
            q = subprocess.run([args.cli, "stats", "--json", arc],
                               stdout=subprocess.PIPE, timeout=TIMEOUT)
            check(json.loads(q.stdout)["counted_from"] == "manifest",
                  "record --compact: stats reads every frame")
            # what the consumer's idle compaction did is not done again
            with open(os.path.join(arc, "manifest.json")) as fh:
                ic = json.load(fh)["idle_compaction"]
            m = re.search(r"compacted: (\d+) segments? rewritten, \d+ kept "
                          r"\(no smaller\), (?:(\d+) already at level 15 "
                          r"or above, )?0 left", p.stderr.decode())
            check(m and ic["level"] == 15 and
                  int(m.group(2) or 0) == ic["rewritten"],
                  "record --compact: %s after idle compaction %s" %
                  (p.stderr.decode(), ic))
    finally:
        os.umask(old)


def sc_time_resolution(args, tmp):
    """Issue 12: --time-resolution (and MEMSCOPE_TIME_RESOLUTION, per
    process) give ticks of the largest power of two of the default unit
    within the resolution, no coarser than 1 MHz; every record is kept.
    Without an invariant TSC ticks are ns whatever is asked."""
    def record(name, opts, env=None):
        arc = os.path.join(tmp, name)
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([args.cli, "record", "--quiet", "--sampling",
                            "full", "--no-symbolize", "--out", arc] + opts +
                           ["--", "sh", "-c", "ls / >/dev/null"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, env=e)
        check(p.returncode == 0, "record %r failed: %r" % (opts, p.stderr))
        p = subprocess.run([args.cli, "dump", arc, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=TIMEOUT)
        check(p.returncode == 0, "dump: %r" % p.stderr)
        evs = [json.loads(l) for l in p.stdout.splitlines()]
        hz = {e["tick_hz"] for e in evs if e["kind"] == "clock"}
        st = stats(args, arc)
        check(len(hz) == 1, "%s: clock rates %r" % (name, hz))
        check(len(evs) == st["events"] and st["dropped"] == 0,
              "%s: %d records dumped of %d" % (name, len(evs), st["events"]))
        return hz.pop()

    base = record("default", [])
    same = record("1ns", ["--time-resolution", "1ns"])
    coarse = record("1us", ["--time-resolution", "1us"])
    env = record("env", [], {"MEMSCOPE_TIME_RESOLUTION": "250ns"})
    print("tick_hz: default %d, 1ns %d, 1us %d, env 250ns %d" %
          (base, same, coarse, env))
    check(same == base, "1ns is not the default unit")
    if base == 1000000000:
        check(coarse == base and env == base, "ns ticks were changed")
        return
    for hz, ns in ((coarse, 1000), (env, 250)):
        ratio = base // hz
        check(base % hz < ratio and ratio & (ratio - 1) == 0,
              "%d Hz is not the default %d Hz over a power of two" %
              (hz, base))
        check(hz >= 1000000 and 1e9 / hz <= ns and
              (2e9 / hz > ns or hz < 2000000),
              "%d Hz for %d ns" % (hz, ns))


def sc_stats_manifest(args, tmp):
    """Issue 11: `stats` of a finished session counts from its manifest
    (as --verify does from every frame), and reads every frame instead as
    soon as a segment file is cut, grown, removed or added, or the session
    did not finish."""
    _, st, total, threads = run_basic(args, tmp)
    out = tmp + "/arc"
    compare(st, total, threads)

    def fast():
        p = subprocess.run([args.cli, "stats", out, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=TIMEOUT)
        return p.returncode, json.loads(p.stdout)

    rc, f = fast()
    check(rc == 0 and f["counted_from"] == "manifest",
          "a finished archive counted from %s (exit %d)" %
          (f.get("counted_from"), rc))
    check(f["per_thread"] == st["per_thread"] and
          f["events"] == st["events"], "the manifest's counts differ")
    segs = sorted(os.path.join(r, n) for r, _, ns in os.walk(out)
                  for n in ns if n.endswith(".mseg"))
    check(len(segs) >= args.threads, "%d segments" % len(segs))
    victim = segs[len(segs) // 2]
    with open(victim, "rb") as fh:
        keep = fh.read()

    def damaged(what, undo):
        rc, g = fast()
        undo()
        check(g["counted_from"] == "segments" and rc == 1,
              "%s: counted from %s, exit %d" % (what, g["counted_from"], rc))
        check(fast()[1]["counted_from"] == "manifest",
              "%s undone: not from the manifest" % what)

    def restore():
        with open(victim, "wb") as fh:
            fh.write(keep)

    with open(victim, "r+b") as fh:
        fh.truncate(len(keep) - 40)
    damaged("a segment cut", restore)
    with open(victim, "ab") as fh:
        fh.write(b"\0" * 64)
    damaged("a segment grown", restore)
    os.unlink(victim)
    damaged("a segment removed", restore)
    extra = victim[:-len(".mseg")] + "9.mseg"
    shutil.copy(victim, extra)
    damaged("a segment added", lambda: os.unlink(extra))
    with open(out + "/manifest.json") as fh:
        m = fh.read()
    with open(out + "/manifest.json", "w") as fh:
        fh.write(m.replace('"state": "finished"', '"state": "running"'))
    rc, g = fast()
    check(g["counted_from"] == "segments" and g["events"] == st["events"],
          "a running session's archive: counted from %s, %d events" %
          (g["counted_from"], g["events"]))


def seg_files(d):
    """Segment files under `d`: relative path -> (size, inode)."""
    got = {}
    for r, _, ns in os.walk(d):
        for n in ns:
            if n.endswith(".mseg"):
                s = os.stat(os.path.join(r, n))
                got[os.path.relpath(os.path.join(r, n), d)] = (s.st_size,
                                                              s.st_ino)
    return got


def check_disk_bytes(st, files):
    """`stats` from the manifest (`st`) gives the files' (seg_files())
    sizes as bytes_on_disk, in total and per thread. Returns the bytes on
    disk by (pid, tid)."""
    total = sum(v[0] for v in files.values())
    check(st["bytes_on_disk"] == total,
          "manifest says %d bytes, the files hold %d" %
          (st["bytes_on_disk"], total))
    on_disk = {}
    for k, v in files.items():
        key = (k.split("/")[0], k.split("/")[1].split("-")[0])
        on_disk[key] = on_disk.get(key, 0) + v[0]
    listed = {}
    for t in st["per_thread"]:
        key = (str(t["pid"]), str(t["tid"]))
        listed[key] = listed.get(key, 0) + t["bytes_on_disk"]
    check(listed == on_disk, "per thread: manifest %s, files %s" %
          (listed, on_disk))
    return on_disk


def sc_compact(args, tmp):
    """Issue 12: `compact` writes a finished archive's segments again at a
    higher zstd level. The records read back the same (dump, stats from
    the manifest and from every frame), the manifest's byte counts follow
    the files, and no file is larger. A damaged segment, a running
    session's archive and a compaction's leftover are handled. Rings are
    reused (--reuse): a thread's bytes are in several entries of the
    manifest."""
    _, st, total, threads = run_basic(args, tmp, extra_fake=["--reuse", 3])
    out = tmp + "/arc"
    compare(st, total, threads)

    def run(*argv):
        return subprocess.run([args.cli] + list(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              timeout=TIMEOUT)

    def segs(d):
        return {k: v[0] for k, v in seg_files(d).items()}

    def fast(d):
        p = run("stats", d, "--json")
        return p.returncode, json.loads(p.stdout)

    def modes(d):
        return {os.path.relpath(os.path.join(r, n), d):
                os.stat(os.path.join(r, n)).st_mode & 0o7777
                for r, _, ns in os.walk(d) for n in ns}

    modes0 = modes(out)
    check(set(modes0.values()) == {0o600}, "modes %r" % modes0)
    dump0 = run("dump", out).stdout
    check(dump0.count("\n") >= st["events"], "dump of %d lines" %
          dump0.count("\n"))
    before = segs(out)
    for damaged in ("/arc-cut", "/arc-running"):
        shutil.copytree(out, tmp + damaged)
    # a leftover of an interrupted compaction: ignored by readers, removed
    victim = sorted(before)[len(before) // 2]
    left = os.path.join(out, victim) + ".compact-tmp"
    with open(left, "wb") as fh:
        fh.write(b"half a segment")
    rc, f = fast(out)
    check(rc == 0 and f["counted_from"] == "manifest",
          "a compaction's leftover: stats exit %d, counted from %s" %
          (rc, f["counted_from"]))

    # the segments' levels, from their headers: the consumer's level 1,
    # or 15 for those its idle compaction rewrote
    lv = f["segment_levels"]
    check(set(lv) <= {"1", "15"} and f["segments_level_unsaid"] == 0 and
          f["segments_unreadable"] == 0 and
          sum(lv.values()) + f["segments_bundled"] == f["segments"] and
          f["segments_below_compact_level"] == lv.get("1", 0) > 0,
          "stats before compact: levels %r, %d below 15, %d bundled, "
          "%d segments" % (lv, f["segments_below_compact_level"],
                           f["segments_bundled"], f["segments"]))
    p = run("compact", out)
    check(p.returncode == 0, "compact exit %d: %s" % (p.returncode,
                                                     p.stderr))
    print(p.stdout.strip())
    # (the consumer's idle compaction may have done some already)
    m = re.match(r"(\d+) segments? rewritten, (\d+) kept \(no smaller\), "
                 r"(?:(\d+) already at level 15 or above, )?(\d+) left",
                 p.stdout)
    check(m and int(m.group(1)) > 0 and int(m.group(4)) == 0,
          "compact said: %s" % p.stdout)
    rewritten = int(m.group(1)) + int(m.group(3) or 0)
    kept = int(m.group(2))
    after = segs(out)
    check(sorted(after) == sorted(before), "the segment files changed")
    check(all(after[k] <= before[k] for k in after), "a segment grew")
    check(sum(after.values()) < sum(before.values()),
          "nothing smaller: %d bytes" % sum(after.values()))
    check(not os.path.exists(left), "the leftover is still there")
    check(modes(out) == modes0, "modes changed: %r" % modes(out))
    check(run("dump", out).stdout == dump0, "dump differs after compact")
    rc, f = fast(out)
    check(rc == 0 and f["counted_from"] == "manifest",
          "compacted: stats exit %d, counted from %s" %
          (rc, f["counted_from"]))
    on_disk = check_disk_bytes(f, seg_files(out))
    with open(out + "/manifest.json") as fh:
        entries = sum(len(p["per_thread"])
                      for p in json.load(fh)["processes"])
    check(entries > len(on_disk), "%d entries for %d threads: no ring "
          "reused" % (entries, len(on_disk)))
    g = json.loads(run("stats", out, "--json", "--verify").stdout)
    check(g["events"] == st["events"] and g["per_thread"] == f["per_thread"],
          "every frame read: the counts differ from the manifest's")
    compare(f, total, threads)
    # those kept at level 1 are tried again by the next compact
    check(f["segment_levels"].get("15") == rewritten and
          f["segment_levels"].get("1", 0) == kept ==
          f["segments_below_compact_level"],
          "stats after compact: levels %r, %d below 15; %d rewritten, %d "
          "kept" % (f["segment_levels"], f["segments_below_compact_level"],
                    rewritten, kept))
    text = run("stats", out).stdout
    want = "levels      %d segments at zstd level 15" % rewritten
    check(want in text and (kept == 0) == ("would recompress" not in text),
          "stats says: %s\nnot: %s" % (text, want))
    # again: nothing changed, and the rewritten segments not read again
    # (their headers say level 15)
    p = run("compact", out)
    check(p.returncode == 0 and segs(out) == after and
          run("dump", out).stdout == dump0,
          "a second compact changed the archive (exit %d)" % p.returncode)
    want = ("0 segments rewritten, %d kept (no smaller), %d already at "
            "level 15 or above, 0 left" % (kept, rewritten))
    check(p.stdout.startswith(want), "a second compact said: %s, not: %s" %
          (p.stdout, want))
    # nor at a lower level (those kept may be tried again)
    p = run("compact", "--level", "9", out)
    check(p.returncode == 0 and ", %d already at level 9 or above" %
          rewritten in p.stdout, "compact --level 9 said: %s" % p.stdout)

    # a segment cut short: left as it is, the others compacted, exit 1
    cut = os.path.join(tmp + "/arc-cut", victim)
    with open(cut, "r+b") as fh:
        fh.truncate(before[victim] - 40)
    p = run("compact", tmp + "/arc-cut")
    check(p.returncode == 1 and victim in p.stderr and "left as it is"
          in p.stderr, "a cut segment: exit %d, %s" % (p.returncode,
                                                      p.stderr))
    got = segs(tmp + "/arc-cut")
    check(got[victim] == before[victim] - 40, "the cut segment changed")
    check(all(got[k] == after[k] for k in got if k != victim),
          "the other segments were not compacted as in the whole archive")

    # a running session's archive: refused, nothing written
    mf = tmp + "/arc-running/manifest.json"
    with open(mf) as fh:
        m = fh.read()
    with open(mf, "w") as fh:
        fh.write(m.replace('"state": "finished"', '"state": "running"'))
    p = run("compact", tmp + "/arc-running")
    check(p.returncode == 1 and "not finished" in p.stderr and
          segs(tmp + "/arc-running") == before,
          "a running archive: exit %d, %s" % (p.returncode, p.stderr))
    p = run("compact", "--level", "20", out)
    check(p.returncode == 2 and "1 to 19" in p.stderr,
          "--level 20: exit %d" % p.returncode)
    # one compaction at a time: another one's temporary files are its own
    fd = os.open(tmp + "/arc-running", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        p = run("compact", tmp + "/arc-running")
        check(p.returncode == 1 and "another" in p.stderr,
              "while another compacts: exit %d, %s" % (p.returncode,
                                                       p.stderr))
    finally:
        os.close(fd)


def sc_idle_compact(args, tmp):
    """Issue 12: the consumer rewrites each segment it finishes (rotated
    at --segment-mb, or of a thread that ended) at --idle-level while a
    CPU is idle. Every finished segment gets rewritten (a new inode),
    the records stay exact, the manifest's byte counts follow the files
    per thread and in total, and `memscope compact` finds nothing more
    to do. Then a consumer stopped with a backlog at level 19 leaves
    every segment whole and no temporary file."""
    out = tmp + "/arc"
    c = Consumer(args.cli, out, args.session,
                 ["--sampling", "full", "--segment-mb", "1",
                  "--frame-kb", "64"])
    p = fake(args, args.session, "--threads", args.threads, "--ops",
             args.ops, "--reuse", 2)
    total, threads = expectations(p.stdout)
    # Every stream ends once the fake agent's process is gone and
    # drained. The manifest says how many finished segments the idle
    # thread rewrote and how many it has yet to look at: wait (the idle
    # thread runs when a CPU is free, which other tests may delay) until
    # it has rewritten every segment file there is.
    t0 = time.time()
    deadline = t0 + 600
    while True:
        try:
            with open(out + "/manifest.json") as fh:
                ic = json.load(fh)["idle_compaction"]
        except (OSError, ValueError):
            ic = None
        segs = seg_files(out)
        if ic and ic["pending"] == 0 and ic["rewritten"] == len(segs):
            break
        check(time.time() < deadline, "after 600 s: %s, %d segments" %
              (ic, len(segs)))
        time.sleep(0.2)
    t_done = time.time()
    check(ic["level"] == 15, "idle level %d" % ic["level"])
    check(len(segs) > 2 * args.threads, "%d segments: none rotated" %
          len(segs))
    check(c.stop(signal.SIGINT) == 0, "consumer: " + c.stderr())
    m = re.search(r"(\d+) segments rewritten while a CPU was idle, (\d+) "
                  r"bytes smaller", c.stderr())
    check(m and int(m.group(1)) == len(segs) and
          int(m.group(2)) == ic["bytes_saved"] > 0,
          "the consumer's summary: %s; the manifest said %s" %
          (c.stderr(), ic))
    after = seg_files(out)
    check(sorted(after) == sorted(segs), "segment files changed")
    stats(args, out)  # every frame read, and the same counts
    st = json.loads(subprocess.run(
        [args.cli, "stats", out, "--json"], stdout=subprocess.PIPE,
        text=True, timeout=TIMEOUT).stdout)
    check(st["counted_from"] == "manifest", "counted from %s" %
          st["counted_from"])
    check_disk_bytes(st, after)
    compare(st, total, threads)
    text = subprocess.run([args.cli, "stats", out], stdout=subprocess.PIPE,
                          text=True, timeout=TIMEOUT).stdout
    want = ("compacted   %d segments rewritten at zstd level 15 by the "
            "consumer while idle, %d bytes smaller" %
            (len(segs), ic["bytes_saved"]))
    check(want in text, "stats does not say: %s\n%s" % (want, text))
    # the headers say so too: nothing left for compact
    check(st["segment_levels"] == {"15": len(segs)} and
          st["segments_below_compact_level"] == 0 and
          "levels      %d segments at zstd level 15\n" % len(segs) in text
          and "would recompress" not in text,
          "stats: levels %r, %d below 15:\n%s" %
          (st["segment_levels"], st["segments_below_compact_level"], text))
    q = subprocess.run([args.cli, "compact", out], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
    check(q.returncode == 0 and seg_files(out) == after,
          "compact after idle compaction changed segments (exit %d): %s" %
          (q.returncode, q.stdout + q.stderr))
    # not even read again: their headers say level 15
    want = ("0 segments rewritten, 0 kept (no smaller), %d already at "
            "level 15 or above, 0 left" % len(segs))
    check(q.stdout.startswith(want), "compact after idle compaction said: "
          "%s, not: %s" % (q.stdout, want))
    print("idle compaction: %d segments, %d bytes smaller, all rewritten "
          "%.1f s after the program ended" % (len(segs), ic["bytes_saved"],
                                              t_done - t0))

    # stopped with a backlog at level 19: whole segments, no leftover
    out2 = tmp + "/arc2"
    c = Consumer(args.cli, out2, args.session + "-2",
                 ["--sampling", "full", "--segment-mb", "1",
                  "--frame-kb", "64", "--idle-level", "19"])
    p = fake(args, args.session + "-2", "--threads", args.threads, "--ops",
             args.ops)
    total, threads = expectations(p.stdout)
    check(c.stop(signal.SIGINT) == 0, "consumer: " + c.stderr())
    left = [n for _, _, ns in os.walk(out2) for n in ns
            if n.endswith(".compact-tmp")]
    check(not left, "temporary files left: %s" % left)
    st = stats(args, out2)  # every frame read, the manifest agreeing
    check(st["bytes_on_disk"] == sum(v[0] for v in seg_files(out2).values()),
          "stopped: the files are not the bytes counted")
    compare(st, total, threads)


def sc_old_format(args, tmp):
    """Issue 12: segments of major 1 (64-byte header, 48-byte frame
    headers, index and footer), as `record` wrote them before the compact
    format, still read: counted from the manifest and from every frame,
    dumped and reported. data/archive-v1: stress_test --threads 2 --ops 30,
    full mode, stack depth 4."""
    out = tmp + "/arc"
    shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "data", "archive-v1"), out)
    want = {"threads": 3, "events": 160, "allocs": 67, "frees": 64,
            "dropped": 0, "raw_bytes": 1738, "bytes_on_disk": 1983}
    for extra, source in (([], "manifest"), (["--verify"], "segments")):
        p = subprocess.run([args.cli, "stats", out, "--json"] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=TIMEOUT)
        check(p.returncode == 0, "stats %s: exit %d: %s" %
              (extra, p.returncode, p.stderr))
        st = json.loads(p.stdout)
        got = {k: st[k] for k in want}
        check(got == want and st["counted_from"] == source,
              "stats %s: %r from %s" % (extra, got, st["counted_from"]))
        # their headers do not say a level; compact would rewrite them
        check(st["segment_levels"] == {} and st["segments"] > 0 and
              st["segments_level_unsaid"] == st["segments"] ==
              st["segments_below_compact_level"],
              "stats %s: levels %r, %d unsaid, %d below 15, %d segments" %
              (extra, st["segment_levels"], st["segments_level_unsaid"],
               st["segments_below_compact_level"], st["segments"]))
    p = subprocess.run([args.cli, "dump", out], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
    check(p.returncode == 0 and len(p.stdout.splitlines()) == 160,
          "dump: exit %d, %d lines" % (p.returncode,
                                       len(p.stdout.splitlines())))
    p = subprocess.run([args.cli, "report", out, "--format", "json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=TIMEOUT)
    check(p.returncode == 0 and json.loads(p.stdout)["archive_errors"] == 0,
          "report: exit %d: %s" % (p.returncode, p.stderr))


SCENARIOS = {
    "tail": sc_tail,
    "top": sc_top,
    "basic": sc_basic, "reuse": sc_reuse, "stress-block": sc_stress_block,
    "stress-drop": sc_stress_drop, "crash": sc_crash,
    "small-ring": sc_small_ring, "unsealed": sc_unsealed,
    "unread-acks": sc_unread_acks,
    "garbage-msg": sc_garbage_msg, "garbage-ring": sc_garbage_ring,
    "killed": sc_killed, "other-uid": sc_other_uid, "sigterm": sc_sigterm,
    "in-use": sc_in_use, "utf8": sc_utf8, "modes": sc_modes,
    "stats-manifest": sc_stats_manifest, "old-format": sc_old_format,
    "compact": sc_compact,
    "idle-compact": sc_idle_compact,
    "time-resolution": sc_time_resolution,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("fake")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--ops", type=int, default=20000)
    args = ap.parse_args()
    args.session = "t%d-%s" % (os.getpid(), args.scenario)
    return run_scenario(args.scenario, SCENARIOS[args.scenario], args,
                        "ms-consumer-test-")


if __name__ == "__main__":
    sys.exit(main())
