#!/usr/bin/env python3
"""Self-test of the scenario fixtures: the QA converter against the raw
set in ../shared, the nginx pages, the search backend and the scripted
model server (each started here on 127.0.0.1 and stopped by PID), checked
with urllib. Exits 77 when ../shared's QA set or nginx is missing."""
import hashlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model  # noqa: E402
import qa  # noqa: E402
import web  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DATA_DIR = os.environ.get("SCENARIO_QA_DIR",
                          os.path.join(os.path.dirname(REPO), "shared", "data", "qa-hotpotqa"))
RAW_Q = os.path.join(DATA_DIR, "hotpotqa_train.json")
RAW_C = os.path.join(DATA_DIR, "hotpotqa_train_corpus.json")
# Run by hand: the build tree's programs, as meson test passes them.
for _var, _exe in (("RESEARCHD", "researchd"), ("RESEARCH", "research")):
    if not os.environ.get(_var) and os.access(os.path.join(REPO, "build", _exe), os.X_OK):
        os.environ[_var] = os.path.join(REPO, "build", _exe)


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


def http(url, body=None, timeout=30):
    """(status, headers, bytes) of a GET, or a POST of a JSON body."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def chat(srv, name, user, stream=False, extra=None, schema=None):
    body = {"model": "scripted", "stream": stream,
            "messages": [{"role": "system", "content": "You are a careful researcher."},
                         {"role": "user", "content": user}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": name, "strict": True, "schema": schema or {"type": "object"}}}}
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(extra or {})
    return http(srv.url + "/chat/completions", body)


def content_of(raw):
    return json.loads(json.loads(raw)["choices"][0]["message"]["content"])


def collapse(s):
    return " ".join(s.split())


def sentences(text):
    # The test's own passage split, independent of the server: at ". ".
    parts = re.split(r"(?<=\.) (?=[A-Z])", collapse(text))
    return [p for p in parts if p]


def read_prompt(question, title, passages, n=1):
    lines = ["Extract findings that answer the sub-question from the source below.",
             "SUBQUESTION: %s" % title, "SOURCE: S%d %s" % (n, title)]
    lines += ["[P%d] %s" % (k, p) for k, p in enumerate(passages, 1)]
    lines += ["Reply with the findings as JSON.", "QUESTION: %s" % question]
    return "\n".join(lines)


class Fixture:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="scn-test-")
        self.data_path = os.path.join(self.tmp, "data.json")
        self.servers = []

    def start(self, s):
        self.servers.append(s)
        return s.start()

    def close(self):
        for s in reversed(self.servers):
            try:
                s.stop()
            except Exception:
                traceback.print_exc()


F = None
RAW = None
DATA = None


# ---- the converter ----

def test_convert_cli():
    r = subprocess.run([sys.executable, os.path.join(HERE, "qa.py"), DATA_DIR, F.data_path],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    global DATA
    DATA = qa.load(F.data_path)


def test_convert_matches_raw_set():
    rq, rc = RAW
    assert DATA["version"] == 1
    assert len(DATA["questions"]) == len(rq)
    assert {p["title"] for p in DATA["corpus"]} == set(rc)
    for raw, q in zip(rq, DATA["questions"]):
        assert q["id"] == raw["_id"] and q["question"] == raw["question"].strip()
        assert q["answer"] == raw["answer"]
        titles = []
        for t, _ in raw["supporting_facts"]:
            if t not in titles:
                titles.append(t)
        assert [g["title"] for g in q["gold"]] == titles
        # HotpotQA has no decompositions: the sub-questions are the titles.
        assert q["subquestions"] == titles
        for g in q["gold"]:
            want = {rc[t][i].strip() for t, i in raw["supporting_facts"] if t == g["title"]}
            assert set(g["support"]) == want, (g["title"], g["support"], want)
            for s in g["support"]:
                assert s in g["text"], (g["title"], s)
            # The paragraph as the context of the raw question has it.
            ctx = dict((t, ss) for t, ss in raw["context"])
            if g["title"] in ctx:
                assert g["text"] == "".join(ctx[g["title"]]), g["title"]


def test_convert_known_question():
    # Read off the raw file by hand: question 0 and its two gold paragraphs.
    q = DATA["questions"][0]
    assert q["question"] == "If Gallu is a demon Lilu is what?"
    assert q["answer"] == "a spirit"
    assert [g["title"] for g in q["gold"]] == ["Al\u00fb", "Lilu (mythology)"]
    alu = q["gold"][0]
    assert alu["support"] == ["In Akkadian and Sumerian mythology, it is associated with other "
                              "demons like Gallu and Lilu."]
    assert alu["text"].startswith("In Akkadian and Sumerian mythology, Al\u00fb is a vengeful spirit")
    assert ". The demon has no mouth, lips or ears." in alu["text"]    # "" join, one space


def test_convert_bad_input():
    empty = os.path.join(F.tmp, "empty")
    os.mkdir(empty)
    r = subprocess.run([sys.executable, os.path.join(HERE, "qa.py"), empty, os.path.join(F.tmp, "x.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "expected exactly one NAME.json" in r.stderr, r.stderr
    bad = os.path.join(F.tmp, "bad")
    os.mkdir(bad)
    with open(os.path.join(bad, "s.json"), "w") as f:
        json.dump([{"question": "q?", "answer": "a", "supporting_facts": [["Nowhere", 0]]}], f)
    with open(os.path.join(bad, "s_corpus.json"), "w") as f:
        json.dump({"Somewhere": ["A sentence."]}, f)
    r = subprocess.run([sys.executable, os.path.join(HERE, "qa.py"), bad, os.path.join(F.tmp, "x.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "'Nowhere' is not in the corpus" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(F.tmp, "x.json"))


# ---- nginx and search ----

def test_page_served():
    ng = F.nginx
    # A page whose text needs escaping, to see it come back intact.
    p = next(p for p in DATA["corpus"] if "&" in p["text"] and '"' in p["text"])
    url = ng.url(p["title"])
    status, headers, body = http(url)
    assert status == 200 and "text/html" in headers["Content-Type"], (status, dict(headers))
    page = body.decode("utf-8")
    m = re.search(r"<title>(.*?)</title>.*<h1>(.*?)</h1>\s*<p>(.*?)</p>", page, re.S)
    assert m, page[:300]
    assert html.unescape(m.group(1)) == p["title"] == html.unescape(m.group(2))
    assert html.unescape(m.group(3)) == p["text"]
    assert "<" not in m.group(3) and "&amp;" in m.group(3)
    path = urllib.parse.urlsplit(url).path
    deadline = time.time() + 5
    while ng.counts().get(path, 0) < 1 and time.time() < deadline:
        time.sleep(0.05)    # nginx logs after the response
    assert ng.counts().get(path) == 1, ng.counts()
    assert http(ng.base + "/no-such-page.html")[0] == 404


def test_search_finds_gold_pages():
    for q in DATA["questions"][:10]:
        for g in q["gold"]:
            status, _, body = http(F.search.url + "/search?format=json&pageno=1&q=" +
                                   urllib.parse.quote(g["title"]))
            assert status == 200
            res = json.loads(body)["results"]
            assert 1 <= len(res) <= 10
            assert g["title"] in [r["title"] for r in res][:3], (g["title"], [r["title"] for r in res])
            hit = next(r for r in res if r["title"] == g["title"])
            assert hit["url"] == F.nginx.url(g["title"])
            assert g["text"].startswith(hit["content"])
            # The URL it gives is one nginx serves.
    assert http(hit["url"])[0] == 200
    log = F.search.requests()
    assert len(log) == sum(len(q["gold"]) for q in DATA["questions"][:10])
    assert http(F.search.url + "/search?q=x")[0] == 400     # no format=json
    assert http(F.search.url + "/search?format=json&q=" + "x" * 3000)[0] == 400
    status, _, body = http(F.search.url + "/search?format=json&q=zzqqxxnothing")
    assert status == 200 and json.loads(body)["results"] == []


def test_search_delay():
    s = F.start(web.SearchServer(F.data_path, F.nginx.base, delay_ms=400))
    t = time.time()
    assert http(s.url + "/search?format=json&q=demon")[0] == 200
    assert time.time() - t >= 0.4


def test_config_accepted():
    text = web.researchd_config(F.search.url, F.model.url, {"budget": {"max_fetches": "20"}})
    assert "backends = searxng" in text and "searxng_url = %s" % F.search.url in text
    assert "url = %s" % F.model.url in text and "max_fetches = 20" in text
    exe = os.environ.get("RESEARCHD")
    if exe:
        path = web.write_researchd_config(os.path.join(F.tmp, "researchd.conf"), F.search.url,
                                          F.model.url, {"budget": {"max_fetches": "20"}})
        r = subprocess.run([exe, "-n", "-c", path], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


# ---- the model server ----

def test_discovery():
    root = F.model.url[:-len("/v1")]
    props = json.loads(http(root + "/props")[2])
    assert props["total_slots"] == 2 and props["default_generation_settings"]["n_ctx"] == 8192
    slots = json.loads(http(root + "/slots")[2])
    assert len(slots) == 2 and all(s["n_ctx"] == 8192 for s in slots)
    assert json.loads(http(root + "/health")[2])["status"] == "ok"
    assert json.loads(http(F.model.url + "/models")[2])["data"][0]["id"]
    tok = json.loads(http(root + "/tokenize", {"content": "x" * 400})[2])
    assert len(tok["tokens"]) == 100


def gold_read(qi=0, gi=0):
    q = DATA["questions"][qi]
    g = q["gold"][gi]
    passages = sentences(g["title"] + ". " + g["text"])
    return q, g, passages


def test_read_quotes_support_verbatim():
    q, g, passages = gold_read(0, 0)
    status, _, body = chat(F.model, "read", read_prompt(q["question"], g["title"], passages))
    assert status == 200, body
    reply = json.loads(body)
    assert reply["usage"]["prompt_tokens"] > 0 and reply["usage"]["completion_tokens"] > 0
    findings = content_of(body)["findings"]
    assert len(findings) == len(g["support"]) == 1
    f = findings[0]
    assert f["quote"] == g["support"][0]
    assert f["quote"] in passages[f["passage"] - 1]
    assert g["title"] in f["claim"]
    # Every question's gold paragraphs: each support sentence quoted once.
    for q in DATA["questions"][:20]:
        for g in q["gold"]:
            passages = sentences(g["text"])
            got = content_of(chat(F.model, "read", read_prompt(q["question"], g["title"], passages))[2])
            quotes = [f["quote"] for f in got["findings"]]
            for f in got["findings"]:
                assert f["quote"] in passages[f["passage"] - 1]
            for s in g["support"]:
                if any(collapse(s) in p for p in passages):
                    assert collapse(s) in quotes, (g["title"], s, quotes)


def test_read_non_gold_and_missing():
    q, g, passages = gold_read(0, 0)
    other = next(p for p in DATA["corpus"] if p["title"] not in [x["title"] for x in q["gold"]])
    got = content_of(chat(F.model, "read", read_prompt(q["question"], other["title"],
                                                       sentences(other["text"])))[2])
    assert got == {"findings": []}
    # The gold source, but the supporting sentence is not among the passages.
    cut = [p for p in passages if g["support"][0] not in p]
    got = content_of(chat(F.model, "read", read_prompt(q["question"], g["title"], cut))[2])
    assert got == {"findings": []}
    # A question not in the data file.
    got = content_of(chat(F.model, "read", read_prompt("Who wrote nothing at all?", g["title"], passages))[2])
    assert got == {"findings": []}


def test_read_schema_limits():
    q, g, passages = gold_read(0, 0)
    schema = {"type": "object", "properties": {"findings": {"type": "array", "maxItems": 0}}}
    got = content_of(chat(F.model, "read", read_prompt(q["question"], g["title"], passages),
                          schema=schema)[2])
    assert got == {"findings": []}
    # A quote longer than maxLength: cut at a word boundary, still verbatim.
    schema = {"type": "object", "properties": {"findings": {"type": "array", "items": {
        "type": "object", "properties": {"quote": {"type": "string", "maxLength": 30}}}}}}
    got = content_of(chat(F.model, "read", read_prompt(q["question"], g["title"], passages),
                          schema=schema)[2])["findings"]
    full = g["support"][0]
    assert len(got) == 1 and 0 < len(got[0]["quote"]) <= 30, got
    assert full.startswith(got[0]["quote"]) and full[len(got[0]["quote"])] == " ", got
    assert F.model.violations() == []


def sse_events(raw):
    events = []
    for block in raw.decode().split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            events.append(block[len("data: "):])
    return events


def test_streaming():
    q, g, passages = gold_read(0, 1)
    user = read_prompt(q["question"], g["title"], passages)
    status, headers, raw = chat(F.model, "read", user, stream=True)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    streamed = json.loads(text)
    assert streamed == content_of(chat(F.model, "read", user)[2])
    assert streamed["findings"][0]["quote"] == g["support"][0]


def test_other_schemas():
    q = DATA["questions"][0]
    titles = [g["title"] for g in q["gold"]]
    got = content_of(chat(F.model, "brief", "Plan the research.\nQUESTION: %s" % q["question"])[2])
    assert set(got) == {"scope", "key_terms", "complete_answer", "language"} and got["key_terms"]
    got = content_of(chat(F.model, "plan", "Break it down.\nQUESTION: %s" % q["question"])[2])
    assert [s["question"] for s in got["subquestions"]] == titles
    assert all(1 <= len(s["queries"]) <= 3 for s in got["subquestions"])
    user = ("Q1 (open, findings: 2): %s\nQ2 (open, findings: 0): %s\nTRIED: \"%s\" (results: 3)\n"
            "QUESTION: %s" % (titles[0], titles[1], titles[1], q["question"]))
    got = content_of(chat(F.model, "reflect", user)[2])
    assert got == {"states": [{"id": "Q1", "state": "answered"}, {"id": "Q2", "state": "missing"}],
                   "new": []}
    s0, s1 = q["gold"][0]["support"][0], q["gold"][1]["support"][0]
    fl = ['[F7] According to %s, %s | "%s"' % (titles[0], s0, s0),
          '[F9] According to %s, %s | "%s"' % (titles[1], s1, s1)]
    got = content_of(chat(F.model, "outline", "\n".join(fl + ["QUESTION: " + q["question"]]))[2])
    assert got["short_answer"][0]["cites"] == [7, 9] and q["answer"] in got["short_answer"][0]["text"]
    assert got["sections"] == [{"heading": titles[0], "findings": [7]},
                               {"heading": titles[1], "findings": [9]}]
    got = content_of(chat(F.model, "write", "\n".join(["SECTION: %s" % titles[0]] + fl[:1] +
                                                      ["QUESTION: " + q["question"]]))[2])
    assert got == {"sentences": [{"text": "According to %s, %s" % (titles[0], s0), "cites": [7]}]}


def test_bad_requests():
    url = F.model.url + "/chat/completions"
    assert http(url, b"{not json")[0] == 400
    assert http(url, {"messages": "x"})[0] == 400
    assert chat(F.model, "poem", "QUESTION: x")[0] == 400
    status, _, body = chat(F.model, "read", "no question line here")
    assert status == 400 and b"QUESTION" in body
    assert chat(F.model, "read", "x" * (8192 * 4 + 8) + "\nQUESTION: q")[0] == 400   # past n_ctx
    assert http(F.model.url + "/nothing")[0] == 404
    for head, want in ((b"", b" 411 "), (b"Content-Length: 99999999999\r\n", b" 413 ")):
        with socket.create_connection(("127.0.0.1", F.model.port), timeout=10) as c:
            c.sendall(b"POST /v1/chat/completions HTTP/1.0\r\n" + head + b"\r\n")
            assert c.recv(100).startswith(b"HTTP/1.0" + want)
    assert json.loads(http(F.model.url[:-3] + "/health")[2])["status"] == "ok"


def test_no_violations_then_check_trips():
    assert F.model.violations() == [], F.model.violations()
    q, g, passages = gold_read(0, 0)
    user = read_prompt(q["question"], g["title"], passages)
    fake = "Lilu was crowned king of Babylon in the year 1204 before the common era"
    assert fake not in user
    status, _, body = chat(F.model, "read", user, extra={"scenario_quote": {"passage": 1, "quote": fake}})
    assert status == 200
    v = F.model.violations()
    assert len(v) == 1 and v[0]["quote"] == fake and v[0]["why"] == "not in the prompt", v
    # A real quote attributed to the wrong passage trips it too.
    k = next(i for i, p in enumerate(passages, 1) if g["support"][0] in p)
    wrong = 1 if k != 1 else 2
    chat(F.model, "read", user, extra={"scenario_quote": {"passage": wrong, "quote": g["support"][0]}})
    v = F.model.violations()
    assert len(v) == 2 and v[1]["why"] == "not in passage P%d" % wrong, v
    assert json.loads(http(F.model.url[:-3] + "/stats")[2])["violations"] == 2


def test_log_lines():
    log = F.model.requests()
    served = [r for r in log if r["outcome"] == "served"]
    assert served and all(len(r["sha256"]) == 64 and r["slot"] in (0, 1) for r in served)
    assert all(r["t_start"] <= r["t_end"] for r in log)
    assert {r["schema"] for r in served} >= {"read", "plan", "reflect", "outline", "write", "brief"}
    # Two identical requests: one body hash served twice, which is what a
    # crash test counts.
    before = F.model.answered_twice()
    body = {"messages": [{"role": "user", "content": "QUESTION: twice %f" % time.time()}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "brief", "schema": {}}}}
    raw = json.dumps(body).encode()     # as http() sends it
    for _ in range(2):
        assert http(F.model.url + "/chat/completions", raw)[0] == 200
    dup = F.model.answered_twice()
    h = hashlib.sha256(raw).hexdigest()
    assert dup.get(h) == 2 and h not in before, dup


def model_with(*args):
    return F.start(model.ModelServer(F.data_path, list(args), workdir=tempfile.mkdtemp(dir=F.tmp)))


def parallel(fns):
    out = [None] * len(fns)

    def run(i):
        out[i] = fns[i]()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for i, t in enumerate(ts):
        t.start()
        time.sleep(0.1)     # so that the server numbers them in this order
    for t in ts:
        t.join()
    return out


def test_slots_serialise():
    m = model_with("--slots", "1", "--delay-ms", "300")
    q, g, passages = gold_read(0, 0)
    user = read_prompt(q["question"], g["title"], passages)
    res = parallel([lambda: chat(m, "read", user), lambda: chat(m, "read", user)])
    assert [r[0] for r in res] == [200, 200]
    log = sorted(m.requests(), key=lambda r: r["t_slot"])
    assert [r["slot"] for r in log] == [0, 0]
    assert log[1]["t_slot"] >= log[0]["t_end"] - 0.01, log
    props = json.loads(http(m.url[:-3] + "/props")[2])
    assert props["total_slots"] == 1


def test_reverse_flips_order():
    m = model_with("--slots", "4", "--delay-ms", "1200", "--reverse")
    q = DATA["questions"][0]
    done = []

    def call(tag):
        def f():
            chat(m, "plan", "QUESTION: %s" % q["question"])
            done.append(tag)
        return f
    parallel([call("first"), call("second")])
    assert done == ["second", "first"], done


def test_fail_first_and_token_rate():
    m = model_with("--fail-first", "2", "--token-rate", "200")
    q = DATA["questions"][0]
    assert chat(m, "plan", "QUESTION: " + q["question"])[0] == 503
    assert chat(m, "plan", "QUESTION: " + q["question"])[0] == 503
    t = time.time()
    status, _, body = chat(m, "plan", "QUESTION: " + q["question"])
    assert status == 200
    n = json.loads(body)["usage"]["completion_tokens"]
    assert time.time() - t >= n / 200.0, (n, time.time() - t)
    assert [r["outcome"] for r in m.requests()] == ["rejected", "rejected", "served"]


def test_invent_quotes():
    m = model_with("--invent-quotes")
    q, g, passages = gold_read(0, 0)
    user = read_prompt(q["question"], g["title"], passages)
    first = content_of(chat(m, "read", user)[2])["findings"]
    assert len(first) == len(g["support"]) + 1
    made_up = [f["quote"] for f in first if f["quote"] not in user]
    assert len(made_up) == 1
    second = content_of(chat(m, "read", user)[2])["findings"]
    assert all(f["quote"] in user for f in second) and len(second) == len(g["support"])
    log = m.requests()
    assert log[0]["invented"] == made_up and m.violations() == []


def test_stuck_gaps():
    m = model_with("--stuck-gaps")
    q = DATA["questions"][0]
    user = "Q1 (open, findings: 3): %s\nQUESTION: %s" % (q["gold"][0]["title"], q["question"])
    a = content_of(chat(m, "reflect", user)[2])
    b = content_of(chat(m, "reflect", user)[2])
    assert a == b and a["states"] == [{"id": "Q1", "state": "missing"}] and len(a["new"]) == 1


def test_delay_by_schema():
    m = model_with("--delay-by-schema", "brief=500")
    q = DATA["questions"][0]
    t = time.time()
    chat(m, "plan", "QUESTION: " + q["question"])
    fast = time.time() - t
    t = time.time()
    chat(m, "brief", "QUESTION: " + q["question"])
    assert time.time() - t >= 0.5 and fast < 0.5
    r = subprocess.run([sys.executable, os.path.join(HERE, "model.py"), F.data_path,
                        "--delay-by-schema", "poem=5"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "SCHEMA=MS" in r.stderr


def test_client_gone():
    m = model_with("--delay-ms", "800")
    q = DATA["questions"][0]
    body = json.dumps({"stream": True, "messages": [{"role": "user", "content": "QUESTION: " + q["question"]}],
                       "response_format": {"type": "json_schema", "json_schema": {"name": "plan"}}}).encode()
    with socket.create_connection(("127.0.0.1", m.port)) as c:
        c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.2)
    deadline = time.time() + 5
    while not m.requests() and time.time() < deadline:
        time.sleep(0.05)
    assert [r["outcome"] for r in m.requests()] == ["aborted"], m.requests()
    assert m.answered_twice() == {}
    assert chat(m, "plan", "QUESTION: " + q["question"])[0] == 200     # still serving


def test_extraction_keeps_support():
    # The daemon reads these pages through its extraction code: every
    # support sentence must survive it verbatim (whitespace collapsed), or
    # the model server could never quote it.
    exe = os.environ.get("RESEARCH")
    if not exe:
        print("     (RESEARCH unset: the extraction check did not run)")
        return
    n = 0
    for q in DATA["questions"]:
        for g in q["gold"]:
            r = subprocess.run([exe, "extract", "-", "--base-url", "http://127.0.0.1/p.html",
                                "--content-type", "text/html"], input=web.page_html(g["title"], g["text"]),
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            text = collapse(r.stdout)
            for sent in g["support"]:
                assert collapse(sent) in text, (g["title"], sent)
                n += 1
    assert n >= 2 * len(DATA["questions"])


def test_daemon_end_to_end():
    # The scenario fixture as a scenario test uses it: a real researchd
    # discovers the model server, searches the fixture and fetches a page.
    if not os.environ.get("RESEARCHD"):
        print("     (RESEARCHD unset: the daemon check did not run)")
        return
    import scenario
    s = scenario.Scenario(limit=2).start()
    try:
        d = s.daemon()
        deadline = time.time() + 15
        out = d.cli("llm").stdout
        while "reachable: yes" not in out and time.time() < deadline:
            time.sleep(0.2)     # discovery runs in the background at start
            out = d.cli("llm").stdout
        assert "slots: 2" in out and "context: 8192" in out and s.model.url in out, out
        g = s.question(0)["gold"][1]
        out = d.cli("search", g["title"]).stdout
        assert s.nginx.url(g["title"]) in out.split("\n")[1], out
        url = s.nginx.url(g["title"])
        r = d.cli("fetch", url)
        assert r.returncode == 0, r.stdout + r.stderr
        for sent in g["support"]:
            assert collapse(sent) in collapse(r.stdout)
        path = urllib.parse.urlsplit(url).path
        deadline = time.time() + 5
        while s.nginx.counts().get(path, 0) < 1 and time.time() < deadline:
            time.sleep(0.05)
        assert s.nginx.counts().get(path) == 1 and len(s.search.requests()) == 1
        assert s.model.requests() == []     # no job ran: no chat request
    finally:
        s.stop()
    assert s.daemon_rc == 0, "researchd exited with %s on SIGTERM" % s.daemon_rc


TESTS = [test_convert_cli, test_convert_matches_raw_set, test_convert_known_question,
         test_convert_bad_input, test_page_served, test_search_finds_gold_pages, test_search_delay,
         test_config_accepted, test_discovery, test_read_quotes_support_verbatim,
         test_read_non_gold_and_missing, test_read_schema_limits, test_streaming, test_other_schemas,
         test_bad_requests, test_no_violations_then_check_trips, test_log_lines, test_slots_serialise,
         test_reverse_flips_order, test_fail_first_and_token_rate, test_invent_quotes,
         test_stuck_gaps, test_delay_by_schema, test_client_gone,
         test_extraction_keeps_support, test_daemon_end_to_end]


def main():
    global F, RAW
    if not (os.path.isfile(RAW_Q) and os.path.isfile(RAW_C)):
        skip("the QA set is not at %s (../shared absent)" % DATA_DIR)
    if web.find_nginx() is None:
        skip("nginx is not installed")
    with open(RAW_Q) as f, open(RAW_C) as g:
        RAW = (json.load(f), json.load(g))
    F = Fixture()
    failed = 0
    try:
        for t in TESTS:
            if t is TESTS[4]:
                F.nginx = F.start(web.Nginx(DATA))
                F.search = F.start(web.SearchServer(F.data_path, F.nginx.base))
                F.model = F.start(model.ModelServer(F.data_path, workdir=tempfile.mkdtemp(dir=F.tmp)))
            try:
                t()
                print("ok   %s" % t.__name__)
            except Exception:
                failed += 1
                print("FAIL %s" % t.__name__)
                traceback.print_exc()
                if DATA is None:
                    break
    finally:
        F.close()
        import shutil
        shutil.rmtree(F.tmp, ignore_errors=True)
    print("%d of %d failed" % (failed, len(TESTS)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
