#!/usr/bin/env python3
"""The verifier pass through the daemon, with the scripted model server:
sentences the model judges unsupported are rewritten from the evidence
once, judged again and removed when still unsupported, and the report's
figures say so; with the verifier's endpoint down the job still ends and
says the verifier did not run; --no-verifier skips it.

Needs ../shared's QA set and nginx (exit 77 without them, as scenario.py
does); RESEARCHD and RESEARCH name the programs (meson sets them)."""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenario  # noqa: E402
import web  # noqa: E402

QUESTION = 2   # HotpotQA's third question: two gold paragraphs, two sections


def run(model_args=(), config=None, cli_args=()):
    """(report, model requests) of one job."""
    s = scenario.Scenario(model_args=list(model_args), limit=QUESTION + 1).start()
    try:
        if config:
            s.config_text = web.researchd_config(s.search.url, s.model.url, config)
        d = s.daemon()
        q = s.question(QUESTION)
        r = d.cli("submit", *cli_args, q["question"])
        assert r.returncode == 0, r
        jid = int(r.stdout.strip())
        d.wait_state(jid, ["done", "failed", "cancelled"], timeout=180)
        assert d.job(jid)["state"] == "done", d.job(jid)
        report = d.cli("report", str(jid)).stdout
        assert s.model.violations() == [], s.model.violations()
        reqs = s.model.requests()
    finally:
        s.stop()
    # The daemon stops cleanly on SIGTERM (under ASan: without a leak).
    assert s.daemon_rc == 0, "researchd exited with %r" % s.daemon_rc
    return report, reqs


def schemas(requests):
    return [r.get("schema") for r in requests if r.get("outcome") != "bad"]


def section(report, heading):
    m = re.search(r"^## %s\n\n(.*?)\n\n" % re.escape(heading), report, re.M | re.S)
    return m.group(1) if m else None


def test_all_supported():
    report, reqs = run()
    # Three sentences pass the quote check (the short answer and one per
    # section); all are judged supported, nothing is rewritten.
    assert ("- Verifier pass: sentences judged supported 3/3 (partly 0), rewritten 0, "
            "removed 0.\n") in report, report
    assert schemas(reqs).count("judge") == 3, schemas(reqs)
    assert "rewrite" not in schemas(reqs)


def test_rewritten():
    # The short answer ("The answer is Latin.") is judged unsupported; its
    # rewrite is the claim of the finding it cites first, which the second
    # judgement finds supported.
    report, reqs = run(model_args=["--unsupported", "The answer is"])
    short = section(report, "Short answer")
    assert short is not None and short.startswith("According to "), report
    assert "The answer is" not in report, report
    assert ("- Verifier pass: sentences judged supported 3/3 (partly 0), rewritten 1, "
            "removed 0.\n") in report, report
    assert schemas(reqs).count("rewrite") == 1, schemas(reqs)


def test_removed():
    # The section sentences ("According to ...") stay unsupported after
    # their rewrite (still "According to ..."): both are removed, and with
    # them the sections; the short answer stays.
    report, reqs = run(model_args=["--unsupported", "According to"])
    assert "## Haymo of Faversham" not in report, report
    assert "## Recovery of Aristotle" not in report, report
    assert section(report, "Short answer").startswith("The answer is Latin"), report
    assert ("- Verifier pass: sentences judged supported 1/3 (partly 0), rewritten 2, "
            "removed 2.\n") in report, report


def test_verifier_down():
    port = web.free_port()   # nothing listens there
    report, reqs = run(config={"llm": {"verifier_url": "http://127.0.0.1:%d/v1" % port}})
    assert ("- Verifier pass: did not run (its model endpoint gave no answer); only the "
            "quote check above applies.\n") in report, report
    # The deterministic check alone: the sentences are all there.
    assert "## Haymo of Faversham" in report and "## Recovery of Aristotle" in report, report
    assert "judge" not in schemas(reqs)


def test_no_verifier():
    report, reqs = run(cli_args=["--no-verifier"])
    assert "- Verifier pass: skipped (the job was submitted with --no-verifier).\n" in report, report
    assert "judge" not in schemas(reqs) and "rewrite" not in schemas(reqs), schemas(reqs)


def main():
    tests = [test_all_supported, test_rewritten, test_removed, test_verifier_down,
             test_no_verifier]
    for t in tests:
        t()
        print("ok   %s" % t.__name__)
    print("%d passed, 0 failed" % len(tests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
