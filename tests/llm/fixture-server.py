#!/usr/bin/env python3
"""Scripted OpenAI-compatible fixture server for the llm/ client's failure paths.

    fixture-server.py [--port N]

Binds 127.0.0.1 only and prints "listening 127.0.0.1:PORT" on stdout when ready.
The first path segment picks a scenario: a client with the base URL
http://127.0.0.1:PORT/SCENARIO/v1 posts to /SCENARIO/v1/chat/completions.
Per scenario the server counts chat requests and keeps the last one:
GET /SCENARIO/count, GET /SCENARIO/last (body and headers), POST /reset.
Scenarios named ollama* are an Ollama server: POST /SCENARIO/api/show
(discovery) and its native POST /SCENARIO/api/chat, which streams NDJSON.
Standard library only.
"""
import argparse
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

GOOD = '{"score": 7, "label": "ok"}'
lock = threading.Lock()
counts = {}
last = {}


def chunk(content=None, reasoning=None, finish=None, usage=None, model="fixture-model"):
    delta = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    o = {"id": "chatcmpl-fx", "object": "chat.completion.chunk", "model": model,
         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        o["usage"] = usage
    return "data: " + json.dumps(o) + "\n\n"


def usage_chunk(prompt=11, completion=5, cached=3, reasoning=2):
    o = {"id": "chatcmpl-fx", "object": "chat.completion.chunk", "model": "fixture-model",
         "choices": [],
         "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                   "total_tokens": prompt + completion,
                   "prompt_tokens_details": {"cached_tokens": cached},
                   "completion_tokens_details": {"reasoning_tokens": reasoning}}}
    return "data: " + json.dumps(o) + "\n\n"


def stream_of(pieces, reasoning=None, finish="stop"):
    out = [": fixture comment\n\n"]
    if reasoning:
        out.append(chunk(reasoning=reasoning))
    for p in pieces:
        out.append(chunk(content=p))
    out.append(chunk(finish=finish))
    out.append(usage_chunk())
    out.append("data: [DONE]\n\n")
    return "".join(out)


def body_of(content, finish="stop"):
    return json.dumps({"id": "chatcmpl-fx", "object": "chat.completion", "model": "fixture-model",
                       "choices": [{"index": 0, "finish_reason": finish,
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}})


def ollama_line(content=None, thinking=None, done_reason=None, prompt=21, completion=6):
    o = {"model": "llama3:8b", "created_at": "2026-01-01T00:00:00Z",
         "message": {"role": "assistant", "content": content or ""}, "done": False}
    if thinking is not None:
        o["message"]["thinking"] = thinking
    if done_reason is not None:
        o.update({"done": True, "done_reason": done_reason, "total_duration": 12345,
                  "load_duration": 10, "prompt_eval_count": prompt, "prompt_eval_duration": 100,
                  "eval_count": completion, "eval_duration": 200})
    return json.dumps(o) + "\n"


def ollama_stream(pieces, done_reason="stop", thinking=None):
    out = [ollama_line(thinking=t) for t in (thinking or [])]
    out += [ollama_line(content=p) for p in pieces]
    out.append(ollama_line(done_reason=done_reason))
    return "".join(out)


def repaired(req):
    """True once the client sent a repair round (more than the first user turn)."""
    return any(m.get("role") == "assistant" for m in req.get("messages", []))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def write(self, s):
        self.wfile.write(s.encode() if isinstance(s, str) else s)
        self.wfile.flush()

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        scen = parts[0] if parts else ""
        rest = "/".join(parts[1:])
        if rest == "count":
            with lock:
                return self.send_json(200, {"count": counts.get(scen, 0)})
        if rest == "last":
            with lock:
                return self.send_json(200, last.get(scen, {}))
        if rest == "props" and scen.startswith("llama"):
            return self.send_json(200, {"total_slots": 2, "model_path": "/models/fixture.gguf",
                                        "default_generation_settings": {"n_ctx": 200}})
        if rest == "props" and scen == "slotsonly":
            return self.send_json(404, {"error": {"code": 404, "message": "File Not Found"}})
        if rest == "slots" and scen == "slotsonly":
            return self.send_json(200, [{"id": 0, "n_ctx": 300}, {"id": 1, "n_ctx": 300},
                                        {"id": 2, "n_ctx": 300}])
        return self.send_json(404, {"error": {"code": 404, "message": "File Not Found"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        parts = self.path.strip("/").split("/")
        scen = parts[0] if parts else ""
        rest = "/".join(parts[1:])
        if self.path == "/reset":
            with lock:
                counts.clear()
                last.clear()
            return self.send_json(200, {})
        if rest == "tokenize":
            req = json.loads(raw or b"{}")
            # One token per 4 bytes: what a real tokenizer gives for English.
            ntok = (len(req.get("content", "").encode()) + 3) // 4
            return self.send_json(200, {"tokens": list(range(ntok))})
        if rest == "api/show" and scen.startswith("ollama"):
            return self.send_json(200, {"modelfile": "FROM x", "model_info": {
                "llama.context_length": 131072, "general.architecture": "llama"}})
        if rest == "api/chat" and scen.startswith("ollama"):
            try:
                req = json.loads(raw)
            except ValueError:
                return self.send_json(400, {"error": "invalid JSON"})
            with lock:
                counts[scen] = counts.get(scen, 0) + 1
                nth = counts[scen]
                last[scen] = {"body": req, "path": "/" + rest,
                              "headers": {k.lower(): v for k, v in self.headers.items()}}
            return self.ollama_chat(scen, nth, req)
        if rest not in ("v1/chat/completions", "chat/completions"):
            return self.send_json(404, {"error": {"code": 404, "message": "File Not Found"}})
        try:
            req = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"code": 400, "message": "bad JSON"}})
        with lock:
            counts[scen] = counts.get(scen, 0) + 1
            nth = counts[scen]
            last[scen] = {"body": req, "headers": {k.lower(): v for k, v in self.headers.items()}}
        return self.chat(scen, nth, req)

    def chat(self, scen, nth, req):
        stream = bool(req.get("stream"))
        if scen in ("ok", "llama", "llama2", "slotsonly", "ollama"):
            if not stream:
                return self.send_json(200, json.loads(body_of(GOOD)))
            self.start_stream()
            return self.write(stream_of(['{"score": ', '7, "label"', ': "ok"}'], reasoning="hmm"))
        if scen == "plain":
            # A server that ignores "stream": true.
            return self.send_json(200, json.loads(body_of(GOOD)))
        if scen == "bytewise":
            self.start_stream()
            for b in stream_of(['{"score": ', '7, "label"', ': "ok"}'],
                               reasoning="split reasoning").encode():
                self.write(bytes([b]))
                time.sleep(0.0005)
            return
        if scen == "e500":
            return self.send_json(500, {"error": {"code": 500, "message": "internal failure"}})
        if scen == "flaky500":
            if nth <= 2:
                return self.send_json(500, {"error": {"code": 500, "message": "flaky"}})
            self.start_stream()
            return self.write(stream_of([GOOD]))
        if scen == "e429":
            if nth == 1:
                return self.send_json(429, {"error": {"code": 429, "message": "slow down"}},
                                      {"Retry-After": "1"})
            self.start_stream()
            return self.write(stream_of([GOOD]))
        if scen == "e400ctx":
            return self.send_json(400, {"error": {"code": 400, "type": "exceed_context_size_error",
                                                  "message": "the request exceeds the available context size",
                                                  "n_prompt_tokens": 999, "n_ctx": 256}})
        if scen == "cut":
            self.start_stream()
            self.write(chunk(content='{"score": '))
            self.write('data: {"id":"chatcmpl-fx","choi')
            return
        if scen == "badchunk":
            self.start_stream()
            self.write(chunk(content='{"score": '))
            self.write("data: {not json at all\n\n")
            return self.write("data: [DONE]\n\n")
        if scen == "badjson":
            self.start_stream()
            return self.write(stream_of(['{"score": 7, "label": ']))
        if scen == "badjson_then_ok":
            self.start_stream()
            if repaired(req):
                return self.write(stream_of([GOOD]))
            return self.write(stream_of(['{"score": 7, "label": ']))
        if scen == "range":
            self.start_stream()
            return self.write(stream_of(['{"score": 50, "label": "ok"}']))
        if scen == "range_then_ok":
            self.start_stream()
            if repaired(req):
                return self.write(stream_of([GOOD]))
            return self.write(stream_of(['{"score": 50, "label": "ok"}']))
        if scen == "length":
            self.start_stream()
            return self.write(stream_of(['{"score": 7, "la'], finish="length"))
        if scen == "think_closed":
            self.start_stream()
            return self.write(stream_of(["<think>I should answer 7.</think>", GOOD]))
        if scen == "think_unclosed":
            self.start_stream()
            return self.write(stream_of(["<think>thinking ", "and never stopping ", GOOD]))
        if scen == "think_split":
            self.start_stream()
            return self.write(stream_of(["<th", "ink>pon", "der</th", "in", "k>\n", '{"score": 7, ',
                                         '"label": "ok"}']))
        if scen == "slow":
            self.start_stream()
            try:
                for i in range(20):
                    self.write(chunk(content="tok%d " % i))
                    time.sleep(1.0)
                self.write(chunk(finish="stop"))
                self.write("data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if scen == "hang":
            time.sleep(60)
            return
        return self.send_json(404, {"error": {"code": 404, "message": "no such scenario " + scen}})


    def start_ndjson(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def ollama_chat(self, scen, nth, req):
        """Ollama's native /api/chat: NDJSON lines, the last with done: true."""
        if scen == "ollama_e500":
            return self.send_json(500, {"error": "llama runner process has terminated"})
        if scen == "ollama_e404":
            return self.send_json(404, {"error": "model 'nosuch' not found"})
        if scen == "ollama_e503":
            # Ended by a newline: read as an NDJSON line, the transfer stops there.
            data = (json.dumps({"error": "server busy, please try again"}) + "\n").encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        if not req.get("stream", True):
            o = json.loads(ollama_line(done_reason="stop"))
            o["message"]["content"] = GOOD
            return self.send_json(200, o)
        self.start_ndjson()
        if scen == "ollama":
            return self.write(ollama_stream(['{"score": ', '7, "label"', ': "ok"}']))
        if scen == "ollama_length":
            return self.write(ollama_stream(['{"score": 7, "la'], done_reason="length"))
        if scen == "ollama_think":
            return self.write(ollama_stream(["<think>I should answer 7.</think>", GOOD],
                                            thinking=["the thinking ", "field"]))
        if scen == "ollama_error":
            self.write(ollama_line(content='{"score": '))
            return self.write(json.dumps({"error": "an error was encountered while running "
                                                   "the model"}) + "\n")
        if scen == "ollama_split":
            # Lines cut at every byte, and a blank line and a CRLF between them.
            data = ollama_line(thinking="split") + "\n" + \
                ollama_stream(['{"score": ', '7, "label": "ok"}']).replace("\n", "\r\n", 1)
            for b in data.encode():
                self.write(bytes([b]))
                time.sleep(0.0003)
            return
        if scen == "ollama_cut":
            return self.write(ollama_line(content='{"score": '))
        return self.write(json.dumps({"error": "no such scenario " + scen}) + "\n")


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    print("listening 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
