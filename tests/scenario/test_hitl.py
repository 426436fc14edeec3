#!/usr/bin/env python3
"""A person in the loop of a research job, end to end against the scenario
fixtures (the scripted model asks 2 clarifying questions, --clarify 2):

- clarify -> answer: the job waits (state waiting, waiting_for answer, in
  list and status; resume refused), the answers reach the brief's prompt
  and the report's "Method and limits";
- clarify -> timeout: the job goes on by itself, the report states its
  assumptions;
- review-plan -> edited plan: a removed sub-question is never searched
  for, an added one is, and a gap that reflection adds is marked;
- kill -9 while waiting for an answer and for an approval: after the
  restart both wait again and no model request is answered twice;
- cancel and finish work on a waiting job.

Needs ../shared's QA set and nginx (exit 77 without them); RESEARCHD and
RESEARCH name the programs (meson sets them)."""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenario  # noqa: E402

DONE = ["done", "failed", "cancelled"]


def submit(d, q, **opts):
    r = d.request({"v": 1, "op": "submit", "question": q, "kind": "research", "options": opts})
    assert r["ok"], r
    return r["job"]["id"]


def served(s, schema=None):
    return [r for r in s.model.requests()
            if r["outcome"] == "served" and (schema is None or r["schema"] == schema)]


def brief_prompt(s, question):
    got = [r["user"] for r in served(s, "brief") if r.get("question") == question]
    assert len(got) == 1, (question, got)
    return got[0]


def method(report):
    m = re.search(r"^## Method and limits\n(.*?)^## References", report, re.S | re.M)
    assert m, report
    return m.group(1)


def report(d, jid):
    job = d.wait_state(jid, DONE, timeout=240)
    assert job["state"] == "done", job
    r = d.cli("report", str(jid))
    assert r.returncode == 0, r
    return r.stdout


def test_answer(s, d):
    q = s.question(0)["question"]
    jid = submit(d, q, interactive=True, max_depth=1)
    job = d.wait_state(jid, "waiting", timeout=60)
    assert job["waiting_for"] == "answer", job
    lst = d.cli("list").stdout
    assert re.search(r"^\s*%d\s+waiting:answer\s" % jid, lst, re.M), lst
    st = d.cli("status", str(jid)).stdout
    assert "state: waiting\n" in st and "waiting_for: answer\n" in st, st
    r = d.cli("resume", str(jid))
    assert r.returncode != 0 and "waiting for an answer" in r.stderr, r
    r = d.cli("pause", str(jid))
    assert r.returncode != 0 and "waiting for an answer" in r.stderr, r
    # Approving is not what it waits for.
    r = d.cli("approve", str(jid))
    assert r.returncode != 0 and "not waiting for its plan" in r.stderr, r
    # Nothing was researched yet: one clarify call, no brief.
    assert [r.get("question") for r in served(s, "brief")].count(q) == 0
    with d.connect() as c:
        msgs = c.stream({"v": 1, "op": "watch", "job": jid, "since": 0, "follow": False})
    ev = [json.dumps(m) for m in msgs if m.get("event", {}).get("type") == "waiting"]
    assert ev and "Clarifying question 1" in ev[0] and "Clarifying question 2" in ev[0], msgs
    r = d.cli("answer", str(jid))      # no text: the questions
    assert r.returncode == 0 and re.search(r"^1\. Clarifying question 1: .*\n2\. Clarifying question 2",
                                           r.stdout, re.M), r
    r = d.cli("plan", str(jid))
    assert r.returncode == 1 and "no plan yet" in r.stderr, r
    a1, a2 = "Only the mythology of Mesopotamia counts", "Cite primary sources where possible"
    r = d.cli("answer", str(jid), a1, a2)
    assert r.returncode == 0, r
    rep = report(d, jid)
    prompt = brief_prompt(s, q)
    assert "ANSWER: %s" % a1 in prompt and "ANSWER: %s" % a2 in prompt, prompt
    assert "ASKED: Clarifying question 1" in prompt, prompt
    m = method(rep)
    assert "Answer: %s" % a1 in m and "Answer: %s" % a2 in m, m
    assert "Assumptions" not in m, m
    # Answering again: the job does not wait any more.
    r = d.cli("answer", str(jid), "late")
    assert r.returncode != 0, r
    print("ok: clarify -> answer -> the brief and the report carry the answers")


def test_timeout(s, d):
    q = s.question(1)["question"]
    jid = submit(d, q, interactive=True, max_depth=1, answer_timeout=2)
    job = d.wait_state(jid, "waiting", timeout=60)
    assert job["waiting_for"] == "answer", job
    rep = report(d, jid)
    m = method(rep)
    assert "Assumptions: the clarifying questions were not answered (no answer came within 2 s)" \
        in m, m
    assert "Unanswered: Clarifying question 1" in m, m
    prompt = brief_prompt(s, q)
    assert "did not answer" in prompt and "ANSWER:" not in prompt, prompt
    print("ok: clarify -> timeout -> the report states its assumptions")


def test_review(s, d):
    qd = s.question(2)
    q = qd["question"]
    removed, kept = qd["subquestions"]
    added = s.question(7)["subquestions"][1]    # question 7 is never submitted
    jid = submit(d, q, review_plan=True, max_depth=2)
    job = d.wait_state(jid, "waiting", timeout=60)
    assert job["waiting_for"] == "approval", job
    r = d.cli("plan", str(jid))
    assert r.returncode == 0, r
    assert "Q: %s\n" % removed in r.stdout and "Q: %s\n" % kept in r.stdout, r.stdout
    r = d.cli("--json", "plan", str(jid))
    assert r.returncode == 0 and '"subquestions"' in r.stdout, r
    # Before approval no search ran for this job.
    searched = [x["q"] for x in s.search.requests()]
    assert removed not in searched and kept not in searched, searched
    # The edited text: the first sub-question removed, one added.
    text = d.cli("plan", str(jid)).stdout
    lines, skip = [], False
    for line in text.split("\n"):
        if line.startswith("Q: "):
            skip = line == "Q: %s" % removed
        if not skip:
            lines.append(line)
    lines += ["Q: What is %s?" % added, "  - %s" % added]
    path = os.path.join(s.dir, "plan.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    bad = os.path.join(s.dir, "bad.txt")
    with open(bad, "w") as f:
        f.write("Q: fine\nnot a plan line\n")
    r = d.cli("approve", str(jid), "--plan", bad)
    assert r.returncode == 2 and "bad.txt:2:" in r.stderr, r
    assert d.job(jid)["state"] == "waiting"
    r = d.cli("approve", str(jid), "--plan", path)
    assert r.returncode == 0, r
    rep = report(d, jid)
    searched = [x["q"] for x in s.search.requests()]
    assert removed not in searched, searched
    assert kept in searched and added in searched, searched
    m = method(rep)
    assert "Plan review: the user edited the plan (1 sub-question removed)" in m, m
    assert "Removed by the user, not researched: %s" % removed in m, m
    assert "What is %s? (added by the user)" % added in m, m
    assert "%s (in the reviewed plan)" % kept in m, m
    # --stuck-gaps: reflection added a gap in round 1, marked as such.
    assert re.search(r"Which sources confirm .* \(a gap added by reflection after the review\)", m), m
    print("ok: review-plan -> edited plan -> removed never searched, added searched, gap marked")


def test_kill9(s, d):
    qa_, qb = s.question(3)["question"], s.question(4)["question"]
    ja = submit(d, qa_, interactive=True, max_depth=1, answer_timeout=3600)
    jb = submit(d, qb, review_plan=True, max_depth=1)
    d.wait_state(ja, "waiting", timeout=60)
    d.wait_state(jb, "waiting", timeout=60)
    before = len(served(s))
    d.kill9()
    d.start()
    assert d.wait_state(ja, "waiting", timeout=60)["waiting_for"] == "answer"
    assert d.wait_state(jb, "waiting", timeout=60)["waiting_for"] == "approval"
    # The replay asked the model nothing: every call came from the store.
    assert len(served(s)) == before, (before, len(served(s)))
    assert s.model.answered_twice() == {}, s.model.answered_twice()
    r = d.cli("answer", str(ja), "Any period")
    assert r.returncode == 0, r
    r = d.cli("approve", str(jb))
    assert r.returncode == 0, r
    assert "Answer: Any period" in method(report(d, ja))
    assert "Plan review: the user approved the plan as it was." in method(report(d, jb))
    assert s.model.answered_twice() == {}, s.model.answered_twice()
    print("ok: kill -9 while waiting -> waits again after restart, nothing repeated")


def test_cancel_finish(s, d):
    jc = submit(d, s.question(5)["question"], interactive=True, max_depth=1)
    jf = submit(d, s.question(6)["question"], interactive=True, max_depth=1)
    d.wait_state(jc, "waiting", timeout=60)
    d.wait_state(jf, "waiting", timeout=60)
    r = d.cli("cancel", str(jc))
    assert r.returncode == 0, r
    assert d.wait_state(jc, DONE, timeout=30)["state"] == "cancelled"
    r = d.cli("finish", str(jf))
    assert r.returncode == 0, r
    m = method(report(d, jf))
    assert "Assumptions: the clarifying questions were not answered (the user asked to finish" in m, m
    print("ok: cancel and finish work on a waiting job")


def test_bad_input(s, d, done_id):
    """Malformed input is answered with a clear error; the daemon lives on."""
    jid = submit(d, s.question(5)["question"], interactive=True, max_depth=1)
    d.wait_state(jid, "waiting", timeout=60)
    cases = [
        ({"op": "answer", "job": jid}, "bad_request", "give either answers or skip"),
        ({"op": "answer", "job": jid, "answers": "text"}, "bad_request", "must be an array"),
        ({"op": "answer", "job": jid, "answers": []}, "bad_request", "1 to 3 items"),
        ({"op": "answer", "job": jid, "answers": ["a", "b", "c", "d"]}, "bad_request", "1 to 3 items"),
        ({"op": "answer", "job": jid, "answers": [7]}, "bad_request", "each answer is a text"),
        ({"op": "answer", "job": jid, "answers": ["x" * 2001]}, "bad_request", "each answer is a text"),
        ({"op": "answer", "job": jid, "answers": ["a"], "skip": True}, "bad_request", "either"),
        ({"op": "approve", "job": jid, "plan": {"subquestions": []}}, "bad_state", "not waiting"),
        ({"op": "answer", "job": done_id, "answers": ["a"]}, "bad_state", "done"),
        ({"op": "approve", "job": done_id}, "bad_state", "done"),
        ({"op": "plan", "job": done_id}, "bad_state", "done"),
        ({"op": "answer", "job": 99999, "answers": ["a"]}, "not_found", "no job"),
    ]
    for req, code, words in cases:
        req["v"] = 1
        r = d.request(req)
        assert not r["ok"] and r["error"]["code"] == code and words in r["error"]["message"], (req, r)
    assert d.job(jid)["state"] == "waiting"
    # A plan that is not a plan, on a job that waits for approval.
    jp = submit(d, s.question(6)["question"], review_plan=True, max_depth=1)
    d.wait_state(jp, "waiting", timeout=60)
    for plan, words in [({"subquestions": []}, "1 to 24 sub-questions"),
                        ({"subquestions": [{"queries": ["q"]}]}, "sub-question 1: a question"),
                        ({"subquestions": [{"question": "ok", "queries": [""]}]}, "query 1"),
                        ({"subquestions": [{"question": "ok", "queries": "q"}]}, "list of at most 8"),
                        ({"other": 1}, "sub-questions")]:
        r = d.request({"v": 1, "op": "approve", "job": jp, "plan": plan})
        assert not r["ok"] and r["error"]["code"] == "bad_request" and words in r["error"]["message"], (plan, r)
    assert d.job(jp)["state"] == "waiting"
    for j in (jid, jp):
        assert d.request({"v": 1, "op": "cancel", "job": j})["ok"]
    assert d.alive()
    print("ok: bad answers and plans are refused with a clear error; the daemon lives on")


def main():
    s = scenario.Scenario(model_args=["--clarify", "2", "--stuck-gaps"], limit=8,
                          config={"server": {"max_jobs": "4"}}).start()
    try:
        d = s.daemon()
        test_answer(s, d)
        test_timeout(s, d)
        test_review(s, d)
        test_kill9(s, d)
        test_cancel_finish(s, d)
        test_bad_input(s, d, 1)
        assert s.model.violations() == [], s.model.violations()
    finally:
        s.stop()
    # A clean exit on SIGTERM (under ASan: no leak either).
    assert s.daemon_rc == 0, s.daemon_rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
