"""One scenario test's whole fixture: the data converted from ../shared's
QA set, the pages on nginx, the search backend, the scripted model server
and a researchd (tests/integration/harness.py's Daemon) configured to use
them. Everything on 127.0.0.1, stopped by PID in stop().

    s = Scenario(model_args=["--slots", "2"]).start()   # exits 77 without ../shared or nginx
    try:
        d = s.daemon()                  # started, answering ping
        ... submit s.data["questions"][i]["question"], wait, read the report ...
        assert s.model.violations() == []
    finally:
        s.stop()
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import model  # noqa: E402
import qa  # noqa: E402
import web  # noqa: E402

TERMINAL = ("done", "failed", "cancelled")

REPO = os.path.dirname(os.path.dirname(HERE))
QA_DIR = os.environ.get("SCENARIO_QA_DIR",
                        os.path.join(os.path.dirname(REPO), "shared", "data", "qa-hotpotqa"))


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


class Scenario:
    def __init__(self, model_args=(), search_delay_ms=0, config=None, limit=None, search_args=()):
        """model_args: model.py flags; search_args: `web.py search` flags ("{site}" in
        them becomes the nginx's base URL); config: {section: {key: value}} for
        researchd.conf on top of web.researchd_config's; limit: the first
        N questions only (the corpus stays whole)."""
        self.model_args = list(model_args)
        self.search_delay_ms = search_delay_ms
        self.search_args = list(search_args)
        self.config = config or {}
        self.limit = limit
        self.dir = None
        self.nginx = self.search = self.model = self._daemon = None
        self.daemon_rc = None

    def start(self):
        if not os.path.isdir(QA_DIR):
            skip("the QA set is not at %s (../shared absent)" % QA_DIR)
        if web.find_nginx() is None:
            skip("nginx is not installed")
        self.dir = tempfile.mkdtemp(prefix="scn-")
        try:
            self.data = qa.convert(QA_DIR, self.limit)
            self.data_path = os.path.join(self.dir, "data.json")
            with open(self.data_path, "w", encoding="utf-8") as f:
                json.dump(self.data, f, ensure_ascii=False)
            self.nginx = web.Nginx(self.data, os.path.join(self.dir, "web")).start()
            self.search = web.SearchServer(self.data_path, self.nginx.base, self.search_delay_ms,
                                           self._sub("search"),
                                           [a.replace("{site}", self.nginx.base)
                                            for a in self.search_args]).start()
            self.model = model.ModelServer(self.data_path, self.model_args, self._sub("model")).start()
            self.config_text = web.researchd_config(self.search.url, self.model.url, self.config)
        except BaseException:
            self.stop()
            raise
        return self

    def _sub(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        return d

    def daemon(self, start=True):
        """A researchd on a private socket and state dir using this
        scenario's servers (needs RESEARCHD, as the integration tests)."""
        import harness
        if not harness.RESEARCHD:
            raise RuntimeError("RESEARCHD is not set (run through meson test)")
        self._daemon = harness.Daemon(self.config_text)
        if start:
            self._daemon.start()
        return self._daemon

    def question(self, i):
        return self.data["questions"][i]

    def stop(self):
        """Stops everything; the daemon by SIGTERM first, its exit status
        in self.daemon_rc (under ASan a leak makes it non-zero)."""
        if self._daemon is not None:
            try:
                self.daemon_rc = self._daemon.stop()
            finally:
                self._daemon.cleanup()
        for s in (self.model, self.search, self.nginx):
            if s is not None:
                s.stop()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- what the scenario tests do with a job ----

def submit(d, question, options=None):
    """Submits a research job through the socket; returns its id."""
    req = {"op": "submit", "kind": "research", "question": question}
    if options:
        req["options"] = options
    r = d.request(req)
    assert r.get("ok"), r
    return r["job"]["id"]


def wait_end(d, jids, timeout=120):
    """Waits until every job is done, failed or cancelled; {id: job}."""
    deadline = time.time() + timeout
    while True:
        jobs = {j: d.job(j) for j in jids}
        if all(v["state"] in TERMINAL for v in jobs.values()):
            return jobs
        if time.time() > deadline:
            raise AssertionError("jobs not ended after %d s: %s\n%s" % (
                timeout, {j: v["state"] for j, v in jobs.items()}, d.log()[-4000:]))
        time.sleep(0.1)


def report(d, jid):
    """The job's Markdown report as `research report ID` prints it."""
    r = d.cli("report", str(jid))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def sources(d, jid):
    """[(status, url)] as `research sources ID` prints them."""
    r = d.cli("sources", str(jid))
    assert r.returncode == 0, r.stdout + r.stderr
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-1].startswith("http"):
            out.append((parts[1], parts[-1]))
    return out


def references(text):
    """{n: url} from the report's References section."""
    refs = {}
    part = text.split("\n## References", 1)
    if len(part) == 2:
        for m in re.finditer(r"^\[(\d+)\] .*<(http[^>]+)>", part[1], re.M):
            refs[int(m.group(1))] = m.group(2)
    return refs


def cited(text):
    """The reference numbers cited in the report's body."""
    body = text.split("\n## References", 1)[0]
    return {int(n) for n in re.findall(r"\[(\d+)\]", body)}


def mask(text):
    """The report less what differs between two runs of the same job: the
    date lines, access dates and the seconds of the time budget used."""
    text = re.sub(r"^\*\*Date:\*\*.*$", "**Date:** X", text, flags=re.M)
    text = re.sub(r"Accessed \d{4}-\d\d-\d\d", "Accessed X", text)
    return re.sub(r"\d+ s of (\d+) s", r"X s of \1 s", text)


def limits(text):
    """The "Method and limits" section's text."""
    m = re.search(r"^## Method and limits\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1) if m else ""
