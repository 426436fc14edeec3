"""Durable execution on the real daemon, through selftest jobs whose steps
are real effects: each execution appends the step's name to
<state>/selftest.log, outside the database, so executions can be counted."""
import json
import signal

from harness import Daemon, daemon_test, run


def report_json(d, jid):
    r = d.request({"op": "report", "job": jid, "format": "json"})
    assert r["ok"], r
    return json.loads(r["report"]["body"])


def test_kill9_reruns_only_the_unstored_effect():
    d = Daemon()
    try:
        d.start()
        jid = d.submit_selftest([{"name": "a", "ms": 10},
                                 {"name": "b", "ms": 10, "hold_ms": 1500},
                                 {"name": "c", "ms": 10}])
        # b has run (its side effect happened) but its result is not stored
        # yet: kill -9 right there
        d.wait_for(lambda: d.selftest_log() == ["a", "b"], what="steps a and b to run")
        d.kill9()
        assert d.selftest_log() == ["a", "b"]
        # restart: a replays from the store, only b runs again, then c
        d.start()
        d.wait_for(lambda: d.selftest_log() == ["a", "b", "b"], what="b to run again")
        assert d.job(jid)["state"] == "running"
        stats = d.request({"op": "stats"})["stats"]
        assert stats["effects"]["replayed"] == 1, stats   # a, from the store
        assert stats["effects"]["run"] == 1, stats        # b, in flight again
        d.wait_state(jid, "done")
        assert d.selftest_log() == ["a", "b", "b", "c"]
        rep = report_json(d, jid)
        assert [s["replayed"] for s in rep["steps"]] == [True, False, False], rep
    finally:
        d.cleanup()


def test_results_survive_restart():
    d = Daemon()
    try:
        d.start()
        jid = d.submit_selftest([{"name": "p", "ms": 10}, {"name": "q", "ms": 10}])
        d.wait_state(jid, "done")
        before = report_json(d, jid)
        assert [s["replayed"] for s in before["steps"]] == [False, False]
        assert d.stop() == 0
        d.start()
        assert d.job(jid)["state"] == "done"
        assert report_json(d, jid) == before
        assert d.selftest_log() == ["p", "q"]
    finally:
        d.cleanup()


def test_sigterm_mid_job_resumes_with_replay():
    d = Daemon()
    try:
        d.start()
        jid = d.submit_selftest([{"name": "s1", "ms": 10},
                                 {"name": "s2", "ms": 10},
                                 {"name": "s3", "ms": 1000},
                                 {"name": "s4", "ms": 10}])
        d.wait_for(lambda: d.selftest_log() == ["s1", "s2", "s3"], what="s3 to start")
        # SIGTERM while s3 is in flight: it gets the grace period to finish
        # and store its result; s4 is not started; the job goes back to the
        # queue
        assert d.stop() == 0
        assert "stopping" in d.log()
        assert d.selftest_log() == ["s1", "s2", "s3"]
        d.start()
        job = d.wait_state(jid, "done")
        rep = report_json(d, jid)
        assert [s["replayed"] for s in rep["steps"]] == [True, True, True, False], rep
        assert d.selftest_log() == ["s1", "s2", "s3", "s4"]
        assert job["usage"]["effects"] == 4
    finally:
        d.cleanup()


@daemon_test()
def test_concurrent_identical_requests_run_once(d):
    # two identical steps of one job, in parallel
    jid = d.submit_selftest([{"name": "x", "ms": 300}, {"name": "x", "ms": 300}], parallel=True)
    d.wait_state(jid, "done")
    assert d.selftest_log() == ["x"]
    stats = d.request({"op": "stats"})["stats"]["effects"]
    assert stats["run"] == 1 and stats["shared"] == 1, stats
    # two jobs asking for the same thing at once (max_jobs = 2)
    j1 = d.submit_selftest([{"name": "y", "ms": 500}])
    j2 = d.submit_selftest([{"name": "y", "ms": 500}])
    d.wait_state(j1, "done")
    d.wait_state(j2, "done")
    assert d.selftest_log() == ["x", "y"]
    # each job has the result stored as its own: its report exists
    assert report_json(d, j2)["steps"][0]["name"] == "y"
    stats = d.request({"op": "stats"})["stats"]["effects"]
    assert stats["shared"] == 2, stats


@daemon_test()
def test_cancel_running_job_stops_effects(d):
    jid = d.submit_selftest([{"name": "long", "ms": 60000}])
    d.wait_for(lambda: d.selftest_log() == ["long"], what="the step to start")
    r = d.request({"op": "cancel", "job": jid})
    assert r["ok"] and r["job"]["state"] == "cancelled", r
    stats = d.request({"op": "stats"})["stats"]["effects"]
    assert stats["in_flight"] == 0, stats


@daemon_test()
def test_transient_failure_fails_job_without_storing(d):
    jid = d.submit_selftest([{"name": "bad", "fail": True}])
    job = d.wait_state(jid, "failed")
    assert "step 1 failed" in job["message"], job
    assert job["usage"].get("effects", 0) == 0


if __name__ == "__main__":
    run([test_kill9_reruns_only_the_unstored_effect, test_results_survive_restart,
         test_sigterm_mid_job_resumes_with_replay, test_concurrent_identical_requests_run_once,
         test_cancel_running_job_stops_effects, test_transient_failure_fails_job_without_storing])
