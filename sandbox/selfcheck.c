/* researchd-sandbox --check: the helper copies itself into a sandbox and
 * runs there as "--probe", trying the ways out an attacker would; each
 * attempt prints "blocked: WHAT (why)" or "NOT BLOCKED: WHAT". The
 * operator reads the list; the exit status says whether all were blocked. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "selfcheck.h"

static int open_count;

static void report(bool blocked, const char *what, int err)
{
	if (blocked) {
		printf("blocked: %s (%s)\n", what, err ? strerror(err) : "as expected");
	} else {
		printf("NOT BLOCKED: %s\n", what);
		open_count++;
	}
}

/* A call that must fail: blocked when it returns -1. */
static void expect_fail(const char *what, long r)
{
	report(r < 0, what, r < 0 ? errno : 0);
}

static void probe_files(void)
{
	static const char *const hidden[] = { "/etc/shadow", "/root", "/home", "/var/lib",
		"/run", "/tmp/.X11-unix", "/var/lib/researchd", "/run/researchd",
		"/usr/local/etc", "/usr/local/share/ca-certificates" };
	char what[128];

	for (size_t i = 0; i < sizeof(hidden) / sizeof(*hidden); i++) {
		int fd = open(hidden[i], O_RDONLY | O_CLOEXEC);
		snprintf(what, sizeof(what), "open %s", hidden[i]);
		report(fd < 0, what, fd < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
	}
	/* Kernel-wide /proc files read as empty. */
	static const char *const masked[] = { "/proc/cmdline", "/proc/partitions" };
	for (size_t i = 0; i < sizeof(masked) / sizeof(*masked); i++) {
		char buf[64];
		int fd = open(masked[i], O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
		snprintf(what, sizeof(what), "read the host's %s", masked[i]);
		report(n <= 0, what, n < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
	}
	static const char *const ro[] = { "/usr/.researchd-probe", "/etc/.researchd-probe",
		"/.researchd-probe" };
	for (size_t i = 0; i < sizeof(ro) / sizeof(*ro); i++) {
		int fd = open(ro[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		snprintf(what, sizeof(what), "write %s", ro[i]);
		report(fd < 0, what, fd < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
	}
}

static void probe_network(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53),
		.sin_addr.s_addr = htonl(0x01010101) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		int r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		report(r < 0, "TCP connect to 1.1.1.1:53", r < 0 ? errno : 0);
		close(fd);
	} else {
		report(true, "AF_INET socket", errno);
	}
	expect_fail("AF_INET6 socket", fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (fd >= 0)
		close(fd);
	expect_fail("AF_NETLINK socket", fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
	if (fd >= 0)
		close(fd);
}

static void probe_syscalls(void)
{
	expect_fail("ptrace attach to pid 1", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
	expect_fail("mount a tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
	expect_fail("unshare a user namespace", unshare(CLONE_NEWUSER));
	expect_fail("unshare a network namespace", unshare(CLONE_NEWNET));
	expect_fail("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
	expect_fail("bpf", syscall(SYS_bpf, 0, NULL, 0));
	expect_fail("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	expect_fail("personality change", syscall(SYS_personality, 0x0400000));
	expect_fail("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
	expect_fail("setuid 0", setuid(0));
}

static void probe_status(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	bool caps = true, nnp = false, seccomp = false;

	if (!f) {
		report(false, "read /proc/self/status", errno);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Cap", 3) == 0 && !strstr(line, "0000000000000000"))
			caps = false;
		if (strcmp(line, "NoNewPrivs:\t1\n") == 0)
			nnp = true;
		if (strcmp(line, "Seccomp:\t2\n") == 0)
			seccomp = true;
	}
	fclose(f);
	report(caps, "holding capabilities (all sets empty)", 0);
	report(nnp, "gaining privileges through execve (no_new_privs)", 0);
	report(seccomp, "unfiltered system calls (seccomp filter on)", 0);
}

static void probe_limits(int64_t memory)
{
	pid_t kids[4096];
	int n = 0, err = 0;
	char what[128];

	while (n < (int)(sizeof(kids) / sizeof(*kids))) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			pause();
			_exit(0);
		}
		kids[n++] = pid;
	}
	snprintf(what, sizeof(what), "a fork bomb (stopped after %d processes)", n);
	report(err != 0, what, err);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	if (memory > 0) {
		size_t want = (size_t)memory * 2;
		/* mmap, not malloc: a compiler may assume a malloc succeeds. */
		void *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		snprintf(what, sizeof(what), "mapping %lld MiB (twice the address-space limit)",
		    (long long)(want >> 20));
		report(p == MAP_FAILED, what, p == MAP_FAILED ? errno : 0);
		if (p != MAP_FAILED)
			munmap(p, want);
	} else {
		printf("skipped: the address-space limit (a sanitizer build runs --check without it)\n");
	}
}

/* Kernel resources that are host-wide or per outside uid, and argument
 * tricks on the filter. */
static void probe_kernel(void)
{
	unsigned long aio = 0;
	char c = 'x';
	int fd;

	expect_fail("io_setup (Linux AIO: fs.aio-nr is host-wide)",
	    syscall(SYS_io_setup, 128, &aio));
	expect_fail("inotify_init1 (instances are counted per outside uid)",
	    fd = (int)syscall(SYS_inotify_init1, 0));
	if (fd >= 0)
		close(fd);
	expect_fail("fanotify_init", fd = (int)syscall(SYS_fanotify_init, 0, 0));
	if (fd >= 0)
		close(fd);
	expect_fail("msgget (SysV message queues)", syscall(SYS_msgget, 0, 01000 | 0600));
	/* ioctl's command is an unsigned int: high bits must not pass for
	 * another command. */
	expect_fail("ioctl TIOCSTI with high bits set",
	    syscall(SYS_ioctl, 0, (1UL << 32) | 0x5412UL, &c));
	/* A queued SIGUSR1 to init that claims to come from outside. */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGUSR1;
	si.si_code = SI_QUEUE;
	if (syscall(SYS_rt_sigqueueinfo, 1, SIGUSR1, &si) == 0) {
		usleep(200000);
		report(true, "ending the run with a queued SIGUSR1 to init (ignored)", 0);
	} else {
		report(true, "queueing SIGUSR1 to init", errno);
	}
}

/* Memory RLIMIT_AS does not see. Without a cgroup the calls are refused;
 * with one, the memory counts and holding too much ends the run. */
static void probe_memory(int64_t cgroup_memory)
{
	int fd;

	/* The filter allows memfds only where a cgroup counts them. */
	fd = (int)syscall(SYS_memfd_create, "probe", 0);
	if (fd < 0) {
		report(true, "memfd_create (outside RLIMIT_AS; no cgroup counts it here)", errno);
		expect_fail("shmget (SysV shared memory is outside RLIMIT_AS)",
		    syscall(SYS_shmget, 0, 1 << 20, 01000 | 0600));
		return;
	}
	printf("%s\n", SELFCHECK_TRYING_MEMFD);
	fflush(stdout);
	int64_t held = 0;
	while (held < 2 * cgroup_memory && posix_fallocate(fd, held, 64 << 20) == 0)
		held += 64 << 20;
	report(held < 2 * cgroup_memory, "holding twice memory.max in a memfd", ENOMEM);
	close(fd);
}

int selfcheck_probe(int64_t memory, int64_t cgroup_memory)
{
	probe_files();
	probe_network();
	probe_syscalls();
	probe_status();
	probe_limits(memory);
	probe_kernel();
	probe_memory(cgroup_memory);
	printf("%s\n", open_count ? "RESULT: some ways out are open" : "RESULT: all blocked");
	fflush(stdout);
	return open_count ? 1 : 0;
}
