#!/usr/bin/env python3
"""Crash test: a research job whose daemon is killed with SIGKILL at 20
seeded random moments (restarted each time on the same state directory,
the fixture servers kept up so their ports stay the same) ends with the
report of an uninterrupted run, dates masked; the scripted model server
answered no request twice except those in flight at a kill."""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenario  # noqa: E402
import harness  # noqa: E402  (scenario put tests/integration on the path)

SEED = int(os.environ.get("SCENARIO_SEED", "20261203"))
KILLS = 20
QUESTION = 0
# A kill this long after a reply's last byte may still find the daemon
# storing that reply: such a request counts as in flight.
COMMIT_SLACK = 0.3


def main():
    rnd = random.Random(SEED)
    s = scenario.Scenario(model_args=["--slots", "2", "--delay-ms", "200"], limit=4).start()
    ref = None
    try:
        q = s.question(QUESTION)
        d = s.daemon()
        t_begin = time.time()
        jid = scenario.submit(d, q["question"])
        kills = []
        while len(kills) < KILLS:
            time.sleep(rnd.uniform(0.05, 0.6))
            if d.job(jid)["state"] in scenario.TERMINAL:
                break
            kills.append(time.time())
            d.kill9()
            d.start()
        jobs = scenario.wait_end(d, [jid], 120)
        t_end = time.time()
        assert jobs[jid]["state"] == "done", (jobs, d.log()[-3000:])
        got = scenario.report(d, jid)
        log = [r for r in s.model.requests() if t_begin <= r["t_start"] <= t_end]
        # The same job on a daemon of its own, never killed.
        ref = harness.Daemon(s.config_text)
        ref.start()
        rid = scenario.submit(ref, q["question"])
        assert scenario.wait_end(ref, [rid], 60)[rid]["state"] == "done"
        want = scenario.report(ref, rid)
        print("seed %d: %d kills over %.1f s; the job made %d model requests (%d served), "
              "the uninterrupted run %d" % (
                  SEED, len(kills), t_end - t_begin, len(log),
                  sum(r["outcome"] == "served" for r in log),
                  len([r for r in s.model.requests() if r["t_start"] > t_end])))
        assert len(kills) >= KILLS // 2, "the job ended after only %d kills" % len(kills)
        assert scenario.mask(got) == scenario.mask(want), "\n%s\n---- uninterrupted:\n%s" % (
            got, want)
        twice = {}
        for r in log:
            if r["outcome"] == "served":
                twice.setdefault(r["sha256"], []).append(r)
        bad = []
        for h, rs in twice.items():
            for r in rs[:-1]:
                # An earlier answer of a body asked again must have been in
                # flight at a kill: started before it, ended just before.
                if not any(r["t_start"] < k and r["t_end"] > k - COMMIT_SLACK for k in kills):
                    bad.append((h[:12], r["schema"], r["t_start"], r["t_end"]))
        n_again = sum(len(rs) - 1 for rs in twice.values())
        print("bodies served again after a kill: %d (all in flight at a kill: %s)" % (
            n_again, not bad))
        assert not bad, "answered twice, not in flight at any kill %s: %s" % (kills, bad)
        assert s.model.violations() == []
    finally:
        if ref is not None:
            ref.cleanup()
        s.stop()
    assert s.daemon_rc == 0, "researchd exited with %s on SIGTERM" % s.daemon_rc
    print("ok")


if __name__ == "__main__":
    main()
