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
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import model  # noqa: E402
import qa  # noqa: E402
import web  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
QA_DIR = os.environ.get("SCENARIO_QA_DIR",
                        os.path.join(os.path.dirname(REPO), "shared", "data", "qa-hotpotqa"))


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


class Scenario:
    def __init__(self, model_args=(), search_delay_ms=0, config=None, limit=None):
        """model_args: model.py flags; config: {section: {key: value}} for
        researchd.conf on top of web.researchd_config's; limit: the first
        N questions only (the corpus stays whole)."""
        self.model_args = list(model_args)
        self.search_delay_ms = search_delay_ms
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
                                           self._sub("search")).start()
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
