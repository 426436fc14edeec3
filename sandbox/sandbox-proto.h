/* The request/result interface between the daemon (sandbox.c) and the
 * helper (researchd-sandbox): one JSON request in, one JSON result out.
 *
 * The helper reads the whole request from its stdin (at most
 * SANDBOX_MAX_REQUEST bytes, then EOF), runs the command once, and writes
 * one result object and a newline to its stdout. Its stderr carries only
 * diagnostics for the log. Parsing is strict on both sides: unknown keys,
 * wrong types, out-of-range numbers and oversized values are errors.
 *
 * Request (version 1):
 *   {
 *     "version": 1,
 *     "argv":  ["python3", "main.py"],       1..SANDBOX_MAX_ARGS strings;
 *                                            argv[0] is looked up in PATH
 *     "env":   {"NAME": "value", ...},       optional; replaces the default
 *                                            environment (PATH, HOME=/work,
 *                                            LANG=C.UTF-8, TMPDIR=/tmp)
 *     "stdin": "<base64>",                   optional, default empty
 *     "files": [{"path": "in/t.csv",         relative to the work dir; parts
 *                "data": "<base64>",         [A-Za-z0-9._-], no "." or "..",
 *                "exec": false}],            no leading '.'; not under out/
 *     "limits": {                            all optional; defaults and
 *       "cpu_s", "wall_ms", "memory",        maxima below; memory is the
 *       "nproc", "fsize", "nofile",          address-space limit in bytes
 *       "stdout_max", "stderr_max",
 *       "files_max", "files_count", "disk"
 *     }
 *   }
 * Base64 is the standard alphabet with padding.
 *
 * Result (version 1), when the command ran:
 *   {
 *     "version": 1,
 *     "status": "exited" | "signaled" | "killed",
 *         killed: the helper killed the sandbox (timeout or output cap)
 *     "exit_code": N | null, "signal": N | null,
 *     "limit": null | "timeout" | "cpu" | "fsize" | "output" | "files" |
 *              "memory",
 *         which limit ended or cut the run, when one can be told; "memory"
 *         when the run's cgroup killed it at memory.max; an address-space
 *         or process limit shows as a failed allocation or fork in the
 *         command itself (MemoryError, EAGAIN), not here
 *     "wall_ms": N, "cpu_ms": N, "max_rss_kb": N,
 *         max_rss_kb is the cgroup's memory.peak where the run had one
 *         (tmpfs, memfds and shared memory included), else the largest
 *         RSS of one process
 *     "stdout": "<base64>", "stdout_truncated": bool,
 *     "stderr": "<base64>", "stderr_truncated": bool,
 *     "files": [{"path": "out/x.csv", "data": "<base64>"}],
 *     "files_truncated": bool
 *   }
 * When it could not run:
 *   {"version": 1, "error": "a sentence", "error_kind": KIND}
 *   with KIND "request" (bad request, exit 2), "unavailable" (namespaces,
 *   seccomp or mounts not available here: nothing was run, exit 3) or
 *   "internal" (exit 1).
 * Exit status of the helper: 0 when a result with "status" was written.
 *
 * Inside the sandbox: uid/gid 1000 ("sandbox"), mapped to the caller's own
 * uid (or 65534 when the helper runs as root); cwd /work (tmpfs, "disk"
 * bytes) holding the input files and an empty out/; /tmp a second tmpfs of
 * the same size; /dev/shm a third, of min(disk, 64 MiB), for POSIX
 * semaphores (Python's multiprocessing); /usr without /usr/local but for
 * its bin, sbin, lib, lib32, lib64, libexec and share/fonts (no operator
 * configuration, private CA certificates or vendor trees), and /etc/{ld.so.cache,ld.so.conf,ld.so.conf.d,
 * localtime,alternatives,fonts,python3*} (what the loader, time zones,
 * Debian's alternatives symlinks, fontconfig and Python read), read-only;
 * /bin, /lib, /lib64, /sbin as on the host (symlinks into /usr, or
 * read-only binds); a generated /etc/passwd, /etc/group, /etc/hostname and
 * /etc/hosts; /dev with null, zero, full, random, urandom; /proc of the
 * sandbox's own pid namespace, with the kernel-wide files about the host
 * (cmdline, partitions, modules, iomem... jail.c's list) reading empty.
 * The root itself is read-only. Nothing else
 * of the host: not /home, /root, /var, /run, the host's /tmp, the daemon's
 * state dir or its socket. Network: a new, empty network namespace (lo
 * only, and down). Seccomp is an allowlist (researchd-sandbox
 * --print-filter): every call not on it fails with EPERM, socket families
 * but AF_UNIX with EAFNOSUPPORT; host-wide or per-uid kernel budgets (Linux
 * AIO, inotify, fanotify, SysV message queues, keyrings, io_uring) are not
 * on it.
 * Only regular files under out/ (depth <= 4) come back: no symlinks, no
 * fifos, no dot-names.
 *
 * Limits (below): cpu_s is RLIMIT_CPU (SIGXCPU, SIGKILL a second later);
 * memory is RLIMIT_AS and, where the helper's cgroup tree is delegated
 * (cgroup.h), the memory.max of a cgroup v2 of the run's own (swap 0,
 * pids.max nproc + 1), which counts tmpfs, memfds and SysV shared memory;
 * without such a cgroup memfd_create and SysV shm are refused (EPERM), so
 * that RLIMIT_AS covers what remains; nproc counts the sandbox's own processes and threads
 * (its uid in its own user namespace); stdout_max/stderr_max/files_max cap
 * what comes back, and going over kills the run ("output"/"files"); wall_ms
 * ends the whole pid namespace ("timeout"). */
#ifndef RESEARCHD_SANDBOX_PROTO_H
#define RESEARCHD_SANDBOX_PROTO_H

#define SANDBOX_PROTO_VERSION 1

#define SANDBOX_MAX_REQUEST	(160LL * 1024 * 1024)
#define SANDBOX_MAX_ARGS	256
#define SANDBOX_MAX_ARG_LEN	(64 * 1024)
#define SANDBOX_MAX_ENV		64
#define SANDBOX_MAX_ENV_LEN	4096
#define SANDBOX_MAX_FILES	256
#define SANDBOX_MAX_PATH	255
#define SANDBOX_MAX_DEPTH	4
#define SANDBOX_MAX_INPUT	(96LL * 1024 * 1024)	/* stdin + files, decoded */

#define SANDBOX_UID 1000
#define SANDBOX_GID 1000
#define SANDBOX_WORKDIR "/work"

/* Limits: name, default, minimum, maximum. */
#define SANDBOX_LIMITS(X) \
	X(cpu_s,       10,                 1,    3600) \
	X(wall_ms,     30000,              10,   3600000) \
	X(memory,      (1LL << 30),        (16LL << 20), (16LL << 30)) \
	X(nproc,       64,                 1,    4096) \
	X(fsize,       (64LL << 20),       4096, (1LL << 30)) \
	X(nofile,      256,                16,   4096) \
	X(stdout_max,  (1LL << 20),        0,    (64LL << 20)) \
	X(stderr_max,  (256LL << 10),      0,    (64LL << 20)) \
	X(files_max,   (16LL << 20),       0,    (256LL << 20)) \
	X(files_count, 64,                 0,    1024) \
	X(disk,        (128LL << 20),      (1LL << 20), (2LL << 30))

#endif
