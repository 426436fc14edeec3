"""Security of the daemon against what clients and files hand it: config
paths that are not regular files (with -n and on a SIGHUP reload), an
allow-list that would switch the SSRF guard off, bidirectional controls in
untrusted text shown on a terminal."""
import json
import os
import signal
import subprocess
import time

from harness import RESEARCHD, Daemon, daemon_test, run


def test_check_config_fifo():
    d = Daemon()
    try:
        fifo = os.path.join(d.dir, "fifo.conf")
        link = os.path.join(d.dir, "link.conf")
        os.mkfifo(fifo)
        os.symlink(fifo, link)
        for path in (fifo, link):
            # Before the fix this waited for a writer forever.
            r = subprocess.run([RESEARCHD, "-n", "-c", path], capture_output=True, text=True,
                               timeout=10)
            assert r.returncode == 1, r
            assert path + ": not a regular file (a FIFO)" in r.stderr, r.stderr
        r = subprocess.run([RESEARCHD, "-n", "-c", d.dir], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 1 and "not a regular file (a directory)" in r.stderr, r
    finally:
        d.cleanup()


def test_check_config_allow_all():
    d = Daemon()
    try:
        for allow, fam in (("0.0.0.0/0", "IPv4"), ("::/0", "IPv6"),
                           ("localhost, 0.0.0.0/1, 128.0.0.0/1", "IPv4")):
            d.write_config("[fetch]\nallow_hosts = %s\n" % allow)
            r = subprocess.run([RESEARCHD, "-n", "-c", d.conf], capture_output=True, text=True,
                               timeout=10)
            assert r.returncode == 1, r
            assert d.conf + ":2: allow_hosts covers every %s address" % fam in r.stderr, r.stderr
            assert "switches the SSRF guard off" in r.stderr, r.stderr
        d.write_config("[fetch]\nallow_hosts = 127.0.0.0/8, ::1, 0.0.0.0/1\n")
        r = subprocess.run([RESEARCHD, "-n", "-c", d.conf], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 0, r
    finally:
        d.cleanup()


def test_reload_fifo():
    d = Daemon("[server]\nmax_queued = 1\n")
    try:
        d.start()
        real = d.conf + ".real"
        os.rename(d.conf, real)
        for kind in ("fifo", "symlink"):
            if kind == "fifo":
                os.mkfifo(d.conf)
            else:
                os.mkfifo(d.conf + ".fifo")
                os.symlink(d.conf + ".fifo", d.conf)
            before = d.log().count("reload failed")
            d.proc.send_signal(signal.SIGHUP)
            d.wait_for(lambda: d.log().count("reload failed") > before,
                       what="the refused reload (%s)" % kind)
            assert "not a regular file (a FIFO)" in d.log(), d.log()
            # The daemon is not stuck in open(): it answers at once, with
            # the old configuration.
            t0 = time.time()
            assert d.request({"op": "ping"})["ok"]
            assert time.time() - t0 < 5
            os.unlink(d.conf)
        if os.path.exists(d.conf + ".fifo"):
            os.unlink(d.conf + ".fifo")
        os.rename(real, d.conf)
        assert d.request({"op": "submit", "question": "q1"})["ok"]
        r = d.request({"op": "submit", "question": "q2"})
        assert not r["ok"] and r["error"]["code"] == "busy", r
    finally:
        d.cleanup()


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
        "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"]


@daemon_test("[server]\nselftest = yes\nmax_queued = 100\n")
def test_bidi_in_list(d):
    # A question that would show "gnp.exe" as "exe.png" on a terminal, and
    # one short question per control so that none is cut from the listing.
    assert d.cli("submit", "invoice \u202egnp.exe").returncode == 0
    for i, c in enumerate(BIDI):
        r = d.cli("submit", "q%d a%sb" % (i, c))
        assert r.returncode == 0, r
    out = d.cli("list", "--all")
    assert out.returncode == 0, out
    for i, c in enumerate(BIDI):
        assert c not in out.stdout, (c, out.stdout)
        assert "q%d a\\u%04xb" % (i, ord(c)) in out.stdout, (c, out.stdout)
    assert "invoice \\u202egnp.exe" in out.stdout, out.stdout
    # --json carries the text as it was submitted: JSON is for programs.
    js = json.loads(d.cli("--json", "list", "--all").stdout)
    assert "invoice \u202egnp.exe" in [j["question"] for j in js["jobs"]], js


if __name__ == "__main__":
    run([test_check_config_fifo, test_check_config_allow_all, test_reload_fifo,
         test_bidi_in_list])
