#!/usr/bin/env python3
# bench/sandbox: what one sandboxed run costs before the command does any
# work: wall time of researchd-sandbox for a trivial command ("true", and
# python3 -c pass), end to end as the daemon sees it. Prints figures; never
# pass/fail.
#   bench/sandbox/start-bench.py [HELPER] [RUNS]
import json
import statistics
import subprocess
import sys
import time

helper = sys.argv[1] if len(sys.argv) > 1 else "build/sandbox/researchd-sandbox"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 40


def bench(argv):
    req = json.dumps({"version": 1, "argv": argv}).encode()
    times = []
    for _ in range(runs):
        t = time.monotonic()
        p = subprocess.run([helper], input=req, capture_output=True)
        times.append((time.monotonic() - t) * 1000)
        res = json.loads(p.stdout)
        if p.returncode != 0 or res.get("exit_code") != 0:
            sys.exit(f"{argv}: helper exit {p.returncode}: {p.stdout[:300]!r}")
    times.sort()
    print(f"{' '.join(argv):24} runs {runs:3}  median {statistics.median(times):6.1f} ms  "
          f"p90 {times[int(len(times) * 0.9) - 1]:6.1f} ms  min {times[0]:6.1f} ms")


print(f"helper: {helper}")
bench(["true"])
bench(["python3", "-c", "pass"])
