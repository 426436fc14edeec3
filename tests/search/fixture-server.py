#!/usr/bin/env python3
"""Fixture server for the search backends' live test: serves the canned API
responses of tests/search/data by path, on 127.0.0.1 only.

    fixture-server.py --root DATADIR [--port N] [--brave-key KEY]

Prints "listening 127.0.0.1:PORT" when ready. The first path segment picks
how to answer, the rest picks the API:
    /ok/search              SearXNG           -> searxng.json
    /ok/w/api.php           MediaWiki         -> wikipedia.json
    /ok/api/query           arXiv             -> arxiv.atom
    /ok/res/v1/web/search   Brave             -> brave.json (401 without the key)
    /e500/...               500 with an HTML body
    /garbage/...            200 with HTML where JSON or Atom was expected
    /slow/...               waits 3 s, then answers like /ok
    /busy/...               429 with Retry-After: 30
GET /_log returns every request so far as JSON lines [path?query, token].
Standard library only.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILES = {
    "search": ("searxng.json", "application/json"),
    "w/api.php": ("wikipedia.json", "application/json; charset=utf-8"),
    "api/query": ("arxiv.atom", "application/atom+xml; charset=utf-8"),
    "res/v1/web/search": ("brave.json", "application/json"),
}

lock = threading.Lock()
log = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts, cancellation): expected

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/_log":
            with lock:
                body = "".join(json.dumps(e) + "\n" for e in log)
            return self.send(200, body, "text/plain")
        with lock:
            log.append([self.path, self.headers.get("X-Subscription-Token")])
        parts = path.lstrip("/").split("/", 1)
        mode, rest = parts[0], parts[1] if len(parts) > 1 else ""
        if mode == "e500":
            return self.send(500, "<html><body>Internal Server Error</body></html>", "text/html")
        if mode == "garbage":
            return self.send(200, open(os.path.join(self.server.root, "garbage.html"), "rb").read(),
                             "text/html")
        if mode == "busy":
            return self.send(429, "slow down", "text/plain", [("Retry-After", "30")])
        if mode == "slow":
            time.sleep(3)
        elif mode != "ok":
            return self.send(404, "no such mode", "text/plain")
        if rest not in FILES:
            return self.send(404, "no such API", "text/plain")
        name, ctype = FILES[rest]
        if rest.startswith("res/") and self.headers.get("X-Subscription-Token") != self.server.brave_key:
            return self.send(401, open(os.path.join(self.server.root, "brave-error.json"), "rb").read())
        return self.send(200, open(os.path.join(self.server.root, name), "rb").read(), ctype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--brave-key", default="")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.root = a.root
    srv.brave_key = a.brave_key
    print("listening 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
