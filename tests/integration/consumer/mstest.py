# SPDX-License-Identifier: MIT
"""Helpers shared by the consumer's test drivers (consumer_test.py with the
fake agent, examples_test.py with the real one): failures, expectations
printed by the programs, `memscope stats --json`, and the scenario runner
that kills every child and removes the scratch directory, whatever happens.
"""
import json
import os
import re
import signal
import shutil
import subprocess
import tempfile
import time

CHILDREN = []  # killed when a scenario ends, whatever happened
CONSUMERS = []  # their stderr is printed when a scenario fails


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def spawn(*a, **kw):
    p = subprocess.Popen(*a, **kw)
    CHILDREN.append(p)
    return p


class Consumer:
    """`memscope consumer` started and waited for until it listens."""

    def __init__(self, cli, out, session, extra=(), env=None):
        self.out = out
        self.session = session
        self.errf = tempfile.TemporaryFile(mode="w+")
        args = [cli, "consumer", "--out", out] + list(extra)
        if session:
            args += ["--session", session]
        self.p = subprocess.Popen(args, stderr=self.errf, env=env)
        CHILDREN.append(self.p)
        CONSUMERS.append(self)
        self.sock = self.socket_path(session, env)
        deadline = time.time() + 10
        # The consumer says where its archive goes once it listens.
        while "stop with Ctrl-C" not in self.stderr():
            check(self.p.poll() is None, "consumer died at start: " +
                  self.stderr())
            check(time.time() < deadline, "no socket " + self.sock)
            time.sleep(0.02)

    @staticmethod
    def socket_path(session, env):
        env = env or os.environ
        if not session and env.get("MEMSCOPE_SOCKET"):
            return env["MEMSCOPE_SOCKET"]
        xdg = env.get("XDG_RUNTIME_DIR")
        d = xdg + "/memscope" if xdg and xdg.startswith("/") else \
            "/tmp/memscope-%d" % os.getuid()
        return "%s/%s.sock" % (d, session or "default")

    def wait(self, timeout=600):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Fail("consumer did not exit: " + self.stderr())
        return rc

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.wait()

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read()


def clean_env():
    """This environment without the agent or memscope settings in it, so
    that a test's own memscope commands run untraced and as told."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("MEMSCOPE_") or k == "LD_PRELOAD":
            del e[k]
    return e


def go_pprof(go, tmp, *argv, timeout=600):
    """`go tool pprof ARGV...` (Debian's golang-go) with its caches and home
    in `tmp`: the finished process, stdout and stderr together as text."""
    e = clean_env()
    e.update(HOME=tmp, PPROF_TMPDIR=tmp, GOCACHE=os.path.join(tmp, "cache"))
    return subprocess.run([go, "tool", "pprof", *argv],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=e, timeout=timeout, text=True)


def run_cli(cli, *cmd, timeout=600, binary=False):
    """`memscope CMD...` run to its end; its output (bytes if `binary`).
    Fails unless it exits 0."""
    p = subprocess.run([cli, *cmd], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=clean_env(),
                       timeout=timeout)
    check(p.returncode == 0, "memscope %s exited %d: %s" %
          (" ".join(cmd), p.returncode, p.stderr.decode()))
    return p.stdout if binary else p.stdout.decode()


def expectations(text):
    """The `memscope-expect total|thread k=v ...` lines a program printed:
    (total, {tid: counts})."""
    total, threads = None, {}
    for line in text.splitlines():
        m = re.match(r"memscope-expect (total|thread) (.*)", line)
        if not m:
            continue
        kv = {k: int(v) for k, v in (x.split("=") for x in
                                      m.group(2).split())}
        if m.group(1) == "total":
            total = kv
        else:
            threads[kv["tid"]] = kv
    check(total is not None, "no expectations printed:\n" + text[-2000:])
    return total, threads


def stats(cli, out, timeout):
    """`stats --json --verify` (every frame read); when the session
    finished, `stats` from its manifest must give the same counts."""
    p = subprocess.run([cli, "stats", out, "--json", "--verify"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    check(p.returncode in (0, 1), "stats failed: " + p.stderr)
    full = json.loads(p.stdout)
    q = subprocess.run([cli, "stats", out, "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    check(q.returncode == p.returncode, "stats exits %d, --verify %d" %
          (q.returncode, p.returncode))
    fast = json.loads(q.stdout)
    if fast["counted_from"] == "manifest":
        for k in full:
            check(k == "counted_from" or fast[k] == full[k],
                  "stats from the manifest: %s is %r, the frames say %r" %
                  (k, fast.get(k), full[k]))
    return full


def run_scenario(name, fn, args, prefix):
    """Runs fn(args, tmp); prints PASS/FAIL and returns the exit status."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        fn(args, tmp)
    except (Fail, subprocess.TimeoutExpired) as e:
        print("FAIL %s: %s" % (name, e))
        for c in CONSUMERS:
            err = c.stderr().splitlines()
            print("-- the consumer's last %d lines of stderr:" %
                  min(len(err), 40))
            print("\n".join(err[-40:]))
        return 1
    finally:
        for c in CHILDREN:
            if c.poll() is None:
                c.kill()
                c.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS %s" % name)
    return 0
