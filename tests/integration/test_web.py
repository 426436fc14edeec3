"""Web ops through the real daemon: research fetch (the polite fetcher, the
source cache, extraction on the thread pool), the SSRF guard's default
policy, web.fetch effects in jobs, and research sources."""
import gzip
import http.server
import json
import os
import shutil
import subprocess
import time
import sqlite3
import threading

from harness import Daemon, SkipTest, run

SANDBOX = os.environ.get("RESEARCHD_SANDBOX")

PAGE = ("<html><head><title>Tide tables</title></head><body><nav><a href='/'>Home</a></nav>"
        "<article><h2>Spring tides</h2><p>" + "Spring tides happen near new and full moon. " * 6 +
        "</p></article></body></html>")


def hostile(handler):
    """Hostile pages; returns True when it handled the path."""
    p = handler.path
    def head(code=200, ctype="text/html; charset=utf-8", extra=()):
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        for k, v in extra:
            handler.send_header(k, v)
    try:
        if p == "/bomb":
            # 20 MiB of zeros as a ~20 KiB gzip body
            body = gzip.compress(b"\0" * (20 << 20), 9)
            head(extra=[("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))])
            handler.end_headers()
            handler.wfile.write(body)
        elif p == "/endless":
            head()
            handler.end_headers()
            chunk = b"<p>" + b"more " * 2000 + b"</p>"
            for _ in range(100000):
                handler.wfile.write(chunk)
        elif p == "/big":
            body = b"<html><body><p>" + b"x " * 600000 + b"</p></body></html>"
            head(extra=[("Content-Length", str(len(body)))])
            handler.end_headers()
            handler.wfile.write(body)
        elif p == "/slow":
            head(extra=[("Content-Length", "100")])
            handler.end_headers()
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(1)
        elif p == "/loop":
            head(302, extra=[("Location", "/loop"), ("Content-Length", "0")])
            handler.end_headers()
        elif p in ("/badutf8", "/latin1", "/deep", "/oneline"):
            para = "Tidal range depends on the shape of the coast and the sea floor. " * 4
            if p == "/badutf8":
                body = ("<html><body><article><p>" + para + "</p><p>bad \xff\xfe bytes \xc3 here</p></article></body></html>").encode("latin-1")
            elif p == "/latin1":
                body = ("<html><body><article><p>" + para + " Zürich Ørsted café</p></article></body></html>").encode("latin-1")
            elif p == "/deep":
                body = ("<html><body>" + "<div>" * 10000 + "<p>" + para + "</p>" + "</div>" * 10000 + "</body></html>").encode()
            else:
                body = ("<html><body><article><p>" + (para * 2000) + "</p></article></body></html>").encode()
            head(extra=[("Content-Length", str(len(body)))])
            handler.end_headers()
            handler.wfile.write(body)
        else:
            return False
    except (BrokenPipeError, ConnectionResetError):
        pass
    return True


class Site:
    """A real HTTP server on 127.0.0.1 that counts the requests it gets."""

    def __init__(self):
        self.hits = []
        self.files = {}  # path -> bytes, served as application/octet-stream
        site = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                if hostile(self):
                    return
                if self.path in site.files:
                    body = site.files[self.path]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path.startswith("/search?"):
                    # SearXNG's JSON API, as a local stand-in for a real instance
                    body = json.dumps({"query": "tides", "results": [
                        {"url": "https://example.org/tides?utm_source=x", "title": "Tides explained",
                         "content": "Why the sea rises twice a day.", "publishedDate": "2024-01-02T00:00:00"},
                        {"url": "https://example.org/moon", "title": "The Moon", "content": "Our satellite."},
                    ]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
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


def test_hostile_servers():
    """Each ends in a clear error or a faithful page, and the daemon goes on."""
    site = Site()
    d = Daemon("[fetch]\nallow_hosts = 127.0.0.1/32\nrobots = no\nmax_body = 1M\ntimeout = 4s\n")
    try:
        d.start()

        def fetch(path):
            r = d.cli("--json", "fetch", site.url(path), timeout=60)
            doc = json.loads(r.stdout)
            assert d.request({"op": "ping"})["ok"], "daemon gone after " + path
            return r.returncode, doc

        rc, doc = fetch("/bomb")
        assert "limit" in doc["source"]["error"], doc
        rc, doc = fetch("/endless")
        assert "limit" in doc["source"]["error"], doc
        rc, doc = fetch("/big")
        assert "limit" in doc["source"]["error"], doc
        rc, doc = fetch("/loop")
        assert "redirects" in doc["source"]["error"], doc
        rc, doc = fetch("/slow")
        # a timeout may pass later: the "failed" error, not a stored outcome
        assert rc == 1 and doc["error"]["code"] == "failed", doc
        rc, doc = fetch("/badutf8")
        # invalid bytes come out as valid UTF-8 (replaced, or read as the
        # single-byte charset the page really is in), the text kept
        text = doc["page"]["text"]
        assert rc == 0 and "Tidal range" in text and "bad" in text and "here" in text, doc
        rc, doc = fetch("/latin1")
        assert rc == 0 and "Zürich Ørsted café" in doc["page"]["text"], doc["page"]["text"][-200:]
        rc, doc = fetch("/deep")
        assert rc == 0 and "Tidal range" in doc["page"]["text"], doc
        rc, doc = fetch("/oneline")
        assert rc == 0 and len(doc["page"]["text"]) > 500000, len(doc["page"]["text"])
    finally:
        d.cleanup()
        site.close()


def test_search_merges_backends():
    site = Site()
    d = Daemon("[search]\nbackends = searxng, local\nsearxng_url = %s\n" % site.url(""))
    try:
        d.start()
        docs = os.path.join(d.dir, "docs")
        os.makedirs(docs)
        with open(os.path.join(docs, "tides.md"), "w") as f:
            f.write("# Tides\n\nSpring tides happen near new and full moon.\n")
        assert d.cli("index", docs).returncode == 0
        r = d.cli("--json", "search", "spring", "tides")
        assert r.returncode == 0, r
        doc = json.loads(r.stdout)
        urls = [x["url"] for x in doc["results"]]
        assert sorted(doc["answered"]) == ["local", "searxng"], doc
        assert "https://example.org/tides" in urls, urls          # canonical: utm_ dropped
        assert "file://" + os.path.join(docs, "tides.md") in urls, urls
        assert any(p.startswith("/search?") and "q=spring+tides" in p.replace("%20", "+") for p in site.hits), site.hits
        r = d.cli("search", "tides")
        assert r.returncode == 0 and "Tides explained" in r.stdout, r
        assert d.cli("search").returncode == 2
    finally:
        d.cleanup()
        site.close()


def make_pdf(tmp):
    """A two-page PDF made here with groff and ghostscript's ps2pdf."""
    src = os.path.join(tmp, "doc.ms")
    with open(src, "w") as f:
        # plain troff requests: groff-base has no macro packages
        f.write("First page about tidal turbines in Orkney.\n.bp\nSecond page about neap tides.\n")
    ps = subprocess.run(["groff", "-Tps", src], capture_output=True, check=True).stdout
    return subprocess.run(["ps2pdf", "-", "-"], input=ps, capture_output=True, check=True).stdout


def test_pdf_through_the_sandbox():
    if shutil.which("ps2pdf") is None or shutil.which("groff") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("groff and ps2pdf (ghostscript) are needed in CI")
        raise SkipTest("groff or ps2pdf missing (scripts/setup installs them)")
    site = Site()
    d = Daemon(CONF + "[sandbox]\nhelper = %s\n" % SANDBOX)
    try:
        site.files["/report.bin"] = make_pdf(d.dir)
        site.files["/broken.bin"] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage garbage\n%%EOF\n"
        d.start()
        r = d.cli("--json", "fetch", site.url("/report.bin"), timeout=90)
        assert r.returncode == 0, r
        page = json.loads(r.stdout)["page"]
        # known as a PDF by its bytes (served as application/octet-stream)
        assert page["kind"] == "pdf" and page["pages"] == 2, page
        text = page["text"]
        assert text.startswith("[page 1]\n") and "\n[page 2]\n" in text, text
        assert text.index("Orkney") < text.index("[page 2]") < text.index("neap"), text
        r = d.cli("--json", "fetch", site.url("/broken.bin"), timeout=90)
        doc = json.loads(r.stdout)
        assert "page" not in doc and doc["page_error"], doc
        assert d.request({"op": "ping"})["ok"]
    finally:
        d.cleanup()
        site.close()


if __name__ == "__main__":
    run([test_pdf_through_the_sandbox, test_search_merges_backends, test_hostile_servers, test_fetch_and_cache, test_default_policy_refuses_loopback,
         test_jobs_fetch_through_effects_and_sources, test_index_dir])
