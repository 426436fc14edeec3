"""Daemon life cycle: restart keeps jobs, SIGHUP reload (a bad config keeps
the old one), -n reports file:line errors, socket safety."""
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

from harness import RESEARCHD, Daemon, SkipTest, daemon_test, run


def test_restart_keeps_jobs():
    d = Daemon()
    try:
        d.start()
        a = int(d.cli("submit", "first").stdout)
        b = int(d.cli("submit", "second").stdout)
        assert d.cli("cancel", str(b)).returncode == 0
        c = d.submit_selftest([{"name": "z", "ms": 5}])
        d.wait_state(c, "done")
        before = {j["id"]: (j["state"], j["question"]) for j in
                  [d.job(a), d.job(b), d.job(c)]}
        assert d.stop() == 0
        assert not os.path.exists(d.sock), "the socket is removed on a clean stop"
        d.start()
        after = {j: (d.job(j)["state"], d.job(j)["question"]) for j in (a, b, c)}
        assert before == after, (before, after)
        assert after[a] == ("queued", "first") and after[b][0] == "cancelled"
        # ids keep counting from where they were
        assert int(d.cli("submit", "third").stdout) == c + 1
    finally:
        d.cleanup()


def test_reload():
    d = Daemon("[server]\nmax_queued = 100\n")
    try:
        d.start()
        assert d.request({"op": "submit", "question": "q1"})["ok"]
        # a good reload lowers max_queued to 1: the next submit is refused
        d.write_config("[server]\nmax_queued = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for(lambda: "configuration reloaded" in d.log(), what="reload")
        r = d.request({"op": "submit", "question": "q2"})
        assert not r["ok"] and r["error"]["code"] == "busy", r
        # a broken file is refused, with file:line, and the old one stays
        d.write_config("[server]\nmax_queued = 100\nbogus_key = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for(lambda: "reload failed" in d.log(), what="the failed reload")
        assert "researchd.conf:3: unknown key \"bogus_key\" in [server]" in d.log(), d.log()
        r = d.request({"op": "submit", "question": "q3"})
        assert not r["ok"] and r["error"]["code"] == "busy", r
        assert d.request({"op": "ping"})["ok"]
    finally:
        d.cleanup()


def test_check_config():
    d = Daemon("[server]\nmax_jobs = 3\n\n[fetch]\nrobots = perhaps\n")
    try:
        r = subprocess.run([RESEARCHD, "-n", "-c", d.conf], capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, r
        assert d.conf + ":5: robots must be yes or no" in r.stderr, r.stderr
        d.write_config("")
        r = subprocess.run([RESEARCHD, "-n", "-c", d.conf], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and r.stdout.strip() == "configuration OK", r
        r = subprocess.run([RESEARCHD, "-n", "-c", d.conf + ".missing"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "No such file" in r.stderr, r
        # the shipped sample is valid as it is and with every key uncommented
        sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "researchd.conf")
        r = subprocess.run([RESEARCHD, "-n", "-c", sample], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r
        with open(sample) as f:
            lines = [l[1:] if l.startswith("#") and "=" in l else l for l in f]
        d.write_config("".join(lines))
        r = subprocess.run([RESEARCHD, "-n", "-c", d.conf], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, (r, "".join(lines))
        assert sum(1 for l in lines if "=" in l and not l.startswith(("#", ";"))) >= 30
        r = subprocess.run([RESEARCHD, "--frobnicate"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "usage" in r.stderr, r
    finally:
        d.cleanup()


def test_socket_safety():
    d = Daemon()
    try:
        # a symlink at the socket path is refused
        target = os.path.join(d.dir, "elsewhere")
        os.symlink(target, d.sock)
        assert d.start(expect_ok=False) != 0
        assert "symbolic link" in d.log()
        assert not os.path.exists(target)
        os.unlink(d.sock)
        # a regular file is not replaced
        open(d.sock, "w").close()
        assert d.start(expect_ok=False) != 0
        assert "not a socket" in d.log()
        os.unlink(d.sock)
        # a stale socket (nobody listening) is removed and replaced
        s = socket.socket(socket.AF_UNIX)
        s.bind(d.sock)
        s.close()
        d.start()
        mode = stat.S_IMODE(os.stat(d.sock).st_mode)
        assert mode == 0o660, oct(mode)
        # a second daemon on a live socket refuses and leaves it alone
        other = Daemon()
        try:
            other.sock = d.sock
            assert other.start(expect_ok=False) != 0
            assert "another daemon is listening" in other.log()
        finally:
            other.cleanup()
        assert d.request({"op": "ping"})["ok"]
    finally:
        d.cleanup()


def test_sigint_stops_cleanly():
    d = Daemon()
    try:
        d.start()
        assert d.stop(signal.SIGINT) == 0
        assert "stopped" in d.log()
    finally:
        d.cleanup()


def test_sd_notify_and_watchdog():
    """READY=1, WATCHDOG=1 and STOPPING=1 reach $NOTIFY_SOCKET."""
    d = Daemon()
    nsock = os.path.join(d.dir, "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(nsock)
    srv.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=nsock, WATCHDOG_USEC="200000")
    try:
        log = open(d.logpath, "w")
        d.proc = subprocess.Popen([RESEARCHD, "-c", d.conf, "--socket", d.sock, "--state-dir", d.state],
                                  stdout=log, stderr=log, env=env)
        log.close()
        msgs = []

        def got(word):
            while not any(word in m for m in msgs):
                msgs.append(srv.recv(4096).decode())
            return True

        if not got("READY=1"):
            raise AssertionError(msgs)
        # the watchdog is fed at half its interval: several pings in 0.5 s
        t = time.time()
        while time.time() - t < 0.5:
            msgs.append(srv.recv(4096).decode())
        assert sum("WATCHDOG=1" in m for m in msgs) >= 3, msgs
        # under systemd it stays in the foreground without -d
        assert d.request({"op": "ping"})["ok"]
        d.proc.send_signal(signal.SIGTERM)
        got("STOPPING=1")
        assert d.proc.wait(timeout=15) == 0
    finally:
        srv.close()
        d.cleanup()


def test_socket_activation():
    """Started by systemd-socket-activate, the daemon serves the passed fd."""
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        raise SkipTest("systemd-socket-activate (package systemd) is not installed")
    d = Daemon()
    try:
        log = open(d.logpath, "w")
        d.proc = subprocess.Popen([activate, "-l", d.sock, RESEARCHD, "-d", "-c", d.conf,
                                   "--state-dir", d.state, "--socket", d.sock + ".unused"],
                                  stdout=log, stderr=log)
        log.close()
        d.wait_for(lambda: os.path.exists(d.sock), what="the activation socket")
        # the first connection starts the daemon, which answers on it
        r = None
        deadline = time.time() + 10
        while r is None and time.time() < deadline:
            try:
                r = d.request({"op": "ping"})
            except OSError:
                time.sleep(0.05)
        assert r and r["ok"], r
        assert "ready on a socket from systemd" in d.log(), d.log()
        assert not os.path.exists(d.sock + ".unused")
        assert d.request({"op": "submit", "question": "via activation"})["ok"]
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_restart_keeps_jobs, test_reload, test_check_config, test_socket_safety,
         test_sigint_stops_cleanly, test_sd_notify_and_watchdog, test_socket_activation])
