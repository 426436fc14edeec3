#!/usr/bin/env python3
"""Signed provenance end to end, on a real research job (scenario
fixtures): the daemon's key (0600, created once, the same after a restart,
`researchd --pubkey` beside a running daemon), the JSON sidecar, `research
report ID -o DIR [--with-sources]`, and `research verify` catching a byte
changed in report.md, report.json or a source text, a wrong key, a manifest
re-signed with another key it carries, working offline with --pubkey, and
`research verify --events` naming a forged event.

Needs ../shared's QA set and nginx (exit 77 without them); RESEARCHD,
RESEARCH and RESIGN (the forger, tests/scenario/resign.c) come from meson."""
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenario  # noqa: E402

RESEARCHD = os.environ.get("RESEARCHD")
RESIGN = os.environ.get("RESIGN")


def step(what):
    print("ok   " + what)
    sys.stdout.flush()


def pubkey_cli(d):
    """researchd --pubkey on the daemon's state dir, as another process."""
    r = subprocess.run([RESEARCHD, "-c", d.conf, "--state-dir", d.state, "--pubkey"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    key = r.stdout.strip()
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key), r.stdout
    return key


def verify(d, path, *args):
    r = d.cli("verify", *args, path)
    return r.returncode, r.stdout + r.stderr


def copy_dir(src, name):
    dst = os.path.join(os.path.dirname(src), name)
    shutil.copytree(src, dst)
    return dst


def flip_byte(path, at=None):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    i = len(data) // 2 if at is None else at
    # A letter stays a letter, so only the bytes differ, not the form.
    data[i] = ord("x") if data[i] != ord("x") else ord("y")
    with open(path, "wb") as f:
        f.write(bytes(data))


def main():
    if not RESIGN:
        print("RESIGN must name tests/scenario/resign")
        return 2
    s = scenario.Scenario(limit=1).start()
    try:
        # A model file the daemon "serves" ([llm] spawn): a stand-in
        # process that names it; the scripted model answers the job.
        model_file = os.path.join(s.dir, "tiny.gguf")
        with open(model_file, "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024 + 17))
        with open(model_file, "rb") as f:
            model_hash = hashlib.blake2b(f.read(), digest_size=32).hexdigest()
        s.config_text = s.config_text.replace(
            "[llm]\n", "[llm]\nspawn = sh -c 'exec sleep 600' --model %s\n" % model_file, 1)
        assert "spawn = " in s.config_text, s.config_text
        d = s.daemon()
        keyfile = os.path.join(d.state, "signing.key")
        st = os.stat(keyfile)
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        rep = d.request({"op": "pubkey"})
        assert rep["ok"], rep
        key = rep["pubkey"]["key"]
        assert pubkey_cli(d) == key
        step("key created 0600; researchd --pubkey beside the daemon gives the op's key")

        q = s.question(0)
        rep = d.request({"op": "submit", "question": q["question"], "kind": "research"})
        assert rep["ok"], rep
        jid = rep["job"]["id"]
        d.wait_state(jid, ["done", "failed", "cancelled"], timeout=180)
        assert d.job(jid)["state"] == "done", d.job(jid)

        # The sidecar: the same content as data.
        r = d.cli("report", str(jid), "--format", "json")
        assert r.returncode == 0, r
        side = json.loads(r.stdout)
        assert side["version"] == 1, side.keys()
        assert side["job"] == jid
        md = d.cli("report", str(jid)).stdout
        sents = [x for sec in side["sections"] for x in sec["sentences"]]
        assert sents and side["answer"], side
        cited = {src["cite"]: src for src in side["sources"] if src["cite"] > 0}
        for x in sents + side["answer"]:
            # The Markdown puts the [n] before the final full stop.
            assert x["text"].rstrip(".!?")[:60] in md, (x["text"], md)
            assert x["findings"] and x["cites"], x
            for n in x["cites"]:
                assert n in cited, (n, cited.keys())
            for fid in x["findings"]:
                f = side["findings"][fid - 1]
                assert f["id"] == fid and f["verified"], f
        for sec in side["sections"]:
            assert "## " + sec["heading"] in md, sec["heading"]
        assert side["brief"] and side["budgets"]["max_tokens"] > 0, side
        assert side["model"]["model"], side["model"]
        step("sidecar: version 1, %d sentences with findings and [n] cites that the Markdown shows"
             % len(sents))

        out = os.path.join(s.dir, "out")
        os.makedirs(out)
        r = d.cli("report", str(jid), "-o", out, "--with-sources")
        assert r.returncode == 0, r
        man = json.load(open(os.path.join(out, "manifest.json")))
        assert man["version"] == 1 and man["job"]["id"] == jid, man
        assert man["job"]["question"] == q["question"]
        assert man["key_id"] == hashlib.blake2b(bytes.fromhex(key),
                                                               digest_size=32).hexdigest()[:16]
        assert man["models"] and man["models"][0]["model"] == side["model"]["model"], man
        assert man["served_model"] == {"path": model_file, "blake2b": model_hash,
                                       "bytes": os.path.getsize(model_file)}, man
        assert {x["url"] for x in man["sources"]} == {x["url"] for x in cited.values()}, man
        # The exported bytes are the signed ones.
        with open(os.path.join(out, "report.md")) as f:
            assert f.read().rstrip("\n") == md.rstrip("\n")
        srcdir = os.path.join(out, "sources")
        texts = sorted(os.listdir(srcdir))
        assert texts, "no source texts written"
        for name in texts:
            with open(os.path.join(srcdir, name), "rb") as f:
                assert hashlib.blake2b(f.read(), digest_size=32).hexdigest() + ".txt" == name
        with open(os.path.join(out, "report.md"), "rb") as f:
            assert hashlib.blake2b(f.read(), digest_size=32).hexdigest() == man["report_md"]
        with open(os.path.join(out, "report.json"), "rb") as f:
            assert hashlib.blake2b(f.read(), digest_size=32).hexdigest() == man["report_json"]
        step("report -o DIR --with-sources: report.md, report.json, manifest.json (naming the "
             "served model file's BLAKE2b), %d texts"
             % len(texts))

        rc, txt = verify(d, out)
        assert rc == 0, txt
        assert "verified: everything holds" in txt and "FAILED" not in txt, txt
        assert "signed by key %s (from researchd)" % man["key_id"] in txt, txt
        rc, txt = verify(d, os.path.join(out, "report.md"), "--pubkey", key, "--offline")
        assert rc == 0, txt
        step("verify: ok against researchd's key, and offline with --pubkey")

        # Without its sources and offline, the quotes go unchecked: not ok.
        bare = os.path.join(s.dir, "bare")
        os.makedirs(bare)
        assert d.cli("report", str(jid), "-o", bare).returncode == 0
        rc, txt = verify(d, bare, "--pubkey", key, "--offline")
        assert rc == 1 and "not checked" in txt, txt
        # ... and from researchd's store when it is asked.
        rc, txt = verify(d, bare)
        assert rc == 0, txt
        step("verify: quotes unchecked offline without sources (exit 1); read from researchd")

        t = copy_dir(out, "t-md")
        flip_byte(os.path.join(t, "report.md"))
        rc, txt = verify(d, t)
        assert rc == 1 and "FAILED  report.md: modified" in txt, txt
        assert "FAILED  report.json" not in txt and "FAILED  signature" not in txt, txt

        t = copy_dir(out, "t-json")
        flip_byte(os.path.join(t, "report.json"), at=os.path.getsize(
            os.path.join(t, "report.json")) - 3)
        rc, txt = verify(d, t)
        assert rc == 1 and "FAILED  report.json: modified" in txt, txt
        assert "FAILED  report.md" not in txt, txt

        t = copy_dir(out, "t-src")
        victim = os.path.join(t, "sources", texts[0])
        with open(victim, "rb") as f:
            body = f.read()
        i = body.find(b"e", len(body) // 3)
        with open(victim, "wb") as f:
            f.write(body[:i] + b"a" + body[i + 1:])
        rc, txt = verify(d, t, "--pubkey", key, "--offline")
        assert rc == 1 and "text changed" in txt and texts[0] in txt, txt
        if len(texts) > 1:
            # Swapped: one source's text in place of another's.
            t = copy_dir(out, "t-swap")
            shutil.copy(os.path.join(t, "sources", texts[1]), os.path.join(t, "sources", texts[0]))
            rc, txt = verify(d, t, "--pubkey", key, "--offline")
            assert rc == 1 and "text changed" in txt, txt
        step("verify: one byte in report.md, report.json or a source text is caught and named")

        wrong = "ab" * 32
        rc, txt = verify(d, out, "--pubkey", wrong)
        assert rc == 1 and "FAILED  signature: forged" in txt, txt

        # A forger edits the report, fixes the hash, re-signs with their key
        # and ships that key in the manifest: never trusted.
        t = copy_dir(out, "t-forged")
        with open(os.path.join(t, "report.md"), "a") as f:
            f.write("\nAn added claim.\n")
        r = subprocess.run([RESIGN, os.path.join(out, "manifest.json"),
                            os.path.join(t, "manifest.json"), os.path.join(t, "report.md")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r
        forger = r.stdout.strip()
        assert json.load(open(os.path.join(t, "manifest.json")))["public_key"] == forger
        rc, txt = verify(d, t)
        assert rc == 1 and "FAILED  signature: forged" in txt, txt
        assert "FAILED  report.md" not in txt, txt
        rc, txt = verify(d, t, "--pubkey", key)
        assert rc == 1 and "FAILED  signature: forged" in txt, txt
        # The forger's signature itself is good: only the key makes it fail.
        rc, txt = verify(d, t, "--pubkey", forger)
        assert rc == 0, txt
        step("verify: a wrong key, and a manifest re-signed with a key it carries, are rejected")

        r = d.cli("verify", "--events", str(jid))
        assert r.returncode == 0 and "hash chain holds" in r.stdout, r
        events = d.job(jid)["events"]
        assert events >= 3, events

        # Offline: the daemon stopped.
        # Its exit status is not checked: main's researchd aborts in
        # uv_close at every SIGTERM stop after a research job (its own issue).
        d.stop()
        assert not d.alive()
        rc, txt = verify(d, out, "--pubkey", key)
        assert rc == 0, txt
        rc, txt = verify(d, out)
        assert rc == 1 and "signer unverified" in txt, txt
        step("verify offline (daemon stopped): ok with --pubkey and sources; signer unverified without")

        db = sqlite3.connect(os.path.join(d.state, "researchd.db"))
        db.execute("DROP TRIGGER job_events_append_only_update")
        forged_seq = 2
        db.execute("UPDATE job_events SET data = ? WHERE job_id = ? AND seq = ?",
                   ('{"forged":true}', jid, forged_seq))
        db.commit()
        db.close()
        d.start()
        rep = d.request({"op": "pubkey"})
        assert rep["ok"] and rep["pubkey"]["key"] == key, rep
        assert stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
        assert pubkey_cli(d) == key
        r = d.cli("verify", "--events", str(jid))
        assert r.returncode == 1, r
        assert "event %d " % forged_seq in r.stdout and "forged or altered" in r.stdout, r
        step("restart: the same key; verify --events names the forged event %d" % forged_seq)

        # A key others may read is no longer the daemon's alone: it refuses.
        d.stop()
        os.chmod(keyfile, 0o644)
        rc = d.start(expect_ok=False)
        assert rc != 0 and "mode 0600" in d.log(), (rc, d.log()[-500:])
        r = subprocess.run([RESEARCHD, "-c", d.conf, "--state-dir", d.state, "--pubkey"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1 and "0600" in r.stderr and r.stdout == "", r
        step("a key file readable by others: the daemon and --pubkey refuse it")
        assert s.model.violations() == [], s.model.violations()
    finally:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
