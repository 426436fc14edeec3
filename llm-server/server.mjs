#!/usr/bin/env node
// researchd-llm: the OpenAI-compatible model server that researchd runs for
// [llm] serve when no llama-server is on PATH, built on node-llama-cpp
// (prebuilt CPU binaries; its packages are installed beside this file from
// package-lock.json by scripts/setup). The same program serves the llm/
// tests (tests/llm/model-server). It imitates llama.cpp's llama-server
// closely enough that the daemon drives both alike:
// chat completions (streaming and not), JSON-schema grammars, /health, /props,
// /slots, /v1/models, /tokenize, /detokenize, parallel slots, prompt cache and
// cancellation when the client goes away.
//
//   node server.mjs --model FILE [--port 0] [--host 127.0.0.1] [--parallel N]
//                   [--ctx N] [--threads N] [--alias NAME] [--api-key KEY]
//                   [--api-key-file FILE] [--load-delay-ms N] [--token-delay-ms N]
//                   [--verbose]
//
// It only ever binds 127.0.0.1. When the model is loaded and requests can be
// served it prints exactly one line on stdout: "listening 127.0.0.1:PORT".
// Before that (socket bound, model loading) it prints "loading 127.0.0.1:PORT"
// on stderr, and every endpoint answers 503.
//
// --ctx is the total context like llama-server's -c: each of the --parallel
// slots gets floor(ctx / parallel) tokens (default ctx: the model's trained
// context). A prompt that does not fit its slot is rejected with HTTP 400
// (exceed_context_size_error), never truncated; generation that fills the
// slot ends with finish_reason "length".
//
// Test knobs that llama-server does not have: --load-delay-ms keeps the server
// in its loading state (503) for that long after binding; --token-delay-ms
// sleeps after every generated token so that tests can hold slots busy for a
// predictable time (queueing, slot utilisation, cancellation).

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import {
    getLlama, LlamaLogLevel, LlamaGrammar, LlamaGrammarEvaluationState, TokenBias
} from "node-llama-cpp";

const ENGINE = "node-llama-cpp 3.22.1";
const BODY_LIMIT = 16 * 1024 * 1024;
const STOP_JSON = "\n\n\n\n"; // node-llama-cpp's JSON grammars end with four newlines

// Keep stdout for the single "listening" line: anything a library prints with
// console.log/info goes to stderr instead.
console.log = console.error;
console.info = console.error;

// ---------------------------------------------------------------- arguments

function usage(msg) {
    if (msg)
        process.stderr.write(`server.mjs: ${msg}\n`);
    process.stderr.write("usage: node server.mjs --model FILE [--port N] [--host 127.0.0.1] [--parallel N] [--ctx N]\n" +
        "                      [--threads N] [--alias NAME] [--api-key KEY] [--api-key-file FILE]\n" +
        "                      [--load-delay-ms N] [--token-delay-ms N] [--verbose]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const o = {
        model: null, port: 0, host: "127.0.0.1", parallel: 1, ctx: 0, threads: 1,
        alias: null, apiKey: null, loadDelayMs: 0, tokenDelayMs: 0, verbose: false
    };
    const intArg = (name, v, min, max) => {
        if (v === undefined || !/^-?\d+$/.test(v))
            usage(`${name} needs an integer`);
        const n = Number(v);
        if (n < min || n > max)
            usage(`${name} must be in [${min}, ${max}]`);
        return n;
    };
    for (let i = 2; i < argv.length; i++) {
        const a = argv[i];
        const next = () => argv[++i];
        switch (a) {
            case "--model": case "-m": o.model = next(); break;
            case "--port": o.port = intArg(a, next(), 0, 65535); break;
            case "--host": o.host = next(); break;
            case "--parallel": case "-np": o.parallel = intArg(a, next(), 1, 64); break;
            case "--ctx": case "-c": o.ctx = intArg(a, next(), 0, 1 << 20); break;
            case "--threads": case "-t": o.threads = intArg(a, next(), 1, 256); break;
            case "--alias": o.alias = next(); break;
            case "--api-key": o.apiKey = next(); break;
            case "--api-key-file": {
                const f = next();
                try {
                    o.apiKey = fs.readFileSync(f, "utf8").trim();
                } catch (e) {
                    usage(`cannot read ${f}: ${e.message}`);
                }
                break;
            }
            case "--load-delay-ms": o.loadDelayMs = intArg(a, next(), 0, 600000); break;
            case "--token-delay-ms": o.tokenDelayMs = intArg(a, next(), 0, 60000); break;
            case "--verbose": case "-v": o.verbose = true; break;
            case "--help": case "-h": usage(); break;
            default: usage(`unknown argument ${a}`);
        }
    }
    if (!o.model)
        usage("--model is required");
    if (o.host === "localhost")
        o.host = "127.0.0.1";
    if (o.host !== "127.0.0.1")
        usage("this test server binds 127.0.0.1 only");
    return o;
}

const opt = parseArgs(process.argv);
const log = (...a) => process.stderr.write(a.join(" ") + "\n");
const vlog = (...a) => { if (opt.verbose) log(...a); };

// ---------------------------------------------------------------- errors

class HttpError extends Error {
    constructor(status, type, message, extra = {}) {
        super(message);
        this.status = status;
        this.type = type;
        this.extra = extra;
    }
}
const badRequest = (msg, extra) => new HttpError(400, "invalid_request_error", msg, extra);

function errorBody(status, type, message, extra = {}) {
    return {error: {code: status, message, type, ...extra}};
}

function sendJson(res, status, obj, headers = {}) {
    if (res.headersSent || res.destroyed)
        return;
    const body = JSON.stringify(obj);
    res.writeHead(status, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": Buffer.byteLength(body),
        ...headers
    });
    res.end(body);
}

function sendError(res, e) {
    if (e instanceof HttpError)
        sendJson(res, e.status, errorBody(e.status, e.type, e.message, e.extra));
    else {
        log("internal error:", e?.stack ?? String(e));
        sendJson(res, 500, errorBody(500, "server_error", String(e?.message ?? e)));
    }
}

// ---------------------------------------------------------------- state

const state = {
    ready: false, llama: null, model: null, context: null, slots: [], nCtxSlot: 0, nCtxTrain: 0,
    nVocab: 0, loadMs: 0, modelName: opt.alias ?? path.basename(opt.model), created: Math.floor(Date.now() / 1000)
};
let taskCounter = 0;
const grammarCache = new Map(); // key -> LlamaGrammar

class Slot {
    constructor(id, seq) {
        this.id = id;
        this.seq = seq;
        this.task = null;      // the task using this slot, or null when idle
        this.lastUsed = 0;
        this.nDecoded = 0;
        this.nRemain = -1;
        this.nPast = 0;
    }
    get busy() {
        return this.task !== null;
    }
}

const DEFAULTS = {temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1.0, n_predict: -1};

async function loadModel() {
    const t0 = performance.now();
    const llama = await getLlama({
        gpu: false,
        build: "never",
        maxThreads: opt.threads,
        logLevel: LlamaLogLevel.warn,
        logger: (level, message) => { if (message.trim()) log("llama:", message.trimEnd()); }
    });
    const t1 = performance.now();
    const model = await llama.loadModel({modelPath: opt.model});
    const t2 = performance.now();
    const nCtxTrain = model.trainContextSize;
    const total = opt.ctx > 0 ? opt.ctx : nCtxTrain;
    const perSlot = Math.floor(total / opt.parallel);
    if (perSlot < 8)
        throw new Error(`context ${total} is too small for ${opt.parallel} slots`);
    const context = await model.createContext({
        sequences: opt.parallel,
        contextSize: perSlot,
        threads: opt.threads
    });
    const slots = [];
    for (let i = 0; i < opt.parallel; i++)
        slots.push(new Slot(i, context.getSequence()));
    if (slots[0].seq.contextSize < perSlot)
        throw new Error(`engine gave ${slots[0].seq.contextSize} tokens per sequence, wanted ${perSlot}`);
    const vocab = model.fileInfo?.metadata?.tokenizer?.ggml?.tokens;
    Object.assign(state, {
        llama, model, context, slots, nCtxSlot: perSlot, nCtxTrain,
        nVocab: Array.isArray(vocab) ? vocab.length : 0,
        loadMs: performance.now() - t0,
        loadSplit: `engine ${(t1 - t0).toFixed(1)} ms, model ${(t2 - t1).toFixed(1)} ms, context ${(performance.now() - t2).toFixed(1)} ms`
    });
}

// ---------------------------------------------------------------- slots

const waiters = []; // {idSlot, tokens, resolve, reject}

function commonPrefix(a, b) {
    const n = Math.min(a.length, b.length);
    let i = 0;
    while (i < n && a[i] === b[i])
        i++;
    return i;
}

// A specific slot when asked for; otherwise the idle slot whose cached tokens
// share the longest prefix with the prompt, least recently used on ties.
function pickSlot(idSlot, tokens) {
    if (idSlot >= 0)
        return state.slots[idSlot].busy ? null : state.slots[idSlot];
    let best = null;
    let bestLcp = -1;
    for (const s of state.slots) {
        if (s.busy)
            continue;
        const lcp = commonPrefix(s.seq.contextTokens, tokens);
        if (lcp > bestLcp || (lcp === bestLcp && s.lastUsed < best.lastUsed)) {
            best = s;
            bestLcp = lcp;
        }
    }
    return best;
}

function acquireSlot(task) {
    return new Promise((resolve, reject) => {
        const w = {task, resolve, reject};
        waiters.push(w);
        task.abort.onAbort = () => {
            const i = waiters.indexOf(w);
            if (i >= 0) {
                waiters.splice(i, 1);
                reject(new HttpError(499, "cancelled", "client closed the connection"));
            }
        };
        dispatch();
    });
}

function dispatch() {
    for (let i = 0; i < waiters.length;) {
        const w = waiters[i];
        const s = pickSlot(w.task.idSlot, w.task.tokens);
        if (s === null) {
            i++;
            continue;
        }
        waiters.splice(i, 1);
        s.task = w.task;
        s.nDecoded = 0;
        s.nRemain = w.task.maxTokens > 0 ? w.task.maxTokens : -1;
        w.task.abort.onAbort = null;
        w.resolve(s);
    }
}

function releaseSlot(slot) {
    slot.task = null;
    slot.lastUsed = performance.now();
    slot.nPast = slot.seq.nextTokenIndex;
    dispatch();
}

// ---------------------------------------------------------------- request parsing

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on("data", (c) => {
            size += c.length;
            if (size > BODY_LIMIT) {
                reject(new HttpError(413, "invalid_request_error", "request body too large"));
                req.destroy();
                return;
            }
            chunks.push(c);
        });
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

async function readJson(req) {
    const text = await readBody(req);
    let v;
    try {
        v = JSON.parse(text);
    } catch (e) {
        throw badRequest(`Invalid JSON in request body: ${e.message}`);
    }
    if (v === null || typeof v !== "object" || Array.isArray(v))
        throw badRequest("request body must be a JSON object");
    return v;
}

function optNumber(body, key, def, min = -Infinity, max = Infinity) {
    const v = body[key];
    if (v === undefined || v === null)
        return def;
    if (typeof v !== "number" || !Number.isFinite(v))
        throw badRequest(`'${key}' must be a number`);
    if (v < min || v > max)
        throw badRequest(`'${key}' must be in [${min}, ${max}]`);
    return v;
}

function optInt(body, key, def, min = -Infinity, max = Infinity) {
    const v = optNumber(body, key, def, min, max);
    if (v !== def && !Number.isInteger(v))
        throw badRequest(`'${key}' must be an integer`);
    return v;
}

function optBool(body, key, def) {
    const v = body[key];
    if (v === undefined || v === null)
        return def;
    if (typeof v !== "boolean")
        throw badRequest(`'${key}' must be a boolean`);
    return v;
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

function messageText(m, i) {
    const c = m.content;
    if (c === undefined || c === null)
        return "";
    if (typeof c === "string")
        return c;
    if (Array.isArray(c)) {
        return c.map((part, j) => {
            if (part?.type === "text" && typeof part.text === "string")
                return part.text;
            throw badRequest(`messages[${i}].content[${j}]: only text parts are supported`);
        }).join("");
    }
    throw badRequest(`messages[${i}].content must be a string or an array of text parts`);
}

// ChatML-style prompt: the test models have no chat template of their own.
function renderChat(messages) {
    if (!Array.isArray(messages) || messages.length === 0)
        throw badRequest("'messages' must be a non-empty array");
    let out = "";
    messages.forEach((m, i) => {
        if (m === null || typeof m !== "object" || Array.isArray(m))
            throw badRequest(`messages[${i}] must be an object`);
        if (typeof m.role !== "string" || !ROLES.has(m.role))
            throw badRequest(`messages[${i}].role must be one of ${[...ROLES].join(", ")}`);
        out += `<|im_start|>${m.role === "developer" ? "system" : m.role}\n${messageText(m, i)}<|im_end|>\n`;
    });
    return out + "<|im_start|>assistant\n";
}

function tokenizePrompt(text) {
    const model = state.model;
    const toks = model.tokenize(text, true);
    if (model.tokens.bos != null && model.tokens.shouldPrependBosToken && toks[0] !== model.tokens.bos)
        toks.unshift(model.tokens.bos);
    return toks;
}

// ---------------------------------------------------------------- JSON schema

const TYPES = new Set(["string", "number", "integer", "boolean", "null", "object", "array"]);
const UNSUPPORTED = ["allOf", "not", "if", "then", "else", "patternProperties", "dependentSchemas"];
const ANY = () => ({oneOf: [
    {type: "string"}, {type: "number"}, {type: "boolean"}, {type: "null"},
    {type: "object", additionalProperties: true}, {type: "array"}
]});

// Checks a JSON Schema and rewrites it into the dialect node-llama-cpp's
// grammar generator understands. node-llama-cpp silently turns what it does not
// know (unknown types, anyOf, {}) into "null"; a real server rejects or handles
// those, so this does too. Keywords that only constrain values (pattern,
// minimum, ...) are accepted and not enforced, as with real servers.
function normalizeSchema(s, where, defs) {
    if (s === true)
        return ANY();
    if (s === null || typeof s !== "object" || Array.isArray(s))
        throw badRequest(`JSON schema at ${where} must be an object`);
    for (const k of UNSUPPORTED)
        if (k in s)
            throw badRequest(`JSON schema at ${where}: '${k}' is not supported`);
    const out = {};
    if (typeof s.description === "string")
        out.description = s.description;
    if ("$ref" in s) {
        const m = typeof s.$ref === "string" && /^#\/(\$defs|definitions)\/([^/]+)$/.exec(s.$ref);
        if (!m || !(m[2] in defs))
            throw badRequest(`JSON schema at ${where}: unresolvable $ref ${JSON.stringify(s.$ref)}`);
        return {$ref: `#/$defs/${m[2]}`};
    }
    if ("const" in s)
        return {...out, const: s.const};
    if ("enum" in s) {
        if (!Array.isArray(s.enum) || s.enum.length === 0)
            throw badRequest(`JSON schema at ${where}: 'enum' must be a non-empty array`);
        for (const v of s.enum)
            if (v !== null && typeof v === "object")
                throw badRequest(`JSON schema at ${where}: only scalar 'enum' values are supported`);
        return {...out, enum: s.enum};
    }
    const alts = s.oneOf ?? s.anyOf;
    if (alts !== undefined) {
        if (!Array.isArray(alts) || alts.length === 0)
            throw badRequest(`JSON schema at ${where}: 'oneOf'/'anyOf' must be a non-empty array`);
        return {...out, oneOf: alts.map((a, i) => normalizeSchema(a, `${where}/oneOf/${i}`, defs))};
    }
    if (!("type" in s))
        return {...out, ...ANY()};
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.length === 0)
        throw badRequest(`JSON schema at ${where}: empty 'type'`);
    for (const t of types)
        if (typeof t !== "string" || !TYPES.has(t))
            throw badRequest(`JSON schema at ${where}: unknown type ${JSON.stringify(t)}`);
    if (types.length > 1)
        return {...out, oneOf: types.map((t) => normalizeSchema({...s, type: t}, where, defs))};
    const t = types[0];
    const nonNegInt = (k) => {
        if (s[k] === undefined)
            return;
        if (!Number.isInteger(s[k]) || s[k] < 0)
            throw badRequest(`JSON schema at ${where}: '${k}' must be a non-negative integer`);
        out[k] = s[k];
    };
    out.type = t;
    if (t === "string") {
        nonNegInt("minLength");
        nonNegInt("maxLength");
        if (out.minLength !== undefined && out.maxLength !== undefined && out.minLength > out.maxLength)
            throw badRequest(`JSON schema at ${where}: minLength > maxLength`);
        if (["date-time", "date", "time"].includes(s.format) && out.minLength === undefined && out.maxLength === undefined)
            out.format = s.format;
    } else if (t === "array") {
        nonNegInt("minItems");
        nonNegInt("maxItems");
        if (out.minItems !== undefined && out.maxItems !== undefined && out.minItems > out.maxItems)
            throw badRequest(`JSON schema at ${where}: minItems > maxItems`);
        if (s.items !== undefined && s.items !== false)
            out.items = normalizeSchema(s.items, `${where}/items`, defs);
        if (s.prefixItems !== undefined) {
            if (!Array.isArray(s.prefixItems))
                throw badRequest(`JSON schema at ${where}: 'prefixItems' must be an array`);
            out.prefixItems = s.prefixItems.map((p, i) => normalizeSchema(p, `${where}/prefixItems/${i}`, defs));
        }
    } else if (t === "object") {
        const props = s.properties ?? {};
        if (props === null || typeof props !== "object" || Array.isArray(props))
            throw badRequest(`JSON schema at ${where}: 'properties' must be an object`);
        if (s.required !== undefined) {
            if (!Array.isArray(s.required) || s.required.some((r) => typeof r !== "string"))
                throw badRequest(`JSON schema at ${where}: 'required' must be an array of strings`);
            out.required = s.required.filter((r) => r in props);
        }
        out.properties = {};
        for (const [k, v] of Object.entries(props))
            out.properties[k] = normalizeSchema(v, `${where}/properties/${k}`, defs);
        nonNegInt("minProperties");
        nonNegInt("maxProperties");
        const ap = s.additionalProperties;
        if (ap === undefined)
            out.additionalProperties = Object.keys(props).length === 0; // {"type":"object"} is any object
        else if (typeof ap === "boolean")
            out.additionalProperties = ap;
        else
            out.additionalProperties = normalizeSchema(ap, `${where}/additionalProperties`, defs);
    }
    return out;
}

function normalizeRootSchema(schema) {
    if (schema === null || typeof schema !== "object" || Array.isArray(schema))
        throw badRequest("JSON schema must be an object");
    const rawDefs = {...(schema.definitions ?? {}), ...(schema.$defs ?? {})};
    if (rawDefs === null || typeof rawDefs !== "object")
        throw badRequest("JSON schema: '$defs' must be an object");
    const defs = {};
    for (const k of Object.keys(rawDefs))
        defs[k] = null;
    for (const [k, v] of Object.entries(rawDefs))
        defs[k] = normalizeSchema(v, `#/$defs/${k}`, defs);
    const root = normalizeSchema(schema, "#", defs);
    if (Object.keys(defs).length > 0)
        root.$defs = defs;
    return root;
}

// node-llama-cpp's integer rule allows an exponent ("12e345"), which is an
// integer by the JSON Schema spec but which llama.cpp's own schema converter
// never produces and most parsers read as a float (or infinity). Drop it, so
// that "integer" means digits, as with llama-server.
function integersWithoutExponent(g) {
    const lines = g.grammar.split("\n");
    let changed = false;
    const out = lines.map((l) => {
        if (!/^integer[\w-]* ::=/.test(l))
            return l;
        const m = l.replace(/ \(\[eE\] \[-\+\]\? \("0" \| \[1-9\] \[0-9\]\{0,15\}\)\)\?/, "");
        changed ||= m !== l;
        return m;
    });
    if (!changed)
        return g;
    return new LlamaGrammar(state.llama, {
        grammar: out.join("\n"),
        stopGenerationTriggers: g.stopGenerationTriggers,
        trimWhitespaceSuffix: g.trimWhitespaceSuffix
    });
}

async function grammarFor(kind, value) {
    const key = kind + ":" + (typeof value === "string" ? value : JSON.stringify(value));
    let g = grammarCache.get(key);
    if (g !== undefined)
        return g;
    try {
        if (kind === "json")
            g = await LlamaGrammar.getFor(state.llama, "json");
        else if (kind === "schema")
            g = integersWithoutExponent(await state.llama.createGrammarForJsonSchema(normalizeRootSchema(value)));
        else
            g = new LlamaGrammar(state.llama, {grammar: value});
        // compile once now, so that a bad grammar is a 400 and not a failed generation
        new LlamaGrammarEvaluationState({model: state.model, grammar: g});
    } catch (e) {
        if (e instanceof HttpError)
            throw e;
        throw badRequest(`failed to build grammar: ${e.message}`);
    }
    if (grammarCache.size >= 64)
        grammarCache.delete(grammarCache.keys().next().value);
    grammarCache.set(key, g);
    return g;
}

// Returns {grammar, stops} for the request's response_format / json_schema / grammar.
async function resolveGrammar(body) {
    const rf = body.response_format;
    if (rf !== undefined && rf !== null) {
        if (typeof rf !== "object" || Array.isArray(rf))
            throw badRequest("'response_format' must be an object");
        if (rf.type === "text")
            return null;
        if (rf.type === "json_object") {
            if (rf.schema !== undefined)
                return {grammar: await grammarFor("schema", rf.schema), json: true};
            return {grammar: await grammarFor("json", ""), json: true};
        }
        if (rf.type === "json_schema") {
            const js = rf.json_schema;
            const schema = js?.schema ?? rf.schema;
            if (schema === undefined)
                throw badRequest("response_format.json_schema.schema is required");
            return {grammar: await grammarFor("schema", schema), json: true};
        }
        throw badRequest(`unsupported response_format type ${JSON.stringify(rf.type)}`);
    }
    if (body.json_schema !== undefined && body.json_schema !== null)
        return {grammar: await grammarFor("schema", body.json_schema), json: true};
    if (typeof body.grammar === "string" && body.grammar.trim() !== "")
        return {grammar: await grammarFor("gbnf", body.grammar), json: false};
    return null;
}

// ---------------------------------------------------------------- generation

async function parseChatRequest(body) {
    if (body.n !== undefined && body.n !== 1)
        throw badRequest("Only one completion choice is allowed");
    if (body.tools !== undefined && Array.isArray(body.tools) && body.tools.length > 0)
        throw badRequest("tools are not supported by this test server");
    const prompt = renderChat(body.messages);
    const tokens = tokenizePrompt(prompt);
    let maxTokens = optInt(body, "max_completion_tokens", undefined, -1);
    if (maxTokens === undefined)
        maxTokens = optInt(body, "max_tokens", undefined, -1);
    if (maxTokens === undefined)
        maxTokens = optInt(body, "n_predict", DEFAULTS.n_predict, -1);
    let stops = body.stop ?? [];
    if (typeof stops === "string")
        stops = [stops];
    if (!Array.isArray(stops) || stops.some((s) => typeof s !== "string"))
        throw badRequest("'stop' must be a string or an array of strings");
    stops = stops.filter((s) => s.length > 0);
    const idSlot = optInt(body, "id_slot", -1, -1);
    if (idSlot >= state.slots.length)
        throw badRequest(`id_slot ${idSlot} does not exist (total_slots ${state.slots.length})`);
    const seed = optInt(body, "seed", -1, -1, 0xffffffff);
    const g = await resolveGrammar(body);
    const streamOptions = body.stream_options ?? {};
    const logitBias = body.logit_bias ?? null;
    if (logitBias !== null && (typeof logitBias !== "object" || Array.isArray(logitBias)))
        throw badRequest("'logit_bias' must be an object");
    for (const [k, v] of Object.entries(logitBias ?? {})) {
        const id = Number(k);
        if (!/^\d+$/.test(k) || (state.nVocab && id >= state.nVocab) || typeof v !== "number" || !Number.isFinite(v))
            throw badRequest(`invalid logit_bias entry ${JSON.stringify(k)}`);
    }
    return {
        id: taskCounter++,
        prompt, tokens,
        stream: optBool(body, "stream", false),
        includeUsage: streamOptions?.include_usage === true,
        maxTokens,
        stops: [...stops, "<|im_end|>", "<|im_start|>", ...(g?.json ? [STOP_JSON] : [])],
        grammar: g?.grammar ?? null,
        trimEnd: g?.json ?? false,
        cachePrompt: optBool(body, "cache_prompt", true),
        idSlot,
        ignoreEos: optBool(body, "ignore_eos", false),
        logitBias,
        sampling: {
            temperature: optNumber(body, "temperature", DEFAULTS.temperature, 0, 100),
            topK: optInt(body, "top_k", DEFAULTS.top_k, 0),
            topP: optNumber(body, "top_p", DEFAULTS.top_p, 0, 1),
            minP: optNumber(body, "min_p", DEFAULTS.min_p, 0, 1),
            seed: seed >= 0 ? seed : crypto.randomInt(0, 0x7fffffff),
            repeatPenalty: optNumber(body, "repeat_penalty", DEFAULTS.repeat_penalty, 0),
            presencePenalty: optNumber(body, "presence_penalty", 0, -2, 2),
            frequencyPenalty: optNumber(body, "frequency_penalty", 0, -2, 2)
        },
        abort: {aborted: false, onAbort: null}
    };
}

function buildEvaluateOptions(task, generated) {
    const model = state.model;
    const sp = task.sampling;
    const o = {
        temperature: sp.temperature, topK: sp.topK, topP: sp.topP, minP: sp.minP, seed: sp.seed,
        yieldEogToken: true
    };
    if (task.grammar)
        o.grammarEvaluationState = new LlamaGrammarEvaluationState({model, grammar: task.grammar});
    if (sp.repeatPenalty !== 1 || sp.presencePenalty !== 0 || sp.frequencyPenalty !== 0)
        o.repeatPenalty = {
            punishTokens: () => generated.slice(-64), maxPunishTokens: 64,
            penalty: sp.repeatPenalty, presencePenalty: sp.presencePenalty, frequencyPenalty: sp.frequencyPenalty
        };
    if (task.ignoreEos || task.logitBias) {
        const bias = TokenBias.for(model);
        if (task.ignoreEos)
            for (const t of [model.tokens.eos, model.tokens.eot])
                if (t != null)
                    bias.set(t, "never");
        if (task.logitBias)
            for (const [k, v] of Object.entries(task.logitBias))
                bias.set(Number(k), v <= -100 ? "never" : {logit: v});
        o.tokenBias = bias;
    }
    return o;
}

// Runs one task on its slot. onDelta(text) receives the answer incrementally.
// Returns {content, finishReason, usage, timings}; finishReason is "stop",
// "length" or "cancelled".
async function generate(slot, task, onDelta) {
    const model = state.model;
    const seq = slot.seq;
    const tokens = task.tokens;
    const nCtx = state.nCtxSlot;

    // prompt cache: keep the common prefix of what the slot already holds
    let cached = task.cachePrompt ? commonPrefix(seq.contextTokens, tokens) : 0;
    if (cached >= tokens.length)
        cached = tokens.length - 1; // at least one token must be evaluated to sample
    if (cached === 0)
        await seq.clearHistory();
    else if (seq.nextTokenIndex > cached)
        await seq.eraseContextTokenRanges([{start: cached, end: seq.nextTokenIndex}]);

    const generated = [];
    const evalOptions = buildEvaluateOptions(task, generated);
    const maxStop = Math.max(0, ...task.stops.map((s) => s.length));
    let text = "";
    let sent = 0;
    let held = 0;
    let finishReason = null;
    const t0 = performance.now();
    let tFirst = null;

    const emit = (upTo) => {
        if (upTo > sent) {
            onDelta(text.slice(sent, upTo));
            sent = upTo;
        }
    };

    for await (const token of seq.evaluate(tokens.slice(cached), evalOptions)) {
        if (tFirst === null)
            tFirst = performance.now();
        if (task.abort.aborted) {
            finishReason = "cancelled";
            break;
        }
        if (model.isEogToken(token)) {
            finishReason = "stop";
            break;
        }
        generated.push(token);
        slot.nDecoded = generated.length;
        if (task.maxTokens > 0)
            slot.nRemain = task.maxTokens - generated.length;
        text = model.detokenize(generated, false);

        // stop strings (searched only in the new tail)
        let stopAt = -1;
        for (const s of task.stops) {
            const i = text.indexOf(s, Math.max(0, sent - maxStop));
            if (i >= 0 && (stopAt < 0 || i < stopAt))
                stopAt = i;
        }
        if (stopAt >= 0) {
            text = text.slice(0, stopAt);
            finishReason = "stop";
            break;
        }
        // hold back an incomplete UTF-8 sequence (for a few tokens) and any
        // tail that may be the start of a stop string
        let upTo = text.length;
        if (text.endsWith("\uFFFD") && held < 4) {
            held++;
            upTo = sent;
        } else {
            held = 0;
            for (const s of task.stops)
                for (let k = Math.min(s.length - 1, text.length); k > 0; k--)
                    if (text.endsWith(s.slice(0, k))) {
                        upTo = Math.min(upTo, text.length - k);
                        break;
                    }
            if (task.trimEnd)
                upTo = Math.min(upTo, text.trimEnd().length);
        }
        emit(Math.max(sent, upTo));
        if (opt.tokenDelayMs > 0) {
            await new Promise((r) => setTimeout(r, opt.tokenDelayMs));
            if (task.abort.aborted) {
                finishReason = "cancelled";
                break;
            }
        }

        if (task.maxTokens > 0 && generated.length >= task.maxTokens) {
            finishReason = "length";
            break;
        }
        if (tokens.length + generated.length >= nCtx) {
            finishReason = "length"; // the slot is full; no context shift
            break;
        }
    }
    const t1 = performance.now();
    if (finishReason === null)
        finishReason = "stop";
    if (tFirst === null)
        tFirst = t1;
    if (task.trimEnd)
        text = text.trimEnd();
    if (finishReason !== "cancelled")
        emit(text.length);

    const promptN = tokens.length - cached;
    const promptMs = tFirst - t0;
    const predictedMs = t1 - tFirst;
    return {
        content: text,
        finishReason,
        usage: {
            prompt_tokens: tokens.length,
            completion_tokens: generated.length,
            total_tokens: tokens.length + generated.length,
            prompt_tokens_details: {cached_tokens: cached}
        },
        timings: {
            cache_n: cached,
            prompt_n: promptN,
            prompt_ms: round3(promptMs),
            prompt_per_token_ms: round3(promptN ? promptMs / promptN : 0),
            prompt_per_second: round3(promptMs > 0 ? promptN * 1000 / promptMs : 0),
            predicted_n: generated.length,
            predicted_ms: round3(predictedMs),
            predicted_per_token_ms: round3(generated.length ? predictedMs / generated.length : 0),
            predicted_per_second: round3(predictedMs > 0 ? generated.length * 1000 / predictedMs : 0)
        }
    };
}

const round3 = (x) => Math.round(x * 1000) / 1000;

async function handleChat(req, res) {
    const body = await readJson(req);
    const task = await parseChatRequest(body);
    if (task.tokens.length >= state.nCtxSlot)
        throw new HttpError(400, "exceed_context_size_error",
            `request (${task.tokens.length} tokens) exceeds the available context size (${state.nCtxSlot} tokens)`,
            {n_prompt_tokens: task.tokens.length, n_ctx: state.nCtxSlot});

    res.on("close", () => {
        if (!res.writableFinished) {
            task.abort.aborted = true;
            task.abort.onAbort?.();
            vlog(`task ${task.id}: client closed the connection`);
        }
    });

    const slot = await acquireSlot(task);
    vlog(`task ${task.id}: slot ${slot.id}, ${task.tokens.length} prompt tokens, stream=${task.stream}`);
    const id = "chatcmpl-" + crypto.randomBytes(12).toString("hex");
    const created = Math.floor(Date.now() / 1000);
    const base = {id, created, model: state.modelName, system_fingerprint: "b-" + ENGINE.replace(/\s+/g, "-")};
    try {
        if (!task.stream) {
            const r = await generate(slot, task, () => {});
            if (r.finishReason === "cancelled")
                return;
            sendJson(res, 200, {
                ...base, object: "chat.completion",
                choices: [{index: 0, message: {role: "assistant", content: r.content}, logprobs: null, finish_reason: r.finishReason}],
                usage: r.usage, timings: r.timings
            });
            return;
        }
        res.writeHead(200, {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no"
        });
        res.flushHeaders();
        const usageNull = task.includeUsage ? {usage: null} : {};
        const chunk = (choices, extra = {}) => {
            if (!res.destroyed)
                res.write(`data: ${JSON.stringify({...base, object: "chat.completion.chunk", choices, ...usageNull, ...extra})}\n\n`);
        };
        chunk([{index: 0, delta: {role: "assistant", content: ""}, logprobs: null, finish_reason: null}]);
        const r = await generate(slot, task, (delta) =>
            chunk([{index: 0, delta: {content: delta}, logprobs: null, finish_reason: null}]));
        if (r.finishReason === "cancelled" || res.destroyed)
            return;
        chunk([{index: 0, delta: {}, logprobs: null, finish_reason: r.finishReason}], {timings: r.timings});
        if (task.includeUsage)
            chunk([], {usage: r.usage, timings: r.timings});
        res.write("data: [DONE]\n\n");
        res.end();
    } catch (e) {
        if (!res.headersSent)
            throw e;
        log(`task ${task.id}: error during stream: ${e?.stack ?? e}`);
        if (!res.destroyed) {
            const status = e instanceof HttpError ? e.status : 500;
            const type = e instanceof HttpError ? e.type : "server_error";
            res.write(`data: ${JSON.stringify(errorBody(status, type, String(e?.message ?? e)))}\n\n`);
            res.end();
        }
    } finally {
        releaseSlot(slot);
        vlog(`task ${task.id}: slot ${slot.id} free`);
    }
}

// ---------------------------------------------------------------- other endpoints

function slotParams() {
    return {
        n_predict: DEFAULTS.n_predict, temperature: DEFAULTS.temperature, top_k: DEFAULTS.top_k,
        top_p: DEFAULTS.top_p, min_p: DEFAULTS.min_p, repeat_penalty: DEFAULTS.repeat_penalty,
        seed: -1, stream: false, cache_prompt: true
    };
}

function slotInfo(s) {
    return {
        id: s.id,
        id_task: s.task ? s.task.id : -1,
        n_ctx: state.nCtxSlot,
        speculative: false,
        is_processing: s.busy,
        n_past: s.seq.nextTokenIndex,
        params: slotParams(),
        next_token: {
            has_next_token: s.busy,
            has_new_line: false,
            n_remain: s.busy ? s.nRemain : -1,
            n_decoded: s.nDecoded,
            stopping_word: ""
        }
    };
}

function handleProps(res) {
    sendJson(res, 200, {
        default_generation_settings: {
            id: 0, id_task: -1, n_ctx: state.nCtxSlot, speculative: false, is_processing: false,
            params: slotParams()
        },
        total_slots: state.slots.length,
        model_alias: state.modelName,
        model_path: opt.model,
        modalities: {vision: false, audio: false},
        chat_template: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n",
        bos_token: state.model.tokens.bosString ?? "",
        eos_token: state.model.tokens.eosString ?? "",
        n_ctx_train: state.nCtxTrain,
        build_info: ENGINE + " (researchd test model server)",
        endpoint_slots: true,
        endpoint_props: true,
        endpoint_metrics: false
    });
}

function handleModels(res) {
    const m = state.model;
    sendJson(res, 200, {
        object: "list",
        data: [{
            id: state.modelName, object: "model", created: state.created, owned_by: "researchd-test",
            meta: {
                vocab_type: m.vocabularyType, n_vocab: state.nVocab, n_ctx_train: state.nCtxTrain,
                n_ctx: state.nCtxSlot, n_params: null, size: m.size
            }
        }]
    });
}

async function handleTokenize(req, res) {
    const body = await readJson(req);
    if (typeof body.content !== "string")
        throw badRequest("'content' must be a string");
    const addSpecial = optBool(body, "add_special", false);
    const parseSpecial = optBool(body, "parse_special", true);
    const withPieces = optBool(body, "with_pieces", false);
    const m = state.model;
    const toks = m.tokenize(body.content, parseSpecial);
    if (addSpecial && m.tokens.bos != null && m.tokens.shouldPrependBosToken && toks[0] !== m.tokens.bos)
        toks.unshift(m.tokens.bos);
    sendJson(res, 200, {
        tokens: withPieces ? toks.map((t) => ({id: t, piece: m.detokenize([t], true)})) : toks
    });
}

async function handleDetokenize(req, res) {
    const body = await readJson(req);
    const toks = body.tokens;
    if (!Array.isArray(toks) || toks.some((t) => !Number.isInteger(t) || t < 0 || (state.nVocab && t >= state.nVocab)))
        throw badRequest("'tokens' must be an array of valid token ids");
    sendJson(res, 200, {content: state.model.detokenize(toks, false)});
}

// ---------------------------------------------------------------- HTTP

const PUBLIC = new Set(["/health", "/v1/health", "/v1/models", "/models"]);

function authorized(req) {
    if (opt.apiKey === null)
        return true;
    const h = req.headers.authorization ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(h);
    const given = m ? m[1].trim() : (req.headers["x-api-key"] ?? "");
    const a = Buffer.from(given);
    const b = Buffer.from(opt.apiKey);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
}

async function route(req, res) {
    const url = new URL(req.url, "http://127.0.0.1");
    const p = url.pathname;
    const method = req.method;
    vlog(`${method} ${p}`);

    if (!state.ready) {
        // drain the body so the client sees the answer
        req.resume();
        throw new HttpError(503, "unavailable_error", "Loading model");
    }
    if (!PUBLIC.has(p) && !authorized(req))
        throw new HttpError(401, "authentication_error", "Invalid API Key");

    const routes = {
        "GET /health": () => sendJson(res, 200, {status: "ok"}),
        "GET /v1/health": () => sendJson(res, 200, {status: "ok"}),
        "GET /props": () => handleProps(res),
        "GET /slots": () => {
            if (url.searchParams.get("fail_on_no_slot") === "1" && state.slots.every((s) => s.busy))
                throw new HttpError(503, "unavailable_error", "no slot available");
            sendJson(res, 200, state.slots.map(slotInfo));
        },
        "GET /v1/models": () => handleModels(res),
        "GET /models": () => handleModels(res),
        "POST /v1/chat/completions": () => handleChat(req, res),
        "POST /chat/completions": () => handleChat(req, res),
        "POST /tokenize": () => handleTokenize(req, res),
        "POST /detokenize": () => handleDetokenize(req, res)
    };
    const h = routes[`${method} ${p}`];
    if (h)
        return await h();
    req.resume();
    if (Object.keys(routes).some((k) => k.endsWith(" " + p)))
        throw new HttpError(405, "invalid_request_error", `method ${method} not allowed on ${p}`);
    throw new HttpError(404, "not_found_error", "File Not Found");
}

const server = http.createServer((req, res) => {
    route(req, res).catch((e) => {
        if (e instanceof HttpError && e.status === 499)
            return; // the client is gone
        sendError(res, e);
    });
});
server.keepAliveTimeout = 30000;
server.requestTimeout = 0;
server.on("connection", (sock) => sock.setNoDelay(true));
server.on("clientError", (err, sock) => {
    if (sock.writable)
        sock.end("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" +
            JSON.stringify(errorBody(400, "invalid_request_error", "malformed HTTP request")));
});

function shutdown(sig) {
    log(`${sig}: shutting down`);
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

// Run by researchd ([llm] serve): leave with the daemon, even one that was
// killed with SIGKILL and could not stop us (we are then reparented).
const parentPid = Number(process.env.RESEARCHD_PARENT_PID || 0);
if (parentPid > 1 && parentPid === process.ppid)
    setInterval(() => { if (process.ppid !== parentPid) shutdown("parent gone"); }, 1000).unref();

server.listen(opt.port, "127.0.0.1", async () => {
    const port = server.address().port;
    log(`loading 127.0.0.1:${port} model ${opt.model}`);
    try {
        if (opt.loadDelayMs > 0)
            await new Promise((r) => setTimeout(r, opt.loadDelayMs));
        await loadModel();
    } catch (e) {
        log(`failed to load model: ${e?.stack ?? e}`);
        process.exit(1);
    }
    state.ready = true;
    log(`model loaded in ${state.loadMs.toFixed(1)} ms (${state.loadSplit}): ${state.modelName}, ${state.slots.length} slot(s) x ${state.nCtxSlot} tokens, ` +
        `trained context ${state.nCtxTrain}, vocabulary ${state.nVocab}, ${opt.threads} thread(s)`);
    process.stdout.write(`listening 127.0.0.1:${port}\n`);
});
server.on("error", (e) => {
    log(`server error: ${e.message}`);
    process.exit(1);
});
