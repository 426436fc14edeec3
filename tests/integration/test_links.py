"""What the research CLI links: common/, the extraction library and libcurl
(for `research model pull`, which fetches with the user's own rights), so
the store (sqlite3), the event loop (libuv) and seccomp are not among its
shared libraries, while `research extract` still works."""
import os
import shutil
import subprocess
import sys
import tempfile

RESEARCH = os.environ["RESEARCH"]


def libraries(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def main():
    if shutil.which("ldd") is None:
        print("SKIP: no ldd")
        sys.exit(77)
    libs = libraries(RESEARCH)
    assert any(l.startswith("libxml2.so") for l in libs), libs
    for banned in ("libsqlite3.so", "libuv.so", "libseccomp.so"):
        assert not any(l.startswith(banned) for l in libs), (banned, libs)
    # The extraction it keeps still runs, offline.
    with tempfile.TemporaryDirectory() as d:
        page = os.path.join(d, "p.html")
        with open(page, "w") as f:
            f.write("<html><head><title>Wrens</title></head><body><article>"
                    "<p>The wren sings loudly for a bird of its size.</p></article></body></html>")
        r = subprocess.run([RESEARCH, "extract", page], capture_output=True, text=True)
        assert r.returncode == 0, r
        assert "The wren sings loudly" in r.stdout, r.stdout
    print("ok")


if __name__ == "__main__":
    main()
