#!/usr/bin/env python3
"""Daemon figures (not a pass/fail test): request round trips on one
connection, submits per second, idle memory, and how fast a restarted job
replays its stored effects compared with running them.

usage: bench/daemon-bench.py [BUILD_DIR]   (default: build)"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
researchd = os.path.join(build, "researchd")
tmp = tempfile.mkdtemp(prefix="rd-bench-")
sock = os.path.join(tmp, "s.sock")
conf = os.path.join(tmp, "c.conf")
with open(conf, "w") as f:
    f.write("[server]\nselftest = yes\nmax_queued = 100000\n")


def start():
    p = subprocess.Popen([researchd, "-d", "-c", conf, "--socket", sock, "--state-dir", tmp + "/state"],
                         stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            c = Conn()
            c.req({"op": "ping"})
            return p, c
        except OSError:
            time.sleep(0.02)
    raise SystemExit("daemon did not start")


class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sock)
        self.f = self.s.makefile("rwb")

    def req(self, o):
        o = dict(o, v=1)
        self.f.write((json.dumps(o) + "\n").encode())
        self.f.flush()
        return json.loads(self.f.readline())


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


p, c = start()
print("idle RSS: %d KiB" % rss_kb(p.pid))

n = 20000
t = time.perf_counter()
for i in range(n):
    c.req({"op": "ping", "id": i})
dt = time.perf_counter() - t
print("ping round trips: %d in %.2f s = %.0f/s (%.1f us each)" % (n, dt, n / dt, dt / n * 1e6))

n = 2000
t = time.perf_counter()
for i in range(n):
    r = c.req({"op": "submit", "question": "benchmark question %d" % i})
    assert r["ok"], r
dt = time.perf_counter() - t
print("submits (each a transaction with its events): %d in %.2f s = %.0f/s" % (n, dt, n / dt))

t = time.perf_counter()
c.f.write(b'{"v":1,"op":"list","limit":10000}\n')
c.f.flush()
count = 0
while True:
    m = json.loads(c.f.readline())
    if m.get("end"):
        break
    count += 1
print("list of %d jobs: %.1f ms" % (count, (time.perf_counter() - t) * 1000))

steps = [{"name": "s%d" % i} for i in range(99)]
t = time.perf_counter()
jid = c.req({"op": "submit", "kind": "selftest", "question": "bench", "options": {"steps": steps}})["job"]["id"]
while c.req({"op": "status", "job": jid})["job"]["state"] != "done":
    time.sleep(0.005)
run_s = time.perf_counter() - t
print("a job of 99 zero-delay effects, run: %.1f ms (%.2f ms per effect, each stored with its event)" % (run_s * 1000, run_s * 1000 / 99))
print("RSS after %d jobs: %d KiB" % (n + 1, rss_kb(p.pid)))
p.send_signal(signal.SIGTERM)
p.wait()

# Replay: put the job back to "running" as a crash would leave it, by
# killing the daemon mid-job on a second identical job.
p, c = start()
jid2 = c.req({"op": "submit", "kind": "selftest", "question": "bench2",
              "options": {"steps": steps + [{"name": "last", "ms": 600000}]}})["job"]["id"]
while c.req({"op": "status", "job": jid2})["job"]["usage"].get("effects", 0) < 99:
    time.sleep(0.005)
p.kill()
p.wait()
t = time.perf_counter()
p, c = start()
while c.req({"op": "stats"})["stats"]["effects"]["replayed"] < 99:
    time.sleep(0.001)
replay_s = time.perf_counter() - t
print("restart after kill -9 + replay of 99 stored effects: %.1f ms (includes daemon start)" % (replay_s * 1000))
p.send_signal(signal.SIGTERM)
p.wait()
shutil.rmtree(tmp)
