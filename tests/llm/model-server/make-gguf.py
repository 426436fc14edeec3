#!/usr/bin/env python3
"""Write a tiny llama-architecture GGUF v3 model with random F32 weights.

Usage: make-gguf.py OUTPUT.gguf [--seed N] [--bytes-only]

Only the Python standard library is used. The model is useless as a language
model (its weights are random) but it is a real GGUF file that llama.cpp (and
so node-llama-cpp) loads and runs: 2 layers, embedding 32, 4 attention heads,
feed-forward 64, context 256, and a "llama" (SentencePiece-style) vocabulary
of 260 tokens: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF> (so any
text tokenizes through byte fallback) and one normal token, "\u2581" (the
SentencePiece space), without which spaces would come back from detokenizing
as the three bytes of U+2581 ("--bytes-only" leaves it out: 259 tokens).

The output layer rows of the control and non-printable byte tokens (except
newline) are zero, so sampled text is mostly printable ASCII: random weights
would otherwise emit invalid UTF-8 byte runs, which llama.cpp's grammar engine
accepts inside JSON strings but which decode to U+FFFD. The output is
deterministic for a seed.

GGUF v3 layout (little-endian):
  magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
  metadata key/values, tensor infos (name, n_dims, dims, type, offset),
  padding to general.alignment, tensor data (each tensor aligned).
"""

import random
import struct
import sys

# GGUF metadata value types
T_UINT32 = 4
T_INT32 = 5
T_FLOAT32 = 6
T_BOOL = 7
T_STRING = 8
T_ARRAY = 9

GGML_TYPE_F32 = 0
ALIGNMENT = 32

# Hyper-parameters
N_EMBD = 32
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 64
N_CTX = 256
HEAD_DIM = N_EMBD // N_HEAD
RMS_EPS = 1e-5

# SentencePiece token types as llama.cpp reads them
TOKTYPE_NORMAL = 1
TOKTYPE_UNKNOWN = 2
TOKTYPE_CONTROL = 3
TOKTYPE_BYTE = 6


def printable(byte):
    return byte == 0x0A or 0x20 <= byte < 0x7F


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class Writer:
    def __init__(self):
        self.kv = []          # encoded key/value records
        self.tensors = []     # (name, dims, packed float bytes)

    # metadata -------------------------------------------------------
    def add_u32(self, key, v):
        self.kv.append(gguf_string(key) + struct.pack("<II", T_UINT32, v))

    def add_f32(self, key, v):
        self.kv.append(gguf_string(key) + struct.pack("<If", T_FLOAT32, v))

    def add_bool(self, key, v):
        self.kv.append(gguf_string(key) + struct.pack("<IB", T_BOOL, 1 if v else 0))

    def add_str(self, key, v):
        self.kv.append(gguf_string(key) + struct.pack("<I", T_STRING) + gguf_string(v))

    def add_arr_str(self, key, values):
        body = b"".join(gguf_string(v) for v in values)
        self.kv.append(gguf_string(key) + struct.pack("<IIQ", T_ARRAY, T_STRING, len(values)) + body)

    def add_arr_f32(self, key, values):
        body = struct.pack("<%df" % len(values), *values)
        self.kv.append(gguf_string(key) + struct.pack("<IIQ", T_ARRAY, T_FLOAT32, len(values)) + body)

    def add_arr_i32(self, key, values):
        body = struct.pack("<%di" % len(values), *values)
        self.kv.append(gguf_string(key) + struct.pack("<IIQ", T_ARRAY, T_INT32, len(values)) + body)

    # tensors --------------------------------------------------------
    def add_tensor(self, name, dims, values):
        """dims in ggml order: dims[0] is the fastest-varying (row length)."""
        n = 1
        for d in dims:
            n *= d
        assert len(values) == n, (name, len(values), n)
        self.tensors.append((name, dims, struct.pack("<%df" % n, *values)))

    def write(self, path):
        def pad(n):
            return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT

        infos = []
        offset = 0
        for name, dims, data in self.tensors:
            info = gguf_string(name) + struct.pack("<I", len(dims))
            info += struct.pack("<%dQ" % len(dims), *dims)
            info += struct.pack("<IQ", GGML_TYPE_F32, offset)
            infos.append(info)
            offset += len(data) + pad(len(data))

        out = bytearray()
        out += b"GGUF"
        out += struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for rec in self.kv:
            out += rec
        for info in infos:
            out += info
        out += b"\0" * pad(len(out))
        for _, _, data in self.tensors:
            out += data
            out += b"\0" * pad(len(data))
        with open(path, "wb") as f:
            f.write(out)
        return len(out)


def main(argv):
    args = argv[1:]
    seed = 20261122
    bytes_only = "--bytes-only" in args
    if bytes_only:
        args.remove("--bytes-only")
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: make-gguf.py OUTPUT.gguf [--seed N] [--bytes-only]\n")
        return 2
    path = args[0]
    rng = random.Random(seed)

    def rand(n, std):
        return [rng.gauss(0.0, std) for _ in range(n)]

    def ones(n):
        return [1.0] * n

    w = Writer()
    w.add_str("general.architecture", "llama")
    w.add_str("general.name", "researchd-tiny-random")
    w.add_u32("general.alignment", ALIGNMENT)
    w.add_u32("general.file_type", 0)  # all F32
    w.add_u32("llama.context_length", N_CTX)
    w.add_u32("llama.embedding_length", N_EMBD)
    w.add_u32("llama.block_count", N_LAYER)
    w.add_u32("llama.feed_forward_length", N_FF)
    w.add_u32("llama.attention.head_count", N_HEAD)
    w.add_u32("llama.attention.head_count_kv", N_HEAD_KV)
    w.add_u32("llama.rope.dimension_count", HEAD_DIM)
    w.add_f32("llama.rope.freq_base", 10000.0)
    w.add_f32("llama.attention.layer_norm_rms_epsilon", RMS_EPS)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [TOKTYPE_UNKNOWN, TOKTYPE_CONTROL, TOKTYPE_CONTROL] + [TOKTYPE_BYTE] * 256
    if not bytes_only:
        tokens.append("\u2581")
        types.append(TOKTYPE_NORMAL)
    n_vocab = len(tokens)
    scores = [0.0] * n_vocab
    w.add_u32("llama.vocab_size", n_vocab)

    w.add_str("tokenizer.ggml.model", "llama")
    w.add_arr_str("tokenizer.ggml.tokens", tokens)
    w.add_arr_f32("tokenizer.ggml.scores", scores)
    w.add_arr_i32("tokenizer.ggml.token_type", types)
    w.add_u32("tokenizer.ggml.unknown_token_id", 0)
    w.add_u32("tokenizer.ggml.bos_token_id", 1)
    w.add_u32("tokenizer.ggml.eos_token_id", 2)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", False)

    n_kv = HEAD_DIM * N_HEAD_KV
    w.add_tensor("token_embd.weight", [N_EMBD, n_vocab], rand(N_EMBD * n_vocab, 1.0))
    w.add_tensor("output_norm.weight", [N_EMBD], ones(N_EMBD))
    # A large output scale makes next-token distributions peaked, so sampled
    # text is less uniform noise (and JSON strings under a grammar end sooner).
    # Rows of tokens that should (almost) never be sampled are zero: their
    # logit is 0 while the likely tokens' logits are several units above it,
    # so top-k/min-p sampling drops them.
    out = []
    for tok_id, tok in enumerate(tokens):
        row = rand(N_EMBD, 0.5)
        if tok_id in (0, 1) or (types[tok_id] == TOKTYPE_BYTE and not printable(int(tok[3:5], 16))):
            row = [0.0] * N_EMBD
        out.extend(row)
    w.add_tensor("output.weight", [N_EMBD, n_vocab], out)
    for i in range(N_LAYER):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", [N_EMBD], ones(N_EMBD))
        w.add_tensor(p + "attn_q.weight", [N_EMBD, N_EMBD], rand(N_EMBD * N_EMBD, 0.2))
        w.add_tensor(p + "attn_k.weight", [N_EMBD, n_kv], rand(N_EMBD * n_kv, 0.2))
        w.add_tensor(p + "attn_v.weight", [N_EMBD, n_kv], rand(N_EMBD * n_kv, 0.2))
        w.add_tensor(p + "attn_output.weight", [N_EMBD, N_EMBD], rand(N_EMBD * N_EMBD, 0.2))
        w.add_tensor(p + "ffn_norm.weight", [N_EMBD], ones(N_EMBD))
        w.add_tensor(p + "ffn_gate.weight", [N_EMBD, N_FF], rand(N_EMBD * N_FF, 0.2))
        w.add_tensor(p + "ffn_up.weight", [N_EMBD, N_FF], rand(N_EMBD * N_FF, 0.2))
        w.add_tensor(p + "ffn_down.weight", [N_FF, N_EMBD], rand(N_FF * N_EMBD, 0.2))

    size = w.write(path)
    sys.stderr.write("wrote %s: %d bytes, %d tensors\n" % (path, size, len(w.tensors)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
