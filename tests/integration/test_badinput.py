"""Bad input: each gets its clear error and the daemon goes on answering."""
import json
import os
import socket
import time

from harness import Daemon, SkipTest, daemon_test, run


def still_alive(d):
    assert d.alive(), "daemon died:\n" + d.log()
    assert d.request({"op": "ping"})["ok"]


@daemon_test()
def test_malformed_json(d):
    with d.connect() as c:
        c.send_raw(b'{"v":1,"op":"ping"\n')
        r = c.recv()
        assert r["ok"] is False and r["error"]["code"] == "bad_json", r
        assert r["id"] is None
        c.send_raw(b"\xff\xfe garbage \x00\n")
        assert c.recv()["error"]["code"] == "bad_json"
        c.send_raw(b"[1,2,3]\n")
        assert c.recv()["error"]["code"] == "bad_json"
        # the same connection still works
        assert c.request({"op": "ping"})["ok"]
    still_alive(d)


@daemon_test()
def test_two_mib_line(d):
    with d.connect() as c:
        payload = b'{"v":1,"op":"submit","question":"' + b"x" * (2 * 1024 * 1024) + b'"}\n'
        try:
            c.send_raw(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may close before we finish writing
        r = c.recv()
        assert r is not None and r["error"]["code"] == "too_large", r
        assert c.recv() is None, "the connection is closed after too_large"
    still_alive(d)
    assert d.request({"op": "list"})["end"]  # nothing was submitted


@daemon_test()
def test_unknown_op_version_fields(d):
    with d.connect() as c:
        r = c.request({"op": "frobnicate"})
        assert r["error"]["code"] == "unknown_op" and r["id"] == 1, r
        r = c.request({"op": "ping", "v": 2})
        assert r["error"]["code"] == "bad_version", r
        assert "version 1" in r["error"]["message"]
        c.send_raw(b'{"op":"ping"}\n')
        assert c.recv()["error"]["code"] == "bad_version"
        r = c.request({"op": "status"})
        assert r["error"]["code"] == "bad_request" and "job" in r["error"]["message"], r
        r = c.request({"op": "status", "job": "one"})
        assert r["error"]["code"] == "bad_request", r
        r = c.request({"op": "submit", "question": "   "})
        assert r["error"]["code"] == "bad_request", r
        r = c.request({"op": "submit", "question": "q", "options": {"max_depth": 99}})
        assert r["error"]["code"] == "bad_request" and "max_depth" in r["error"]["message"], r
        r = c.request({"op": "submit", "question": "q", "kind": "nonsense"})
        assert r["error"]["code"] == "bad_request", r
        r = c.request({"op": "submit", "question": "q", "kind": "selftest", "options": {"steps": "no"}})
        assert r["error"]["code"] == "bad_request", r
        r = c.request({"op": "report", "job": 1, "format": "pdf"})
        assert r["error"]["code"] in ("bad_request", "not_found"), r
        # pipelined requests are answered in order
        c.send_raw(b'{"v":1,"id":10,"op":"ping"}\n{"v":1,"id":11,"op":"nope"}\n{"v":1,"id":12,"op":"ping"}\n')
        assert [c.recv()["id"] for _ in range(3)] == [10, 11, 12]
    still_alive(d)


@daemon_test()
def test_200_clients_at_once(d):
    conns = []
    try:
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(15)
            s.connect(d.sock)
            conns.append(s)
        for s in conns:
            try:
                s.sendall(b'{"v":1,"id":1,"op":"ping"}\n')
            except (BrokenPipeError, ConnectionResetError):
                pass  # told "busy" and closed before we wrote: the reply is queued
        ok = busy = 0
        for s in conns:
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            r = json.loads(data.split(b"\n")[0])
            if r["ok"]:
                ok += 1
            else:
                assert r["error"]["code"] == "busy", r
                busy += 1
        # max_clients = 64: the first 64 are served, the rest told "busy"
        assert ok == 64 and busy == 136, (ok, busy)
    finally:
        for s in conns:
            s.close()
    # until the daemon has read all 200 hang-ups, a new client may still be
    # told "busy"
    def settled():
        r = d.request({"op": "stats"})
        return r["ok"] and r["stats"]["clients"] == 1
    d.wait_for(settled, what="clients to go")
    still_alive(d)


@daemon_test()
def test_disconnect_mid_watch(d):
    jid = d.request({"op": "submit", "question": "watched then abandoned"})["job"]["id"]
    c = d.connect()
    c.send({"op": "watch", "job": jid})
    assert c.recv()["event"]["type"] == "submitted"
    c.close()
    # events after the watcher left must not hurt the daemon
    assert d.request({"op": "pause", "job": jid})["ok"]
    assert d.request({"op": "resume", "job": jid})["ok"]
    d.wait_for(lambda: d.request({"op": "stats"})["stats"]["clients"] == 1, what="the watcher to go")
    # a watcher that leaves mid-stream of a running job
    sj = d.submit_selftest([{"name": "w", "ms": 200}])
    c = d.connect()
    c.send({"op": "watch", "job": sj})
    c.recv()
    c.close()
    d.wait_state(sj, "done")
    still_alive(d)


def test_idle_timeout():
    d = Daemon("[server]\nclient_timeout = 1\n")
    try:
        d.start()
        with d.connect() as c:
            t = time.time()
            r = c.recv()
            assert r["error"]["code"] == "timeout", r
            assert 0.8 < time.time() - t < 5
            assert c.recv() is None
        # a watch is not idle
        jid = d.request({"op": "submit", "question": "q"})["job"]["id"]
        with d.connect() as c:
            c.send({"op": "watch", "job": jid})
            c.recv()
            time.sleep(1.6)
            assert d.request({"op": "cancel", "job": jid})["ok"]
            msgs = []
            while True:
                m = c.recv()
                msgs.append(m)
                if m.get("end") or not m["ok"]:
                    break
            assert msgs[-1]["end"] and msgs[-1]["job"]["state"] == "cancelled", msgs
        still_alive(d)
    finally:
        d.cleanup()


def test_other_uid_sees_nothing():
    if os.geteuid() != 0:
        raise SkipTest("needs root to run the CLI as another uid (setpriv); CI runs as root")
    nobody = 65534
    d = Daemon("[server]\nsocket_group = nogroup\n")
    try:
        d.start()
        jid = int(d.cli("submit", "root's private question").stdout)
        r = d.cli("status", str(jid), user=nobody)
        assert r.returncode == 1 and "not_found" in r.stderr, r
        r = d.cli("cancel", str(jid), user=nobody)
        assert r.returncode == 1 and "not_found" in r.stderr, r
        r = d.cli("watch", str(jid), user=nobody)
        assert r.returncode == 1 and "not_found" in r.stderr, r
        r = d.cli("report", str(jid), user=nobody)
        assert r.returncode == 1 and "not_found" in r.stderr, r
        r = d.cli("--json", "list", "--all", user=nobody)
        assert r.returncode == 0 and json.loads(r.stdout)["jobs"] == [], r
        # nobody's own job: theirs to see; root sees it too
        r = d.cli("submit", "nobody's question", user=nobody)
        assert r.returncode == 0, r
        njid = int(r.stdout)
        r = d.cli("--json", "status", str(njid), user=nobody)
        assert json.loads(r.stdout)["job"]["owner"] == nobody
        assert d.job(njid)["owner"] == nobody
        r = d.cli("--json", "list", "--all")
        assert len(json.loads(r.stdout)["jobs"]) == 2
        assert d.job(jid)["state"] == "queued"
        still_alive(d)
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_malformed_json, test_two_mib_line, test_unknown_op_version_fields,
         test_200_clients_at_once, test_disconnect_mid_watch, test_idle_timeout,
         test_other_uid_sees_nothing])
