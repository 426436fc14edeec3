"""The daemon's tools through the effects layer: a selftest job's step can
name any registered effect kind with its request, which is how the test
suite drives a tool through the real daemon without a research job."""
import json
import os

from harness import Daemon, run

SANDBOX = os.environ.get("RESEARCHD_SANDBOX")

CODE = """import csv, json
rows = list(csv.DictReader(open("cities.csv")))
total = sum(int(r["population"]) for r in rows)
print(total)
json.dump({"total": total, "rows": len(rows)}, open("out/total.json", "w"))
"""
CSV = "city,population\nOslo,709037\nBergen,291940\nTrondheim,214565\n"


def config():
    return "[server]\nselftest = yes\n[sandbox]\nhelper = %s\ntimeout = 20s\n" % SANDBOX


def test_code_tool_runs_in_sandbox_and_replays():
    d = Daemon(config())
    try:
        d.start()
        step = {"name": "sum", "effect": {"kind": "sandbox.python",
                                          "request": {"code": CODE,
                                                      "inputs": [{"name": "cities.csv", "text": CSV}]}}}
        jid = d.submit_selftest([step, {"name": "after", "ms": 1}])
        job = d.wait_state(jid, ("done", "failed"), timeout=60)
        assert job["state"] == "done", (job, d.log())
        r = d.request({"op": "report", "job": jid, "format": "json"})
        res = json.loads(r["report"]["body"])["steps"][0]["result"]
        # the figure, computed in the sandbox; the code and the input's hash
        # are stored with it
        assert res["exit_code"] == 0 and res["status"] == "exited", res
        assert res["stdout"].strip() == str(709037 + 291940 + 214565), res
        assert res["code"] == CODE
        assert res["inputs"][0]["name"] == "cities.csv" and len(res["inputs"][0]["blake2b"]) == 64
        files = {f["name"]: f for f in res["files"]}
        assert json.loads(files["out/total.json"]["text"]) == {"total": 1215542, "rows": 3}, files
        # the stored result outlives the daemon
        assert d.stop() == 0
        d.start()
        assert d.job(jid)["state"] == "done"
    finally:
        d.cleanup()


def test_unknown_kind_fails_the_step():
    d = Daemon(config())
    try:
        d.start()
        jid = d.submit_selftest([{"name": "x", "effect": {"kind": "no.such.tool", "request": {}}}])
        job = d.wait_state(jid, "failed")
        assert "step 1 could not start" in job["message"], job
    finally:
        d.cleanup()


def test_bad_code_request_is_a_stored_refusal():
    d = Daemon(config())
    try:
        d.start()
        step = {"name": "bad", "effect": {"kind": "sandbox.python",
                                          "request": {"code": "print(1)", "inputs": [{"name": "../escape", "text": ""}]}}}
        jid = d.submit_selftest([step])
        job = d.wait_state(jid, ("done", "failed"), timeout=30)
        assert job["state"] == "done", job
        res = json.loads(d.request({"op": "report", "job": jid, "format": "json"})["report"]["body"])["steps"][0]["result"]
        assert "error" in res, res
    finally:
        d.cleanup()


def test_research_sandbox_command():
    d = Daemon(config())   # not started: the command runs the helper locally
    try:
        r = d.cli("sandbox", "--", "/bin/sh", "-c", "echo inside; cat /etc/shadow")
        # the command's own status comes back: cat found no /etc/shadow in there
        assert r.returncode == 1, r
        assert "inside" in r.stdout and "/etc/shadow: No such file" in r.stdout, r.stdout
        assert "exited with status 1" in r.stdout, r.stdout
        assert "limits:" in r.stdout, r.stdout
        r = d.cli("sandbox", "--limit", "wall_ms=300", "--", "/bin/sleep", "5")
        assert "limit hit: timeout" in r.stdout, r.stdout
        r = d.cli("sandbox", "--check", timeout=120)
        assert r.returncode == 0 and "every attempt was blocked" in r.stdout, r.stdout[-2000:]
        assert d.cli("sandbox").returncode == 2
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_research_sandbox_command, test_code_tool_runs_in_sandbox_and_replays, test_unknown_kind_fails_the_step,
         test_bad_code_request_is_a_stored_refusal])
