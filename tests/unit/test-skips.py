"""A test that skips must exit 77 (meson's SKIP), never 0: the cmocka helper
(tests/cmocka-skip.h), the integration harness (tests/integration/harness.py)
and CI's summary (.ci/summary.py), each driven with made-up outcomes.

    test-skips.py SKIP_SAMPLE REPO_ROOT"""
import json
import os
import subprocess
import sys
import tempfile

sample, root = sys.argv[1], sys.argv[2]
failures = []


def check(what, got, want):
    print("%-4s %s: exit %s (want %s)" % ("ok" if got == want else "FAIL", what, got, want))
    if got != want:
        failures.append(what)


def env(ci):
    e = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        e["CI"] = "true"
    return e


def status(cmd, ci=False):
    return subprocess.run(cmd, env=env(ci), capture_output=True, timeout=60).returncode


# cmocka through the helper
check("cmocka: all pass", status([sample, "pass"]), 0)
check("cmocka: every test skipped", status([sample, "all-skip"]), 77)
check("cmocka: an essential skip beside a pass", status([sample, "essential"]), 77)
check("cmocka: an optional skip beside a pass", status([sample, "optional"]), 0)
check("cmocka: an optional skip with CI=true", status([sample, "optional"], ci=True), 77)
check("cmocka: a failure beside a skip", status([sample, "fail"]), 1)

# the integration harness
suite = """
import os
import sys
sys.path.insert(0, %r)
from harness import run, SkipTest, OptionalSkip
def test_pass():
    pass
def test_skip():
    raise SkipTest("cannot run here")
def test_optional():
    raise OptionalSkip("a variant")
def test_fail():
    assert False
names = os.environ["SUITE_TESTS"].split(",")
run([globals()[n] for n in names])
""" % os.path.join(root, "tests", "integration")
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "suite.py")
    with open(path, "w") as f:
        f.write(suite)

    def harness(names, ci=False):
        e = env(ci)
        e.update(RESEARCHD="/nonexistent/researchd", RESEARCH="/nonexistent/research",
                 PYTHONDONTWRITEBYTECODE="1", SUITE_TESTS=names)
        return subprocess.run([sys.executable, path], env=e, capture_output=True,
                              timeout=60).returncode

    check("harness: all pass", harness("test_pass"), 0)
    check("harness: a skip beside a pass", harness("test_pass,test_skip"), 77)
    check("harness: every test skipped", harness("test_skip"), 77)
    check("harness: an optional skip beside a pass", harness("test_pass,test_optional"), 0)
    check("harness: an optional skip with CI=true", harness("test_pass,test_optional", True), 77)
    check("harness: a failure beside a skip", harness("test_skip,test_fail"), 1)

    # CI's summary of meson's test logs
    def summary(results, ci):
        log = os.path.join(tmp, "testlog.json")
        with open(log, "w") as f:
            for i, r in enumerate(results):
                f.write(json.dumps({"name": "t%d" % i, "result": r}) + "\n")
        return status([sys.executable, os.path.join(root, ".ci", "summary.py"), log], ci)

    check("summary: passes", summary(["OK", "OK"], True), 0)
    check("summary: a skip, CI set", summary(["OK", "SKIP"], True), 1)
    check("summary: a skip, CI unset", summary(["OK", "SKIP"], False), 0)
    check("summary: a failure", summary(["OK", "FAIL"], False), 1)

sys.exit(1 if failures else 0)
