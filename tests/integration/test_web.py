"""Web ops through the real daemon: research fetch (the polite fetcher, the
source cache, extraction on the thread pool), the SSRF guard's default
policy, web.fetch effects in jobs, and research sources."""
import http.server
import json
import os
import sqlite3
import threading

from harness import Daemon, run

PAGE = ("<html><head><title>Tide tables</title></head><body><nav><a href='/'>Home</a></nav>"
        "<article><h2>Spring tides</h2><p>" + "Spring tides happen near new and full moon. " * 6 +
        "</p></article></body></html>")


class Site:
    """A real HTTP server on 127.0.0.1 that counts the requests it gets."""

    def __init__(self):
        self.hits = []
        site = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                if self.path.startswith("/tides"):
                    body = PAGE.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


CONF = "[server]\nselftest = yes\n[fetch]\nallow_hosts = 127.0.0.1/32\nrobots = no\n"


def test_fetch_and_cache():
    site = Site()
    d = Daemon(CONF)
    try:
        d.start()
        r = d.cli("fetch", site.url("/tides.html"))
        assert r.returncode == 0, r
        assert "title: Tide tables" in r.stdout and "## Spring tides" in r.stdout, r.stdout
        assert "Home" not in r.stdout.split("\n\n", 1)[1]
        r = d.cli("--json", "fetch", site.url("/tides.html#frag"))
        doc = json.loads(r.stdout)
        assert doc["source"]["from_cache"] is True, doc["source"]
        assert site.hits.count("/tides.html") == 1, site.hits
        r = d.cli("fetch", site.url("/nope.html"))
        assert r.returncode == 0 and "status: 404" in r.stdout, r
        r = d.cli("fetch", "gopher://example.org/")
        assert r.returncode == 1 and "only http and https" in r.stdout, r
    finally:
        d.cleanup()
        site.close()


def test_default_policy_refuses_loopback():
    site = Site()
    d = Daemon("")
    try:
        d.start()
        r = d.cli("--json", "fetch", site.url("/tides.html"))
        assert r.returncode == 0, r
        src = json.loads(r.stdout)["source"]
        assert src["status"] == 0 and "loopback" in src["error"], src
        assert site.hits == [], "the server must not see a request"
        assert d.request({"op": "ping"})["ok"]
    finally:
        d.cleanup()
        site.close()


def test_jobs_fetch_through_effects_and_sources():
    site = Site()
    d = Daemon(CONF)
    try:
        d.start()
        step = {"name": "get", "effect": {"kind": "web.fetch", "request": {"url": site.url("/tides.html")}}}
        miss = {"name": "miss", "effect": {"kind": "web.fetch", "request": {"url": site.url("/gone.html")}}}
        j1 = d.submit_selftest([step, miss])
        j2 = d.submit_selftest([step])
        d.wait_state(j1, "done")
        d.wait_state(j2, "done")
        # two jobs, one page: fetched once, stored as each job's effect
        assert site.hits.count("/tides.html") == 1, site.hits
        r = d.cli("--json", "sources", str(j1))
        srcs = json.loads(r.stdout)["sources"]
        assert sorted(s["url"] for s in srcs) == sorted([site.url("/gone.html"), site.url("/tides.html")]), srcs
        assert {s["url"]: s["status"] for s in srcs}[site.url("/gone.html")] == 404
        r = d.cli("sources", str(j2))
        assert r.returncode == 0 and site.url("/tides.html") in r.stdout and "gone" not in r.stdout, r
        # without a job: the caller's jobs' sources, each URL once
        r = d.cli("--json", "sources")
        assert len(json.loads(r.stdout)["sources"]) == 2
        assert d.cli("sources", "999").returncode == 1
    finally:
        d.cleanup()
        site.close()


def test_index_dir():
    """The CLI walks the user's files with the user's permissions and the
    daemon indexes what it is sent."""
    d = Daemon("")
    try:
        d.start()
        docs = os.path.join(d.dir, "docs")
        os.makedirs(os.path.join(docs, "sub"))
        with open(os.path.join(docs, "tides.md"), "w") as f:
            f.write("# Tides\n\nSpring tides happen near new and full moon.\n")
        with open(os.path.join(docs, "sub", "neap.txt"), "w") as f:
            f.write("Neap tides are weaker than spring tides.\n")
        with open(os.path.join(docs, "page.html"), "w") as f:
            f.write(PAGE)
        with open(os.path.join(docs, "blob.txt"), "wb") as f:
            f.write(bytes(range(256)) * 16)
        with open(os.path.join(docs, "image.png"), "wb") as f:
            f.write(b"\x89PNG....")
        os.symlink("/etc", os.path.join(docs, "etc-link"))
        r = d.cli("index", docs)
        assert r.returncode == 0, r
        assert "added      tides.md" in r.stdout and "binary     blob.txt" in r.stdout, r.stdout
        assert r.stdout.strip().splitlines()[-1].startswith("3 added"), r.stdout
        r = d.cli("--json", "index", docs)
        last = json.loads(r.stdout.strip().splitlines()[-1])
        assert last["unchanged"] == 3 and last["added"] == 0 and last["skipped"] == 2, last
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.state, "researchd.db"), uri=True)
        keys = sorted(k for (k,) in db.execute("SELECT key FROM index_docs"))
        db.close()
        assert keys == sorted("file://" + os.path.join(docs, p) for p in
                              ("page.html", "sub/neap.txt", "tides.md")), keys
        assert d.cli("index", os.path.join(d.dir, "missing")).returncode == 1
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_fetch_and_cache, test_default_policy_refuses_loopback,
         test_jobs_fetch_through_effects_and_sources, test_index_dir])
