"""The local index has owners (issue 8): what a user indexes is theirs,
root's documents are shared; nobody replaces another's document by
reusing its key, and searches (the CLI's, a job's web.search, a job's
doc.text of a local document) see their owner's documents and the shared
ones only. A second and third uid through setpriv, so this needs root."""
import json
import os
import shutil
import subprocess
import sys

from harness import Daemon, SkipTest, run

NOBODY = 65534
OTHER = 4242


def config():
    return "[server]\nselftest = yes\nsocket_group = nogroup\n[search]\nbackends = local\n"


def as_user(d, uid, obj):
    """One request over the socket as uid (a Python child under setpriv);
    every reply line, parsed."""
    obj = dict(obj, v=1)
    code = ("import json, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
            "s.sendall((sys.argv[2] + '\\n').encode()); f = s.makefile()\n"
            "while True:\n"
            "    line = f.readline()\n"
            "    if not line: break\n"
            "    m = json.loads(line); print(line.strip()); sys.stdout.flush()\n"
            "    if not m.get('ok') or m.get('end') or 'end' not in m: break\n")
    r = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % NOBODY, "--clear-groups", "--",
                        sys.executable, "-c", code, d.sock, json.dumps(obj)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    return [json.loads(line) for line in r.stdout.splitlines()]


def cli_as(d, uid, *args):
    """The CLI as uid, in the socket's group (nogroup) like nobody."""
    copy = os.path.join(d.dir, "research")
    if not os.path.exists(copy):
        shutil.copy(os.environ["RESEARCH"], copy)
        os.chmod(copy, 0o755)
    return subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % NOBODY, "--clear-groups",
                           "--", copy, "--socket", d.sock, *args],
                          capture_output=True, text=True, timeout=30)


def search(d, uid, q):
    r = d.cli("--json", "search", q) if uid == 0 else cli_as(d, uid, "--json", "search", q)
    assert r.returncode == 0, r
    return {x["url"]: x for x in json.loads(r.stdout)["results"]}


def make_docs(d):
    """Two directories any uid may read: root's and nobody's."""
    base = os.path.join(d.dir, "docs")
    for name, text in (("root/shared.md", "# Zanzibar\n\nShared root notes on Zanzibar ornithology.\n"),
                       ("nobody/private.md", "# Zanzibar\n\nNobody's private Zanzibar diary.\n")):
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.chmod(os.path.dirname(path), 0o755)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    os.chmod(base, 0o755)
    return os.path.join(base, "root"), os.path.join(base, "nobody")


def test_documents_have_owners():
    if os.geteuid() != 0:
        raise SkipTest("needs root to run clients as other uids (setpriv); CI runs as root")
    d = Daemon(config())
    try:
        d.start()
        root_dir, nobody_dir = make_docs(d)
        r = d.cli("index", root_dir)
        assert r.returncode == 0, r
        r = d.cli("index", nobody_dir, user=NOBODY)
        assert r.returncode == 0, r
        shared = "file://" + os.path.join(os.path.realpath(root_dir), "shared.md")
        private = "file://" + os.path.join(os.path.realpath(nobody_dir), "private.md")

        # each sees their own and the shared; a third user the shared only
        assert set(search(d, 0, "zanzibar")) == {shared}
        assert set(search(d, NOBODY, "zanzibar")) == {shared, private}
        assert set(search(d, OTHER, "zanzibar")) == {shared}

        # reusing root's key makes nobody a document of their own: root's
        # text is untouched, and nobody else sees nobody's version
        m = as_user(d, NOBODY, {"op": "index_add", "key": shared, "title": "Zanzibar",
                                "text": "Hijacked: Zanzibar is a hoax."})
        assert m[0]["ok"], m
        hit = search(d, 0, "zanzibar")[shared]
        assert "ornithology" in hit["snippet"] and "Hijacked" not in hit["snippet"], hit
        hit = search(d, OTHER, "zanzibar")[shared]
        assert "Hijacked" not in hit["snippet"], hit
        # and an arbitrary file:// path stays nobody's
        m = as_user(d, NOBODY, {"op": "index_add", "key": "file:///etc/zanzibar-planted.md",
                                "title": "Planted", "text": "Planted Zanzibar page."})
        assert m[0]["ok"], m
        assert "file:///etc/zanzibar-planted.md" not in search(d, 0, "zanzibar")
        assert "file:///etc/zanzibar-planted.md" not in search(d, OTHER, "zanzibar")
        assert "file:///etc/zanzibar-planted.md" in search(d, NOBODY, "zanzibar")

        # a job's web.search names its owner: nobody's job sees nobody's
        # documents; a job naming another owner is refused
        step = {"name": "s", "effect": {"kind": "web.search", "request": {
            "q": "zanzibar diary", "owner": NOBODY, "backends": ["local"]}}}
        read = {"name": "t", "effect": {"kind": "doc.text", "request": {"local": private}}}
        m = as_user(d, NOBODY, {"op": "submit", "kind": "selftest", "question": "q",
                                "options": {"steps": [step, read]}})
        assert m[0]["ok"], m
        jid = m[0]["job"]["id"]
        job = d.wait_state(jid, ("done", "failed"), timeout=30)
        assert job["state"] == "done", (job, d.log())
        steps = json.loads(d.request({"op": "report", "job": jid, "format": "json"})["report"]["body"])["steps"]
        urls = [x["url"] for x in steps[0]["result"]["results"]]
        assert private in urls, steps[0]
        assert "text_hash" in steps[1]["result"], steps[1]

        step["effect"]["request"]["owner"] = NOBODY
        m = as_user(d, OTHER, {"op": "submit", "kind": "selftest", "question": "q",
                               "options": {"steps": [step]}})
        jid = m[0]["job"]["id"]
        job = d.wait_state(jid, ("done", "failed"), timeout=30)
        assert job["state"] == "failed", job
        # another user's job cannot read nobody's document as text either
        m = as_user(d, OTHER, {"op": "submit", "kind": "selftest", "question": "q",
                               "options": {"steps": [read]}})
        jid = m[0]["job"]["id"]
        job = d.wait_state(jid, ("done", "failed"), timeout=30)
        steps = json.loads(d.request({"op": "report", "job": jid, "format": "json"})["report"]["body"])["steps"]
        assert "error" in steps[0]["result"] and "text_hash" not in steps[0]["result"], steps
        assert d.alive(), d.log()
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_documents_have_owners])
