#!/usr/bin/env python3
"""A research job whose only search backend is the local index works fully
offline: the user's documents (research index DIR) are its sources, never
fetched (the web server sees no request), their text is stored as their
snapshot, and the report cites them by file:// URL.

Needs ../shared's QA set and nginx (exit 77 without them, as scenario.py
does); RESEARCHD and RESEARCH name the programs (meson sets them)."""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenario  # noqa: E402
import web  # noqa: E402

QUESTIONS = 3


def main():
    s = scenario.Scenario(limit=QUESTIONS).start()
    try:
        s.config_text = web.researchd_config(s.search.url, s.model.url,
                                             {"search": {"backends": "local"}})
        d = s.daemon()
        docs = os.path.join(s.dir, "docs")
        os.makedirs(docs)
        paths = {}
        for c in s.data["corpus"]:
            path = os.path.join(docs, web.slug(c["title"]) + ".md")
            with open(path, "w", encoding="utf-8") as f:
                f.write("# %s\n\n%s\n" % (c["title"], c["text"]))
            paths[c["title"]] = "file://" + path
        r = d.cli("index", docs)
        assert r.returncode == 0, r
        ids = []
        for i in range(QUESTIONS):
            q = s.question(i)
            # No fetch budget at all: local documents are never fetched.
            rep = d.request({"v": 1, "id": i + 1, "op": "submit", "question": q["question"],
                             "kind": "research", "options": {"max_fetches": 0}})
            assert rep["ok"], rep
            ids.append(rep["job"]["id"])
        ok = 0
        for i, jid in enumerate(ids):
            q = s.question(i)
            d.wait_state(jid, ["done", "failed", "cancelled"], timeout=180)
            assert d.job(jid)["state"] == "done", d.job(jid)
            report = d.cli("report", str(jid)).stdout
            refs = re.findall(r"^\[(\d+)\] .*<([^>]+)>", report, re.M)
            assert refs, report
            gold = {paths[g["title"]] for g in q["gold"]}
            for n, url in refs:
                # Every reference is a local document, one of the gold ones.
                assert url.startswith("file://"), (url, report)
                assert url in gold, (url, gold)
            assert re.search(r"Budgets used: \d+ of \d+ tokens; 0 of 0 fetches", report), report
            assert "fetch budget" not in report, report
            ok += 1
        # Offline: nothing was asked of the web server.
        assert sum(s.nginx.counts().values()) == 0, s.nginx.counts()
        assert s.model.violations() == [], s.model.violations()
    finally:
        s.stop()
    # The daemon stops cleanly on SIGTERM (under ASan: without a leak).
    assert s.daemon_rc == 0, "researchd exited with %r" % s.daemon_rc
    print("ok: %d local-only jobs done, citing only gold local documents" % ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
