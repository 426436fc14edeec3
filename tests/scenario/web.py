#!/usr/bin/env python3
"""The scenario suite's fixture web for a data file: one HTML page per
corpus paragraph served by a real nginx on 127.0.0.1, a SearXNG-format
search backend over those pages, and the researchd config that points the
daemon at them (and at the scripted model server). Python standard library
only; every server listens on 127.0.0.1 on a port it picks and is stopped
by the PID we started.

    python3 tests/scenario/web.py search DATA.json --site URL [--port 0]
        [--port-file F] [--delay-ms N] [--log F]

runs the search backend alone (what SearchServer starts)."""
import argparse
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qa  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEARCH_TOP = 10
SNIPPET_CHARS = 240
QUERY_MAX = 2048        # longer queries are refused with 400, never cut


def find_nginx():
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    # Only for nginx, which cannot report the port it bound; our own
    # servers bind port 0 and write the port they got to a file.
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_port_file(path, proc, timeout=10.0):
    """The port a server of ours wrote to path once it listened."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s before listening" % proc.returncode)
        try:
            with open(path) as f:
                s = f.read()
            if s.endswith("\n"):
                return int(s)
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not listen within %.0fs" % timeout)


def stop_pid(proc, timeout=10.0):
    """SIGTERM the process we started, SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- the pages ----

def slug(title):
    """A file name for a title: ASCII letters and digits joined by '-'."""
    t = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"[^a-z0-9]+", "-", t).strip("-")[:80].strip("-")
    return s or "page"


def page_html(title, text):
    t, x = html.escape(title, quote=True), html.escape(text, quote=True)
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            "<title>%s</title>\n</head>\n<body>\n<h1>%s</h1>\n<p>%s</p>\n</body>\n</html>\n"
            % (t, t, x))


def site_paths(corpus):
    """title -> URL path ("/slug.html"), unique in corpus order."""
    seen, out = set(), {}
    for p in corpus:
        if p["title"] in out:
            continue
        base, s, n = slug(p["title"]), None, 1
        s = base
        while s in seen:
            n += 1
            s = "%s-%d" % (base, n)
        seen.add(s)
        out[p["title"]] = "/%s.html" % s
    return out


def write_site(corpus, root):
    """Writes the pages under root; returns title -> URL path."""
    paths = site_paths(corpus)
    os.makedirs(root, exist_ok=True)
    done = set()
    for p in corpus:
        if p["title"] in done:
            continue
        done.add(p["title"])
        with open(os.path.join(root, paths[p["title"]].lstrip("/")), "w", encoding="utf-8") as f:
            f.write(page_html(p["title"], p["text"]))
    return paths


class Nginx:
    """The corpus pages served by a real nginx on 127.0.0.1 (config as in
    tests/fetch/test-fetch-live.c: -p a private dir, master_process off,
    an access log "$msec $request_uri $status" the tests read)."""

    def __init__(self, data, workdir=None):
        self.data = data
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="scn-web-")
        self.www = os.path.join(self.dir, "www")
        self.access_log = os.path.join(self.dir, "access.log")
        self.proc = None
        self.port = None
        self.paths = {}

    def start(self):
        exe = find_nginx()
        if exe is None:
            raise FileNotFoundError("nginx is not installed")
        self.paths = write_site(self.data["corpus"], self.www)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        for attempt in range(3):    # the free port may be taken meanwhile
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            d = self.dir
            with open(conf, "w") as f:
                f.write(
                    "master_process off;\n"
                    "error_log %s/error.log;\n"
                    "events { worker_connections 256; }\n"
                    "http {\n"
                    "  include /etc/nginx/mime.types;\n"
                    "  charset utf-8;\n"
                    "  log_format t '$msec $request_uri $status';\n"
                    "  client_body_temp_path %s/tmp/body;\n"
                    "  proxy_temp_path %s/tmp/proxy;\n"
                    "  fastcgi_temp_path %s/tmp/fastcgi;\n"
                    "  uwsgi_temp_path %s/tmp/uwsgi;\n"
                    "  scgi_temp_path %s/tmp/scgi;\n"
                    "  server {\n"
                    "    listen 127.0.0.1:%d;\n"
                    "    root %s;\n"
                    "    access_log %s t;\n"
                    "  }\n"
                    "}\n" % (d, d, d, d, d, d, self.port, self.www, self.access_log))
            self.proc = subprocess.Popen(
                [exe, "-p", d, "-c", conf, "-g", "daemon off; pid %s/nginx.pid;" % d],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if wait_port(self.port, proc=self.proc):
                return self
            stop_pid(self.proc)
        raise RuntimeError("nginx did not start; see %s/error.log" % self.dir)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, title):
        return self.base + self.paths[title]

    def requests(self):
        """[(time, uri, status)] from the access log."""
        out = []
        try:
            with open(self.access_log) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 3:
                        out.append((float(parts[0]), parts[1], int(parts[2])))
        except FileNotFoundError:
            pass
        return out

    def counts(self):
        """URI -> requests nginx logged for it."""
        c = {}
        for _, uri, _ in self.requests():
            c[uri] = c.get(uri, 0) + 1
        return c

    def stop(self):
        stop_pid(self.proc)
        self.proc = None
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- the search backend ----

STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his how in is it its "
    "of on or she that the their this to was were what when where which who whom whose why "
    "with".split())


def terms(text):
    return {w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS}


class SearchIndex:
    """Ranks the corpus pages by term overlap with the query: a query term
    in the title counts 3, in the text 1; ties by title, so the order is
    the same on every run."""

    def __init__(self, corpus, site):
        self.site = site.rstrip("/")
        paths = site_paths(corpus)
        self.docs = [(p["title"], p["text"], terms(p["title"]), terms(p["text"]),
                      self.site + paths[p["title"]]) for p in corpus]

    def search(self, q, top=SEARCH_TOP):
        qt = terms(q)
        scored = []
        for title, text, tt, xt, url in self.docs:
            score = 3 * len(qt & tt) + len(qt & xt)
            if score > 0:
                scored.append((-score, title, text, url))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [{"url": url, "title": title, "content": text[:SNIPPET_CHARS]}
                for _, title, text, url in scored[:top]]


class SearchHandler(BaseHTTPRequestHandler):
    server_version = "scenario-search/1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server
        u = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        t0 = time.time()
        q = qs.get("q", [None])[0]
        if u.path != "/search":
            return self.reply(404, {"error": "no such path"})
        if q is None or qs.get("format", [""])[0] != "json":
            srv.log({"t": t0, "q": q, "status": 400})
            return self.reply(400, {"error": "need q and format=json"})
        if len(q) > QUERY_MAX:
            srv.log({"t": t0, "q": q[:100], "status": 400})
            return self.reply(400, {"error": "query longer than %d characters" % QUERY_MAX})
        if srv.delay_ms > 0:
            time.sleep(srv.delay_ms / 1000.0)
        # --extra-result pages come first, titled after the query, so the
        # planner ranks them best and fetches them (a page that 404s, a
        # port that never answers).
        results = [{"url": u, "title": "%s (%d)" % (q, i), "content": q}
                   for i, u in enumerate(srv.extra, 1)] + srv.index.search(q)
        srv.log({"t": t0, "t_end": time.time(), "q": q, "status": 200,
                 "results": [r["title"] for r in results]})
        self.reply(200, {"query": q, "number_of_results": len(results), "results": results})


class SearchHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, index, delay_ms, log_path, extra=()):
        super().__init__(addr, SearchHandler)
        self.extra = list(extra)
        self.index = index
        self.delay_ms = delay_ms
        self.log_path = log_path
        self.log_lock = threading.Lock()

    def log(self, rec):
        if not self.log_path:
            return
        with self.log_lock, open(self.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")


def serve_search(argv):
    ap = argparse.ArgumentParser(prog="web.py search")
    ap.add_argument("data")
    ap.add_argument("--site", required=True, help="base URL of the pages (the nginx)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--extra-result", action="append", default=[], metavar="URL",
                    help="a result put first in every answer (repeatable)")
    a = ap.parse_args(argv)
    if a.delay_ms < 0:
        ap.error("--delay-ms must not be negative")
    try:
        data = qa.load(a.data)
    except qa.FormatError as e:
        print("web.py: %s" % e, file=sys.stderr)
        return 1
    srv = SearchHTTPServer(("127.0.0.1", a.port), SearchIndex(data["corpus"], a.site),
                           a.delay_ms, a.log, a.extra_result)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()
    srv.server_close()
    return 0


class SearchServer:
    """The search backend in a process of its own (stopped by its PID)."""

    def __init__(self, data_path, site, delay_ms=0, workdir=None, args=()):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="scn-search-")
        self.log_path = os.path.join(self.dir, "search.log")
        self.args = [data_path, "--site", site, "--delay-ms", str(delay_ms), "--log", self.log_path,
                     *args]
        self.proc = None
        self.port = None

    def start(self):
        pf = os.path.join(self.dir, "search.port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "web.py"), "search", *self.args, "--port-file", pf],
            stdin=subprocess.DEVNULL)
        self.port = wait_port_file(pf, self.proc)
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def requests(self):
        return read_jsonl(self.log_path)

    def stop(self):
        stop_pid(self.proc)
        self.proc = None
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def read_jsonl(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


# ---- the daemon's config ----

def researchd_config(searxng_url, llm_url, extra=None):
    """The text of a researchd.conf (keys of docs/researchd.conf.5) that
    searches the fixture backend only, may fetch from 127.0.0.1 without
    robots.txt, and asks the model server at llm_url (".../v1"). extra:
    {section: {key: value}} added or replacing these."""
    conf = {
        "server": {"log_level": "debug"},
        "llm": {"url": llm_url, "timeout": "120s"},
        "search": {"backends": "searxng", "searxng_url": searxng_url, "max_results": "10",
                   "rate": "100"},
        "fetch": {"allow_hosts": "127.0.0.1/32", "robots": "no", "timeout": "30s",
                  "host_delay": "0"},
    }
    for sec, kv in (extra or {}).items():
        conf.setdefault(sec, {}).update(kv)
    lines = []
    for sec, kv in conf.items():
        lines.append("[%s]" % sec)
        for k, v in kv.items():
            if "\n" in str(v):
                raise ValueError("config value of %s.%s has a newline" % (sec, k))
            lines.append("%s = %s" % (k, v))
        lines.append("")
    return "\n".join(lines)


def write_researchd_config(path, searxng_url, llm_url, extra=None):
    with open(path, "w") as f:
        f.write(researchd_config(searxng_url, llm_url, extra))
    return path


def main(argv):
    if argv[:1] == ["search"]:
        return serve_search(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
