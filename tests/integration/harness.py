"""Integration test harness: a real researchd on a private socket and state
directory, driven through the real research CLI and raw socket clients.
Everything listens on a Unix socket in a private temporary directory; the
daemons are stopped by the PID we started."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

RESEARCHD = os.environ.get("RESEARCHD")
RESEARCH = os.environ.get("RESEARCH")


class Daemon:
    def __init__(self, config="[server]\nselftest = yes\n"):
        self.dir = tempfile.mkdtemp(prefix="rd-it-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "s.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "researchd.conf")
        self.logpath = os.path.join(self.dir, "daemon.log")
        self.proc = None
        self.write_config(config)

    def write_config(self, text):
        # The model pool asks its endpoints what they are at start: point it
        # at a loopback port where nothing listens unless the test says.
        if "[llm]" not in text:
            text += "\n[llm]\nurl = http://127.0.0.1:1/v1\n"
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, expect_ok=True, extra=()):
        log = open(self.logpath, "a")
        self.proc = subprocess.Popen(
            [RESEARCHD, "-d", "-c", self.conf, "--socket", self.sock,
             "--state-dir", self.state, *extra],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        if not expect_ok:
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise AssertionError("daemon should have refused to start")
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                if self.request({"op": "ping"})["ok"]:
                    return 0
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("daemon did not answer ping in 10 s:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not stop within %d s after %s" % (timeout, sig))
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except OSError:
            return ""

    def connect(self):
        return Conn(self.sock)

    def request(self, obj):
        with self.connect() as c:
            return c.request(obj)

    def cli(self, *args, user=None, timeout=30, env_socket=False, stdin=None):
        cmd = [RESEARCH]
        if user is not None:
            # The build tree may sit under a directory other users cannot
            # enter (a clone in /root): run a copy from our own 0755 dir.
            copy = os.path.join(self.dir, "research")
            if not os.path.exists(copy):
                shutil.copy(RESEARCH, copy)
                os.chmod(copy, 0o755)
            cmd = [copy]
        env = dict(os.environ)
        env.pop("RESEARCHD_SOCKET", None)
        if env_socket:
            env["RESEARCHD_SOCKET"] = self.sock
        else:
            cmd += ["--socket", self.sock]
        cmd += list(args)
        if user is not None:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=stdin)

    def cli_popen(self, *args):
        return subprocess.Popen([RESEARCH, "--socket", self.sock, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def selftest_log(self):
        try:
            with open(os.path.join(self.state, "selftest.log")) as f:
                return f.read().split()
        except OSError:
            return []

    def wait_for(self, cond, timeout=15, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("timed out waiting for " + what + "\n" + self.log())

    def job(self, jid):
        r = self.request({"op": "status", "job": jid})
        assert r["ok"], r
        return r["job"]

    def wait_state(self, jid, states, timeout=15):
        if isinstance(states, str):
            states = (states,)
        return self.wait_for(lambda: self.job(jid)["state"] in states and self.job(jid),
                             timeout, "job %d to be %s" % (jid, "/".join(states)))

    def submit_selftest(self, steps, parallel=False, question="selftest"):
        opts = {"steps": steps}
        if parallel:
            opts["parallel"] = True
        r = self.request({"op": "submit", "kind": "selftest", "question": question, "options": opts})
        assert r["ok"], r
        return r["job"]["id"]

    def cleanup(self):
        if self.alive():
            self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


class Conn:
    """One raw client connection speaking JSON lines."""

    def __init__(self, path, timeout=15):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 1

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self.s.close()

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, obj):
        obj = dict(obj)
        obj.setdefault("v", 1)
        obj.setdefault("id", self.next_id)
        self.next_id += 1
        self.send_raw((json.dumps(obj) + "\n").encode())
        return obj["id"]

    def recv(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""  # closed with our unread input still queued
            if not chunk:
                if self.buf:
                    raise AssertionError("partial line at EOF: %r" % self.buf[:200])
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        rid = self.send(obj)
        r = self.recv()
        assert r is not None, "connection closed instead of a reply"
        assert r.get("id") == rid or r.get("id") is None, (r, rid)
        return r

    def stream(self, obj):
        """Send, then collect messages until an end marker or an error."""
        self.send(obj)
        out = []
        while True:
            m = self.recv()
            assert m is not None, "connection closed mid-stream"
            out.append(m)
            if not m["ok"] or m.get("end"):
                return out


def run(tests):
    """Run test functions; print one line each. Exit 1 on any failure; else
    77 (meson's SKIP) when every test skipped, when one raised SkipTest (what
    it checks went unchecked), or when any skipped and CI=true; else 0. An
    OptionalSkip alone (a variant of what other tests check) keeps 0."""
    if not RESEARCHD or not RESEARCH:
        print("RESEARCHD and RESEARCH must name the built programs")
        sys.exit(2)
    failed = skipped = essential = ran = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        ran += 1
        start = time.time()
        try:
            t()
            print("ok   %-40s %.2fs" % (t.__name__, time.time() - start))
        except SkipTest as e:
            skipped += 1
            if not isinstance(e, OptionalSkip):
                essential += 1
            print("skip %-40s %s" % (t.__name__, e))
        except Exception:
            failed += 1
            print("FAIL %-40s" % t.__name__)
            traceback.print_exc()
        sys.stdout.flush()
    sys.exit(suite_status(ran, failed, skipped, essential))


def suite_status(ran, failed, skipped, essential):
    """The exit status of a suite (see run)."""
    if failed:
        return 1
    if skipped == 0:
        return 0
    ci = os.environ.get("CI") == "true"
    if skipped >= ran or essential or ci:
        print("%d of %d tests skipped%s: exiting 77 (skipped)" % (skipped, ran, " and CI=true" if ci else ""))
        return 77
    print("%d of %d tests skipped (optional ones)" % (skipped, ran))
    return 0


class SkipTest(Exception):
    """The test could not run here; the suite reports SKIP."""


class OptionalSkip(SkipTest):
    """A variant of what other tests check could not run here."""


def daemon_test(config="[server]\nselftest = yes\n"):
    """Decorator: the test gets a started daemon, cleaned up afterwards."""
    def wrap(fn):
        def inner():
            d = Daemon(config)
            try:
                d.start()
                fn(d)
                assert d.alive(), "daemon died:\n" + d.log()
            finally:
                d.cleanup()
        inner.__name__ = fn.__name__
        return inner
    return wrap
