"""The research CLI against a real daemon: submit, list, status, watch,
report, cancel, pause, resume, ping, stats, --json, exit codes."""
import json
import os
import time

from harness import Daemon, daemon_test, run

STEPS = '{"steps":[{"name":"one","ms":20},{"name":"two","ms":20}]}'


@daemon_test()
def test_ping_and_stats(d):
    r = d.cli("ping")
    assert r.returncode == 0, r
    assert r.stdout.startswith("researchd 0.1.0 (protocol 1, pid "), r.stdout
    assert str(d.proc.pid) in r.stdout
    r = d.cli("--json", "stats")
    assert r.returncode == 0, r
    stats = json.loads(r.stdout)["stats"]
    assert stats["pid"] == d.proc.pid
    assert stats["jobs"]["queued"] == 0
    r = d.cli("stats")
    assert "jobs.queued: 0" in r.stdout, r.stdout
    # the socket can come from the environment too
    r = d.cli("ping", env_socket=True)
    assert r.returncode == 0, r


@daemon_test()
def test_submit_list_status(d):
    r = d.cli("submit", "How do tides work?")
    assert r.returncode == 0, r
    jid = int(r.stdout.strip())
    assert jid == 1
    r = d.cli("submit", "--max-time", "5m", "--depth", "2", "Second", "question")
    assert r.returncode == 0, r
    assert int(r.stdout) == 2
    # --json before or after the subcommand gives the same document
    a = json.loads(d.cli("--json", "list").stdout)
    b = json.loads(d.cli("list", "--json").stdout)
    assert a == b
    jobs = a["jobs"]
    assert [j["id"] for j in jobs] == [1, 2]
    assert jobs[0]["state"] == "queued" and jobs[0]["question"] == "How do tides work?"
    assert jobs[0]["created"].endswith("Z")
    assert jobs[1]["question"] == "Second question"
    assert jobs[1]["options"]["max_time"] == 300 and jobs[1]["options"]["max_depth"] == 2
    plain = d.cli("list").stdout.splitlines()
    assert plain[0].split()[:4] == ["ID", "STATE", "CREATED", "QUESTION"], plain
    # queued with no model endpoint: a marker, and the reason under the table
    assert plain[1].split()[0] == "1" and plain[1].split()[1] == "queued*", plain
    assert plain[-1].startswith("* waiting for a model endpoint"), plain
    r = d.cli("status", "1")
    assert r.returncode == 0
    assert "state: queued" in r.stdout and "question: How do tides work?" in r.stdout, r.stdout
    st = json.loads(d.cli("--json", "status", "2").stdout)
    assert st["job"]["id"] == 2
    # a research job waits in the queue in this build, and says why
    ev = d.request({"op": "watch", "job": 1, "follow": False})
    assert ev["event"]["type"] == "submitted"
    r = d.cli("list", "--state", "queued", "--json")
    assert len(json.loads(r.stdout)["jobs"]) == 2


@daemon_test()
def test_watch_and_report(d):
    r = d.cli("submit", "--kind", "selftest", "--options", STEPS, "selftest question")
    assert r.returncode == 0, r
    jid = int(r.stdout)
    r = d.cli("watch", str(jid))
    assert r.returncode == 0, r
    out = r.stdout
    assert "queued -> running" in out and "running -> done" in out, out
    assert "job %d done" % jid in out
    r = d.cli("--json", "watch", str(jid))
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert lines[-1]["end"] is True and lines[-1]["job"]["state"] == "done"
    types = [l["event"]["type"] for l in lines[:-1]]
    assert types[0] == "submitted" and types.count("effect") == 2 and "report" in types
    # --since skips what was seen
    r = d.cli("--json", "watch", str(jid), "--since", "3")
    seqs = [json.loads(l)["event"]["seq"] for l in r.stdout.splitlines()[:-1]]
    assert seqs and min(seqs) == 4, seqs
    r = d.cli("report", str(jid))
    assert r.returncode == 0 and r.stdout.startswith("# Selftest report for job %d" % jid), r
    out = os.path.join(d.dir, "r.md")
    r = d.cli("report", str(jid), "-o", out)
    assert r.returncode == 0, r
    with open(out) as f:
        assert f.read().startswith("# Selftest report")
    r = d.cli("report", str(jid), "--format", "json")
    assert json.loads(r.stdout)["steps"][0]["name"] == "one"


@daemon_test()
def test_cancel_pause_resume(d):
    jid = int(d.cli("submit", "to be cancelled").stdout)
    r = d.cli("pause", str(jid))
    assert r.returncode == 0 and "paused" in r.stdout, r
    r = d.cli("resume", str(jid))
    assert r.returncode == 0 and "queued" in r.stdout, r
    r = d.cli("resume", str(jid))
    assert r.returncode == 1 and "bad_state" in r.stderr, r
    r = d.cli("cancel", str(jid))
    assert r.returncode == 0 and r.stdout.strip() == "job %d cancelled" % jid, r
    r = d.cli("cancel", str(jid))
    assert r.returncode == 1 and "bad_state" in r.stderr, r
    r = d.cli("--json", "cancel", str(jid))
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"]["code"] == "bad_state"
    r = d.cli("status", "999")
    assert r.returncode == 1 and "not_found" in r.stderr, r
    # report of an unfinished or cancelled job: not ready
    r = d.cli("report", str(jid))
    assert r.returncode == 1 and "not_ready" in r.stderr, r


@daemon_test()
def test_watch_ends_on_cancel(d):
    jid = int(d.cli("submit", "watched").stdout)
    w = d.cli_popen("watch", str(jid))
    d.wait_for(lambda: d.request({"op": "stats"})["stats"]["clients"] >= 2, what="watcher")
    time.sleep(0.2)
    assert d.cli("cancel", str(jid)).returncode == 0
    out, err = w.communicate(timeout=10)
    assert w.returncode == 1, (w.returncode, out, err)
    assert "cancelled" in out, out


@daemon_test()
def test_question_form(d):
    # `research "question"` submits and then watches it to the end
    p = d.cli_popen("What", "is", "durable", "execution?")
    job = d.wait_for(lambda: [j for j in json.loads(d.cli("--json", "list").stdout)["jobs"]], what="job")[0]
    assert job["question"] == "What is durable execution?"
    time.sleep(0.2)
    assert p.poll() is None, "the CLI should still be watching"
    d.cli("cancel", str(job["id"]))
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1, (p.returncode, out, err)
    assert "job %d submitted" % job["id"] in err


def test_exit_codes():
    d = Daemon()
    try:
        # nobody listening: 3, naming the socket
        r = d.cli("ping")
        assert r.returncode == 3, r
        assert d.sock in r.stderr, r.stderr
        d.start()
        assert d.cli("status", "abc").returncode == 2
        assert d.cli("status").returncode == 2
        assert d.cli("frobnicate", "--bogus-option").returncode == 2
        assert d.cli("list", "--state", "sleeping").returncode == 2
        r = d.cli("--help")
        assert r.returncode == 0 and "exit" in r.stdout.lower(), r
        assert d.cli("--version").returncode == 0
    finally:
        d.cleanup()


def test_extract_offline():
    d = Daemon()  # never started: extract needs no daemon
    try:
        page = os.path.join(d.dir, "page.html")
        with open(page, "w") as f:
            f.write("<html><head><title>T</title><link rel=canonical href='/c'></head><body>"
                    "<nav><a href='/'>Home</a></nav><article><h2>Section</h2>"
                    "<p>" + "A sentence of the article body. " * 8 + "</p>"
                    "<ul><li>one</li><li>two</li></ul></article></body></html>")
        r = d.cli("extract", page)
        assert r.returncode == 0, r
        assert "## Section" in r.stdout and "- one" in r.stdout and "Home" not in r.stdout, r.stdout
        r = d.cli("--json", "extract", "--base-url", "https://example.org/x/y", page)
        doc = json.loads(r.stdout)
        assert doc["title"] == "T" and doc["canonical_url"] == "https://example.org/c", doc
        with open(page, "rb") as f:
            r = d.cli("extract", "-", stdin=f)
        assert r.returncode == 0 and "A sentence" in r.stdout
        bad = os.path.join(d.dir, "bad.bin")
        with open(bad, "wb") as f:
            f.write(bytes(range(256)) * 8)
        r = d.cli("extract", bad)
        assert r.returncode == 1 and "not text" in r.stderr, r
        assert d.cli("extract").returncode == 2
    finally:
        d.cleanup()


def test_bad_integer_names_its_option():
    d = Daemon()  # never started: a bad option value is refused before connecting
    try:
        for args, name in ((["search", "--max", "0", "q"], "--max"),
                           (["sources", "--limit", "0"], "--limit"),
                           (["llm", "--prompt", "p", "--max-tokens", "0"], "--max-tokens"),
                           (["list", "--limit", "x"], "--limit")):
            r = d.cli(*args)
            assert r.returncode == 2, r
            assert "research: %s: %s: '" % (args[0], name) in r.stderr, r.stderr
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_ping_and_stats, test_submit_list_status, test_watch_and_report,
         test_cancel_pause_resume, test_watch_ends_on_cancel, test_question_form,
         test_exit_codes, test_extract_offline, test_bad_integer_names_its_option])
