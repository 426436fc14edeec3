#!/usr/bin/env python3
"""[llm] serve figures (not a pass/fail test): the time from `researchd -d`
to the first answered model call when the daemon runs researchd-llm on
../shared/models/stories260K.gguf itself, and the engine's idle memory (RSS
of the node process with the model loaded), over a few runs.

usage: bench/serve-bench.py [BUILD_DIR] [RUNS]   (default: build 5)"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model = os.path.normpath(os.path.join(top, "..", "shared", "models", "stories260K.gguf"))
engine = os.path.join(build, "llm-server", "researchd-llm-uninstalled")
if not os.path.exists(model) or not os.path.isdir(os.path.join(top, "llm-server", "node_modules")):
    sys.exit("needs ../shared/models/stories260K.gguf and llm-server/node_modules (scripts/setup)")
schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
          "required": ["answer"], "additionalProperties": False}


def one(tmp):
    sock = os.path.join(tmp, "s.sock")
    conf = os.path.join(tmp, "c.conf")
    sch = os.path.join(tmp, "schema.json")
    with open(sch, "w") as f:
        json.dump(schema, f)
    with open(conf, "w") as f:
        f.write("[llm]\nserve = %s\nserve_engine = %s\nserve_threads = 1\n[search]\nbackends = local\n"
                % (model, os.path.abspath(engine)))
    t0 = time.time()
    p = subprocess.Popen([os.path.join(build, "researchd"), "-d", "-c", conf, "--socket", sock,
                          "--state-dir", os.path.join(tmp, "state")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            r = subprocess.run([os.path.join(build, "research"), "--socket", sock, "llm", "--prompt",
                                "Is the sky blue?", "--schema", sch, "--max-tokens", "64"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.time() - t0 > 120:
                raise SystemExit("no answer in 120 s")
            time.sleep(0.05)
        first = time.time() - t0
        time.sleep(2)	# idle: the answer is done, nothing queued
        st = json.loads(subprocess.run([os.path.join(build, "research"), "--socket", sock, "--json",
                                        "stats"], capture_output=True, text=True).stdout)
        pid = st["stats"]["llm_server"]["pid"]
        with open("/proc/%d/status" % pid) as f:
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024
        return first, rss
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()


firsts, rsses = [], []
for i in range(runs):
    tmp = tempfile.mkdtemp(prefix="rd-serve-bench-")
    try:
        f, m = one(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    firsts.append(f)
    rsses.append(m)
    print("run %d: first answer %.2f s after researchd -d, engine idle RSS %.0f MiB" % (i + 1, f, m))
firsts.sort()
rsses.sort()
print("median of %d: first answer %.2f s (min %.2f, max %.2f); engine idle RSS %.0f MiB"
      % (runs, firsts[runs // 2], firsts[0], firsts[-1], rsses[runs // 2]))
