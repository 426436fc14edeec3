/* The command's seccomp filter (filter.h): one table of allowed system
 * calls, grouped by what needs them, plus the calls allowed only for some
 * arguments. Anything not listed fails with EPERM: a call nobody thought of
 * is refused, not allowed, and the program sees an error it can report
 * rather than a silent kill.
 *
 * Argument rules compare exactly the bits the kernel reads: int and
 * unsigned int arguments (socket's family, ioctl's command, prctl's option,
 * personality) are compared on their low 32 bits through a mask, so a value
 * with high bits set cannot pass for another command. */
#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "filter.h"

#define LOW32 0xffffffffULL

enum need {
	ALWAYS,
	COUNTED,	/* only where a cgroup counts the memory (filter.h) */
};

struct group {
	const char *what;
	enum need need;
	const char *const *calls;
};

#define CALLS(...) (const char *const[]){ __VA_ARGS__, NULL }

static const struct group groups[] = {
	{ "program start and exit: the loader, libc's thread and TLS set-up", ALWAYS,
	  CALLS("execve", "execveat", "exit", "exit_group", "arch_prctl", "set_tid_address",
	      "set_robust_list", "get_robust_list", "rseq", "restart_syscall", "uname") },
	{ "processes and threads: fork, wait (clone is argument-checked below)", ALWAYS,
	  CALLS("fork", "vfork", "wait4", "waitid", "getpid", "getppid", "gettid", "getpgid",
	      "setpgid", "getpgrp", "getsid", "setsid", "kill", "tgkill", "tkill",
	      "pidfd_open", "futex", "futex_waitv", "sched_yield", "sched_getaffinity",
	      "sched_setaffinity", "sched_getparam", "sched_getscheduler",
	      "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
	      "getpriority", "setpriority", "getcpu") },
	{ "credentials, read only (the sandbox's uid has nothing to change to)", ALWAYS,
	  CALLS("getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	      "capget") },
	{ "resource limits and usage: lowering is allowed, raising fails in the kernel "
	  "(prlimit64 is argument-checked below)", ALWAYS,
	  CALLS("getrlimit", "setrlimit", "getrusage", "times", "sysinfo") },
	{ "signals and timers (init ignores queued signals: jail.c)", ALWAYS,
	  CALLS("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
	      "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
	      "sigaltstack", "signalfd", "signalfd4", "pause", "alarm", "setitimer",
	      "getitimer", "timer_create", "timer_settime", "timer_gettime",
	      "timer_getoverrun", "timer_delete") },
	{ "clocks and sleeping", ALWAYS,
	  CALLS("clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	      "gettimeofday", "time", "timerfd_create", "timerfd_settime", "timerfd_gettime") },
	{ "memory of the process itself, counted by RLIMIT_AS", ALWAYS,
	  CALLS("brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
	      "membarrier", "get_mempolicy") },
	{ "memory outside the address space (memfds, SysV shared memory): only under a "
	  "cgroup's memory.max", COUNTED,
	  CALLS("memfd_create", "shmget", "shmat", "shmdt", "shmctl") },
	{ "file descriptors and I/O", ALWAYS,
	  CALLS("read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	      "preadv2", "pwritev2", "close", "close_range", "lseek", "dup", "dup2", "dup3",
	      "fcntl", "flock", "pipe", "pipe2", "sendfile", "copy_file_range", "splice",
	      "tee", "fadvise64", "readahead", "ftruncate", "fallocate", "fsync",
	      "fdatasync", "sync_file_range") },
	{ "the file system view (read-only but for /work, /tmp and /dev/shm)", ALWAYS,
	  CALLS("open", "openat", "openat2", "creat", "stat", "fstat", "lstat", "newfstatat",
	      "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink",
	      "readlinkat", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir",
	      "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	      "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
	      "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask", "truncate",
	      "utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat", "getxattr",
	      "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr") },
	{ "waiting for events", ALWAYS,
	  CALLS("poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
	      "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
	      "eventfd2") },
	{ "local sockets (socket and socketpair are argument-checked below)", ALWAYS,
	  CALLS("bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
	      "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	      "setsockopt", "getsockopt") },
	{ "randomness", ALWAYS, CALLS("getrandom") },
};

/* ioctl commands a program without a terminal still issues: isatty and
 * the terminal size (Python, shells), close-on-exec and non-blocking flags
 * (Python sets them with FIOCLEX), bytes waiting on a pipe. */
static const struct {
	const char *name;
	unsigned long cmd;
} ioctls[] = {
	{ "TCGETS", TCGETS }, { "TIOCGWINSZ", TIOCGWINSZ }, { "TIOCGPGRP", TIOCGPGRP },
	{ "FIONREAD", FIONREAD }, { "FIONBIO", FIONBIO }, { "FIOCLEX", FIOCLEX },
	{ "FIONCLEX", FIONCLEX },
};

/* prctl options libc, Python, OpenBLAS and the sanitizers use. */
static const struct {
	const char *name;
	int option;
} prctls[] = {
	{ "PR_SET_NAME", PR_SET_NAME }, { "PR_GET_NAME", PR_GET_NAME },
	{ "PR_SET_PDEATHSIG", PR_SET_PDEATHSIG }, { "PR_GET_PDEATHSIG", PR_GET_PDEATHSIG },
	{ "PR_GET_DUMPABLE", PR_GET_DUMPABLE }, { "PR_GET_SECCOMP", PR_GET_SECCOMP },
	{ "PR_CAPBSET_READ", PR_CAPBSET_READ }, { "PR_GET_NO_NEW_PRIVS", PR_GET_NO_NEW_PRIVS },
	{ "PR_SET_NO_NEW_PRIVS", PR_SET_NO_NEW_PRIVS }, { "PR_GET_KEEPCAPS", PR_GET_KEEPCAPS },
	{ "PR_GET_SECUREBITS", PR_GET_SECUREBITS }, { "PR_GET_TIMERSLACK", PR_GET_TIMERSLACK },
	{ "PR_SET_TIMERSLACK", PR_SET_TIMERSLACK }, { "PR_GET_THP_DISABLE", PR_GET_THP_DISABLE },
	{ "PR_SET_CHILD_SUBREAPER", PR_SET_CHILD_SUBREAPER },
	{ "PR_GET_CHILD_SUBREAPER", PR_GET_CHILD_SUBREAPER },
	{ "PR_SET_VMA", 0x53564d41 },
};

/* Namespaces stay the helper's to make: clone with any of these fails.
 * clone reads only the low 32 bits of its flags, and all of these lie
 * there, so the mask ignores the rest as the kernel does. */
#define CLONE_NS_FLAGS (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | \
	CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

static int allow_name(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr < 0)
		return 0;	/* not a call of this architecture */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

static int add_arg_rules(scmp_filter_ctx ctx)
{
	int r;

	/* AF_UNIX only: other families get EAFNOSUPPORT, which libraries
	 * read as "no network here". The two rules overlap only on values
	 * whose low 32 bits are AF_UNIX, and the kernel makes AF_UNIX of
	 * those whichever rule wins. */
	static const int sock_calls[] = { SCMP_SYS(socket), SCMP_SYS(socketpair) };
	for (size_t i = 0; i < sizeof(sock_calls) / sizeof(*sock_calls); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sock_calls[i], 1,
		    SCMP_A0_64(SCMP_CMP_MASKED_EQ, LOW32, AF_UNIX));
		if (r < 0)
			return r;
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), sock_calls[i], 1,
		    SCMP_A0_64(SCMP_CMP_NE, AF_UNIX));
		if (r < 0)
			return r;
	}
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0));
	if (r < 0)
		return r;
	/* clone3 passes its flags in memory the filter cannot read: ENOSYS
	 * makes libc fall back to clone, whose flags it can. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(*ioctls); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1_64(SCMP_CMP_MASKED_EQ, LOW32, ioctls[i].cmd & LOW32));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sizeof(prctls) / sizeof(*prctls); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0_64(SCMP_CMP_MASKED_EQ, LOW32, (uint32_t)prctls[i].option));
		if (r < 0)
			return r;
	}
	/* Our own limits only (pid 0, as libc's getrlimit and setrlimit pass
	 * it): lowering init's would let the command break the run's report. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
	    SCMP_A0_64(SCMP_CMP_MASKED_EQ, LOW32, 0));
	if (r < 0)
		return r;
	/* personality(0xffffffff) only reads it; every change is refused. */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
	    SCMP_A0_64(SCMP_CMP_MASKED_EQ, LOW32, 0xffffffffULL));
}

int filter_install(bool memory_counted)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r;

	if (!ctx)
		return -ENOMEM;
	/* Another ABI's calls (i386 through int 0x80, x32) fail too. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	if (r < 0)
		goto out;
	for (size_t g = 0; g < sizeof(groups) / sizeof(*groups); g++) {
		if (groups[g].need == COUNTED && !memory_counted)
			continue;
		for (const char *const *c = groups[g].calls; *c; c++)
			if ((r = allow_name(ctx, *c)) < 0)
				goto out;
	}
	r = add_arg_rules(ctx);
	if (r < 0)
		goto out;
	r = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return r;
}

void filter_print(FILE *f)
{
	size_t total = 0, counted = 0;

	fprintf(f, "# researchd-sandbox seccomp filter: allowed calls; all others fail with EPERM\n");
	for (size_t g = 0; g < sizeof(groups) / sizeof(*groups); g++) {
		size_t n = 0;
		fprintf(f, "\n# %s\n", groups[g].what);
		for (const char *const *c = groups[g].calls; *c; c++) {
			if (seccomp_syscall_resolve_name(*c) < 0)
				continue;
			fprintf(f, "%s%s", n % 8 ? " " : n ? "\n" : "", *c);
			n++;
		}
		fprintf(f, "\n");
		total += n;
		if (groups[g].need == COUNTED)
			counted += n;
	}
	fprintf(f, "\n# allowed for some arguments only (low 32 bits compared where the "
	    "kernel reads an int)\n");
	fprintf(f, "socket socketpair: family AF_UNIX (others: EAFNOSUPPORT)\n");
	fprintf(f, "clone: flags without CLONE_NEW* (clone3: ENOSYS, libc falls back to clone)\n");
	fprintf(f, "ioctl:");
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(*ioctls); i++)
		fprintf(f, " %s", ioctls[i].name);
	fprintf(f, "\nprctl:");
	for (size_t i = 0; i < sizeof(prctls) / sizeof(*prctls); i++)
		fprintf(f, " %s", prctls[i].name);
	fprintf(f, "\nprlimit64: pid 0 (the caller itself)\n");
	fprintf(f, "personality: 0xffffffff (query only)\n");
	total += 7;
	fprintf(f, "\n# %zu calls allowed on this architecture (%zu only where a cgroup "
	    "counts memory)\n", total, counted);
}
