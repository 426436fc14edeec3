"""The user's side of research jobs through the real daemon and CLI: submit's
options reaching the job and bad values refused before anything is sent,
submit --wait, research finish, why a queued job waits (status, list,
--json, watch), watch's progress lines and live line, and the sandbox helper
found beside the programs of a build tree."""
import fcntl
import json
import os
import pty
import select
import shutil
import sqlite3
import struct
import subprocess
import termios
import time

from harness import RESEARCH, Daemon, SkipTest, daemon_test, run

STEPS = '{"steps":[{"name":"one","ms":20}]}'
FAILING = '{"steps":[{"name":"bad","ms":20,"fail":true}]}'
SLOW = '{"steps":[{"name":"slow","ms":20,"hold_ms":60000}]}'
WAITING = "waiting for a model endpoint"


@daemon_test()
def test_submit_options_reach_the_job(d):
    r = d.cli("submit", "--max-tokens", "5000", "--max-time", "20m", "--max-fetches", "0",
              "--depth", "2", "--breadth", "4", "--context", "4096", "--language", "pt-BR",
              "--backends", "wikipedia,arxiv", "How", "do", "tides", "work?")
    assert r.returncode == 0, r
    jid = int(r.stdout)
    st = json.loads(d.cli("--json", "status", str(jid)).stdout)["job"]
    assert st["question"] == "How do tides work?"
    o = st["options"]
    assert o["max_tokens"] == 5000 and o["max_time"] == 1200 and o["max_fetches"] == 0, o
    assert o["max_depth"] == 2 and o["max_breadth"] == 4, o
    assert o["context"] == 4096 and o["language"] == "pt-BR", o
    assert o["backends"] == ["wikipedia", "arxiv"], o
    # the other duration forms, and the bare question form takes them too
    for given, seconds in (("90s", 90), ("3h", 10800), ("45", 45)):
        r = d.cli("submit", "--max-time", given, "q")
        assert r.returncode == 0, r
        assert d.job(int(r.stdout))["options"]["max_time"] == seconds, given
    p = d.cli_popen("--depth", "3", "--language", "de", "a bare question")
    try:
        jid = d.wait_for(lambda: [j["id"] for j in json.loads(d.cli("--json", "list").stdout)["jobs"]
                                  if j["question"] == "a bare question"], what="the bare question's job")[0]
        o = d.job(jid)["options"]
        assert o["max_depth"] == 3 and o["language"] == "de", o
    finally:
        p.kill()
        p.wait()
    # plain status shows them too
    out = d.cli("status", "1").stdout
    assert "options.language: pt-BR" in out and "options.context: 4096" in out, out


@daemon_test()
def test_submit_bad_values_refused_before_sending(d):
    bad = [
        ("--max-tokens", "0"), ("--max-tokens", "lots"), ("--max-time", "5x"),
        ("--max-time", "0"), ("--max-time", "31d"), ("--max-fetches", "-1"),
        ("--depth", "11"), ("--depth", "0"), ("--breadth", "51"), ("--context", "100"),
        ("--context", "200000"), ("--language", "1x"), ("--language", "e"),
        ("--language", "en;rm"), ("--backends", ""), ("--backends", "a,,b"),
        ("--backends", "Wiki"), ("--backends", "a,b,c,d,e,f,g,h,i"),
    ]
    for opt, value in bad:
        r = d.cli("submit", opt, value, "question")
        assert r.returncode == 2, (opt, value, r)
        assert r.stderr.startswith("research: submit: %s: " % opt), (opt, value, r.stderr)
        assert "usage: research submit" in r.stderr, r.stderr
        # the bare form refuses them the same way
        r = d.cli(opt, value, "question")
        assert r.returncode == 2, (opt, value, r)
    r = d.cli("submit", "--wait", "--depth", "1")
    assert r.returncode == 2 and "missing QUESTION" in r.stderr, r
    # nothing reached the daemon
    assert json.loads(d.cli("--json", "list").stdout)["jobs"] == []
    assert d.request({"op": "stats"})["stats"]["jobs"]["queued"] == 0


@daemon_test()
def test_submit_wait_exit_codes(d):
    # done: exit 0, stdout is the job id alone, the outcome on stderr
    r = d.cli("submit", "--wait", "--kind", "selftest", "--options", STEPS, "q")
    assert r.returncode == 0, r
    jid = int(r.stdout)
    assert r.stdout == "%d\n" % jid, r.stdout
    assert "job %d done" % jid in r.stderr, r.stderr
    assert d.job(jid)["state"] == "done"
    # failed: exit 1
    r = d.cli("submit", "--wait", "--kind", "selftest", "--options", FAILING, "q")
    assert r.returncode == 1, r
    jid = int(r.stdout)
    assert "job %d failed" % jid in r.stderr, r.stderr
    # cancelled while waiting: exit 1
    p = subprocess.Popen([RESEARCH, "--socket", d.sock, "submit", "--wait", "--kind", "selftest",
                          "--options", SLOW, "q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jid = int(p.stdout.readline())
        d.wait_state(jid, "running")
        assert p.poll() is None, "submit --wait returned while the job ran"
        assert d.cli("cancel", str(jid)).returncode == 0
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, (p.returncode, err)
    assert "job %d cancelled" % jid in err, err
    # --json: the submit reply, then the events, one per line, then the end
    r = d.cli("--json", "submit", "--wait", "--kind", "selftest", "--options", STEPS, "q")
    assert r.returncode == 0, r
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[0]["job"]["state"] in ("queued", "running") and "event" not in lines[0], lines[0]
    assert lines[-1]["end"] is True and lines[-1]["job"]["state"] == "done", lines[-1]
    assert any(m.get("event", {}).get("type") == "state" for m in lines), lines
    # without --wait nothing changes: the id, at once
    r = d.cli("submit", "--kind", "selftest", "--options", SLOW, "q")
    assert r.returncode == 0 and int(r.stdout) > 0, r


@daemon_test()
def test_queued_research_says_why(d):
    # [llm] url points at a closed local port (the harness's default)
    jid = int(d.cli("submit", "A question nobody can answer yet").stdout)
    time.sleep(0.5)
    st = json.loads(d.cli("--json", "status", str(jid)).stdout)["job"]
    assert st["state"] == "queued", st
    assert st["waiting"].startswith(WAITING), st
    out = d.cli("status", str(jid)).stdout.splitlines()
    assert out[1] == "state: queued" and out[2].startswith("waiting: " + WAITING), out
    jobs = json.loads(d.cli("--json", "list").stdout)["jobs"]
    assert jobs[0]["waiting"].startswith(WAITING), jobs
    # a job that is not waiting has no such field or line
    sid = int(d.cli("submit", "--wait", "--kind", "selftest", "--options", STEPS, "q").stdout)
    st = json.loads(d.cli("--json", "status", str(sid)).stdout)["job"]
    assert "waiting" not in st, st
    assert "waiting:" not in d.cli("status", str(sid)).stdout
    plain = d.cli("list").stdout.splitlines()
    assert plain[1].split()[1] == "queued*" and plain[2].split()[1] == "done", plain
    assert plain[3] == "* " + st_waiting(d, jid), plain
    # watch says it too (on stderr, once), while the job stays queued
    try:
        d.cli("watch", str(jid), timeout=3)
        raise AssertionError("watch of a queued job ended")
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    assert err.count("research: job %d is queued: %s" % (jid, WAITING)) == 1, err
    assert "submitted" in out, out


def st_waiting(d, jid):
    return d.job(jid)["waiting"]


@daemon_test()
def test_finish(d):
    # a queued research job: accepted and recorded as an event
    jid = int(d.cli("submit", "A question to finish early").stdout)
    r = d.cli("finish", str(jid))
    assert r.returncode == 0, r
    assert r.stdout.startswith("job %d queued: asked to stop researching" % jid), r.stdout
    with d.connect() as c:
        msgs = c.stream({"op": "watch", "job": jid, "follow": False})
    types = [m["event"]["type"] for m in msgs if "event" in m]
    assert types.count("finish") == 1, types
    # --json gives the job
    r = d.cli("--json", "finish", str(jid))
    assert r.returncode == 0 and json.loads(r.stdout)["job"]["id"] == jid, r
    # a paused job is resumed to finish
    pid_ = int(d.cli("submit", "Another question").stdout)
    assert d.cli("pause", str(pid_)).returncode == 0
    assert d.job(pid_)["state"] == "paused"
    r = d.cli("finish", str(pid_))
    assert r.returncode == 0, r
    assert d.job(pid_)["state"] == "queued", d.job(pid_)
    # a done job: refused, with the state in words
    sid = int(d.cli("submit", "--wait", "--kind", "selftest", "--options", STEPS, "q").stdout)
    r = d.cli("finish", str(sid))
    assert r.returncode == 1, r
    assert r.stderr.startswith("research: bad_state: job %d is done" % sid), r.stderr
    # a kind without a write-up: refused, pointing at cancel
    qid = int(d.cli("submit", "--kind", "selftest", "--options", SLOW, "q").stdout)
    r = d.cli("finish", str(qid))
    assert r.returncode == 1 and "bad_request" in r.stderr and "cancel it instead" in r.stderr, r
    # no such job, and usage errors
    r = d.cli("finish", "999")
    assert r.returncode == 1 and "not_found" in r.stderr, r
    assert d.cli("finish").returncode == 2
    assert d.cli("finish", "x").returncode == 2
    # the raw op
    assert d.request({"op": "finish"})["error"]["code"] == "bad_request"


def test_finish_by_another_uid_is_not_found():
    if os.geteuid() != 0:
        raise SkipTest("needs root to run the CLI as another uid (setpriv)")
    d = Daemon("[server]\nsocket_group = nogroup\n")
    try:
        d.start()
        jid = int(d.cli("submit", "root's question").stdout)
        r = d.cli("finish", str(jid), user=65534)
        assert r.returncode == 1 and "not_found" in r.stderr, r
        with d.connect() as c:
            msgs = c.stream({"op": "watch", "job": jid, "follow": False})
        assert "finish" not in [m["event"]["type"] for m in msgs if "event" in m]
    finally:
        d.cleanup()


PROGRESS = {"phase": "read", "round": 2, "questions_open": 3, "questions_done": 2,
            "sources": 14, "findings_kept": 22, "findings_rejected": 3, "tokens": 45100,
            "max_tokens": 2000000, "model_calls": 17}


def add_progress(d, jid):
    """Append a progress event to a finished job's log (daemon stopped), as the
    research runner would, with the job's start and usage set to known values."""
    db = sqlite3.connect(os.path.join(d.state, "researchd.db"))
    try:
        seq, = db.execute("SELECT max(seq) FROM job_events WHERE job_id = ?", (jid,)).fetchone()
        t0 = 1764763200000  # 2025-12-03T12:00:00Z
        db.execute("UPDATE jobs SET started = ?, finished = ?, options = ?, usage = ? WHERE id = ?",
                   (t0, t0 + 200000, json.dumps({"max_depth": 3, "max_time": 3600, "max_tokens": 2000000}),
                    json.dumps({"completion_tokens": 500, "llm_ms": 20000}), jid))
        db.execute("INSERT INTO job_events (job_id, seq, time, type, data, hash) VALUES (?,?,?,?,?,?)",
                   (jid, seq + 1, t0 + 120000, "progress", json.dumps(PROGRESS), b"\0" * 32))
        db.execute("INSERT INTO job_events (job_id, seq, time, type, data, hash) VALUES (?,?,?,?,?,?)",
                   (jid, seq + 2, t0 + 130000, "waiting",
                    json.dumps({"for": "model", "message": "no model endpoint answered"}), b"\0" * 32))
        db.commit()
    finally:
        db.close()
    return seq + 1


def test_watch_shows_progress():
    d = Daemon()
    try:
        d.start()
        jid = int(d.cli("submit", "--wait", "--kind", "selftest", "--options", STEPS, "q").stdout)
        d.stop()
        seq = add_progress(d, jid)
        d.start()
        # --json: the event as it is, one line
        r = d.cli("--json", "watch", str(jid))
        assert r.returncode == 0, r
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        ev = [m["event"] for m in lines if "event" in m and m["event"]["seq"] == seq][0]
        assert ev["type"] == "progress" and ev["data"] == PROGRESS, ev
        # plain: the figures in words, elapsed from the job's start, the
        # model's speed from its usage (500 tokens in 20 s)
        r = d.cli("watch", str(jid))
        assert r.returncode == 0, r
        line = [l for l in r.stdout.splitlines() if "  progress  " in l]
        assert len(line) == 1, r.stdout
        line = line[0]
        assert line.startswith("2025-12-03T12:02:00Z  progress  read, round 2 of 3: "), line
        for part in ("sub-questions 3 open, 2 done", "sources 14", "findings 22 kept, 3 rejected",
                     "tokens 45.1k of 2.00M", "model 25.0 tokens/s", "elapsed 2m00s"):
            assert part in line, (part, line)
        assert line.endswith(" left") and "; ~" in line, line
        assert "waiting  for model: no model endpoint answered" in r.stdout, r.stdout
        # stderr a terminal: a live line there, redrawn in place; the events
        # still go to stdout as lines
        master, slave = pty.openpty()
        # wide enough for the whole live line
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
        p = subprocess.Popen([RESEARCH, "--socket", d.sock, "watch", str(jid)],
                             stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        live = b""
        deadline = time.time() + 20
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                live += chunk
            elif p.poll() is not None:
                break
        out, _ = p.communicate(timeout=10)
        os.close(master)
        assert p.returncode == 0, (p.returncode, live)
        text = live.decode(errors="replace")
        assert "\r\x1b[K" in text, text
        assert "read r2/3" in text and "src 14" in text and "25.0 tok/s" in text, text
        assert "[#" in text and "%" in text, text
        # the finished job's elapsed time is from its start to its end
        assert "job %d  done  3m20s  " % jid in text, text
        # and a job that has ended has no estimate of what is left
        assert "left" not in text, text
        assert "waiting: no model endpoint answered" in text, text
        # the live line was wiped at the end; the outcome is on stdout
        assert text.endswith("\r\x1b[K"), repr(text[-80:])
        assert "progress  read, round 2 of 3" in out and "job %d done" % jid in out, (out, text)
    finally:
        d.cleanup()


def test_sandbox_helper_beside_the_programs():
    """From the build tree, without [sandbox] helper or $RESEARCHD_SANDBOX,
    the CLI and the daemon find build/sandbox/researchd-sandbox."""
    env = dict(os.environ)
    env.pop("RESEARCHD_SANDBOX", None)
    r = subprocess.run([RESEARCH, "sandbox", "--", "/bin/echo", "inside"], capture_output=True,
                       text=True, timeout=60, env=env)
    if "cannot create namespaces" in r.stderr or "unshare" in r.stderr:
        raise SkipTest("no namespaces here: " + r.stderr.strip()[:200])
    assert r.returncode == 0 and "inside" in r.stdout, r
    # a copy of the program elsewhere finds nothing beside it and names the
    # install path instead
    d = Daemon()
    try:
        copy = os.path.join(d.dir, "research")
        shutil.copy(RESEARCH, copy)
        r = subprocess.run([copy, "sandbox", "--", "/bin/echo", "inside"], capture_output=True,
                           text=True, timeout=60, env=env)
        assert r.returncode != 0 and "libexec/researchd-sandbox" in r.stderr, r
    finally:
        d.cleanup()
    # the daemon: a PDF is read through the helper it found itself
    if shutil.which("ps2pdf") is None or shutil.which("groff") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("groff and ps2pdf (ghostscript) are needed in CI")
        raise SkipTest("groff or ps2pdf missing (scripts/setup installs them)")
    from test_web import CONF, Site, make_pdf
    site = Site()
    d = Daemon(CONF)
    try:
        assert "[sandbox]" not in CONF
        site.files["/report.bin"] = make_pdf(d.dir)
        d.start()
        r = d.cli("--json", "fetch", site.url("/report.bin"), timeout=90)
        assert r.returncode == 0, r
        page = json.loads(r.stdout)["page"]
        assert page["kind"] == "pdf" and page["pages"] == 2, page
        assert "Orkney" in page["text"], page
    finally:
        d.cleanup()
        site.close()


if __name__ == "__main__":
    run([test_submit_options_reach_the_job, test_submit_bad_values_refused_before_sending,
         test_submit_wait_exit_codes, test_queued_research_says_why, test_finish,
         test_finish_by_another_uid_is_not_found, test_watch_shows_progress,
         test_sandbox_helper_beside_the_programs])
