#!/usr/bin/env python3
"""The research loop's hard cases against the scenario fixtures: a model
that invents quotes, a model whose gap list never changes, budgets that
run out, sources that 404 or never answer, cancel, pause and resume, two
jobs on one 2-slot model server. Each case starts its own fixture."""
import os
import re
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
import scenario  # noqa: E402


def ended_done(d, jid, timeout=120):
    j = scenario.wait_end(d, [jid], timeout)[jid]
    assert j["state"] == "done", (j, d.log()[-3000:])
    return scenario.report(d, jid)


def model_log(s, question):
    """The model server's log lines of one question's requests (the
    server collapses whitespace in the QUESTION: line)."""
    q = " ".join(question.split())
    return [r for r in s.model.requests() if " ".join((r.get("question") or "").split()) == q]


def max_overlap(intervals):
    """The most intervals open at one moment."""
    ev = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals],
                key=lambda e: (e[0], e[1]))
    n = best = 0
    for _, k in ev:
        n += k
        best = max(best, n)
    return best


def with_scenario(fn, **kw):
    def inner():
        s = scenario.Scenario(limit=6, **kw).start()
        try:
            d = s.daemon()
            fn(s, d)
            assert d.alive(), "daemon died:\n" + d.log()[-3000:]
        finally:
            s.stop()
        assert s.daemon_rc == 0, "researchd exited with %s on SIGTERM" % s.daemon_rc
    inner.__name__ = fn.__name__
    return inner


def test_invented_quotes(s, d):
    q = s.question(0)
    text = ended_done(d, scenario.submit(d, q["question"]))
    invented = [x for r in model_log(s, q["question"]) for x in r.get("invented", [])]
    assert invented, "the model server invented no quote: the case did not happen"
    m = re.search(r"quote not found in the source: (\d+)", scenario.limits(text))
    assert m and int(m.group(1)) == len(invented), (invented, text)
    for x in invented:
        assert x not in text, "an invented quote reached the report: %r" % x
    assert s.model.violations() == []
    # The true findings survive next to the rejected ones.
    assert scenario.references(text), text


def test_stuck_gaps(s, d):
    q = s.question(1)
    text = ended_done(d, scenario.submit(d, q["question"], {"max_depth": 3}))
    reflects = [r for r in model_log(s, q["question"]) if r["schema"] == "reflect"]
    lim = scenario.limits(text)
    m = re.search(r"Research ended because (.*?), after (\d+) rounds?\.", lim)
    assert m, lim
    assert m.group(1) in ("the list of gaps stopped changing",
                          "a round added no new verified finding",
                          "the depth budget (max_depth) was reached",
                          "every gap was tried twice"), m.group(1)
    assert 1 <= len(reflects) <= 3, "%d reflect calls for max_depth 3" % len(reflects)
    assert s.model.violations() == []


def test_budgets(s, d):
    q = s.question(2)
    # A whole job of this question takes about 3000 tokens (the plain run
    # below); 1200 run out after the plan, while gathering.
    plain = ended_done(d, scenario.submit(d, q["question"]))
    used = int(re.search(r"Budgets used: (\d+) of", plain).group(1))
    assert used > 1200, plain
    tok = ended_done(d, scenario.submit(d, q["question"], {"max_tokens": 1200}))
    assert "the token budget (max_tokens)" in scenario.limits(tok), tok
    assert re.search(r"Budgets used: \d+ of 1200 tokens", tok), tok
    fet = ended_done(d, scenario.submit(d, q["question"], {"max_fetches": 1}))
    lim = scenario.limits(fet)
    assert "the fetch budget (max_fetches)" in lim, fet
    assert re.search(r"; 1 of 1 fetches;", lim), fet
    assert len(scenario.references(fet)) <= 1, fet


def test_missing_and_silent_sources(s, d):
    q = s.question(3)
    text = ended_done(d, scenario.submit(d, q["question"]), timeout=180)
    srcs = scenario.sources(d, 1)
    refs = set(scenario.references(text).values())
    assert ("404", s.missing) in srcs, (srcs, s.missing)
    # The silent port never answered: no snapshot, but the daemon tried.
    assert s.silent not in [u for _, u in srcs], srcs
    s.silent_sock.setblocking(False)
    tries = 0
    try:
        while True:
            c, _ = s.silent_sock.accept()
            c.close()
            tries += 1
    except BlockingIOError:
        pass
    assert tries >= 1, "the daemon never connected to the silent port"
    assert s.missing not in refs and s.silent not in refs, text
    assert ("/missing-page.html", 404) in {(u, st) for _, u, st in s.nginx.requests()}
    assert refs, "the gold pages should still be cited:\n" + text
    assert s.model.violations() == []


def missing_and_silent():
    # A port that accepts connections (the kernel's backlog) and never
    # answers: a fetch of it can only time out.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        silent_url = "http://127.0.0.1:%d/slow.html" % silent.getsockname()[1]
        s = scenario.Scenario(limit=6, config={"fetch": {"timeout": "2s"}},
                              search_args=["--extra-result", "{site}/missing-page.html",
                                           "--extra-result", silent_url]).start()
        try:
            s.missing = s.nginx.base + "/missing-page.html"
            s.silent = silent_url
            s.silent_sock = silent
            d = s.daemon()
            test_missing_and_silent_sources(s, d)
            assert d.alive(), "daemon died:\n" + d.log()[-3000:]
        finally:
            s.stop()
        assert s.daemon_rc == 0, "researchd exited with %s on SIGTERM" % s.daemon_rc
    finally:
        silent.close()


def test_cancel(s, d):
    q = s.question(4)
    jid = scenario.submit(d, q["question"])
    # Cancel while reads are in service (each model reply takes 400 ms).
    d.wait_for(lambda: any(r["schema"] == "read" for r in model_log(s, q["question"])) or
               None, 30, "a first read request")
    time.sleep(0.2)
    t_cancel = time.time()
    r = d.request({"op": "cancel", "job": jid})
    assert r["ok"], r
    t_replied = time.time()     # the daemon had the cancel by then
    j = scenario.wait_end(d, [jid], 30)[jid]
    assert j["state"] == "cancelled", j
    time.sleep(1.0)     # the server's log line of an aborted request
    log = model_log(s, q["question"])
    late = [r for r in log if r["t_start"] > t_replied]
    assert late == [], "requests after the cancel: %s" % late
    open_at_cancel = [r for r in log if r["t_start"] < t_cancel and r.get("t_end", 1e18) > t_cancel]
    assert open_at_cancel, "nothing was in flight at the cancel: the case did not happen"
    assert all(r["outcome"] == "aborted" for r in open_at_cancel), open_at_cancel
    assert [r for r in log if r["outcome"] == "served" and r["t_end"] > t_replied] == [], log


def test_pause_resume(s, d):
    q = s.question(5)
    # Jobs asking the same thing at the same time share their requests in
    # flight: run the uninterrupted one first.
    a = scenario.submit(d, q["question"])
    ra = ended_done(d, a)
    before = len(model_log(s, q["question"]))
    b = scenario.submit(d, q["question"])
    d.wait_for(lambda: len(model_log(s, q["question"])) >= before + 2 or None, 30,
               "job b's first requests")
    r = d.request({"op": "pause", "job": b})
    assert r["ok"], r
    d.wait_state(b, "paused", 30)
    time.sleep(0.5)     # what was in flight at the pause is aborted by now
    n = len(model_log(s, q["question"]))
    time.sleep(1.0)
    assert d.job(b)["state"] == "paused", d.job(b)
    assert len(model_log(s, q["question"])) == n, "requests while paused"
    r = d.request({"op": "resume", "job": b})
    assert r["ok"], r
    rb = ended_done(d, b)
    assert len(model_log(s, q["question"])) > n, "job b did nothing after its resume"
    assert scenario.mask(ra) == scenario.mask(rb), "\n%s\n----\n%s" % (ra, rb)
    # Job a asked the same as job b; within job b nothing answered before
    # the pause was asked again after the resume.
    served_b = [r["sha256"] for r in model_log(s, q["question"])[before:] if r["outcome"] == "served"]
    assert len(served_b) == len(set(served_b)), "job b had a request answered twice"
    assert s.model.violations() == []


def test_two_jobs(s, d):
    a = scenario.submit(d, s.question(3)["question"])
    b = scenario.submit(d, s.question(4)["question"])
    jobs = scenario.wait_end(d, [a, b], 60)
    assert [j["state"] for j in jobs.values()] == ["done", "done"], jobs
    log = s.model.requests()
    served = [(r["t_slot"], r["t_end"]) for r in log if r["outcome"] == "served"]
    sent = [(r["t_start"], r["t_end"]) for r in log if "t_end" in r]
    assert max_overlap(served) <= 2, "more than 2 requests in service at once"
    assert max_overlap(served) == 2, "the two jobs never used both slots at once"
    # The daemon's pool knows the server has 2 slots: it never queues a
    # third request at the server.
    assert max_overlap(sent) <= 2, "the daemon had %d requests open at a 2-slot server" % (
        max_overlap(sent))
    assert s.model.violations() == [] and s.model.answered_twice() == {}


def test_one_job_uses_both_slots(s, d):
    # A job's reads are one batch: on a 2-slot server two run at once
    # (the daemon's HTTP client once held each request to a host until the
    # previous one's response headers came).
    q = s.question(0)
    ended_done(d, scenario.submit(d, q["question"]))
    reads = [(r["t_slot"], r["t_end"]) for r in model_log(s, q["question"])
             if r["schema"] == "read" and r["outcome"] == "served"]
    assert len(reads) >= 2, reads
    assert max_overlap(reads) == 2, "the job's reads were served one at a time"


TESTS = [with_scenario(test_invented_quotes, model_args=["--invent-quotes"]),
         with_scenario(test_stuck_gaps, model_args=["--stuck-gaps"]),
         with_scenario(test_budgets),
         missing_and_silent,
         with_scenario(test_cancel, model_args=["--delay-ms", "400"]),
         with_scenario(test_pause_resume, model_args=["--delay-ms", "300"]),
         with_scenario(test_two_jobs, model_args=["--delay-ms", "100"]),
         with_scenario(test_one_job_uses_both_slots, model_args=["--delay-ms", "200"])]


if __name__ == "__main__":
    if not os.path.isdir(scenario.QA_DIR):
        scenario.skip("the QA set is not at %s (../shared absent)" % scenario.QA_DIR)
    harness.run(TESTS)
