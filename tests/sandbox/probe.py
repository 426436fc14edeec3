# Escape attempts run inside researchd-sandbox by test-sandbox.c. Each mode
# prints one line per attempt, "what: outcome", where outcome is "ok" or the
# errno name; the C test asserts the exact lines.
import ctypes
import errno
import os
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)


def err_name(e):
    return errno.errorcode.get(e, str(e))


def call(what, fn, *args):
    ctypes.set_errno(0)
    r = fn(*args)
    if r == -1:
        print(f"{what}: {err_name(ctypes.get_errno())}")
    else:
        print(f"{what}: ok")


def attempt(what, fn):
    try:
        fn()
        print(f"{what}: ok")
    except OSError as e:
        print(f"{what}: {err_name(e.errno) if e.errno else type(e).__name__}")


def mode_net(port, abstract):
    def inet():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("127.0.0.1", int(port)))
    attempt("inet", inet)
    attempt("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
    attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
    attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))

    def unix_abstract():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\0" + abstract)
    attempt("unix-abstract", unix_abstract)
    # What the empty network namespace holds: lo, and it is down.
    with open("/proc/net/dev") as f:
        names = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    print("interfaces: " + ",".join(names))


def mode_dns():
    for name in ("example.com", "deb.debian.org"):
        try:
            socket.getaddrinfo(name, 80)
            print(f"dns {name}: ok")
        except socket.gaierror as e:
            print(f"dns {name}: failed")


def mode_read(*paths):
    for p in paths:
        attempt("read " + p, lambda: open(p, "rb").read())
    print("root: " + ",".join(sorted(os.listdir("/"))))


def mode_write():
    for p in ("/usr/x", "/etc/x", "/x", "/dev/x", "/proc/x", "/bin/x", "/etc/passwd"):
        attempt("write " + p, lambda: open(p, "w").write("x"))
    for p in ("/work/ok", "/tmp/ok", "/work/out/ok"):
        attempt("write " + p, lambda: open(p, "w").write("x"))


def mode_syscalls():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    PTRACE_TRACEME, PTRACE_ATTACH = 0, 16
    call("ptrace attach child", libc.ptrace, PTRACE_ATTACH, pid, None, None)
    call("ptrace attach init", libc.ptrace, PTRACE_ATTACH, 1, None, None)
    call("ptrace traceme", libc.ptrace, PTRACE_TRACEME, 0, None, None)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    call("mount", libc.mount, b"none", b"/tmp", b"tmpfs", 0, None)
    call("umount", libc.umount2, b"/proc", 2)
    CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x20000, 0x10000000, 0x40000000
    call("unshare user", libc.unshare, CLONE_NEWUSER)
    call("unshare net", libc.unshare, CLONE_NEWNET)
    call("unshare mount", libc.unshare, CLONE_NEWNS)
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    call("setns", libc.setns, fd, 0)
    SYS = {"clone": 56, "keyctl": 250, "add_key": 248, "bpf": 321,
           "perf_event_open": 298, "personality": 135, "init_module": 175,
           "reboot": 169, "kexec_load": 246}
    call("clone newuser", libc.syscall, SYS["clone"], CLONE_NEWUSER | 17, 0, 0, 0, 0)
    call("keyctl", libc.syscall, SYS["keyctl"], 0, 0, 0, 0, 0)
    call("add_key", libc.syscall, SYS["add_key"], b"user", b"x", b"y", 1, -2)
    call("bpf", libc.syscall, SYS["bpf"], 0, None, 0)
    call("perf_event_open", libc.syscall, SYS["perf_event_open"], None, 0, -1, -1, 0)
    READ_IMPLIES_EXEC = 0x0400000
    call("personality set", libc.syscall, SYS["personality"], READ_IMPLIES_EXEC)
    call("personality query", libc.syscall, SYS["personality"], ctypes.c_ulong(0xffffffff))
    call("init_module", libc.syscall, SYS["init_module"], None, 0, b"")
    call("reboot", libc.syscall, SYS["reboot"], 0xfee1dead, 672274793, 0x4321fedc, None)
    call("kexec_load", libc.syscall, SYS["kexec_load"], 0, 0, None, 0)
    with open("/proc/self/status") as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                print(k + ": " + line.split(":")[1].strip())


def mode_forkbomb(*marker):
    n = 0
    failed = None
    while n < 100000:
        try:
            pid = os.fork()
        except OSError as e:
            failed = err_name(e.errno)
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    print(f"forks: {n}")
    print(f"fork: {failed}")


def mode_membomb():
    hog = []
    try:
        while True:
            hog.append(bytearray(64 << 20))
    except MemoryError:
        print(f"memory: MemoryError after {len(hog) * 64} MiB")
        sys.exit(3)


def mode_daemonise(marker):
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.close(r)
            os.write(w, b"x")
            os.close(w)
            os.execv("/bin/sleep", [marker, "600"])
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    print("daemon started")


def mode_loop(marker):
    if os.fork() == 0:
        os.execv("/bin/sleep", [marker, "600"])
    while True:
        pass


def shmem_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) // 1024
    return -1


def mode_shm(limit_mib):
    # Memory held where RLIMIT_AS does not look: a memfd grown with
    # fallocate, and SysV segments attached, filled and detached. Either the
    # calls are refused, or the run's cgroup ends the run ("memory").
    want = 2 * int(limit_mib)
    before = shmem_mib()
    fds = []
    held, err = 0, None
    try:
        while held < want:
            fd = os.memfd_create("hog")
            os.posix_fallocate(fd, 0, 64 << 20)
            fds.append(fd)
            held += 64
    except OSError as e:
        err = err_name(e.errno)
    print(f"memfd: {err}" if err else f"memfd: held {held} MiB")
    sys.stdout.flush()
    IPC_PRIVATE, IPC_CREAT = 0, 0o1000
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    sheld, err = 0, None
    while sheld < want:
        ctypes.set_errno(0)
        sid = libc.shmget(IPC_PRIVATE, ctypes.c_size_t(64 << 20), IPC_CREAT | 0o600)
        if sid < 0:
            err = err_name(ctypes.get_errno())
            break
        addr = libc.shmat(sid, None, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            err = err_name(ctypes.get_errno())
            break
        ctypes.memset(addr, 1, 64 << 20)
        libc.shmdt(ctypes.c_void_p(addr))
        sheld += 64
    print(f"shmget: {err}" if err else f"shmget: held {sheld} MiB")
    print(f"shmem grew: {max(0, shmem_mib() - before)} MiB")


def mode_kernel():
    # Host-wide kernel budgets and argument tricks.
    SYS_io_setup = 206
    ctx = ctypes.c_ulong(0)
    call("io_setup", libc.syscall, SYS_io_setup, 128, ctypes.byref(ctx))
    call("inotify_init", libc.inotify_init)
    call("inotify_init1", libc.inotify_init1, 0)
    call("fanotify_init", libc.fanotify_init, 0, 0)
    call("msgget", libc.msgget, 0, 0o1000 | 0o600)
    TIOCSTI = 0x5412
    c = ctypes.c_char(b"x")
    call("ioctl TIOCSTI", libc.ioctl, 0, ctypes.c_ulong(TIOCSTI), ctypes.byref(c))
    call("ioctl TIOCSTI high bits", libc.ioctl, 0, ctypes.c_ulong((1 << 32) | TIOCSTI),
         ctypes.byref(c))
    call("ioctl FIOCLEX", libc.ioctl, 1, ctypes.c_ulong(0x5451))
    call("socket inet high bits", libc.socket, ctypes.c_long((1 << 32) | 2), 1, 0)
    call("unlisted call (acct)", libc.syscall, 163, None)
    # prlimit64 on init (lowering its limits would break the run's report)
    # and on ourselves.
    SYS_prlimit64 = 302
    lim = (ctypes.c_ulong * 2)()
    call("prlimit init", libc.syscall, SYS_prlimit64, 1, 7, None, lim)
    call("prlimit self", libc.syscall, SYS_prlimit64, 0, 7, None, lim)


def mode_signals():
    SYS_rt_sigqueueinfo = 129
    # A queued SIGUSR1 to init, forged to look like it came from outside
    # (si_pid 0): SI_QUEUE, which the kernel lets us send, and SI_USER,
    # which it does not.
    for name, code in (("si_queue", -1), ("si_user", 0)):
        info = (ctypes.c_int * 32)()
        info[0], info[2], info[4] = 10, code, 0
        call(f"sigqueue init {name}", libc.syscall, SYS_rt_sigqueueinfo, 1, 10, info)
    call("kill init", libc.kill, 1, 10)
    time.sleep(0.5)
    print("after signals to init: alive")


def mode_view():
    for p in ("/usr/local/etc", "/usr/local/share/ca-certificates", "/usr/local/include"):
        attempt("list " + p, lambda: os.listdir(p))
    for p in ("/proc/cmdline", "/proc/partitions", "/proc/modules"):
        try:
            with open(p, "rb") as f:
                print(f"{p}: {len(f.read())} bytes")
        except OSError as e:
            print(f"{p}: {err_name(e.errno)}")
    attempt("list /proc/self/fd", lambda: os.listdir("/proc/self/fd"))
    attempt("read /proc/cpuinfo", lambda: open("/proc/cpuinfo").read())
    st = os.statvfs("/dev/shm")
    print(f"/dev/shm size: {st.f_blocks * st.f_frsize >> 20} MiB")
    n = 0
    try:
        for n in range(200):
            with open(f"/dev/shm/fill{n}", "wb") as f:
                f.write(b"\0" * (1 << 20))
        print("/dev/shm fill: ok")
    except OSError as e:
        print(f"/dev/shm fill: {err_name(e.errno)} after {n} MiB")


def square(x):
    return x * x


def mode_mp():
    import multiprocessing
    lock = multiprocessing.Lock()
    with lock:
        pass
    with multiprocessing.Pool(2) as pool:
        print(f"multiprocessing: {sum(pool.map(square, range(10)))}")


modes = {"shm": mode_shm, "kernel": mode_kernel, "signals": mode_signals, "view": mode_view, "mp": mode_mp,
         "net": mode_net, "dns": mode_dns, "read": mode_read, "write": mode_write,
         "syscalls": mode_syscalls, "forkbomb": mode_forkbomb, "membomb": mode_membomb,
         "daemonise": mode_daemonise, "loop": mode_loop}
if __name__ == "__main__":
    modes[sys.argv[1]](*sys.argv[2:])
    sys.stdout.flush()
