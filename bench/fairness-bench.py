#!/usr/bin/env python3
"""Fairness figures (not a pass/fail test): while one client pipelines many
cheap requests (stats, list) over a store of many jobs, how long does another
client wait for a ping, and how fast is the heavy client served?

The pinger runs in its own process so that Python's GIL in this one does not
add to the figures, and the threads of this process that generate the load
run at nice 10 so that on a small machine the kernel gives the daemon and the pinger the CPU
first: the figures then show the daemon's fairness more than the scheduler's.

usage: bench/fairness-bench.py [BUILD_DIR] [JOBS] [REQUESTS]
       (defaults: build 10000 40000)"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
njobs = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
nreq = int(sys.argv[3]) if len(sys.argv) > 3 else 40000
researchd = os.path.join(build, "researchd")
tmp = tempfile.mkdtemp(prefix="rd-fair-")
sock = os.path.join(tmp, "s.sock")
conf = os.path.join(tmp, "c.conf")
state = os.path.join(tmp, "state")
with open(conf, "w") as f:
    f.write("[server]\nmax_queued = 100000\n[llm]\nurl = http://127.0.0.1:1/v1\n")

PINGER = r'''
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
out = []
sys.stdout.write("ready\n"); sys.stdout.flush()
import select
while not select.select([sys.stdin], [], [], 0)[0]:
    t = time.monotonic()
    f.write(b'{"v":1,"id":1,"op":"ping"}\n'); f.flush()
    f.readline()
    out.append([t, time.monotonic() - t])
    time.sleep(0.01)
print(json.dumps(out))
'''


def start():
    p = subprocess.Popen([researchd, "-d", "-c", conf, "--socket", sock, "--state-dir", state],
                         stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.close()
            return p
        except OSError:
            time.sleep(0.02)
    raise SystemExit("daemon did not start")


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait()


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


p = start()
stop(p)
db = sqlite3.connect(os.path.join(state, "researchd.db"))
states = ["done", "failed", "cancelled", "queued"]
db.executemany("INSERT INTO jobs (owner, kind, question, state, created, updated) VALUES (?,?,?,?,?,?)",
               [(0, "research", "q %d" % i, states[i % 4], 1000 + i, 1000 + i) for i in range(njobs)])
db.commit()
db.close()
p = start()

for name, ops in (("stats", [{"op": "stats"}]),
                  ("list (empty: state running)", [{"op": "list", "state": "running", "limit": 5}]),
                  ("stats + list", [{"op": "stats"}, {"op": "list", "state": "running", "limit": 5}])):
    pinger = subprocess.Popen([sys.executable, "-c", PINGER, sock], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert pinger.stdout.readline().strip() == "ready"
    heavy = socket.socket(socket.AF_UNIX)
    heavy.connect(sock)
    payload = "".join(json.dumps(dict(ops[i % len(ops)], v=1, id=i)) + "\n" for i in range(nreq)).encode()
    res = {}

    def send():
        os.nice(10)     # Linux: this thread only (the pinger was started at 0)
        heavy.sendall(payload)

    def receive():
        os.nice(10)
        f = heavy.makefile("rb")
        for _ in range(nreq):
            if not json.loads(f.readline())["ok"]:
                res["error"] = True
        res["end"] = time.monotonic()

    t = time.monotonic()
    threads = [threading.Thread(target=send), threading.Thread(target=receive)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if res.get("error"):
        raise SystemExit("an error reply")
    dt = res["end"] - t
    heavy.close()
    pinger.stdin.write("stop\n")
    pinger.stdin.flush()
    # the pings sent while the load ran
    lat = [dt for t0, dt in json.loads(pinger.stdout.readline()) if t <= t0 < res["end"]]
    pinger.wait()
    print("%-28s %d requests over %d jobs: %.2f s (%.0f/s); other client's ping during it: "
          "%d pings, median %.2f ms, p99 %.2f ms, max %.2f ms"
          % (name, nreq, njobs, dt, nreq / dt, len(lat), statistics.median(lat) * 1000,
             pct(lat, 0.99) * 1000, max(lat) * 1000))
stop(p)
shutil.rmtree(tmp)
