#!/usr/bin/env python3
"""The scripted model server of the scenario suite: an OpenAI-compatible
chat server (plus the llama-server discovery endpoints llm/pool.c asks)
that answers the research loop's schema-constrained calls from a scenario
data file, following /work/prompts/contract.md (summarised in README.md).

    python3 tests/scenario/model.py DATA.json [--port 0] [--port-file F]
        [--log F] [--slots 2] [--ctx 8192] [--delay-ms N]
        [--delay-by-schema read=300,plan=50] [--reverse] [--token-rate T]
        [--fail-first N] [--invent-quotes] [--stuck-gaps] [--clarify N]

It may quote only text present in the prompt it was sent: every quote it
is about to send is checked against the prompt, and one that is not there
(other than a deliberate --invent-quotes one) is logged as a violation.
Python standard library only; listens on 127.0.0.1 only."""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qa  # noqa: E402
import web  # noqa: E402

BODY_MAX = 16 * 1024 * 1024     # larger requests get 413, never a cut body
SCHEMAS = ("clarify", "brief", "plan", "read", "reflect", "outline", "write", "judge", "rewrite")
LOGGED_PROMPTS = ("clarify", "brief")   # their user message goes into the log
STREAM_PIECE = 24               # characters of content per SSE chunk

RE_SUBQ = re.compile(r"^SUBQUESTION: (.*)$")
RE_SOURCE = re.compile(r"^SOURCE: S(\d+) (.*)$")
RE_PASSAGE = re.compile(r"^\[P(\d+)\] (.*)$")
RE_Q = re.compile(r"^Q(\d+) \(([^,()]*), findings: (\d+)\): (.*)$")
RE_TRIED = re.compile(r'^TRIED: "(.*)" \(results: (\d+)\)$')
RE_FINDING = re.compile(r'^\[F(\d+)\] (.*?) \| "(.*)"$')
RE_SECTION = re.compile(r"^SECTION: (.*)$")


def collapse(s):
    return " ".join(s.split())


def tokens(n_bytes):
    # Approximate, as the brief allows: four bytes a token, at least one.
    return max(1, (n_bytes + 3) // 4)


def message_text(m):
    c = m.get("content") if isinstance(m, dict) else None
    if isinstance(c, str):
        return c
    if isinstance(c, list):     # OpenAI content parts
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


class BadRequest(Exception):
    pass


def parse_prompt(user):
    """The contract's markers in the user message."""
    lines = user.split("\n")
    p = {"question": None, "subquestions": [], "source": None, "passages": {},
         "qs": [], "tried": [], "findings": [], "section": None}
    last = [l for l in lines if l.strip()]
    if last and last[-1].startswith("QUESTION: "):
        p["question"] = last[-1][len("QUESTION: "):].strip()
    for line in lines:
        m = RE_SUBQ.match(line)
        if m:
            p["subquestions"].append(m.group(1))
            continue
        m = RE_SOURCE.match(line)
        if m and p["source"] is None:
            p["source"] = (int(m.group(1)), m.group(2).strip())
            continue
        m = RE_PASSAGE.match(line)
        if m:
            p["passages"][int(m.group(1))] = m.group(2)
            continue
        m = RE_Q.match(line)
        if m:
            p["qs"].append((int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)))
            continue
        m = RE_TRIED.match(line)
        if m:
            p["tried"].append((m.group(1), int(m.group(2))))
            continue
        m = RE_FINDING.match(line)
        if m:
            p["findings"].append((int(m.group(1)), m.group(2), m.group(3)))
            continue
        m = RE_SECTION.match(line)
        if m and p["section"] is None:
            p["section"] = m.group(1)
    return p


def fit(obj, schema):
    """What a grammar-constrained model could emit: arrays cut to maxItems,
    strings to maxLength (a prefix of a verbatim quote is still verbatim,
    so the quote check still holds after the cut)."""
    if not isinstance(schema, dict):
        return obj
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        return {k: fit(v, props.get(k)) for k, v in obj.items()}
    if isinstance(obj, list):
        n = schema.get("maxItems")
        if isinstance(n, int) and n >= 0:
            obj = obj[:n]
        return [fit(v, schema.get("items")) for v in obj]
    if isinstance(obj, str):
        n = schema.get("maxLength")
        if isinstance(n, int) and 0 <= n < len(obj):
            # At a word boundary when there is one: the planner finds
            # quotes on word boundaries.
            cut = obj[:n]
            if not obj[n].isspace() and " " in cut:
                cut = cut[:cut.rindex(" ")]
            return cut.rstrip()
    return obj


class Script:
    """The replies, from the data file and the prompt alone."""

    def __init__(self, data, invent_quotes=False, stuck_gaps=False, unsupported=None, clarify=0):
        self.by_question = {collapse(q["question"]): q for q in data["questions"]}
        self.invent_quotes = invent_quotes
        self.stuck_gaps = stuck_gaps
        self.unsupported = unsupported
        self.n_clarify = clarify
        self.invented_for = set()
        self.lock = threading.Lock()

    def question(self, p):
        return self.by_question.get(collapse(p["question"] or ""))

    def clarify(self, p, q):
        """--clarify N: N questions (0: none, the job goes on at once)."""
        text = p["question"] or ""
        return {"questions": ["Clarifying question %d: which aspect of \"%s\" matters most?"
                              % (i + 1, text[:80]) for i in range(self.n_clarify)]}

    def brief(self, p, q):
        text = p["question"] or ""
        key = sorted(web.terms(text), key=lambda w: (-len(w), w))[:5]
        return {"scope": "Answer the question: %s" % text, "key_terms": key,
                "complete_answer": "A complete answer states the answer and the facts it rests on, with sources.",
                "language": "en"}

    def plan(self, p, q):
        subs = q["subquestions"] if q else [p["question"] or "the question"]
        return {"subquestions": [{"question": s, "queries": [s]} for s in subs]}

    def read(self, p, q):
        """(reply, invented quotes): one finding per support sentence of the
        source's gold paragraph that a passage shown contains."""
        findings, invented = [], []
        title = collapse(p["source"][1]) if p["source"] else None
        gold = None
        for g in (q["gold"] if q else []):
            if collapse(g["title"]) == title:
                gold = g
        for s in (gold["support"] if gold else []):
            s = collapse(s)
            for k in sorted(p["passages"]):
                if s and s in p["passages"][k]:
                    findings.append({"passage": k, "claim": "According to %s, %s" % (title, s),
                                     "quote": s})
                    break
        if self.invent_quotes and title is not None and p["passages"]:
            with self.lock:
                fresh = title not in self.invented_for
                self.invented_for.add(title)
            if fresh:
                k = min(p["passages"])
                quote = ("%s was first described in a letter of 1871 by a harbour official "
                         "whose name the archive does not record" % title)
                while quote in "\n".join(p["passages"].values()):
                    quote += " again"
                invented.append(quote)
                findings.append({"passage": k, "claim": "According to %s, it dates from 1871" % title,
                                 "quote": quote})
        return {"findings": findings}, invented

    def reflect(self, p, q):
        if self.stuck_gaps:
            return {"states": [{"id": "Q%d" % i, "state": "missing"} for i, _, _, _ in p["qs"]],
                    "new": [{"question": "Which sources confirm the answer to: %s" % (p["question"] or ""),
                             "queries": [p["question"] or "answer"]}]}
        return {"states": [{"id": "Q%d" % i, "state": "answered" if n > 0 else "missing"}
                           for i, _, n, _ in p["qs"]], "new": []}

    def outline(self, p, q):
        ids = [f[0] for f in p["findings"]]
        answer = ("The answer is %s." % q["answer"]) if q else "The findings below answer the question."
        titles = [g["title"] for g in q["gold"]] if q else []
        by_title, rest = {t: [] for t in titles}, []
        for i, claim, _ in p["findings"]:
            # The title the claim is attributed to ("According to T, ..."),
            # else the first gold title it mentions.
            t = next((t for t in titles if claim.startswith("According to %s," % t)), None)
            t = t or next((t for t in titles if t in claim), None)
            (by_title[t] if t else rest).append(i)
        sections = [{"heading": t, "findings": by_title[t]} for t in titles if by_title[t]]
        if rest or not sections:
            sections.append({"heading": "Findings", "findings": rest})
        return {"title": p["question"] or "Answer",
                "short_answer": [{"text": answer, "cites": ids}], "sections": sections}

    def write(self, p, q):
        out = []
        for i, claim, _ in p["findings"]:
            text = claim if claim.endswith((".", "!", "?")) else claim + "."
            out.append({"text": text, "cites": [i]})
        return {"sentences": out}

    # The verifier pass. Sentence lines: "S<k>: text (cites F1, F2)";
    # finding lines: "[F<id>] claim | "quote"".
    SENTENCE = re.compile(r"^(S\d+): (.*) \(cites ([F\d, ]+)\)$")
    FINDING = re.compile(r"^\[F(\d+)\] (.*) \| \"")

    def sentences(self, user):
        out = []
        for line in user.split("\n"):
            m = self.SENTENCE.match(line)
            if m:
                out.append((m.group(1), m.group(2),
                            [int(x) for x in re.findall(r"F(\d+)", m.group(3))]))
        return out

    def judge(self, user):
        """Every sentence supported, except those holding --unsupported."""
        return {"verdicts": [{"sentence": sid, "verdict": "unsupported"
                              if self.unsupported and self.unsupported in text else "supported"}
                             for sid, text, _ in self.sentences(user)]}

    def rewrite(self, user):
        """Each sentence becomes the claim of the first finding it cites."""
        claims = {}
        for line in user.split("\n"):
            m = self.FINDING.match(line)
            if m:
                claims[int(m.group(1))] = m.group(2)
        out = []
        for sid, _, cites in self.sentences(user):
            if cites and cites[0] in claims:
                out.append({"sentence": sid, "text": claims[cites[0]], "cites": [cites[0]]})
        return {"sentences": out}

    def answer(self, name, user, schema):
        """(reply object, invented quotes) for one request."""
        p = parse_prompt(user)
        if p["question"] is None:
            raise BadRequest("the user message does not end with a QUESTION: line")
        q = self.question(p)
        invented = []
        if name in ("judge", "rewrite"):
            reply = getattr(self, name)(user)
        elif name == "read":
            reply, invented = self.read(p, q)
        else:
            reply = getattr(self, name)(p, q)
        return fit(reply, schema), invented, p


def check_quotes(reply, p, prompt):
    """Violations: quotes of the reply that are not verbatim in the passage
    they cite (or not in the prompt at all)."""
    out = []
    for f in reply.get("findings", []) if isinstance(reply, dict) else []:
        quote, k = f.get("quote", ""), f.get("passage")
        if quote not in prompt:
            out.append({"quote": quote, "passage": k, "why": "not in the prompt"})
        elif k not in p["passages"] or quote not in p["passages"][k]:
            out.append({"quote": quote, "passage": k, "why": "not in passage P%s" % k})
    return out


class State:
    """What the handlers share: options, slots, counters, the log."""

    def __init__(self, a, data):
        self.a = a
        self.script = Script(data, a.invent_quotes, a.stuck_gaps, a.unsupported, a.clarify)
        self.cond = threading.Condition()
        self.busy = [False] * a.slots
        self.seq = 0
        self.stats = {"requests": 0, "served": 0, "rejected": 0, "bad": 0, "aborted": 0,
                      "violations": 0, "invented": 0}
        self.log_lock = threading.Lock()

    def next_seq(self):
        with self.cond:
            s = self.seq
            self.seq += 1
            self.stats["requests"] += 1
            return s

    def take_slot(self, want):
        with self.cond:
            while True:
                if want is not None and 0 <= want < len(self.busy):
                    if not self.busy[want]:
                        self.busy[want] = True
                        return want
                else:
                    for i, b in enumerate(self.busy):
                        if not b:
                            self.busy[i] = True
                            return i
                self.cond.wait()

    def give_slot(self, i):
        with self.cond:
            self.busy[i] = False
            self.cond.notify_all()

    def count(self, key, n=1):
        with self.cond:
            self.stats[key] += n

    def delay_s(self, name, seq, completion_tokens):
        ms = self.a.delay_by_schema.get(name, self.a.delay_ms)
        if self.a.reverse:
            ms = ms / (seq + 1)  # later requests wait less: completions flip order
        s = ms / 1000.0
        if self.a.token_rate > 0:
            s += completion_tokens / self.a.token_rate
        return s

    def log(self, rec):
        if self.a.log:
            with self.log_lock, open(self.a.log, "a") as f:
                f.write(json.dumps(rec) + "\n")


class Handler(BaseHTTPRequestHandler):
    server_version = "scenario-model/1"

    def log_message(self, fmt, *args):
        pass

    def reply_json(self, status, obj, headers=(), before_body=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if before_body:
            before_body()
        self.wfile.write(body)

    def error(self, status, msg, headers=()):
        self.reply_json(status, {"error": {"code": status, "message": msg, "type": "scenario_error"}},
                        headers)

    def read_body(self):
        try:
            n = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest(411, "a Content-Length is required")
        if n < 0 or n > BODY_MAX:
            raise BadRequest(413, "the body is over %d bytes" % BODY_MAX)
        return self.rfile.read(n)

    def do_GET(self):
        st, a = self.server.state, self.server.state.a
        path = self.path.split("?")[0]
        if path == "/health":
            return self.reply_json(200, {"status": "ok"})
        if path == "/v1/models":
            return self.reply_json(200, {"object": "list", "data": [
                {"id": "scripted", "object": "model", "owned_by": "scenario"}]})
        if path == "/props":
            return self.reply_json(200, {"default_generation_settings": {"n_ctx": a.ctx},
                                         "total_slots": a.slots, "model_path": "scripted"})
        if path == "/slots":
            with st.cond:
                busy = list(st.busy)
            return self.reply_json(200, [{"id": i, "n_ctx": a.ctx, "is_processing": b}
                                         for i, b in enumerate(busy)])
        if path == "/stats":
            with st.cond:
                return self.reply_json(200, dict(st.stats))
        self.error(404, "no such path")

    def do_POST(self):
        path = self.path.split("?")[0]
        try:
            body = self.read_body()
        except BadRequest as e:
            return self.error(e.args[0], e.args[1])
        if path == "/tokenize":
            try:
                content = json.loads(body).get("content", "")
            except (ValueError, AttributeError):
                return self.error(400, "expected {\"content\": str}")
            return self.reply_json(200, {"tokens": list(range(tokens(len(str(content).encode()))))})
        if path in ("/v1/chat/completions", "/chat/completions"):
            return self.chat(body)
        self.error(404, "no such path")

    def chat(self, body):
        st, a = self.server.state, self.server.state.a
        t0 = time.time()
        seq = st.next_seq()
        rec = {"t_start": t0, "seq": seq, "schema": None, "sha256": hashlib.sha256(body).hexdigest(),
               "outcome": "bad", "slot": None}
        slot = None
        logged = False
        try:
            try:
                req = json.loads(body)
                if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
                    raise BadRequest("expected an object with messages")
                rf = req.get("response_format") or {}
                js = rf.get("json_schema") if isinstance(rf, dict) else None
                name = js.get("name") if isinstance(js, dict) else None
                rec["schema"] = name
                if name not in SCHEMAS:
                    raise BadRequest("response_format.json_schema.name must be one of %s"
                                     % ", ".join(SCHEMAS))
                users = [m for m in req["messages"] if isinstance(m, dict) and m.get("role") == "user"]
                if not users:
                    raise BadRequest("no user message")
                last = [l for l in message_text(users[-1]).split("\n") if l.strip()]
                if last and last[-1].startswith("QUESTION: "):
                    rec["question"] = last[-1][len("QUESTION: "):].strip()   # the job, for bench/agent
                if name in LOGGED_PROMPTS:
                    rec["user"] = message_text(users[-1])
                prompt = "\n".join(message_text(m) for m in req["messages"])
                prompt_tokens = tokens(len(prompt.encode()))
                if prompt_tokens > a.ctx:
                    raise BadRequest("the request exceeds the available context size (%d > %d tokens)"
                                     % (prompt_tokens, a.ctx))
            except (ValueError, BadRequest) as e:
                st.count("bad")
                return self.error(400, str(e))
            if seq < a.fail_first:
                rec["outcome"] = "rejected"
                st.count("rejected")
                return self.error(503, "scripted failure %d of %d" % (seq + 1, a.fail_first),
                                  [("Retry-After", "1")])
            want = req.get("id_slot")
            slot = st.take_slot(want if isinstance(want, int) and not isinstance(want, bool) else None)
            rec["slot"] = slot
            rec["t_slot"] = time.time()
            try:
                reply, invented, p = st.script.answer(name, message_text(users[-1]), js.get("schema"))
            except BadRequest as e:
                st.count("bad")
                return self.error(400, str(e))
            if name == "read":
                # Which (source, sub-question) pair was read: a follow-up
                # test counts the pairs its parent read.
                rec["source"] = p["source"][1] if p["source"] else None
                rec["subquestion"] = p["subquestions"][0] if p["subquestions"] else None
            violations = [v for v in check_quotes(reply, p, prompt) if v["quote"] not in invented]
            # A hook for the fixture self-test: a quote the request itself
            # asks for, not declared invented, must trip the check.
            extra = req.get("scenario_quote")
            if name == "read" and isinstance(extra, dict):
                f = {"passage": extra.get("passage"), "claim": "Requested by the test.",
                     "quote": str(extra.get("quote", ""))}
                reply["findings"].append(f)
                violations += check_quotes({"findings": [f]}, p, prompt)
            content = json.dumps(reply, ensure_ascii=False)
            completion_tokens = tokens(len(content.encode()))
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens}
            rec.update({"stream": bool(req.get("stream")), "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens, "violations": violations,
                        "invented": invented})
            if violations:
                st.count("violations", len(violations))
                for v in violations:
                    print("model.py: VIOLATION: quote not in the prompt (%s): %r"
                          % (v["why"], v["quote"][:200]), file=sys.stderr)
            st.count("invented", len(invented))
            delay = st.delay_s(name, seq, completion_tokens)
            def served():
                # The line is written before the reply's last bytes, so a
                # client that has its whole reply always finds it in the log.
                nonlocal logged
                rec["outcome"] = "served"
                rec["t_end"] = time.time()
                st.count("served")
                st.log(rec)
                logged = True
            if req.get("stream"):
                self.stream(content, usage, delay, served)
            else:
                time.sleep(delay)
                self.reply_json(200, {
                    "id": "chatcmpl-%d" % seq, "object": "chat.completion", "created": int(t0),
                    "model": "scripted",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": usage}, before_body=served)
        except (BrokenPipeError, ConnectionResetError):
            st.count("aborted")
            if logged:      # the reply did not get through after all
                st.log({"seq": seq, "correction": True, "outcome": "aborted", "t_end": time.time()})
            rec["outcome"] = "aborted"
        finally:
            if slot is not None:
                st.give_slot(slot)
            if not logged:
                rec["t_end"] = time.time()
                st.log(rec)

    def stream(self, content, usage, delay, served):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": "scripted"}
        pieces = [content[i:i + STREAM_PIECE] for i in range(0, len(content), STREAM_PIECE)] or [""]

        def send(extra):
            self.wfile.write(b"data: " + json.dumps(dict(base, **extra)).encode() + b"\n\n")
            self.wfile.flush()

        send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                           "finish_reason": None}]})
        for piece in pieces:
            time.sleep(delay / len(pieces))   # the generation time, spread
            send({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        send({"choices": [], "usage": usage})
        served()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class ModelHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, state):
        super().__init__(addr, Handler)
        self.state = state


def delay_map(s):
    out = {}
    for item in filter(None, (x.strip() for x in s.split(","))):
        k, sep, v = item.partition("=")
        if not sep or k not in SCHEMAS or not v.isdigit():
            raise argparse.ArgumentTypeError("expected SCHEMA=MS[,...] with SCHEMA one of %s"
                                             % ", ".join(SCHEMAS))
        out[k] = int(v)
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="model.py", description="The scripted model server.")
    ap.add_argument("data")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="written with the port once listening")
    ap.add_argument("--log", help="one JSON line per chat request")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--delay-by-schema", type=delay_map, default={})
    ap.add_argument("--reverse", action="store_true")
    ap.add_argument("--token-rate", type=float, default=0.0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--invent-quotes", action="store_true")
    ap.add_argument("--stuck-gaps", action="store_true")
    ap.add_argument("--unsupported", metavar="TEXT",
                    help="the verifier judges sentences holding TEXT unsupported")
    ap.add_argument("--clarify", type=int, default=0, help="clarifying questions asked (0 to 3)")
    a = ap.parse_args(argv)
    for k in ("slots", "ctx"):
        if getattr(a, k) < 1:
            ap.error("--%s must be at least 1" % k)
    if not 0 <= a.clarify <= 3:
        ap.error("--clarify takes 0 to 3")
    for k in ("delay_ms", "fail_first", "token_rate"):
        if getattr(a, k) < 0:
            ap.error("--%s must not be negative" % k.replace("_", "-"))
    return a


def main(argv):
    a = parse_args(argv)
    try:
        data = qa.load(a.data)
    except qa.FormatError as e:
        print("model.py: %s" % e, file=sys.stderr)
        return 1
    srv = ModelHTTPServer(("127.0.0.1", a.port), State(a, data))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()
    srv.server_close()
    return 0


class ModelServer:
    """The model server in a process of its own (stopped by its PID)."""

    def __init__(self, data_path, args=(), workdir=None):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="scn-model-")
        self.log_path = os.path.join(self.dir, "model.log")
        self.args = [data_path, "--log", self.log_path, *args]
        self.proc = None
        self.port = None

    def start(self):
        pf = os.path.join(self.dir, "model.port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "model.py"), *self.args,
                                      "--port-file", pf], stdin=subprocess.DEVNULL)
        self.port = web.wait_port_file(pf, self.proc)
        return self

    @property
    def url(self):
        """The base URL for [llm] url."""
        return "http://127.0.0.1:%d/v1" % self.port

    def requests(self):
        """The log's records, a later correction line applied to its request."""
        out, by_seq = [], {}
        for r in web.read_jsonl(self.log_path):
            if r.get("correction") and r["seq"] in by_seq:
                by_seq[r["seq"]].update(outcome=r["outcome"], t_end=r["t_end"])
            else:
                by_seq[r["seq"]] = r
                out.append(r)
        return out

    def violations(self):
        return [v for r in self.requests() for v in r.get("violations", [])]

    def answered_twice(self):
        """Bodies (sha256) served more than once."""
        seen = {}
        for r in self.requests():
            if r["outcome"] == "served":
                seen[r["sha256"]] = seen.get(r["sha256"], 0) + 1
        return {h: n for h, n in seen.items() if n > 1}

    def stop(self, cleanup=True):
        """cleanup=False keeps the log (in self.dir) for a look afterwards."""
        web.stop_pid(self.proc)
        self.proc = None
        if cleanup and self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
