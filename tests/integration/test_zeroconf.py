"""A model with zero configuration: with no [llm] url the daemon finds a model
server by probing the loopback places it is told ([llm] probe), or runs one
itself ([llm] serve = NAME through researchd-llm on stories260K), and says
what to do when there is neither; `research doctor` on a healthy and a broken
setup. Every server here listens on 127.0.0.1 at a port the test picks."""
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

from harness import Daemon, OptionalSkip, SkipTest, run

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
STORIES = os.path.normpath(os.path.join(TOP, "..", "shared", "models", "stories260K.gguf"))
ENGINE = os.environ.get("RESEARCHD_LLM")
SANDBOX = os.environ.get("RESEARCHD_SANDBOX")
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
          "required": ["answer"], "additionalProperties": False}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


class Fake(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible server as vLLM or LM Studio look: /v1/models and
    streamed chat completions, no llama-server /props; or (plain) a web
    server that is no model server at all."""
    protocol_version = "HTTP/1.0"  # no kept connection outlives shutdown()

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if not self.server.plain and self.path == "/v1/models":
            self.reply(200, json.dumps({"object": "list", "data": [{"id": "fake-vllm-7b", "object": "model"}]}))
        else:
            self.reply(404, "<html>not here</html>", "text/html")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.server.plain or self.path != "/v1/chat/completions":
            self.reply(404, "<html>not here</html>", "text/html")
            return
        self.server.requests.append(json.loads(body))
        chunks = [{"choices": [{"index": 0, "delta": {"content": "hello from the probed server"}}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
        text = "".join("data: %s\n\n" % json.dumps(c) for c in chunks) + "data: [DONE]\n\n"
        self.reply(200, text, "text/event-stream")


def fake_server(plain=False):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    srv.plain = plain
    srv.requests = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def doctor_lines(out):
    """{name: (ok, detail, fix)} from research doctor's screen."""
    lines = {}
    last = None
    for line in out.splitlines():
        m = re.match(r"^(OK|FAIL) +(\S+(?: \S+)?) {2,}(.*)$", line)
        if m:
            last = m.group(2)
            lines[last] = [m.group(1) == "OK", m.group(3), None]
        elif line.strip().startswith("fix: ") and last:
            lines[last][2] = line.strip()[5:]
    return lines


def test_probe_finds_server():
    srv = fake_server()
    web = fake_server(plain=True)
    dead = free_port()
    port = srv.server_address[1]
    d = Daemon("[llm]\nprobe = 127.0.0.1:%d, 127.0.0.1:%d, 127.0.0.1:%d\n[search]\nbackends = local\n"
               "[sandbox]\nhelper = %s\n" % (dead, web.server_address[1], port, SANDBOX))
    try:
        d.start()
        url = "http://127.0.0.1:%d/v1" % port
        d.wait_for(lambda: "found a model server at %s" % url in d.log(), timeout=20, what="the probe")
        assert "set [llm] url = %s" % url in d.log(), d.log()
        # the web server that is not a model server is not taken for one
        assert "found a model server at http://127.0.0.1:%d" % web.server_address[1] not in d.log()
        out = d.cli("llm")
        assert out.returncode == 0, out
        assert "found %s" % url in out.stdout, out.stdout
        assert "to pin it, set [llm] url = %s" % url in out.stdout, out.stdout
        assert "127.0.0.1:%d" % dead in out.stdout, out.stdout
        # a model call goes there, naming the model the server listed
        ans = d.cli("llm", "--prompt", "say hello")
        assert ans.returncode == 0, (ans, d.log())
        assert ans.stdout.strip() == "hello from the probed server", ans.stdout
        assert srv.requests and srv.requests[-1]["model"] == "fake-vllm-7b", srv.requests
        doc = d.cli("doctor", timeout=90)
        lines = doctor_lines(doc.stdout)
        assert lines["model"][0] and url in lines["model"][1], doc.stdout
        assert lines["daemon"][0] and lines["state dir"][0] and lines["search local"][0], doc.stdout
        if not lines["sandbox"][0]:
            # this machine cannot sandbox: the helper says so too
            rc = subprocess.run([SANDBOX, "--check"], capture_output=True).returncode
            assert rc != 0, doc.stdout
            raise OptionalSkip("the sandbox does not work on this machine: doctor is not all OK")
        assert doc.returncode == 0, doc
        assert "everything a research job needs is in place" in doc.stdout, doc.stdout
        # the server goes away: the daemon notices and looks again
        srv.shutdown()
        srv.server_close()
        d.wait_for(lambda: "went away; looking for one again" in d.log(), timeout=30, what="the loss")
        out = d.cli("llm")
        assert "no model server answers on loopback" in out.stdout, out.stdout
        assert d.stop() == 0
    finally:
        d.cleanup()
        web.shutdown()


def test_nothing_found_says_what_to_do():
    dead = free_port()
    searx = free_port()
    d = Daemon("[llm]\nprobe = 127.0.0.1:%d\n[search]\nbackends = local, searxng\n"
               "searxng_url = http://127.0.0.1:%d\n[sandbox]\nhelper = /nonexistent/researchd-sandbox\n"
               % (dead, searx))
    try:
        d.start()
        out = d.cli("llm")
        assert out.returncode == 0, out
        assert "no model server answers on loopback" in out.stdout, out.stdout
        assert "[llm] serve = NAME" in out.stdout and "research model pull" in out.stdout, out.stdout
        doc = d.cli("doctor", timeout=90)
        assert doc.returncode == 1, doc
        lines = doctor_lines(doc.stdout)
        assert lines["daemon"][0], doc.stdout
        ok, detail, fix = lines["model"]
        assert not ok and "127.0.0.1:%d" % dead in detail and "llama-server" in fix, doc.stdout
        ok, detail, fix = lines["search searxng"]
        assert not ok and "does not answer" in detail and "[search] backends" in fix, doc.stdout
        ok, detail, fix = lines["sandbox"]
        assert not ok and "/nonexistent/researchd-sandbox" in detail and "[sandbox] helper" in fix, doc.stdout
        assert "3 checks failed" in doc.stdout, doc.stdout
        # jobs wait rather than fail while there is no model
        r = d.request({"op": "submit", "question": "why is the sky blue?"})
        assert r["ok"], r
        time.sleep(1)
        assert d.job(r["job"]["id"])["state"] == "queued"
        assert d.stop() == 0
    finally:
        d.cleanup()


def test_doctor_without_daemon():
    d = Daemon("")
    try:
        out = d.cli("doctor")
        assert out.returncode == 3, out
        assert out.stdout.startswith("FAIL daemon"), out.stdout
        assert "fix: start it" in out.stdout, out.stdout
    finally:
        d.cleanup()


def test_serve_config_errors():
    d = Daemon("[llm]\nserve = stories260K\nurl = http://127.0.0.1:1/v1\n")
    try:
        out = subprocess.run([os.environ["RESEARCHD"], "-n", "-c", d.conf], capture_output=True, text=True)
        assert out.returncode == 1 and "serve and url cannot both be set" in out.stderr, out
    finally:
        d.cleanup()
    d = Daemon("[llm]\nserve = nosuchmodel\n[search]\nbackends = local\n")
    try:
        d.start()
        out = d.cli("llm")
        assert re.search(r'no model "nosuchmodel" in \S+/models: fetch it with `research model pull nosuchmodel`',
                         out.stdout), out.stdout
        doc = d.cli("doctor", timeout=90)
        lines = doctor_lines(doc.stdout)
        assert doc.returncode == 1 and not lines["engine"][0], doc.stdout
        assert "research model pull nosuchmodel" in lines["engine"][2], doc.stdout
        assert d.stop() == 0
    finally:
        d.cleanup()


FAKE_LLAMA = r"""#!/usr/bin/env python3
# A stand-in llama-server: records its arguments, answers /health and /props.
import http.server, json, sys
args = sys.argv[1:]
open(sys.argv[0] + ".args", "w").write(json.dumps(args))
port = int(args[args.index("--port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        body = json.dumps({"status": "ok"} if self.path == "/health" else
                          {"default_generation_settings": {"n_ctx": 77}, "total_slots": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer((args[args.index("--host") + 1], port), H).serve_forever()
"""


def test_serve_prefers_llama_server():
    """A llama-server on PATH is run, with llama-server's flags and the
    context planned from the model's header (make-gguf.py: trained 256)."""
    d = Daemon("")
    bindir = os.path.join(d.dir, "bin")
    os.makedirs(bindir)
    fake = os.path.join(bindir, "llama-server")
    with open(fake, "w") as f:
        f.write(FAKE_LLAMA)
    os.chmod(fake, 0o755)
    gguf = os.path.join(d.dir, "tiny.gguf")
    subprocess.run(["python3", os.path.join(TOP, "tests", "llm", "model-server", "make-gguf.py"), gguf],
                   check=True, capture_output=True, timeout=60)
    d.write_config("[llm]\nserve = %s\nserve_threads = 1\n[search]\nbackends = local\n" % gguf)
    path = os.environ["PATH"]
    os.environ["PATH"] = bindir + ":" + path
    try:
        d.start()
        d.wait_for(lambda: os.path.exists(fake + ".args"), timeout=20, what="the fake llama-server")
        args = json.load(open(fake + ".args"))
        assert args[args.index("-m") + 1] == gguf, args
        assert args[args.index("--host") + 1] == "127.0.0.1", args
        assert args[args.index("-t") + 1] == "1", args
        slots = int(args[args.index("-np") + 1])
        assert slots >= 1 and int(args[args.index("-c") + 1]) == 256 * slots, args
        out = d.wait_for(lambda: "context: 77 tokens per slot" in d.cli("llm").stdout and d.cli("llm"),
                         timeout=20, what="discovery of the served engine")
        assert "with %s:" % fake in out.stdout, out.stdout
        assert d.stop() == 0
    finally:
        os.environ["PATH"] = path
        d.cleanup()


def test_serve_runs_engine():
    if not os.path.exists(STORIES):
        raise SkipTest("../shared/models/stories260K.gguf is absent")
    modules = os.path.join(TOP, "llm-server", "node_modules", "node-llama-cpp")
    if shutil.which("node") is None or not os.path.isdir(modules):
        if os.environ.get("CI") == "true":
            raise AssertionError("node and llm-server/node_modules are needed in CI")
        raise SkipTest("node or llm-server/node_modules missing (run scripts/setup)")
    d = Daemon("[llm]\nserve = stories260K\nserve_engine = %s\nserve_threads = 1\n"
               "[search]\nbackends = local\n" % ENGINE)
    schema = os.path.join(d.dir, "schema.json")
    with open(schema, "w") as f:
        json.dump(SCHEMA, f)
    # the name resolves in the models directory `research model pull` fills
    if os.geteuid() == 0:
        models = os.path.join(d.state, "models")
    else:
        models = os.path.join(d.dir, "data", "researchd", "models")
        os.environ["XDG_DATA_HOME"] = os.path.join(d.dir, "data")
    os.makedirs(models)
    os.symlink(STORIES, os.path.join(models, "stories260K.gguf"))
    try:
        d.start()

        def ask():
            out = d.cli("llm", "--prompt", "Is the sky blue?", "--schema", schema, "--max-tokens", "64",
                        timeout=120)
            return out.returncode == 0 and out.stdout.strip()

        first = d.wait_for(ask, timeout=120, what="the first answer")
        assert json.loads(first)["answer"] in ("yes", "no"), first

        def server():
            return d.request({"op": "stats"})["stats"]["llm_server"]

        # the supervisor's health poll may come a moment after the answer
        st = d.wait_for(lambda: server()["ready"] and server(), timeout=30, what="the health check")
        assert st["pid"] > 0, st
        with open("/proc/%d/cmdline" % st["pid"]) as f:
            args = f.read().split("\0")
        assert os.path.join(models, "stories260K.gguf") in args and "-np" in args and "-c" in args, args
        # stories260K's header says 2048 tokens of trained context; one slot
        # on a machine this size, and the engine reports the same
        out = d.cli("llm")
        assert "[llm] serve: %s" % os.path.join(models, "stories260K.gguf") in out.stdout, out.stdout
        assert "context: 2048 tokens per slot" in out.stdout, out.stdout
        # kill -9 of the engine is survived: restarted, answers again
        os.kill(st["pid"], 9)
        again = d.wait_for(lambda: server()["ready"] and server()["pid"] != st["pid"] and server(),
                           timeout=90, what="the engine's restart")
        assert again["restarts"] == 1, again
        second = d.wait_for(ask, timeout=120, what="an answer after the restart")
        assert json.loads(second)["answer"] in ("yes", "no"), second
        doc = d.cli("doctor", timeout=90)
        lines = doctor_lines(doc.stdout)
        assert lines["engine"][0] and lines["engine memory"][0] and lines["model"][0], doc.stdout
        assert d.stop() == 0
        deadline = time.time() + 10
        while alive(again["pid"]) and time.time() < deadline:
            time.sleep(0.05)
        assert not alive(again["pid"]), "the engine outlived the daemon"
        # a daemon killed with SIGKILL cannot stop it: the engine leaves by itself
        d.start()
        third = d.wait_for(lambda: server()["ready"] and server(), timeout=90, what="the engine")
        d.kill9()
        deadline = time.time() + 15
        while alive(third["pid"]) and time.time() < deadline:
            time.sleep(0.1)
        if alive(third["pid"]):
            os.kill(third["pid"], 9)
            raise AssertionError("the engine outlived a daemon killed with SIGKILL")
    finally:
        os.environ.pop("XDG_DATA_HOME", None)
        d.cleanup()


if __name__ == "__main__":
    run([test_probe_finds_server, test_nothing_found_says_what_to_do, test_doctor_without_daemon,
         test_serve_config_errors, test_serve_prefers_llama_server, test_serve_runs_engine])
