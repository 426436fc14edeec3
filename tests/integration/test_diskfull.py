"""A full disk under the daemon: the state directory is a small tmpfs of the
test's own (root only; exits 77 when mounting is not permitted). Submits fail
with a reply, the daemon lives on, the log names the real error (not the
ROLLBACK that followed it), and once there is room again work goes on."""
import os
import subprocess
import sys

from harness import Daemon, run


def mount_tmpfs(path, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path],
                          capture_output=True, text=True)


def test_disk_full():
    d = Daemon()
    mounted = False
    try:
        os.makedirs(d.state)
        r = mount_tmpfs(d.state, "400k")
        if r.returncode != 0:
            print("skip: cannot mount a tmpfs here: %s" % r.stderr.strip())
            sys.exit(77)
        mounted = True
        d.start()
        failed = None
        for i in range(2000):
            r = d.request({"op": "submit", "question": "q%d %s" % (i, "x" * 3000)})
            if not r["ok"]:
                failed = r
                break
        assert failed is not None, "400 KiB never filled up"
        assert failed["error"]["code"] == "internal", failed
        assert d.request({"op": "ping"})["ok"]
        log = d.log()
        assert "submitting a job: database or disk is full" in log, log[-2000:]
        assert "cannot rollback" not in log, log[-2000:]
        # Room again: the same daemon takes work without a restart.
        r = subprocess.run(["mount", "-o", "remount,size=8m", d.state], capture_output=True,
                           text=True)
        assert r.returncode == 0, r
        r = d.request({"op": "submit", "question": "after the disk was grown"})
        assert r["ok"], r
        assert d.alive()
    finally:
        d.stop()
        if mounted:
            subprocess.run(["umount", "-l", d.state])
        d.cleanup()


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skip: mounting a tmpfs needs root")
        sys.exit(77)
    run([test_disk_full])
