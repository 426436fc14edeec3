#!/usr/bin/env python3
"""The research loop over the QA set: twelve questions as parallel jobs in
one daemon against the scripted model server. Each job must end done with
a report whose references are the question's gold paragraphs and were
fetched (nginx's access log and `research sources ID` agree), quoting only
what the prompts showed (the model server logs no violation)."""
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenario  # noqa: E402

N = 12
MIN_QUOTE_WORDS, MIN_QUOTE_CHARS = 8, 40     # the contract's shortest quote


def quotable(sentence):
    return len(sentence.split()) >= MIN_QUOTE_WORDS or len(sentence) >= MIN_QUOTE_CHARS


def main():
    s = scenario.Scenario(model_args=["--slots", "2"], limit=N,
                          config={"server": {"max_jobs": str(N)}}).start()
    failures = []
    try:
        d = s.daemon()
        qs = [s.question(i) for i in range(N)]
        jids = [scenario.submit(d, q["question"]) for q in qs]
        jobs = scenario.wait_end(d, jids, timeout=180)
        fetched = {(uri, st) for _, uri, st in s.nginx.requests()}
        gold_cited = gold_quotable = 0
        for q, jid in zip(qs, jids):
            what = "job %d (%s)" % (jid, q["question"])
            try:
                assert jobs[jid]["state"] == "done", (jobs[jid], d.log()[-3000:])
                text = scenario.report(d, jid)
                refs = scenario.references(text)
                gold = {s.nginx.url(g["title"]): g for g in q["gold"]}
                assert refs, "no references:\n" + text
                assert scenario.cited(text) == set(refs), "cited %s, listed %s\n%s" % (
                    sorted(scenario.cited(text)), sorted(refs), text)
                srcs = {u: st for st, u in scenario.sources(d, jid)}
                for n, url in refs.items():
                    assert url in gold, "[%d] %s is not a gold paragraph of %s\n%s" % (
                        n, url, sorted(gold), text)
                    assert (urllib.parse.urlsplit(url).path, 200) in fetched, \
                        "[%d] %s cited but nginx never served it" % (n, url)
                    assert srcs.get(url) == "200", "[%d] %s not among the job's sources %s" % (
                        n, url, srcs)
                # Every gold page the model could quote from (one quotable
                # support sentence) and that the job fetched is cited.
                for url, g in gold.items():
                    if srcs.get(url) == "200" and any(quotable(x) for x in g["support"]):
                        gold_quotable += 1
                        gold_cited += url in refs.values()
                        assert url in refs.values(), "gold %s fetched and quotable, not cited\n%s" % (
                            url, text)
                assert ("The answer is %s [" % q["answer"]) in text, text
                assert "quote not found in the source: 0;" in scenario.limits(text), text
            except AssertionError as e:
                failures.append("%s: %s" % (what, e))
        assert s.model.violations() == [], s.model.violations()
        assert s.model.answered_twice() == {}, s.model.answered_twice()
        print("%d jobs, %d done; gold pages cited %d of %d quotable and fetched; "
              "%d model requests, %d pages fetched" % (
                  N, sum(j["state"] == "done" for j in jobs.values()), gold_cited, gold_quotable,
                  len(s.model.requests()), len(s.nginx.requests())))
    finally:
        s.stop()
    for f in failures:
        print("FAIL " + f)
    assert not failures, "%d of %d jobs failed" % (len(failures), N)
    assert s.daemon_rc == 0, "researchd exited with %s on SIGTERM" % s.daemon_rc
    print("ok")


if __name__ == "__main__":
    main()
