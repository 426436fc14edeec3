#!/usr/bin/env python3
"""research followup: a job that builds on a done one. The follow-up
fetches none of the pages its parent has fresh (nginx's access log), makes
no read call for a (source, sub-question) pair its parent read (the
scripted model server's log), cites the parent's sources where they answer
it, and says whose follow-up it is. A follow-up of a job not done is
refused with a sentence saying so; of another user's job, as not_found.
Once the source cache no longer holds the parent's pages fresh, a new
follow-up fetches and reads them again, while one that started when they
were fresh keeps its judgement across a pause and a daemon restart.

The follow-up question is made here from two of the QA set's questions:
its sub-questions are the parent's last gold title (which the parent read)
and another question's first gold title (which it did not), so the model
server answers it from the same data.

Needs ../shared's QA set and nginx (exit 77 without them); RESEARCHD and
RESEARCH name the programs (meson sets them)."""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qa  # noqa: E402
import scenario  # noqa: E402
import web  # noqa: E402

NOBODY = 65534
PICK = {}


def with_followup(data):
    """The QA data plus a question over the gold of questions 0 and 1."""
    q0, q1 = data["questions"][0], data["questions"][1]
    b, c = q0["gold"][-1], q1["gold"][0]
    assert b["title"] not in {g["title"] for g in q1["gold"]}, "the two questions share a page"
    fq = {"id": "followup", "question": "What do %s and %s have in common?" % (b["title"], c["title"]),
          "answer": "both are named in the research", "subquestions": [b["title"], c["title"]],
          "gold": [b, c]}
    data["questions"].append(fq)
    PICK.update(parent=q0, followup=fq, shared=b["title"], new=c["title"])
    return data


def settled_counts(nginx):
    """nginx logs a request just after answering it: read until stable."""
    last = None
    for _ in range(20):
        c = nginx.counts()
        if c == last:
            return c
        last = c
        time.sleep(0.25)
    return last


def read_pairs(model, question, since=0):
    return [(r.get("source"), r.get("subquestion")) for r in model.requests()
            if r.get("schema") == "read" and r.get("outcome") == "served"
            and r.get("question") == question and r["seq"] >= since]


def report_data(d, jid):
    rep = d.request({"v": 1, "id": 9, "op": "report", "job": jid, "format": "json"})
    assert rep["ok"], rep
    return json.loads(rep["report"]["body"])


def main():
    convert = qa.convert
    qa.convert = lambda d, limit=None: with_followup(convert(d, limit))
    s = scenario.Scenario(limit=4, config={"server": {"socket_group": "nogroup"}}).start()
    try:
        d = s.daemon()
        parent_q, fq = PICK["parent"], PICK["followup"]
        rep = d.request({"v": 1, "id": 1, "op": "submit", "question": parent_q["question"],
                         "options": {"max_depth": 1}})
        assert rep["ok"], rep
        pid = rep["job"]["id"]
        d.wait_state(pid, ["done", "failed", "cancelled"], timeout=180)
        assert d.job(pid)["state"] == "done", d.job(pid)
        before = settled_counts(s.nginx)
        parent_reads = set(read_pairs(s.model, parent_q["question"]))
        shared_url = s.nginx.url(PICK["shared"])
        # The fixture does what the test needs: the parent fetched the
        # shared page and read it for the sub-question of that name.
        assert before.get(s.nginx.paths[PICK["shared"]], 0) >= 1, before
        assert (PICK["shared"], PICK["shared"]) in parent_reads, parent_reads
        parent_report = d.cli("report", str(pid)).stdout
        parent_data = report_data(d, pid)
        assert "<%s>" % shared_url in parent_report, parent_report

        # Refused: a job that is not done, and another user's job.
        rep = d.request({"v": 1, "id": 2, "op": "submit", "question": "still going",
                         "options": {"max_depth": 1}})
        assert rep["ok"], rep
        busy = rep["job"]["id"]
        r = d.cli("pause", str(busy))
        assert r.returncode == 0, r
        r = d.cli("followup", str(busy), "and then?")
        assert r.returncode == 1, r
        assert "job %d is paused: only a job that is done can be followed up" % busy in r.stderr, r
        r = d.cli("cancel", str(busy))
        assert r.returncode == 0, r
        r = d.cli("followup", str(busy), "and then?")
        assert r.returncode == 1 and "is cancelled" in r.stderr, r
        rep = d.request({"v": 1, "id": 3, "op": "submit", "question": "x",
                         "options": {"parent": "one"}})
        assert not rep["ok"] and rep["error"]["code"] == "bad_request", rep
        rep = d.request({"v": 1, "id": 4, "op": "submit", "question": "x",
                         "options": {"parent": 999999}})
        assert not rep["ok"] and rep["error"]["code"] == "not_found", rep
        if os.geteuid() == 0:
            r = d.cli("--json", "followup", str(pid), "what else?", user=NOBODY)
            assert r.returncode == 1, r
            err = json.loads(r.stdout)["error"]
            assert err["code"] == "not_found" and err["message"] == "no job %d to follow up" % pid, r
        else:
            print("note: not root, the other-user refusal is not exercised")
        r = d.cli("followup", str(pid))
        assert r.returncode == 2 and "missing QUESTION" in r.stderr, r

        # The follow-up itself.
        r = d.cli("followup", str(pid), "--options", '{"max_depth": 1}', fq["question"])
        assert r.returncode == 0, r
        cid = int(r.stdout)
        job = d.job(cid)
        assert job["options"]["parent"] == pid, job
        d.wait_state(cid, ["done", "failed", "cancelled"], timeout=180)
        assert d.job(cid)["state"] == "done", d.job(cid)
        after = settled_counts(s.nginx)
        report = d.cli("report", str(cid)).stdout
        data = report_data(d, cid)

        # 1. Nothing the parent fetched was fetched again; the new page was.
        again = {u: after[u] - n for u, n in before.items() if after.get(u, 0) != n}
        assert again == {}, again
        new_path = s.nginx.paths[PICK["new"]]
        assert after.get(new_path, 0) > before.get(new_path, 0), (new_path, after)

        # 2. No read call for a pair the parent read; the new sub-question
        #    was read, and the shared one not at all (its pages are the
        #    parent's, read for it already).
        child_reads = read_pairs(s.model, fq["question"])
        assert child_reads, "the follow-up read nothing"
        assert set(child_reads) & parent_reads == set(), set(child_reads) & parent_reads
        assert (PICK["new"], PICK["new"]) in child_reads, child_reads
        assert all(sq != PICK["shared"] for _, sq in child_reads), child_reads

        # 3. The report links the parent and cites its source for the
        #    shared sub-question, verified, next to the new page.
        head = "\n".join(report.split("\n")[:8])
        # Every parent source with text, every verified parent finding.
        n_src = sum(1 for x in parent_data["sources"] if x.get("text_hash"))
        n_f = sum(1 for f in parent_data["findings"] if f["verified"])
        assert n_src > 0 and n_f > 0, parent_data
        assert re.search(r"^\*\*Follow-up to job %d:\*\* %s \(%d of its sources and %d of its "
                         r"verified findings are used here\.\)$"
                         % (pid, re.escape(parent_q["question"]), n_src, n_f), head, re.M), head
        refs = dict((url, int(n)) for n, url in re.findall(r"^\[(\d+)\] .*<([^>]+)>", report, re.M))
        assert shared_url in refs, (shared_url, report)
        assert s.nginx.url(PICK["new"]) in refs, report
        m = re.search(r"Citations verified: (\d+)/(\d+)", report)
        assert m and m.group(1) == m.group(2) and int(m.group(2)) > 0, report
        assert data["parent"] == pid, data.get("parent")
        shared_src = [x for x in data["sources"] if x["url"] == shared_url]
        assert len(shared_src) == 1 and shared_src[0]["cite"] > 0, shared_src
        by_id = {q["id"]: q for q in data["questions"]}
        shared_f = [f for f in data["findings"] if f["source"] == shared_src[0]["id"] and f["verified"]]
        # The parent's findings on it count for the follow-up's own
        # sub-question of that name.
        assert shared_f and all(by_id[f["question"]]["text"] == PICK["shared"] for f in shared_f), \
            (shared_f, by_id)
        assert any(q.get("parent") for q in data["questions"]), data["questions"]
        assert [PICK["shared"], shared_url] in data["reads"], data["reads"]

        # A figure, not a check: the same question as a fresh job.
        rep = d.request({"v": 1, "id": 6, "op": "submit", "question": fq["question"],
                         "options": {"max_depth": 1}})
        assert rep["ok"], rep
        fid = rep["job"]["id"]
        seq_f = max((r["seq"] for r in s.model.requests()), default=-1) + 1
        d.wait_state(fid, ["done", "failed", "cancelled"], timeout=180)
        fresh = d.cli("report", str(fid)).stdout
        figures = {}
        for name, text, reads in (("follow-up", report, len(child_reads)),
                                  ("fresh job", fresh, len(read_pairs(s.model, fq["question"], seq_f)))):
            m1 = re.search(r"(\d+) of \d+ fetches", text)
            m2 = re.search(r"Budgets used: (\d+) of", text)
            m3 = re.search(r"; (\d+) calls, \d+ failed", text)
            figures[name] = "%s read calls, %s fetches, %s model calls, %s tokens" % (
                reads, m1 and m1.group(1), m3 and m3.group(1), m2 and m2.group(1))

        # 4. Once the cache no longer holds the parent's pages fresh
        #    ([fetch] cache_ttl), a follow-up fetches and reads them again;
        #    one that judged them fresh when it started keeps that judgement
        #    across a pause and a restart. The fetcher takes [fetch] changes
        #    at a restart.
        r = d.cli("followup", str(pid), "--options", '{"max_depth": 1}', fq["question"])
        assert r.returncode == 0, r
        xid = int(r.stdout)
        r = d.cli("pause", str(xid))
        assert r.returncode == 0, r
        d.wait_state(xid, ["paused"])
        started = d.job(xid)["started"] is not None
        rc = d.stop()
        leaks = [b[:1500] for b in d.log().split("\n\n") if "Direct leak" in b or "ERROR" in b]
        assert rc == 0, (rc, leaks)
        d.write_config(web.researchd_config(s.search.url, s.model.url, {
            "server": {"socket_group": "nogroup"}, "fetch": {"cache_ttl": "1s"}}))
        time.sleep(1.2)
        d.start()
        r = d.cli("resume", str(xid))
        assert r.returncode == 0, r
        d.wait_state(xid, ["done", "failed", "cancelled"], timeout=180)
        assert d.job(xid)["state"] == "done", d.job(xid)
        resumed = d.cli("report", str(xid)).stdout
        if started:
            # Judged fresh at its start: still the parent's text, unfetched.
            assert re.search(r"\(%d of its sources and %d of its verified findings are used "
                             r"here\.\)$" % (n_src, n_f), resumed, re.M), resumed
            c = settled_counts(s.nginx)
            assert c.get(s.nginx.paths[PICK["shared"]]) == after[s.nginx.paths[PICK["shared"]]], c
            after = c
        else:
            print("note: job %d was paused before it started; the kept judgement is not exercised" % xid)
        seq0 = max((r["seq"] for r in s.model.requests()), default=-1) + 1
        r = d.cli("followup", str(pid), "--options", '{"max_depth": 1}', fq["question"])
        assert r.returncode == 0, r
        sid = int(r.stdout)
        d.wait_state(sid, ["done", "failed", "cancelled"], timeout=180)
        assert d.job(sid)["state"] == "done", d.job(sid)
        stale = settled_counts(s.nginx)
        shared_path = s.nginx.paths[PICK["shared"]]
        assert stale.get(shared_path, 0) > after[shared_path], (shared_path, stale, after)
        stale_reads = read_pairs(s.model, fq["question"], seq0)
        assert (PICK["shared"], PICK["shared"]) in stale_reads, stale_reads
        report2 = d.cli("report", str(sid)).stdout
        assert re.search(r"^\*\*Follow-up to job %d:\*\* .* \(0 of its sources and 0 of its "
                         r"verified findings are used here\.\)$" % pid, report2, re.M), report2
        assert "<%s>" % shared_url in report2, report2

        assert s.model.violations() == [], s.model.violations()
        print("ok: follow-up %d of %d: %d read calls (parent %d), no page fetched again, "
              "%d references; with the cache stale, follow-up %d fetched the shared page again"
              % (cid, pid, len(child_reads), len(parent_reads), len(refs), sid))
        for k, v in figures.items():
            print("figure: %s: %s" % (k, v))
    finally:
        if os.environ.get("DBG"):
            print(d.cli("report", str(cid)).stdout)
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
