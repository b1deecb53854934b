#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of `memscope consumer --metrics`, `--profile-every`
and `--push` (docs/fleet.md).

usage: fleet_test.py --cli MEMSCOPE --examples DIR CASE

Cases:
  prometheus  the real Prometheus (Debian's package) scrapes a `full`
              consumer every second while examples/live_phases runs; at
              its last pause (every allocation made, every block still
              live), Prometheus' /api/v1/query gives the live bytes and
              blocks, allocations, frees and bytes allocated that `memscope
              report --format json --pid P` gives for the archive after
              the program left. Skipped (77) without /usr/bin/prometheus.
  busy        live_phases first allocates and frees 3,000,000 blocks at one
              address, fast enough for the live heap to follow only some
              addresses (the HELP text says so); at its last pause the
              scraped allocations, frees and bytes allocated are still
              the report's, exactly, and the bytes live and
              freed add up to those allocated, and so do the bytes its
              threads allocated (per-thread series). Then with --live-exact
              and 300,000 blocks, every figure is the report's, the
              live bytes too: blocks freed and allocated again at one
              address in one unit of time, and reallocated in place,
              are live.
  push        --profile-every 1 --push to a receiver started here: each
              POST is /ingest with name=SERVICE{host=H,pid=P}, from, until
              and format=pprof, its `profile` part a gzipped pprof (read
              here, and by `go tool pprof` when Debian's golang-go is
              there, as scripts/test installs it); --profile-dir keeps
              --profile-keep files. With the
              receiver gone the consumer runs on, the program's events are
              all archived, and the failures are counted in the metrics
              and the last line.
  hostile     slow readers, garbage requests and 1000 connections at once
              on the metrics port while the 8-thread stress example runs:
              it finishes with exact counts in the archive, and /metrics
              answers afterwards.
  series      150 threads: every scrape during the run has at most
              SERIES_MAX series, per-thread ones for 10 threads.
  alert       docs/fleet.md's scrape config and alert rule pass promtool's
              checks, and the rule fires on a heap that grew for 30
              minutes, not on one that stopped or never grew. Skipped (77)
              without /usr/bin/promtool.
"""
import argparse
import gzip
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "consumer"))
from mstest import (Consumer, Fail, check, expectations,  # noqa
                    run_scenario, spawn, stats)
import mstest  # noqa

TIMEOUT = 120
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs",
                   "fleet.md")
# One process: 6 live-heap series, events recorded, 6 causes of loss, ring
# fill, archive bytes (15); 2 per thread for 10 threads (20); 8 of the
# session. docs/fleet.md states the bound: 15 P + 2 N + 8.
SERIES_MAX = 15 + 2 * 10 + 8


def env():
    return mstest.clean_env()


def cli(args, *cmd):
    return mstest.run_cli(args.cli, *cmd, timeout=TIMEOUT)


def metrics_port(c):
    deadline = time.time() + 10
    while True:
        m = re.search(r"metrics on port (\d+)", c.stderr())
        if m:
            return int(m.group(1))
        check(time.time() < deadline, "no metrics port: " + c.stderr())
        time.sleep(0.05)


def scrape(port, timeout=15):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=timeout) as r:
        check(r.status == 200, "/metrics: HTTP %d" % r.status)
        check(r.headers["Content-Type"].startswith("text/plain; version="
                                                   "0.0.4"),
              "content type %s" % r.headers["Content-Type"])
        return r.read().decode()


def series(text):
    """{name{labels}: value} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Phases:
    """live_phases, stepped through its stdin."""

    def __init__(self, args, *extra, session=None):
        self.p = spawn([args.cli, "run", "--session",
                        session or args.session, "--",
                        os.path.join(args.examples, "live_phases"),
                        *extra], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, text=True, env=env())

    def step(self):
        line = self.p.stdout.readline()
        check(line.startswith("memscope-step"), "live_phases said %r" % line)
        return int(line.split()[1])

    def next(self):
        self.p.stdin.write("next\n")
        self.p.stdin.flush()

    def pid(self):
        return self.p.pid  # `memscope run` execs the program


def run_to_last_step(prog, phases):
    for k in range(phases + 1):
        check(prog.step() == k, "live_phases skipped a step")
        if k < phases:
            prog.next()


# ---- pprof, read with the standard library ----

def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return v, i


def pprof_strings(gz):
    """The string table of a gzipped profile.proto; fails on bad bytes."""
    b = gzip.decompress(gz)
    i, strs, types = 0, [], 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            check(i + n <= len(b), "pprof: field past the end")
            if f == 6:
                strs.append(b[i:i + n].decode())
            types += f == 1
            i += n
        elif wt in (1, 5):
            i += 8 if wt == 1 else 4
        else:
            raise Fail("pprof: wire type %d" % wt)
    check(types >= 2 and strs and strs[0] == "", "pprof: no sample types "
          "or string table")
    return strs


# ---- the cases ----

PROM_CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: memscope
    static_configs:
      - targets: ['127.0.0.1:%d']
"""


def prom_query(pport, q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        pport, urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.loads(r.read())
    check(doc["status"] == "success", "prometheus: %s" % doc)
    return doc["data"]["result"]


def prom_value(pport, q):
    res = prom_query(pport, q)
    return float(res[0]["value"][1]) if len(res) == 1 else None


def start_prometheus(tmp, port):
    pport = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(PROM_CONFIG % port)
    p = spawn([PROMETHEUS, "--config.file=" + cfg,
               "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
               "--web.listen-address=127.0.0.1:%d" % pport],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % pport,
                                   timeout=1).read()
            return p, pport
        except OSError:
            check(p.poll() is None, "prometheus exited")
            check(time.time() < deadline, "prometheus not ready")
            time.sleep(0.2)


FIGURES = {  # metric: the report's figure
    "memscope_live_heap_bytes": "leaked_bytes",
    "memscope_live_heap_blocks": "leaked_allocations",
    "memscope_allocations_total": "allocations",
    "memscope_frees_total": "frees",
    "memscope_allocated_bytes_total": "total_allocated_bytes",
}


def scraped_after(pport, sel, t0):
    """Prometheus' figures of `sel` from a scrape after t0 (unix s)."""
    deadline = time.time() + 30
    while True:
        ts = prom_value(pport, "timestamp(memscope_live_heap_bytes%s)" % sel)
        if ts is not None and ts > t0:
            return {m: prom_value(pport, m + sel) for m in FIGURES}
        check(time.time() < deadline, "no scrape after the last step")
        time.sleep(0.3)


def sc_prometheus(args, tmp):
    if not os.access(PROMETHEUS, os.X_OK):
        print("SKIP: %s not found (Debian package prometheus; scripts/test "
              "installs it)" % PROMETHEUS)
        sys.exit(77)
    out = os.path.join(tmp, "arc")
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                 "--exit-when-idle", "--metrics", ":0"])
    prom, pport = start_prometheus(tmp, metrics_port(c))
    prog = Phases(args, "--ticks", "20", "--tick-ms", "20", "--phases", "2")
    run_to_last_step(prog, 2)
    time.sleep(0.5)  # the consumer drains the last phase
    sel = '{job="memscope",pid="%d"}' % prog.pid()
    # the live figures come from a snapshot a second: at most 1.5 s old
    got = scraped_after(pport, sel, time.time() + 1.6)
    print("prometheus at the last step: %s" % got)
    prog.next()  # the program leaves, every block live
    prog.p.wait(TIMEOUT)
    check(c.wait(TIMEOUT) == 0, "consumer failed: " + c.stderr())
    rep = json.loads(cli(args, "report", out, "--format", "json", "--pid",
                         str(prog.pid())))
    for m, fig in FIGURES.items():
        check(got[m] == rep[fig], "%s: prometheus %s, report %s %s" %
              (m, got[m], fig, rep[fig]))
    check(got["memscope_live_heap_bytes"] > 0, "no live heap")
    print("prometheus and report agree: %s" %
          {fig: rep[fig] for fig in FIGURES.values()})
    prom.terminate()
    prom.wait(30)


def sc_busy(args, tmp):
    busy_run(args, tmp, "arc", 3000000, [])
    busy_run(args, tmp, "arc-exact", 300000, ["--live-exact"])


def busy_run(args, tmp, name, churn, extra):
    out = os.path.join(tmp, name)
    session = args.session + name
    c = Consumer(args.cli, out, session, ["--sampling", "full",
                 "--exit-when-idle", "--metrics", ":0"] + extra)
    port = metrics_port(c)
    prog = Phases(args, "--ticks", "5", "--tick-ms", "20", "--phases", "1",
                  "--churn", str(churn), session=session)
    run_to_last_step(prog, 1)
    pid = '{session="%s",pid="%d",' % (session, prog.pid())

    def figures():
        text = scrape(port)
        return text, {k.split("{")[0]: v for k, v in series(text).items()
                      if k.startswith("memscope_") and pid in k}

    def per_thread(text):
        return sum(v for k, v in series(text).items()
                   if k.startswith("memscope_thread_allocated_bytes_total{")
                   and pid in k)

    deadline = time.time() + 30
    while True:  # the churn is in a snapshot (one a second): the next
        text, got = figures()  # one is of the program at its pause
        if got.get("memscope_events_recorded_total", 0) >= 2 * churn:
            time.sleep(1.5)
            text, got = figures()
            break
        check(time.time() < deadline, "no scrape after the churn: %s" % got)
        time.sleep(0.3)
    exact = "--live-exact" in extra
    check(exact != ("followed at one address in" in text),
          "the live heap followed %s address:\n%s" %
          ("not every" if exact else "every", text[:2000]))
    prog.next()
    prog.p.wait(TIMEOUT)
    check(c.wait(TIMEOUT) == 0, "consumer failed: " + c.stderr())
    rep = json.loads(cli(args, "report", out, "--format", "json", "--pid",
                         str(prog.pid())))
    for m, fig in FIGURES.items():  # live ones are estimates if not exact
        if exact or m not in ("memscope_live_heap_bytes",
                              "memscope_live_heap_blocks"):
            check(got[m] == rep[fig], "%s: scraped %s, report %s %s" %
                  (m, got[m], fig, rep[fig]))
    check(got["memscope_live_heap_bytes"] +
          got["memscope_freed_bytes_total"] ==
          got["memscope_allocated_bytes_total"],
          "live and freed bytes do not add up: %s" % got)
    # its 4 threads, all with series: theirs add up to the process's
    check(per_thread(text) == got["memscope_allocated_bytes_total"],
          "the threads allocated %d bytes, the process %d" %
          (per_thread(text), got["memscope_allocated_bytes_total"]))
    print("busy%s: scraped %s; the report's live bytes %d" %
          (" (exact)" if exact else "", {m: int(got[m]) for m in FIGURES},
           rep["leaked_bytes"]))


class Receiver(BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        Receiver.got.append((self.path, self.headers.get("Content-Type"),
                             body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def multipart_field(ctype, body, name):
    m = re.search(r'boundary="?([^";]+)"?', ctype or "")
    check(m, "not multipart: %s" % ctype)
    for part in body.split(b"--" + m.group(1).encode()):
        head, _, data = part.partition(b"\r\n\r\n")
        if ('name="%s"' % name).encode() in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    raise Fail("no %s field in the body" % name)


def check_push(path, ctype, body, pid):
    u = urllib.parse.urlsplit(path)
    q = urllib.parse.parse_qs(u.query)
    check(u.path == "/ingest", "pushed to %s" % u.path)
    want = "svc-test{host=%s,pid=%d}" % (socket.gethostname(), pid)
    check(q.get("name") == [want], "name %s, want %s" % (q.get("name"),
                                                          want))
    check(q.get("format") == ["pprof"], "format %s" % q.get("format"))
    frm, until = int(q["from"][0]), int(q["until"][0])
    check(until - frm == 1 and abs(until - time.time()) < 60,
          "from %d until %d" % (frm, until))
    strs = pprof_strings(multipart_field(ctype, body, "profile"))
    check("inuse_space" in strs and "alloc_space" in strs,
          "sample types: %s" % strs[:8])


def go_pprof_top(go, path, tmp):
    """`go tool pprof -top` of the live bytes in `path`: its total."""
    p = mstest.go_pprof(go, tmp, "-top", "-unit=B",
                        "-sample_index=inuse_space", path, timeout=TIMEOUT)
    check(p.returncode == 0, "go tool pprof %s exited %d:\n%s" %
          (path, p.returncode, p.stdout))
    m = re.search(r"of (\d+)B? total", p.stdout)
    check(m and "Type: inuse_space" in p.stdout,
          "cannot read pprof's -top of %s:\n%s" % (path, p.stdout))
    return int(m.group(1))


def sc_push(args, tmp):
    out, pdir = os.path.join(tmp, "arc"), os.path.join(tmp, "prof")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % srv.server_address[1]
    c = Consumer(args.cli, out, args.session, [
        "--sampling", "full", "--exit-when-idle", "--metrics", ":0",
        "--profile-every", "1", "--profile-dir", pdir, "--profile-keep", "2",
        "--push", url, "--service", "svc-test"])
    port = metrics_port(c)
    prog = Phases(args, "--ticks", "5", "--tick-ms", "20", "--phases", "1")
    run_to_last_step(prog, 1)
    # the pushes from here on were taken after the program's first phase
    # (one may be on its way): a slow start can leave the first ones empty
    after = len(Receiver.got) + 1
    deadline = time.time() + 20
    while len(Receiver.got) < max(3, after + 1):
        check(time.time() < deadline, "%d pushes" % len(Receiver.got))
        time.sleep(0.2)
    srv.shutdown()
    srv.server_close()
    for path, ctype, body in list(Receiver.got):
        check_push(path, ctype, body, prog.pid())
    # the consumer goes on writing one a second and removing the oldest:
    # the files are read at once, and listed again if one went meanwhile
    for _ in range(10):
        files = sorted(f for f in os.listdir(pdir) if f.endswith(".pb.gz"))
        try:
            kept = {}
            for f in files:
                with open(os.path.join(pdir, f), "rb") as fh:
                    kept[f] = fh.read()
            break
        except FileNotFoundError:
            continue
    check(len(kept) == 2, "profile dir holds %s" % files)
    for data in kept.values():
        pprof_strings(data)
    print("%d pushes, each a pprof; the dir keeps %s" %
          (len(Receiver.got), files))
    # and Go's own pprof reads each of them: what a Pyroscope server parses
    go = shutil.which("go")
    if go:
        totals = []
        for i, (_, ctype, body) in enumerate(list(Receiver.got)):
            path = os.path.join(tmp, "pushed-%d.pb.gz" % i)
            with open(path, "wb") as fh:
                fh.write(multipart_field(ctype, body, "profile"))
            totals.append(go_pprof_top(go, path, tmp))
        for f, data in kept.items():
            path = os.path.join(tmp, "kept-" + f)
            with open(path, "wb") as fh:
                fh.write(data)
            go_pprof_top(go, path, tmp)
        # live_phases holds its first phase's blocks while it waits
        check(min(totals[after:]) > 0, "go tool pprof: live bytes %s, "
              "those from push %d on taken after the first phase" %
              (totals, after))
        print("go tool pprof reads every push (live bytes %s) and the "
              "dir's files" % totals)
    else:
        print("go not found (Debian golang-go): the pushes were read by "
              "this test's own pprof reader only")
    # the receiver is gone: the consumer runs on and counts
    deadline = time.time() + 30
    while True:
        m = series(scrape(port))
        failed = m['memscope_profiles_push_failed_total{session="%s"}'
                   % args.session]
        if failed >= 1:
            break
        check(time.time() < deadline, "no push failure counted")
        time.sleep(0.5)
    prog.next()
    prog.p.wait(TIMEOUT)
    check(c.wait(TIMEOUT) == 0, "consumer failed: " + c.stderr())
    last = re.search(r"(\d+) not sent \(push failed\)", c.stderr())
    check(last and int(last.group(1)) >= failed,
          "last line: %s" % c.stderr()[-400:])
    print("receiver down: %s profiles not sent, counted" % last.group(1))


def stress(args, threads, ops):
    return spawn([args.cli, "run", "--session", args.session, "--",
                  os.path.join(args.examples, "stress_test"), "--threads",
                  str(threads), "--ops", str(ops)], stdout=subprocess.PIPE,
                 stderr=subprocess.STDOUT, text=True, env=env())


def check_counts(args, out, text):
    """Every worker thread's events in the archive, exactly."""
    total, threads = expectations(text)
    st = stats(args.cli, out, TIMEOUT)
    pt = {t["tid"]: t for t in st["per_thread"]}
    sums = [0, 0]
    for tid, e in threads.items():
        a = pt.get(tid)
        check(a and (a["allocs"], a["frees"], a["dropped"]) ==
              (e["allocs"], e["frees"], 0), "thread %d: archive %s, "
              "program %s" % (tid, a, e))
        sums[0] += a["allocs"]
        sums[1] += a["frees"]
    check(sums == [total["allocs"], total["frees"]] and
          len(threads) == total["threads"],
          "workers' totals %s, program %s" % (sums, total))


def hostile(port, stop, counts):
    """Slow readers, garbage, and 1000 connections held open."""
    socks = []
    for i in range(20):  # asks, never reads, with a tiny buffer
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
        socks.append(s)
    for i in range(50):
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        s.sendall(os.urandom(4096) + b"\r\n\r\n")
        socks.append(s)
    for i in range(1000):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    counts["open"] = len(socks)
    stop.wait(60)
    for s in socks:
        s.close()


def sc_hostile(args, tmp):
    out = os.path.join(tmp, "arc")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)),
                                                hard))
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                 "--metrics", ":0"])
    port = metrics_port(c)
    stop, counts = threading.Event(), {}
    h = threading.Thread(target=hostile, args=(port, stop, counts))
    h.start()
    while "open" not in counts and h.is_alive():
        time.sleep(0.05)
    t0 = time.time()
    run = stress(args, 8, 300000)
    text = run.communicate(timeout=TIMEOUT)[0]
    wall = time.time() - t0
    check(run.returncode == 0, "stress_test failed: " + text[-400:])
    check(c.p.poll() is None, "consumer died: " + c.stderr())
    stop.set()
    h.join()
    time.sleep(0.5)
    t1 = time.time()
    m = series(scrape(port))
    check(any(k.startswith("memscope_events_recorded_total") for k in m),
          "no events in /metrics")
    print("%d hostile connections: the program ran %.2f s, /metrics "
          "answered %.2f s after they closed" % (counts["open"], wall,
                                                 time.time() - t1))
    check(c.stop() == 0, "consumer failed: " + c.stderr())
    check_counts(args, out, text)


def sc_series(args, tmp):
    out = os.path.join(tmp, "arc")
    c = Consumer(args.cli, out, args.session, ["--sampling", "full",
                 "--metrics", ":0"])
    port = metrics_port(c)
    # long enough (3-10 s) that a scrape sees it after the first snapshots
    run = stress(args, 150, 250000)
    most, scrapes, threads_seen, tried, t0 = 0, 0, 0, 0, time.time()
    first, last = None, ""
    while run.poll() is None:
        last = scrape(port)
        m = series(last)
        tried += 1
        live = [k for k in m if k.startswith("memscope_live_heap_bytes")]
        thr = [k for k in m if k.startswith("memscope_thread_live")]
        if live:
            scrapes += 1
            first = first or time.time() - t0
            most = max(most, len(m))
            threads_seen = max(threads_seen, len(thr))
        time.sleep(0.2)
    text = run.communicate(timeout=TIMEOUT)[0]
    check(scrapes >= 2, "only %d of %d scrapes over %.1f s saw the program;"
          " the last:\n%s" % (scrapes, tried, time.time() - t0,
                              "\n".join(last.splitlines()[:30])))
    check(most <= SERIES_MAX, "%d series, bound %d" % (most, SERIES_MAX))
    check(threads_seen == 10, "per-thread series for %d threads" %
          threads_seen)
    print("150 threads: at most %d series over %d scrapes (bound %d), the "
          "first %.1f s after the start" % (most, scrapes, SERIES_MAX, first))
    check(c.stop() == 0, "consumer failed: " + c.stderr())
    check_counts(args, out, text)


ALERT_TEST = """rule_files:
  - memscope.rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'memscope_live_heap_bytes{session="s",pid="1",exe="/x"}'
        values: '0+1000000x60'
      - series: 'memscope_live_heap_bytes{session="s",pid="2",exe="/y"}'
        values: '50000000x60'
      - series: 'memscope_live_heap_bytes{session="s",pid="3",exe="/z"}'
        values: '0+1000000x40 40000000x20'
    alert_rule_test:
      - eval_time: 20m
        alertname: MemscopeLiveHeapGrowing
        exp_alerts: []
      - eval_time: 45m
        alertname: MemscopeLiveHeapGrowing
        exp_alerts:
          - exp_labels: {severity: warning, session: s, pid: "1", exe: /x}
            exp_annotations:
              summary: "/x (pid 1) live heap grew for 30 minutes"
"""


def doc_block(text, first_line):
    """The ```yaml block of fleet.md that starts with `first_line`."""
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        if block.startswith(first_line):
            return block
    raise Fail("docs/fleet.md has no yaml block %r" % first_line)


def sc_alert(args, tmp):
    if not os.access(PROMTOOL, os.X_OK):
        print("SKIP: %s not found (Debian package prometheus)" % PROMTOOL)
        sys.exit(77)
    with open(DOC) as f:
        text = f.read()
    files = {"prometheus.yml": doc_block(text, "# prometheus.yml"),
             "memscope.rules.yml": doc_block(text, "# memscope.rules.yml"),
             "test.yml": ALERT_TEST}
    for name, body in files.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(body)
    for cmd in (["check", "config", "prometheus.yml"],
                ["test", "rules", "test.yml"]):
        p = subprocess.run([PROMTOOL] + cmd, cwd=tmp, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(p.returncode == 0, "promtool %s: %s" % (" ".join(cmd),
                                                       p.stdout))
    print("docs/fleet.md: config valid, the alert fires as it says")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("case", choices=["prometheus", "busy", "push", "hostile",
                                     "series", "alert"])
    args = ap.parse_args()
    args.session = "msfleet%d" % os.getpid()
    fn = {"prometheus": sc_prometheus, "busy": sc_busy, "push": sc_push,
          "hostile": sc_hostile, "series": sc_series, "alert": sc_alert}
    return run_scenario(args.case, fn[args.case], args, "ms-fleet-")


if __name__ == "__main__":
    sys.exit(main())
