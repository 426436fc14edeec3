"""[llm] spawn: the daemon supervises a real model server (node-llama-cpp
serving a generated tiny GGUF): started, ready once /health answers,
restarted when it dies, stopped with the daemon."""
import os
import shutil
import socket
import subprocess
import time

from harness import Daemon, SkipTest, run

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "..", "llm-server")
MAKE_GGUF = os.path.join(HERE, "..", "llm", "model-server", "make-gguf.py")


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
    # a zombie is dead for our purpose
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_spawn_supervises_model_server():
    if shutil.which("node") is None or not os.path.isdir(os.path.join(SERVER, "node_modules", "node-llama-cpp")):
        if os.environ.get("CI") == "true":
            raise AssertionError("node and the model server's node_modules are needed in CI")
        raise SkipTest("node or llm-server/node_modules missing (run scripts/setup)")
    d = Daemon("")
    try:
        gguf = os.path.join(d.dir, "tiny.gguf")
        subprocess.run(["python3", MAKE_GGUF, gguf], check=True,
                       capture_output=True, timeout=60)
        port = free_port()
        d.write_config("[llm]\nurl = http://127.0.0.1:%d/v1\nspawn = node %s --model %s --port %d --threads 1\n"
                       % (port, os.path.join(SERVER, "server.mjs"), gguf, port))
        d.start()

        def server():
            return d.request({"op": "stats"})["stats"]["llm_server"]

        first = d.wait_for(lambda: server()["ready"] and server(), timeout=60, what="the model server")
        assert first["pid"] > 0 and first["restarts"] == 0, first
        # it dies: the daemon starts it again, after a backoff
        os.kill(first["pid"], 9)
        again = d.wait_for(lambda: server()["ready"] and server()["pid"] != first["pid"] and server(),
                           timeout=60, what="the restart")
        assert again["restarts"] == 1, again
        assert "starting it again" in d.log()
        # it stops with the daemon
        assert d.stop() == 0
        deadline = time.time() + 10
        while alive(again["pid"]) and time.time() < deadline:
            time.sleep(0.05)
        assert not alive(again["pid"]), "the model server outlived the daemon"
    finally:
        d.cleanup()


def test_spawn_bad_command_keeps_daemon_up():
    d = Daemon("[llm]\nurl = http://127.0.0.1:1/v1\nspawn = /nonexistent/llama-server --port 1\n")
    try:
        d.start()
        st = d.wait_for(lambda: d.request({"op": "stats"})["stats"]["llm_server"]["state"] == "backoff"
                        and d.request({"op": "stats"})["stats"]["llm_server"], what="backoff")
        assert st["pid"] == 0, st
        assert "starting the model server" in d.log()
        assert d.request({"op": "ping"})["ok"]
        assert d.stop() == 0
    finally:
        d.cleanup()


if __name__ == "__main__":
    run([test_spawn_supervises_model_server, test_spawn_bad_command_keeps_daemon_up])
