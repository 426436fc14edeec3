#!/usr/bin/env bash
# Smoke test of the test model server (server.mjs) with a real engine.
#
#   tests/llm/model-server/smoke.sh [MODEL.gguf ...]
#
# Installs nothing: node_modules must already be there (npm install
# --omit=optional --no-audit --no-fund in this folder). Without arguments it
# runs against a tiny random GGUF written by make-gguf.py and against
# ../shared/models/stories260K.gguf when that exists. Talks to 127.0.0.1 only.
# (SMOKE_SHARED_MODEL=FILE overrides that path.) Prints the timings it
# observes. Exit status 0 when every check passed, 77 (skipped) when a part
# could not run here (../shared or node_modules absent), else 1.

set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
# The engine under test is researchd-llm's server, with its packages.
engine="$repo/llm-server"
shared_model=${SMOKE_SHARED_MODEL:-"$repo/../shared/models/stories260K.gguf"}

command -v node >/dev/null || { echo "smoke.sh: node not found" >&2; exit 2; }
command -v curl >/dev/null || { echo "smoke.sh: curl not found" >&2; exit 2; }
command -v python3 >/dev/null || { echo "smoke.sh: python3 not found" >&2; exit 2; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    # meson reads 77 as "skipped"; CI must not skip.
    echo "smoke.sh: skipped: node-llama-cpp needs Node.js >= 20, this is $(node --version)" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
if [ ! -d "$engine/node_modules/node-llama-cpp" ]; then
    echo "smoke.sh: skipped: $engine/node_modules is missing; run scripts/setup, or: (cd $engine && npm install --omit=optional --no-audit --no-fund)" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
checks=0
skipped=0
ok()   { checks=$((checks + 1)); echo "  ok   $*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "  FAIL $*"; }
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}
ms() { date +%s%3N; }

SPID=""; PORT=""; BASE=""; SERR=""; LOAD_HEALTH=""
start_server() { # start_server MODEL ARGS...
    local model=$1; shift
    local n=${#pids[@]}
    local out="$tmp/server.$n.out"
    SERR="$tmp/server.$n.err"
    local t0; t0=$(ms)
    node "$engine/server.mjs" --model "$model" --port 0 --host 127.0.0.1 "$@" >"$out" 2>"$SERR" &
    SPID=$!
    pids+=("$SPID")
    local i lp
    LOAD_HEALTH=""
    for i in $(seq 1 600); do
        # while the model loads (stderr says "loading 127.0.0.1:PORT"), /health must be 503
        if [ -z "$LOAD_HEALTH" ] && ! grep -q listening "$out" 2>/dev/null; then
            lp=$(sed -n 's/^loading 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$SERR" 2>/dev/null)
            [ -n "$lp" ] && LOAD_HEALTH=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$lp/health")
        fi
        if grep -q '^listening 127\.0\.0\.1:[0-9]*$' "$out" 2>/dev/null; then
            PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
            BASE="http://127.0.0.1:$PORT"
            echo "  server pid $SPID on 127.0.0.1:$PORT ($*): ready after $(( $(ms) - t0 )) ms;" \
                "$(sed -n 's/^model loaded in \([0-9.]*\) ms (\([^)]*\)).*/load \1 ms (\2)/p' "$SERR")"
            return 0
        fi
        if ! kill -0 "$SPID" 2>/dev/null; then
            echo "  server exited early:"; sed 's/^/    /' "$SERR"
            return 1
        fi
        sleep 0.05
    done
    echo "  server did not become ready in 30 s"; sed 's/^/    /' "$SERR"
    return 1
}
stop_server() {
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    local p rest=()
    for p in "${pids[@]}"; do [ "$p" != "$SPID" ] && rest+=("$p"); done
    pids=("${rest[@]}")
}

# get PATH / post PATH JSON: body on stdout; HTTP status via `status`, curl's
# total time in ms via `took`
get()  { curl -sS --max-time 60 -o - -w '\n%{http_code} %{time_total}' "$BASE$1" >"$tmp/resp" 2>"$tmp/curlerr"; split_status; }
post() { curl -sS --max-time 60 -H 'Content-Type: application/json' -d "$2" -o - -w '\n%{http_code} %{time_total}' "$BASE$1" >"$tmp/resp" 2>"$tmp/curlerr"; split_status; }
split_status() {
    python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
body, _, tail = d.rpartition(b"\n")
code, t = (tail.decode().split() + ["000", "0"])[:2]
open(sys.argv[2], "w").write("%s %d" % (code, round(float(t) * 1000)))
sys.stdout.buffer.write(body)' "$tmp/resp" "$tmp/status"
}
status() { cut -d' ' -f1 "$tmp/status"; }
took() { cut -d' ' -f2 "$tmp/status"; }
py() { python3 -c "$@"; }

SCHEMA='{"type":"object","properties":{"title":{"type":"string","maxLength":40},"mood":{"enum":["happy","sad","calm"]},"count":{"type":"integer"},"ok":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string","maxLength":12},"maxItems":3}},"required":["title","mood","count","ok","tags"],"additionalProperties":false}'

# Checks a JSON value against the schema above (the subset it uses).
SCHEMA_CHECK='
import json, sys
s = json.loads(sys.argv[1]); v = json.loads(sys.argv[2])
def ok(s, v):
    if "enum" in s: return v in s["enum"]
    t = s.get("type")
    if t == "object":
        if not isinstance(v, dict): return False
        if any(k not in v for k in s.get("required", [])): return False
        if s.get("additionalProperties") is False and any(k not in s["properties"] for k in v): return False
        return all(ok(s["properties"][k], x) for k, x in v.items() if k in s["properties"])
    if t == "string": return isinstance(v, str) and len(v) <= s.get("maxLength", 1 << 30)
    if t == "integer": return isinstance(v, int) and not isinstance(v, bool)
    if t == "boolean": return isinstance(v, bool)
    if t == "array": return isinstance(v, list) and len(v) <= s.get("maxItems", 1 << 30) and all(ok(s["items"], x) for x in v)
    return False
sys.exit(0 if ok(s, v) else 1)
'

# Parses an SSE body: prints "N_CHUNKS FINISH_REASON COMPLETION_TOKENS DONE" and writes the content to argv[2].
SSE_PARSE='
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
events = [e for e in raw.split("\n\n") if e.strip()]
content, finish, usage, done, n = "", None, None, False, 0
for e in events:
    assert e.startswith("data: "), "not a data event: %r" % e[:40]
    d = e[6:]
    if d == "[DONE]": done = True; continue
    assert not done, "event after [DONE]"
    j = json.loads(d); n += 1
    assert j["object"] == "chat.completion.chunk"
    if j.get("usage"): usage = j["usage"]
    for c in j["choices"]:
        content += c["delta"].get("content") or ""
        if c.get("finish_reason"): finish = c["finish_reason"]
open(sys.argv[2], "w", encoding="utf-8").write(content)
print(n, finish, usage["completion_tokens"] if usage else -1, "done" if done else "no-done")
'

run_suite() { # run_suite MODEL LABEL CTX_TOTAL
    local model=$1 label=$2 ctx=$3
    echo "== $label: $model"
    local args=(--parallel 2)
    [ "$ctx" -gt 0 ] && args+=(--ctx "$ctx")
    start_server "$model" "${args[@]}" || { fail "$label: server start"; return; }

    # health, props, slots, models
    local body
    body=$(get /health)
    check "health 200 {\"status\":\"ok\"}" [ "$(status)" = 200 -a "$body" = '{"status":"ok"}' ]
    body=$(get /props)
    local nctx slots
    nctx=$(py 'import json,sys; print(json.loads(sys.argv[1])["default_generation_settings"]["n_ctx"])' "$body")
    slots=$(py 'import json,sys; print(json.loads(sys.argv[1])["total_slots"])' "$body")
    if [ "$ctx" -gt 0 ]; then
        check "props: n_ctx per slot $nctx = $ctx/2, total_slots $slots = 2" [ "$nctx" = $((ctx / 2)) -a "$slots" = 2 ]
    else
        check "props: n_ctx per slot $nctx > 0, total_slots $slots = 2" [ "$nctx" -gt 0 -a "$slots" = 2 ]
    fi
    body=$(get /slots)
    check "slots: 2 idle slots with n_ctx" py 'import json,sys; s=json.loads(sys.argv[1]); assert [x["id"] for x in s]==[0,1] and all(x["n_ctx"]==int(sys.argv[2]) and x["is_processing"] is False for x in s)' "$body" "$nctx"
    body=$(get /v1/models)
    check "v1/models lists the model" py 'import json,sys; d=json.loads(sys.argv[1]); assert d["object"]=="list" and len(d["data"])==1 and d["data"][0]["id"]' "$body"

    # streamed chat completion
    local req='{"messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":"Once upon a time"}],"max_tokens":48,"temperature":0,"stream":true,"stream_options":{"include_usage":true},"cache_prompt":true}'
    curl -sS -N --max-time 60 -H 'Content-Type: application/json' -d "$req" "$BASE/v1/chat/completions" >"$tmp/sse" 2>"$tmp/curlerr"
    local parsed
    parsed=$(py "$SSE_PARSE" "$tmp/sse" "$tmp/sse.content" 2>&1)
    echo "  stream: chunks finish_reason completion_tokens: $parsed"
    check "stream: data chunks, finish_reason stop/length, usage chunk, [DONE]" \
        py 'import sys; n,f,u,d=sys.argv[1].split(); assert int(n)>=3 and f in ("stop","length") and 0<int(u)<=48 and d=="done"' "$parsed"
    # the same request without streaming gives the same text (temperature 0)
    body=$(post /v1/chat/completions "${req/\"stream\":true/\"stream\":false}")
    check "non-stream: same content as the stream at temperature 0, usage present" \
        py 'import json,sys; r=json.loads(sys.argv[1]); c=r["choices"][0]; assert r["object"]=="chat.completion" and c["message"]["role"]=="assistant"; assert c["message"]["content"]==open(sys.argv[2],encoding="utf-8").read(), (c["message"]["content"][:80]); assert r["usage"]["completion_tokens"]>0' "$body" "$tmp/sse.content"
    check "prompt cache: second identical prompt reuses cached tokens" \
        py 'import json,sys; r=json.loads(sys.argv[1]); assert r["usage"]["prompt_tokens_details"]["cached_tokens"]>0' "$body"

    # JSON schema
    local sreq t0 lat
    sreq='{"messages":[{"role":"user","content":"Describe a story as JSON."}],"temperature":0.7,"seed":42,"max_tokens":400,"response_format":{"type":"json_schema","json_schema":{"name":"story","strict":true,"schema":'"$SCHEMA"'}}}'
    body=$(post /v1/chat/completions "$sreq"); lat=$(took)
    local content fr
    content=$(py 'import json,sys; print(json.loads(sys.argv[1])["choices"][0]["message"]["content"])' "$body")
    fr=$(py 'import json,sys; print(json.loads(sys.argv[1])["choices"][0]["finish_reason"])' "$body")
    echo "  json_schema answer ($lat ms, finish_reason $fr): $content"
    check "json_schema: finish_reason stop, answer parses and matches the schema" \
        sh -c '[ "$1" = stop ] && python3 -c "$2" "$3" "$4"' _ "$fr" "$SCHEMA_CHECK" "$SCHEMA" "$content"
    local i lats=()
    for i in 1 2 3 4 5; do
        post /v1/chat/completions "${sreq/\"seed\":42/\"seed\":$i}" >"$tmp/js.$i"; lats+=("$(took)")
        py 'import json,sys; r=json.load(open(sys.argv[1])); c=r["choices"][0]; assert c["finish_reason"]=="stop"; print(c["message"]["content"])' "$tmp/js.$i" >"$tmp/js.$i.c" 2>/dev/null &&
            python3 -c "$SCHEMA_CHECK" "$SCHEMA" "$(cat "$tmp/js.$i.c")" || { fail "json_schema seed $i"; }
    done
    echo "  FIGURE $label json_schema request latency (curl time_total, 5 seeds): ${lats[*]} ms;" \
        "server timings of the last: $(py 'import json,sys; r=json.load(open(sys.argv[1])); t=r["timings"]; print("prompt %.1f ms + %d tokens in %.1f ms" % (t["prompt_ms"], t["predicted_n"], t["predicted_ms"]))' "$tmp/js.5")"
    body=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"JSON please"}],"max_tokens":300,"seed":7,"response_format":{"type":"json_object"}}')
    check "json_object: a JSON object or finish_reason length" \
        py 'import json,sys; c=json.loads(sys.argv[1])["choices"][0]; assert c["finish_reason"]=="length" or isinstance(json.loads(c["message"]["content"]), dict)' "$body"

    # max_tokens cuts the reply
    body=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"max_tokens":5,"response_format":{"type":"json_schema","json_schema":{"schema":'"$SCHEMA"'}}}')
    check "max_tokens 5 under a schema: finish_reason length, 5 tokens, not valid JSON" \
        py 'import json,sys; r=json.loads(sys.argv[1]); c=r["choices"][0]
assert c["finish_reason"]=="length" and r["usage"]["completion_tokens"]==5
try: json.loads(c["message"]["content"]); raise SystemExit(1)
except ValueError: pass' "$body"
    body=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"max_tokens":10,"ignore_eos":true,"stream":false}')
    check "max_tokens 10 with ignore_eos: finish_reason length, 10 tokens" \
        py 'import json,sys; r=json.loads(sys.argv[1]); assert r["choices"][0]["finish_reason"]=="length" and r["usage"]["completion_tokens"]==10' "$body"

    # throughput: 200 tokens, no EOS
    body=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":200,"ignore_eos":true,"temperature":0.8,"seed":1}')
    echo "  FIGURE $label generation: $(py 'import json,sys; t=json.loads(sys.argv[1])["timings"]; print("%d tokens in %.1f ms = %.0f tokens/s; prompt %d tokens in %.1f ms = %.0f tokens/s" % (t["predicted_n"], t["predicted_ms"], t["predicted_per_second"], t["prompt_n"], t["prompt_ms"], t["prompt_per_second"]))' "$body")"

    # tokenize / detokenize
    body=$(post /tokenize '{"content":"Hello world"}')
    local toks; toks=$(py 'import json,sys; t=json.loads(sys.argv[1])["tokens"]; assert t and all(isinstance(x,int) for x in t); print(json.dumps(t))' "$body")
    check "tokenize: Hello world -> $toks" [ -n "$toks" ]
    body=$(post /detokenize "{\"tokens\":$toks}")
    check "detokenize round trip" py 'import json,sys; assert json.loads(sys.argv[1])["content"].strip()=="Hello world"' "$body"
    body=$(post /tokenize '{"content":"Hi","add_special":true,"with_pieces":true}')
    check "tokenize add_special/with_pieces" py 'import json,sys; t=json.loads(sys.argv[1])["tokens"]; assert t[0]["piece"]=="<s>" and all("id" in x for x in t)' "$body"

    # context overflow is an error, never a silent truncation
    local long; long=$(py 'print("abc def ghi " * 1500)')
    body=$(post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}],\"max_tokens\":4}")
    check "prompt over n_ctx: 400 exceed_context_size_error with n_prompt_tokens/n_ctx" \
        py 'import json,sys; e=json.loads(sys.argv[1])["error"]; assert sys.argv[2]=="400" and e["type"]=="exceed_context_size_error" and e["n_prompt_tokens"]>e["n_ctx"]==int(sys.argv[3])' "$body" "$(status)" "$nctx"

    # errors in OpenAI/llama-server format
    body=$(post /v1/chat/completions '{"messages": [')
    check "bad JSON: 400 invalid_request_error" py 'import json,sys; e=json.loads(sys.argv[1])["error"]; assert sys.argv[2]=="400" and e["code"]==400 and e["type"]=="invalid_request_error" and e["message"]' "$body" "$(status)"
    body=$(get /no/such/route)
    check "unknown route: 404" py 'import json,sys; e=json.loads(sys.argv[1])["error"]; assert sys.argv[2]=="404" and e["code"]==404 and e["type"]' "$body" "$(status)"
    body=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"type":"strng"}}}}}}')
    check "bad schema: 400" py 'import json,sys; e=json.loads(sys.argv[1])["error"]; assert sys.argv[2]=="400" and e["type"]=="invalid_request_error" and "strng" in e["message"]' "$body" "$(status)"
    body=$(post /v1/chat/completions '{"messages":[]}')
    check "empty messages: 400" [ "$(status)" = 400 ]
    stop_server

    # parallel slots and cancellation: generation slowed to ~20 ms per token
    start_server "$model" --parallel 2 --ctx "$((ctx > 0 ? ctx : 2048))" --token-delay-ms 20 --load-delay-ms 1000 || { fail "$label: slow server start"; return; }
    check "health while loading: 503 (got $LOAD_HEALTH)" [ "$LOAD_HEALTH" = 503 ]
    local preq='{"messages":[{"role":"user","content":"Once"}],"max_tokens":25,"ignore_eos":true,"temperature":0}'
    post /v1/chat/completions "$preq" >/dev/null; local single; single=$(took)
    t0=$(ms)
    curl -sS --max-time 60 -d "$preq" "$BASE/v1/chat/completions" >"$tmp/p1" 2>/dev/null & local c1=$!
    curl -sS --max-time 60 -d "$preq" "$BASE/v1/chat/completions" >"$tmp/p2" 2>/dev/null & local c2=$!
    local maxbusy=0 b
    while kill -0 $c1 2>/dev/null || kill -0 $c2 2>/dev/null; do
        b=$(curl -sS --max-time 5 "$BASE/slots" | py 'import json,sys; print(sum(1 for s in json.load(sys.stdin) if s["is_processing"]))' 2>/dev/null || echo 0)
        [ "$b" -gt "$maxbusy" ] && maxbusy=$b
        sleep 0.05
    done
    wait $c1 $c2; local both=$(( $(ms) - t0 ))
    echo "  FIGURE $label parallel: one 25-token request $single ms, two concurrent $both ms, max busy slots seen $maxbusy"
    check "two parallel requests on a 2-slot server: both busy at once, both finish" \
        py 'import json,sys; [json.load(open(f))["choices"][0]["finish_reason"]=="length" or sys.exit(1) for f in sys.argv[2:]]; assert int(sys.argv[1])==2' "$maxbusy" "$tmp/p1" "$tmp/p2"
    # informational only: on a loaded 2-core machine wall times are noisy; the
    # busy-slot count above is the check
    if [ $((both * 10)) -lt $((single * 16)) ]; then echo "  note two concurrent < 1.6x one: ran in parallel"
    else echo "  note two concurrent took >= 1.6x one (machine busy?)"; fi

    # a third request waits for a free slot
    for i in 1 2 3; do curl -sS --max-time 60 -d "$preq" "$BASE/v1/chat/completions" >"$tmp/q$i" 2>/dev/null & eval "q$i=\$!"; done
    local full=no
    for i in $(seq 1 60); do
        b=$(curl -sS --max-time 5 "$BASE/slots?fail_on_no_slot=1" -o /dev/null -w '%{http_code}')
        [ "$b" = 503 ] && { full=yes; break; }
        sleep 0.05
    done
    wait "$q1" "$q2" "$q3" 2>/dev/null
    check "three requests on two slots: both slots busy (fail_on_no_slot 503) seen=$full, all three finish" \
        py 'import json,sys; assert sys.argv[1]=="yes"; [json.load(open(f))["choices"][0]["finish_reason"]=="length" or sys.exit(1) for f in sys.argv[2:]]' "$full" "$tmp/q1" "$tmp/q2" "$tmp/q3"

    # a client that disconnects mid-stream frees its slot
    local creq='{"messages":[{"role":"user","content":"Once"}],"max_tokens":200,"ignore_eos":true,"stream":true,"id_slot":1}'
    t0=$(ms)
    curl -sS -N --max-time 0.6 -d "$creq" "$BASE/v1/chat/completions" >"$tmp/cancel" 2>/dev/null
    local got; got=$(grep -c '"content"' "$tmp/cancel")
    local freed=no n_dec=-1
    for i in $(seq 1 40); do
        body=$(get /slots)
        if py 'import json,sys; assert json.loads(sys.argv[1])[1]["is_processing"] is False' "$body" 2>/dev/null; then
            freed=yes
            n_dec=$(py 'import json,sys; print(json.loads(sys.argv[1])[1]["next_token"]["n_decoded"])' "$body")
            break
        fi
        sleep 0.05
    done
    echo "  cancel: client got $got chunks, slot 1 freed=$freed $(( $(ms) - t0 )) ms after start, n_decoded=$n_dec of 200"
    check "client disconnect mid-stream: slot freed, generation stopped early" [ "$freed" = yes -a "$n_dec" -ge 0 -a "$n_dec" -lt 100 ]
    # non-streamed request abandoned by its client also frees the slot
    curl -sS --max-time 0.4 -d "${creq/\"stream\":true/\"stream\":false}" "$BASE/v1/chat/completions" >/dev/null 2>&1
    freed=no
    for i in $(seq 1 40); do
        if get /slots | py 'import json,sys; assert json.load(sys.stdin)[1]["is_processing"] is False' 2>/dev/null; then freed=yes; break; fi
        sleep 0.05
    done
    check "client disconnect (non-streamed): slot freed" [ "$freed" = yes ]
    body=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Once"}],"max_tokens":3,"id_slot":1}')
    check "the freed slot serves the next request" [ "$(status)" = 200 ]
    stop_server
}

if [ $# -gt 0 ]; then
    for m in "$@"; do run_suite "$m" "$(basename "$m")" 0; done
else
    python3 "$here/make-gguf.py" "$tmp/tiny.gguf" 2>/dev/null || { echo "make-gguf.py failed" >&2; exit 1; }
    echo "generated $tmp/tiny.gguf ($(wc -c <"$tmp/tiny.gguf") bytes)"
    run_suite "$tmp/tiny.gguf" tiny 512
    if [ -f "$shared_model" ]; then
        run_suite "$shared_model" stories260K 0
    else
        echo "== stories260K: skipped: ../shared absent ($shared_model)"
        skipped=$((skipped + 1))
        if [ "${CI:-}" = true ]; then
            echo "smoke.sh: CI must not skip the stories260K run" >&2
            fails=$((fails + 1))
        fi
    fi
fi
echo "smoke: $((checks - fails))/$checks checks passed"
[ "$fails" -eq 0 ] || exit 1
# A part that could not run makes the whole a SKIP (77), never a pass.
if [ "$skipped" -gt 0 ]; then
    echo "smoke: $skipped part(s) skipped: exiting 77 (skipped)"
    exit 77
fi
exit 0
