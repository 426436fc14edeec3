#!/usr/bin/env python3
"""CI's summary of meson's test logs (testlog.json, one JSON object a line):
names each skipped and failed test, prints "N passed, N failed[, N skipped]"
and exits 1 on any failure, a missing log, or, when CI is set (not empty,
not "false"), any skip: CI must run everything.

    summary.py TESTLOG.json..."""
import json
import os
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print("no test log at %s: its build or test run did not happen" % path)
        continue
    for line in lines:
        t = json.loads(line)
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
            print("skipped: %s" % t.get("name"))
        else:
            failed += 1
            print("failed: %s (%s)" % (t.get("name"), r))
ci = os.environ.get("CI", "") not in ("", "false")
print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""))
if skipped and ci:
    print("CI is set: a skipped test is a failure here")
sys.exit(1 if failed or (skipped and ci) else 0)
