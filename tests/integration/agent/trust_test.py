#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Nobody else gets in (issue 11, defect 1): a session directory made by
another user, a symbolic link in its place, or a listener of another user
gets nothing from the agent, which runs untracked and says why on one
stderr line; the consumer refuses such a directory and names it.

Runs as root: it creates two users for the test and removes them.

usage: trust_test.py --cli MEMSCOPE --agent LIBMEMSCOPE
"""
import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
LISTENER = r'''
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
s.settimeout(20)
got = 0
open(log + ".ready", "w").close()
try:
    while True:
        c, _ = s.accept()
        c.settimeout(2)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += len(d)
        except OSError:
            pass
        # whole or not at all: the test reads it as the program ends
        with open(log + ".tmp", "w") as f:
            f.write(str(got))
        os.replace(log + ".tmp", log)
except OSError:
    pass
'''


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, **kw)


class Users:
    def __init__(self):
        self.names = []

    def add(self, name):
        run(["userdel", name])
        r = run(["useradd", "--system", "--no-create-home", "--shell",
                 "/usr/sbin/nologin", name])
        if r.returncode != 0:
            fail("useradd %s: %s" % (name, r.stderr))
        self.names.append(name)
        return pwd.getpwnam(name).pw_uid

    def remove(self):
        for n in self.names:
            run(["userdel", n])


def env_for(agent, extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MEMSCOPE_") and k not in
           ("LD_PRELOAD", "XDG_RUNTIME_DIR")}
    env["LD_PRELOAD"] = agent
    env.update(extra or {})
    return env


def listen_as(user, path, log):
    """A listener owned by `user` on `path`; returns its process."""
    # a session of its own: stop() ends runuser and the listener under it,
    # which would otherwise hold the test's output open for its 20 s
    p = subprocess.Popen(["runuser", "-u", user, "--", "/usr/bin/python3", "-c",
                          LISTENER, path, log], start_new_session=True)
    for _ in range(200):
        if os.path.exists(log + ".ready"):
            return p
        time.sleep(0.02)
    stop(p)
    fail("the listener did not start")


def stop(p):
    """Ends a listener and everything in its session."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def traced_as(user, agent, extra=None):
    """`true`'s cousin that allocates, run as `user` with the agent."""
    return run(["runuser", "-u", user, "--", "env"] +
               ["%s=%s" % kv for kv in env_for(agent, extra).items()] +
               ["sort", "/etc/hostname"])


def expect_refusal(name, r, got_file, words):
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("memscope:")]
    got = int(open(got_file).read()) if os.path.exists(got_file) else 0
    print("%s: status %d, %d bytes reached the listener, stderr %r" %
          (name, r.returncode, got, lines))
    if r.returncode != 0:
        fail("%s: the program failed" % name)
    if got != 0:
        fail("%s: the listener received %d bytes" % (name, got))
    if len(lines) != 1 or not all(w in lines[0] for w in words):
        fail("%s: expected one line naming %r, got %r" % (name, words, lines))


def case_foreign_dir(a, victim, vuid, attacker, tmp):
    """The attacker made /tmp/memscope-<victim uid> first, mode 0777."""
    d = "/tmp/memscope-%d" % vuid
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    os.chmod(d, 0o777)
    shutil.chown(d, attacker)
    log = os.path.join(tmp, "logs", "foreign.got")
    lst = listen_as(attacker, os.path.join(d, "default.sock"), log)
    try:
        r = traced_as(victim, a.agent)
        expect_refusal("foreign directory", r, log, [d, "uid"])
        c = run(["runuser", "-u", victim, "--", a.cli, "consumer",
                 "--out", os.path.join(tmp, "never"), "--exit-when-idle"],
                env=env_for(""))
        print("consumer: status %d, %r" % (c.returncode, c.stderr.strip()))
        if c.returncode == 0 or d not in c.stderr or "uid" not in c.stderr:
            fail("the consumer did not refuse %s by name and reason" % d)
    finally:
        stop(lst)
        shutil.rmtree(d, ignore_errors=True)


def case_symlink(a, victim, vuid, attacker, tmp):
    """/tmp/memscope-<uid> is a symbolic link to the attacker's directory."""
    d = "/tmp/memscope-%d" % vuid
    target = os.path.join(tmp, "attacker-dir")
    os.mkdir(target, 0o700)
    shutil.chown(target, attacker)
    shutil.rmtree(d, ignore_errors=True)
    os.symlink(target, d)
    log = os.path.join(tmp, "logs", "symlink.got")
    lst = listen_as(attacker, os.path.join(target, "default.sock"), log)
    try:
        r = traced_as(victim, a.agent)
        expect_refusal("symbolic link", r, log, [d, "symbolic link"])
    finally:
        stop(lst)
        os.unlink(d)


def case_foreign_peer(a, victim, vuid, attacker, tmp):
    """The victim's own closed directory, but another user listens."""
    d = os.path.join(tmp, "victim-run")
    os.mkdir(d, 0o700)
    shutil.chown(d, victim)
    sock = os.path.join(d, "memscope", "default.sock")
    os.mkdir(os.path.dirname(sock), 0o700)
    shutil.chown(os.path.dirname(sock), victim)
    log = os.path.join(tmp, "logs", "peer.got")
    lst = listen_as("root", sock, log)  # root can write anywhere
    try:
        r = traced_as(victim, a.agent, {"XDG_RUNTIME_DIR": d})
        expect_refusal("listener of another user", r, log,
                       [sock, "uid 0"])
    finally:
        stop(lst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--agent", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("useradd"):
        print("SKIP: needs root and useradd to create a second user")
        sys.exit(SKIP)
    users = Users()
    tmp = tempfile.mkdtemp(prefix="ms-trust-")
    os.chmod(tmp, 0o755)
    os.mkdir(os.path.join(tmp, "logs"))
    os.chmod(os.path.join(tmp, "logs"), 0o777)  # the listeners' reports
    try:
        suffix = str(os.getpid() % 100000)
        victim, attacker = "msvictim" + suffix, "msattack" + suffix
        vuid = users.add(victim)
        users.add(attacker)
        case_foreign_dir(a, victim, vuid, attacker, tmp)
        case_symlink(a, victim, vuid, attacker, tmp)
        case_foreign_peer(a, victim, vuid, attacker, tmp)
    finally:
        users.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
