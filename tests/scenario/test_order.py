#!/usr/bin/env python3
"""Order independence: the same jobs run twice, once with the model
server answering parallel calls in arrival order and the search slow,
once with the model's completion order reversed (--reverse) and the
search fast, give byte-identical reports (dates and ports masked)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenario  # noqa: E402

QUESTIONS = (0, 6, 11)    # each reads several sources in parallel


def run(model_args, search_delay_ms):
    s = scenario.Scenario(model_args=["--slots", "2"] + model_args, limit=12,
                          search_delay_ms=search_delay_ms,
                          config={"server": {"max_jobs": str(len(QUESTIONS))}}).start()
    try:
        d = s.daemon()
        jids = [scenario.submit(d, s.question(i)["question"]) for i in QUESTIONS]
        jobs = scenario.wait_end(d, jids, 120)
        assert all(j["state"] == "done" for j in jobs.values()), jobs
        reports = [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", scenario.mask(scenario.report(d, j)))
                   for j in jids]
        log = s.model.requests()
        assert s.model.violations() == []
    finally:
        s.stop()
    return reports, log


def flipped(log):
    """Pairs of requests that arrived in one order and finished in the other."""
    served = sorted((r for r in log if r["outcome"] == "served"), key=lambda r: r["seq"])
    return sum(1 for i, a in enumerate(served) for b in served[i + 1:]
               if a["t_start"] < b["t_start"] and a["t_end"] > b["t_end"])


def main():
    a, log_a = run(["--delay-ms", "200"], 200)
    b, log_b = run(["--delay-ms", "300", "--reverse", "--slots", "4"], 0)
    fa, fb = flipped(log_a), flipped(log_b)
    print("requests finished before an earlier one: %d in run 1, %d in run 2" % (fa, fb))
    assert fb > fa, "--reverse did not flip the completion order (%d vs %d)" % (fb, fa)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, "question %d: the reports differ\n%s\n---- reversed:\n%s" % (
            QUESTIONS[i], x, y)
    print("ok: %d reports identical" % len(a))


if __name__ == "__main__":
    main()
