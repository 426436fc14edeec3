/* The helper's core: namespaces, the mount view, the sandbox's init, the
 * command's process with rlimits, no capabilities and seccomp, and the
 * supervisor that enforces the wall clock and the output caps.
 *
 * Three processes: the supervisor (the helper, in the host namespaces);
 * "init", cloned into new user/pid/mount/net/ipc/uts/cgroup namespaces,
 * which builds the view, forks the command and reaps everything; and the
 * command. When the command exits, init kills every other process of the
 * namespace (kill(-1)), copies out/ back over the report pipe and exits.
 * Killing init (timeout, output cap, supervisor death through
 * PDEATHSIG) makes the kernel kill the whole pid namespace, so nothing the
 * command started, daemonised or not, outlives the run. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "filter.h"
#include "jail.h"
#include "xmalloc.h"

#define NEWROOT "/tmp"		/* where init builds the new root, in its own mount ns */
#define OUTSIDE_NOBODY 65534
/* Pending signals are counted per user across user namespaces (the
 * kernel's ucounts), so the outside uid shares its budget with the run:
 * a run gets a small slice of it. */
#define SIGPENDING_MAX 256

/* Records init sends to the supervisor on the report pipe. */
enum {
	REC_ERROR = 'E',	/* u32 len, message: setup failed, nothing ran */
	REC_REQUEST = 'R',	/* same, the request's fault */
	REC_STATUS = 'S',	/* struct rec_status */
	REC_FILE = 'F',		/* u32 path len, u64 data len, path, data */
	REC_TRUNC = 'T',	/* out/ held more than the limits allow */
	REC_END = 'Z',
};

struct rec_status {
	int32_t wstatus;
	int32_t stopped;	/* the supervisor asked init to end the run */
	int64_t cpu_ms;
	int64_t max_rss_kb;
};

/* How the supervisor ends a run early: SIGUSR1 asks init to kill everything
 * and report the resources used; SIGKILL, a second later, does not ask. */
#define STOP_SIGNAL SIGUSR1
#define STOP_GRACE_MS 1000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, text, strlen(text));
	close(fd);
	return r;
}

/* ---- init: inside the namespaces ---- */

struct init_ctx {
	const struct jail_spec *spec;
	int sync_rd;		/* supervisor says the id maps are written */
	int report;		/* records to the supervisor */
	int out_wr, err_wr;	/* the command's stdout and stderr */
	bool memory_counted;	/* the run has a cgroup: memfds and SysV shm may be allowed */
};

static _Noreturn void init_vfail(struct init_ctx *c, char type, int err, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

static _Noreturn void init_vfail(struct init_ctx *c, char type, int err, const char *fmt,
    va_list ap)
{
	char msg[512];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	if (err && (size_t)n < sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	uint32_t len = (uint32_t)n;
	(void)write_all(c->report, &type, 1);
	(void)write_all(c->report, &len, sizeof(len));
	(void)write_all(c->report, msg, len);
	_exit(1);
}

/* The machine cannot build the sandbox: nothing ran. */
static _Noreturn void init_fail(struct init_ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void init_fail(struct init_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	init_vfail(c, REC_ERROR, err, fmt, ap);
}

/* The request does not fit (inputs over the disk limit...): nothing ran. */
static _Noreturn void init_fail_request(struct init_ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void init_fail_request(struct init_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	init_vfail(c, REC_REQUEST, err, fmt, ap);
}

static unsigned long mount_flags_of(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	/* Flags locked by the host's mount must be kept on a remount in a user
	 * namespace, or the kernel refuses it. */
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

/* Bind src at NEWROOT/dst, read-only unless rw, with extra flags. A source
 * that is missing is skipped when optional. */
static void bind_into(struct init_ctx *c, const char *src, const char *dst, bool rw,
    unsigned long extra, bool optional)
{
	char target[PATH_MAX];
	struct stat st;

	if (stat(src, &st) < 0) {
		if (optional && errno == ENOENT)
			return;
		init_fail(c, errno, "sandbox view: %s", src);
	}
	snprintf(target, sizeof(target), "%s%s", NEWROOT, dst);
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(target, 0755) < 0 && errno != EEXIST)
			init_fail(c, errno, "sandbox view: mkdir %s", dst);
	} else {
		int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			init_fail(c, errno, "sandbox view: create %s", dst);
		close(fd);
	}
	/* Not MS_REC: mounts under the source stay out of the view. */
	if (mount(src, target, NULL, MS_BIND, NULL) < 0)
		init_fail(c, errno, "sandbox view: bind %s", src);
	unsigned long f = MS_REMOUNT | MS_BIND | MS_NOSUID | extra | mount_flags_of(target);
	if (!rw)
		f |= MS_RDONLY;
	if (mount(NULL, target, NULL, f, NULL) < 0)
		init_fail(c, errno, "sandbox view: remount %s", dst);
}

/* /bin, /lib... are symlinks into /usr on merged-/usr systems: copy the link. */
static void link_or_bind(struct init_ctx *c, const char *path)
{
	char target[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			init_fail(c, errno, "sandbox view: readlink %s", path);
		target[n] = '\0';
		snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
		if (symlink(target, dst) < 0)
			init_fail(c, errno, "sandbox view: symlink %s", path);
	} else if (S_ISDIR(st.st_mode)) {
		bind_into(c, path, path, false, MS_NODEV, false);
	}
}

static void put_file(struct init_ctx *c, const char *path, const char *text)
{
	char dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
		init_fail(c, errno, "sandbox view: write %s", path);
	close(fd);
}

static void mkdir_in(struct init_ctx *c, const char *path, mode_t mode)
{
	char dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s%s", NEWROOT, path);
	if (mkdir(dst, mode) < 0 && errno != EEXIST)
		init_fail(c, errno, "sandbox view: mkdir %s", path);
}

static void mount_tmpfs(struct init_ctx *c, const char *path, int64_t size, mode_t mode)
{
	char opts[128];
	snprintf(opts, sizeof(opts), "size=%lld,nr_inodes=%d,mode=%o", (long long)size,
	    16384, (unsigned)mode);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		init_fail(c, errno, "sandbox view: tmpfs on %s", path);
}

/* What stays of /usr/local: programs and libraries installed there (a
 * Python built from source, pip's dist-packages) and fonts for plots. Out:
 * etc (an operator's npmrc, pip.conf), share (private CA certificates),
 * include, src, and whatever vendor trees an operator keeps there. */
static const char *const usr_local_kept[] = {
	"/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/usr/local/lib32",
	"/usr/local/lib64", "/usr/local/libexec", "/usr/local/share/fonts",
};

static void view_usr_local(struct init_ctx *c)
{
	struct stat st;

	if (lstat("/usr/local", &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	mount_tmpfs(c, NEWROOT "/usr/local", 1 << 20, 0755);
	for (size_t i = 0; i < sizeof(usr_local_kept) / sizeof(*usr_local_kept); i++) {
		if (lstat(usr_local_kept[i], &st) < 0)
			continue;
		if (strncmp(usr_local_kept[i], "/usr/local/share/", 17) == 0)
			mkdir_in(c, "/usr/local/share", 0755);
		if (S_ISLNK(st.st_mode))
			link_or_bind(c, usr_local_kept[i]);
		else if (S_ISDIR(st.st_mode))
			bind_into(c, usr_local_kept[i], usr_local_kept[i], false, MS_NODEV, true);
	}
	if (mount(NULL, NEWROOT "/usr/local", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
	    "size=1048576") < 0)
		init_fail(c, errno, "sandbox view: read-only /usr/local");
}

/* Kernel-wide /proc files that tell the host's boot line, disks, devices,
 * modules and memory layout; the interpreters read none of them. Kept:
 * the sandbox's own pids, stat (libc counts CPUs there), cpuinfo (BLAS
 * picks its kernels), meminfo, loadavg, uptime, filesystems, sys. */
static const char *const proc_masked[] = {
	"cmdline", "partitions", "diskstats", "swaps", "devices", "modules", "kallsyms",
	"keys", "key-users", "timer_list", "sched_debug", "schedstat", "iomem", "ioports",
	"vmallocinfo", "slabinfo", "pagetypeinfo", "zoneinfo", "buddyinfo", "locks", "mtrr",
	"kcore", "kpagecount", "kpageflags", "kpagecgroup", "sysrq-trigger", "config.gz",
	"consoles", "misc", "mdstat", "interrupts", "softirqs", "latency_stats", "dma",
	"execdomains", "fb", "cgroups", "acpi", "scsi", "bus", "driver", "fs", "irq", "tty",
	"dynamic_debug", "asound", "sysvipc",
};

static void view_mask_proc(struct init_ctx *c)
{
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(proc_masked) / sizeof(*proc_masked); i++) {
		snprintf(path, sizeof(path), NEWROOT "/proc/%s", proc_masked[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			    "size=4096,nr_inodes=1,mode=555") < 0)
				init_fail(c, errno, "sandbox view: mask /proc/%s", proc_masked[i]);
			continue;
		}
		if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC |
		    mount_flags_of(path), NULL) < 0)
			init_fail(c, errno, "sandbox view: mask /proc/%s", proc_masked[i]);
	}
}

/* Python's multiprocessing keeps its semaphores in /dev/shm. */
#define SHM_MAX (64LL << 20)

static const char *const etc_pieces[] = {
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
	"/etc/alternatives", "/etc/fonts",
};

static void build_view(struct init_ctx *c)
{
	const struct jail_spec *s = c->spec;
	char path[PATH_MAX];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		init_fail(c, errno, "sandbox view: make / private");
	mount_tmpfs(c, NEWROOT, 4 << 20, 0755);

	bind_into(c, "/usr", "/usr", false, MS_NODEV, false);
	view_usr_local(c);
	link_or_bind(c, "/bin");
	link_or_bind(c, "/sbin");
	link_or_bind(c, "/lib");
	link_or_bind(c, "/lib32");
	link_or_bind(c, "/lib64");
	link_or_bind(c, "/libx32");

	mkdir_in(c, "/etc", 0755);
	for (size_t i = 0; i < sizeof(etc_pieces) / sizeof(*etc_pieces); i++) {
		struct stat st;
		if (lstat(etc_pieces[i], &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode))
			link_or_bind(c, etc_pieces[i]);
		else
			bind_into(c, etc_pieces[i], etc_pieces[i], false, MS_NODEV, true);
	}
	/* Debian's Python reads its sitecustomize from /etc/python3.X. */
	DIR *etc = opendir("/etc");
	struct dirent *de;
	while (etc && (de = readdir(etc))) {
		char src[PATH_MAX];
		if (strncmp(de->d_name, "python3", 7) != 0 || strchr(de->d_name, '/'))
			continue;
		snprintf(src, sizeof(src), "/etc/%s", de->d_name);
		bind_into(c, src, src, false, MS_NODEV, true);
	}
	if (etc)
		closedir(etc);
	put_file(c, "/etc/passwd", "sandbox:x:1000:1000:sandbox:/work:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	put_file(c, "/etc/group", "sandbox:x:1000:\nnogroup:x:65534:\n");
	put_file(c, "/etc/hostname", "sandbox\n");
	put_file(c, "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");

	mkdir_in(c, "/dev", 0755);
	static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/full",
		"/dev/random", "/dev/urandom" };
	for (size_t i = 0; i < sizeof(devs) / sizeof(*devs); i++)
		bind_into(c, devs[i], devs[i], true, MS_NOEXEC, false);
	static const char *const links[][2] = { { "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" }, { "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" } };
	for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
		snprintf(path, sizeof(path), "%s%s", NEWROOT, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			init_fail(c, errno, "sandbox view: symlink %s", links[i][1]);
	}

	mkdir_in(c, "/proc", 0555);
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		init_fail(c, errno, "sandbox view: mount /proc");
	view_mask_proc(c);
	mkdir_in(c, "/dev/shm", 01777);
	mount_tmpfs(c, NEWROOT "/dev/shm", s->lim.disk < SHM_MAX ? s->lim.disk : SHM_MAX, 01777);

	mkdir_in(c, SANDBOX_WORKDIR, 0755);
	mount_tmpfs(c, NEWROOT SANDBOX_WORKDIR, s->lim.disk, 0755);
	mkdir_in(c, "/tmp", 01777);
	mount_tmpfs(c, NEWROOT "/tmp", s->lim.disk, 01777);

	if (chdir(NEWROOT) < 0)
		init_fail(c, errno, "sandbox view: chdir");
	/* Stack the old root under the new one, then detach it: nothing of the
	 * host stays reachable. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		init_fail(c, errno, "sandbox view: pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		init_fail(c, errno, "sandbox view: detach the old root");
	if (chdir("/") < 0)
		init_fail(c, errno, "sandbox view: chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		init_fail(c, errno, "sandbox view: read-only root");
}

static void place_inputs(struct init_ctx *c)
{
	const struct jail_spec *s = c->spec;
	char path[PATH_MAX];

	if (chdir(SANDBOX_WORKDIR) < 0)
		init_fail(c, errno, "work dir");
	for (size_t i = 0; i < s->n_files; i++) {
		const struct jail_file *f = &s->files[i];
		/* Parents first: "a/b/c" makes "a" and "a/b". */
		snprintf(path, sizeof(path), "%s", f->path);
		for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				init_fail_request(c, errno, "input %s", f->path);
			*p = '/';
		}
		int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    f->exec ? 0755 : 0644);
		if (fd < 0)
			init_fail_request(c, errno, "input %s", f->path);
		if (write_all(fd, f->data, f->len) < 0)
			init_fail_request(c, errno, "input %s (disk limit %lld bytes)", f->path,
			    (long long)s->lim.disk);
		close(fd);
	}
	if (mkdir("out", 0755) < 0 && errno != EEXIST)
		init_fail(c, errno, "out dir");
}

/* ---- the command's process ---- */

static int caps_drop_all(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;	/* past the last capability */
			return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0) < 0)
		return -errno;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

/* Lower a limit; never above what we were given (raising needs privileges
 * in the initial namespace, which the sandbox must not have). */
static int set_limit(int res, int64_t soft, int64_t hard)
{
	struct rlimit cur, rl = { (rlim_t)soft, (rlim_t)hard };
	if (getrlimit(res, &cur) < 0)
		return -errno;
	if (cur.rlim_max != RLIM_INFINITY && rl.rlim_max > cur.rlim_max)
		rl.rlim_max = cur.rlim_max;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	return setrlimit(res, &rl) < 0 ? -errno : 0;
}

static const char *env_path(char **env)
{
	for (char **e = env; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return "/usr/local/bin:/usr/bin:/bin";
}

static _Noreturn void command_exec(const struct jail_spec *s)
{
	char path[PATH_MAX];
	const char *why = "";
	int err = 0;

	if (strchr(s->argv[0], '/')) {
		execve(s->argv[0], s->argv, s->env);
		err = errno;
	} else {
		const char *p = env_path(s->env);
		err = ENOENT;
		while (*p) {
			const char *e = strchr(p, ':');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			if (len > 0 && len + 1 + strlen(s->argv[0]) < sizeof(path)) {
				memcpy(path, p, len);
				snprintf(path + len, sizeof(path) - len, "/%s", s->argv[0]);
				execve(path, s->argv, s->env);
				if (errno != ENOENT && errno != ENOTDIR)
					err = errno;
			}
			if (!e)
				break;
			p = e + 1;
		}
	}
	why = strerror(err);
	dprintf(2, "researchd-sandbox: cannot execute %s: %s\n", s->argv[0], why);
	_exit(127);
}

#define SETUP_FD 3	/* the command's process reports a failed setup here */

/* The isolation could not be completed: tell init, which reports the
 * sandbox as unavailable; the command never runs. */
static _Noreturn void setup_fail(const char *what, int err)
{
	dprintf(SETUP_FD, "%s: %s", what, strerror(err));
	_exit(126);
}

static _Noreturn void command_main(struct init_ctx *c, int stdin_fd, int setup_fd)
{
	const struct jail_spec *s = c->spec;
	const struct jail_limits *l = &s->lim;
	int r;

	setsid();
	if (dup2(stdin_fd, 0) < 0 || dup2(c->out_wr, 1) < 0 || dup2(c->err_wr, 2) < 0 ||
	    dup2(setup_fd, SETUP_FD) < 0 || fcntl(SETUP_FD, F_SETFD, FD_CLOEXEC) < 0)
		_exit(126);
	if (syscall(SYS_close_range, SETUP_FD + 1, ~0U, 0) < 0)
		for (int fd = SETUP_FD + 1; fd < 1024; fd++)
			close(fd);
	umask(022);
	signal(SIGPIPE, SIG_DFL);

	if ((r = caps_drop_all()) < 0)
		setup_fail("dropping capabilities", -r);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		setup_fail("no_new_privs", errno);
	if ((r = filter_install(c->memory_counted)) < 0)
		setup_fail("loading the seccomp filter", -r);
	/* Limits last: once RLIMIT_AS is set, nothing but execve may need
	 * memory (a sanitizer build's shadow mappings are far over it).
	 * RLIMIT_NPROC counts the tasks of a uid in a user namespace (the
	 * kernel's ucounts, 5.14 on), and the sandbox has a user namespace and
	 * a uid of its own in it: the limit counts exactly the sandbox's
	 * processes and threads, whatever else the outside uid runs, and needs
	 * no cgroup. init is one of them, hence + 1. */
	if ((r = set_limit(RLIMIT_CPU, l->cpu_s, l->cpu_s + 1)) < 0 ||
	    (r = set_limit(RLIMIT_NPROC, l->nproc + 1, l->nproc + 1)) < 0 ||
	    (r = set_limit(RLIMIT_FSIZE, l->fsize, l->fsize)) < 0 ||
	    (r = set_limit(RLIMIT_NOFILE, l->nofile, l->nofile)) < 0 ||
	    (r = set_limit(RLIMIT_CORE, 0, 0)) < 0 ||
	    (r = set_limit(RLIMIT_MEMLOCK, 0, 0)) < 0 ||
	    (r = set_limit(RLIMIT_MSGQUEUE, 0, 0)) < 0 ||
	    (r = set_limit(RLIMIT_SIGPENDING, SIGPENDING_MAX, SIGPENDING_MAX)) < 0 ||
	    (!s->no_as_limit && (r = set_limit(RLIMIT_AS, l->memory, l->memory)) < 0))
		setup_fail("setrlimit", -r);
	command_exec(s);
}

/* ---- init: collecting out/ ---- */

struct collect {
	struct init_ctx *c;
	int64_t bytes, count;
	bool truncated;
};

static void send_file(struct collect *k, const char *rel, int fd, size_t size)
{
	char t = REC_FILE;
	uint32_t plen = (uint32_t)strlen(rel);
	uint64_t len = size;
	char buf[65536];
	size_t left = size;

	(void)write_all(k->c->report, &t, 1);
	(void)write_all(k->c->report, &plen, sizeof(plen));
	(void)write_all(k->c->report, &len, sizeof(len));
	(void)write_all(k->c->report, rel, plen);
	while (left > 0) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n <= 0) {
			/* Shrunk under us: nothing runs any more, but pad to be safe. */
			memset(buf, 0, sizeof(buf));
			n = (ssize_t)(left < sizeof(buf) ? left : sizeof(buf));
		}
		(void)write_all(k->c->report, buf, (size_t)n);
		left -= (size_t)n;
	}
}

static void collect_dir(struct collect *k, int dir_fd, const char *rel, int depth)
{
	const struct jail_limits *l = &k->c->spec->lim;
	DIR *d = fdopendir(dir_fd);
	struct dirent *de;
	char sub[PATH_MAX];

	if (!d) {
		close(dir_fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		int n = snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub) || !jail_path_valid(sub)) {
			k->truncated = true;	/* a name we will not carry back */
			continue;
		}
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			k->truncated = true;
			continue;
		}
		if (fstat(fd, &st) < 0) {
			close(fd);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth >= SANDBOX_MAX_DEPTH) {
				k->truncated = true;
				close(fd);
				continue;
			}
			collect_dir(k, fd, sub, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode) || k->count >= l->files_count ||
		    st.st_size > l->files_max - k->bytes) {
			k->truncated = true;
			close(fd);
			continue;
		}
		k->count++;
		k->bytes += st.st_size;
		send_file(k, sub, fd, (size_t)st.st_size);
		close(fd);
	}
	closedir(d);
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig, siginfo_t *si, void *ctx)
{
	/* Only kill() from outside the pid namespace: SI_USER with si_pid 0.
	 * A queued signal (rt_sigqueueinfo, sigqueue) carries a sender-chosen
	 * si_pid, but the kernel lets a process queue only negative codes to
	 * another, so SI_USER cannot be forged from inside; a kill() from
	 * inside carries the sender's own pid. The command cannot end its own
	 * run through us. */
	if (si->si_code != SI_USER || si->si_pid != 0)
		return;
	stop_requested = 1;
	kill(-1, SIGKILL);
}

static _Noreturn void init_main(struct init_ctx *c)
{
	const struct jail_spec *s = c->spec;
	struct rec_status st = { 0 };
	pid_t cmd, pid;
	char b;
	int status, stdin_fd;
	bool cmd_done = false;
	struct rusage ru;

	/* The supervisor's stdio are the daemon's pipes: not ours to hold. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
		_exit(1);
	if (devnull > 2)
		close(devnull);
	if (read(c->sync_rd, &b, 1) != 1)
		_exit(1);	/* the supervisor is gone, or could not write the maps */

	if (setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID) < 0)
		init_fail(c, errno, "setresgid");
	if (setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) < 0)
		init_fail(c, errno, "setresuid");
	/* Changing credentials clears the parent-death signal: set it now, then
	 * make sure the supervisor did not die before (it holds the sync pipe's
	 * write end open until the end: a hangup means it is gone). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	struct pollfd pf = { c->sync_rd, POLLIN, 0 };
	if (poll(&pf, 1, 0) != 0)
		_exit(1);
	close(c->sync_rd);
	/* The command runs as the same uid: keep it from reading our memory
	 * (also reset by the credential change, hence here). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	build_view(c);
	if (sethostname("sandbox", 7) < 0)
		init_fail(c, errno, "sethostname");
	place_inputs(c);

	stdin_fd = memfd_create("stdin", MFD_CLOEXEC);
	if (stdin_fd < 0)
		init_fail(c, errno, "memfd_create");
	if (s->stdin_len > 0 && write_all(stdin_fd, s->stdin_data, s->stdin_len) < 0)
		init_fail_request(c, errno, "writing stdin");
	lseek(stdin_fd, 0, SEEK_SET);

	struct sigaction sa = { .sa_sigaction = on_stop, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(STOP_SIGNAL, &sa, NULL);
	if (stop_requested)
		_exit(1);
	int setup_pipe[2];
	if (pipe2(setup_pipe, O_CLOEXEC) < 0)
		init_fail(c, errno, "pipe");
	cmd = fork();
	if (cmd < 0)
		init_fail(c, errno, "fork");
	if (cmd == 0) {
		signal(STOP_SIGNAL, SIG_DFL);
		command_main(c, stdin_fd, setup_pipe[1]);
	}
	close(stdin_fd);
	close(c->out_wr);
	close(c->err_wr);
	close(setup_pipe[1]);
	/* EOF: the command's process reached execve with every step done. */
	char why[256];
	ssize_t n;
	while ((n = read(setup_pipe[0], why, sizeof(why) - 1)) < 0 && errno == EINTR)
		;
	close(setup_pipe[0]);
	if (n > 0) {
		why[n] = '\0';
		kill(-1, SIGKILL);
		while (wait(NULL) > 0 || errno == EINTR)
			;
		init_fail(c, 0, "sandbox setup: %s", why);
	}

	/* Reap everything; when the command itself ends, end the rest. */
	for (;;) {
		pid = wait4(-1, &status, 0, &ru);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: nobody left */
		}
		st.cpu_ms += (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
		    (int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
		if (ru.ru_maxrss > st.max_rss_kb)
			st.max_rss_kb = ru.ru_maxrss;
		if (pid == cmd) {
			st.wstatus = status;
			cmd_done = true;
		}
		/* Again after each reap: a process forked while the last kill
		 * went round is caught by the next. */
		if (cmd_done)
			kill(-1, SIGKILL);
	}

	char t = REC_STATUS;
	st.stopped = stop_requested;
	(void)write_all(c->report, &t, 1);
	(void)write_all(c->report, &st, sizeof(st));
	if (stop_requested) {
		t = REC_END;
		(void)write_all(c->report, &t, 1);
		_exit(0);
	}

	struct collect k = { .c = c };
	int dfd = open(SANDBOX_WORKDIR "/out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		collect_dir(&k, dfd, "out", 1);
	if (k.truncated) {
		t = REC_TRUNC;
		(void)write_all(c->report, &t, 1);
	}
	t = REC_END;
	(void)write_all(c->report, &t, 1);
	_exit(0);
}

/* ---- the supervisor ---- */

/* Map the sandbox's uid/gid 1000 to one outside id: nobody when we are
 * root (so the sandbox owns nothing of the host), else our own ids, the
 * only ones an unprivileged user may map. Root in a user namespace that has
 * no nobody mapped (a container) falls back to its own ids. */
static int write_maps(pid_t pid, char *errmsg, size_t errlen)
{
	char path[64], map[64];
	unsigned uid = geteuid(), gid = getegid();
	bool nobody = uid == 0;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
	r = write_file(path, "deny");
	if (r < 0 && r != -ENOENT)
		goto fail;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "%u %u 1\n", SANDBOX_UID, nobody ? OUTSIDE_NOBODY : uid);
	r = write_file(path, map);
	if (r < 0 && nobody) {
		nobody = false;
		snprintf(map, sizeof(map), "%u %u 1\n", SANDBOX_UID, uid);
		r = write_file(path, map);
	}
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "%u %u 1\n", SANDBOX_GID, nobody ? OUTSIDE_NOBODY : gid);
	if ((r = write_file(path, map)) < 0)
		goto fail;
	return 0;
fail:
	snprintf(errmsg, errlen, "cannot map the sandbox's user (%s): %s", path, strerror(-r));
	return r;
}

static void set_cloexec_pipe(int p[2], int *r)
{
	if (*r == 0 && pipe2(p, O_CLOEXEC) < 0)
		*r = -errno;
}

/* Read what is there into b (capped at max); beyond the cap, drain and
 * report overflow. Returns 1 at EOF, 0 otherwise. */
static int drain(int fd, struct buf *b, size_t max, bool *overflow)
{
	char tmp[65536];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	size_t room = b->len < max ? max - b->len : 0;
	size_t take = (size_t)n < room ? (size_t)n : room;
	if (take)
		(void)buf_append(b, tmp, take);
	if ((size_t)n > take)
		*overflow = true;
	return 0;
}

static int parse_report(const struct buf *rep, const struct jail_spec *s,
    struct jail_outcome *o, bool *have_status, struct rec_status *st,
    char *errmsg, size_t errlen, int *setup_failed)
{
	const unsigned char *p = (const unsigned char *)rep->data, *end = p + rep->len;
	int64_t bytes = 0;

	while (p < end) {
		char t = (char)*p++;
		switch (t) {
		case REC_ERROR:
		case REC_REQUEST: {
			uint32_t len;
			if ((size_t)(end - p) < sizeof(len))
				return -EBADMSG;
			memcpy(&len, p, sizeof(len));
			p += sizeof(len);
			if (len > (size_t)(end - p) || len >= 512)
				return -EBADMSG;
			snprintf(errmsg, errlen, "%.*s", (int)len, (const char *)p);
			*setup_failed = t == REC_ERROR ? 1 : 2;
			return 0;
		}
		case REC_STATUS:
			if ((size_t)(end - p) < sizeof(*st))
				return -EBADMSG;
			memcpy(st, p, sizeof(*st));
			p += sizeof(*st);
			*have_status = true;
			break;
		case REC_FILE: {
			uint32_t plen;
			uint64_t len;
			if ((size_t)(end - p) < sizeof(plen) + sizeof(len))
				return -EBADMSG;
			memcpy(&plen, p, sizeof(plen));
			memcpy(&len, p + sizeof(plen), sizeof(len));
			p += sizeof(plen) + sizeof(len);
			if (plen > SANDBOX_MAX_PATH || plen > (size_t)(end - p) ||
			    len > (size_t)(end - p) - plen)
				return -EBADMSG;
			char *path = xstrndup((const char *)p, plen);
			if (strlen(path) != plen || !jail_path_valid(path) ||
			    strncmp(path, "out/", 4) != 0 ||
			    (int64_t)o->n_files >= s->lim.files_count ||
			    (int64_t)len > s->lim.files_max - bytes) {
				free(path);
				return -EBADMSG;
			}
			p += plen;
			o->files = xreallocarray(o->files, o->n_files + 1, sizeof(*o->files));
			struct jail_file *f = &o->files[o->n_files++];
			f->path = path;
			f->len = len;
			f->data = xmalloc(len ? len : 1);
			memcpy(f->data, p, len);
			f->exec = false;
			bytes += (int64_t)len;
			p += len;
			break;
		}
		case REC_TRUNC:
			o->files_truncated = true;
			break;
		case REC_END:
			return p == end ? 0 : -EBADMSG;
		default:
			return -EBADMSG;
		}
	}
	return 0;
}

#define JAIL_NS_FLAGS (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | \
	CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

/* clone3's arguments (linux/sched.h, which does not mix with sched.h). */
struct jail_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
	    set_tid, set_tid_size, cgroup;
};
#define JAIL_CLONE_INTO_CGROUP 0x200000000ULL

/* Like fork, into the new namespaces, and straight into the run's cgroup
 * when there is one, so that its cgroup namespace is rooted there and not
 * one byte is counted elsewhere. Kernels before 5.7 move it afterwards. */
static pid_t jail_clone(const struct cgroup_run *cg)
{
	pid_t pid;

	if (cg) {
		struct jail_clone_args ca = { .flags = JAIL_NS_FLAGS | JAIL_CLONE_INTO_CGROUP,
			.exit_signal = SIGCHLD, .cgroup = (uint64_t)cg->dir_fd };
		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid >= 0 || (errno != ENOSYS && errno != E2BIG))
			return pid;
	}
	pid = (pid_t)syscall(SYS_clone, JAIL_NS_FLAGS | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid > 0 && cg && cgroup_run_attach(cg, pid) < 0) {
		int err = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		errno = err;
		return -1;
	}
	return pid;
}

int jail_run(const struct jail_spec *s, struct jail_outcome *o, char *errmsg, size_t errlen,
    enum jail_error *kind)
{
	int p_out[2] = { -1, -1 }, p_err[2] = { -1, -1 }, p_rep[2] = { -1, -1 };
	int p_sync[2] = { -1, -1 };
	struct buf rep;
	bool out_over = false, err_over = false, killed = false;
	const char *kill_reason = NULL;
	int64_t start, deadline, stop_deadline = 0, kill_deadline = 0;
	bool hard_killed = false;
	pid_t pid;
	int r = 0, status = 0;
	struct rusage ru;
	struct cgroup_run cg = { .dir_fd = -1 };
	int64_t peak = 0;
	bool oom_killed = false;

	*kind = JAIL_ERR_INTERNAL;
	memset(o, 0, sizeof(*o));
	buf_init(&o->out, (size_t)s->lim.stdout_max);
	buf_init(&o->err, (size_t)s->lim.stderr_max);
	/* Files, their headers, and slack for the status records. */
	buf_init(&rep, (size_t)s->lim.files_max +
	    (size_t)(s->lim.files_count + 1) * (SANDBOX_MAX_PATH + 16) + 4096);

	set_cloexec_pipe(p_out, &r);
	set_cloexec_pipe(p_err, &r);
	set_cloexec_pipe(p_rep, &r);
	set_cloexec_pipe(p_sync, &r);
	if (r < 0) {
		snprintf(errmsg, errlen, "pipe: %s", strerror(-r));
		goto out;
	}
	/* Root's supplementary groups would follow the sandbox (as kernel gids)
	 * into the namespace; an unprivileged caller's cannot be dropped (nor
	 * root's in a user namespace that denies setgroups: EPERM), and the
	 * mount view leaves nothing of the host for them to open anyway. */
	if (geteuid() == 0 && setgroups(0, NULL) < 0 && errno != EPERM) {
		r = -errno;
		snprintf(errmsg, errlen, "setgroups: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	start = mono_ms();
	/* The run's cgroup, where one can be had; without it the filter keeps
	 * the memory RLIMIT_AS cannot see out of reach (filter.h). */
	char cgerr[256];
	o->cgroup = cgroup_run_open(s->lim.memory, s->lim.nproc + 1, &cg, cgerr,
	    sizeof(cgerr)) == 0;
	pid = jail_clone(o->cgroup ? &cg : NULL);
	if (pid < 0) {
		r = -errno;
		*kind = JAIL_ERR_UNAVAILABLE;
		snprintf(errmsg, errlen, "cannot create the sandbox's namespaces (user, pid, "
		    "mount, net, ipc, uts, cgroup): %s; user namespaces may be disabled here "
		    "(user.max_user_namespaces, kernel.unprivileged_userns_clone, or an "
		    "AppArmor/seccomp policy); refusing to run unsandboxed", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		struct init_ctx c = { .spec = s, .sync_rd = p_sync[0], .report = p_rep[1],
			.out_wr = p_out[1], .err_wr = p_err[1], .memory_counted = o->cgroup };
		close(p_out[0]);
		close(p_err[0]);
		close(p_rep[0]);
		close(p_sync[1]);
		init_main(&c);
	}
	close(p_out[1]);
	close(p_err[1]);
	close(p_rep[1]);
	close(p_sync[0]);
	p_out[1] = p_err[1] = p_rep[1] = p_sync[0] = -1;

	r = write_maps(pid, errmsg, errlen);
	if (r < 0) {
		*kind = JAIL_ERR_UNAVAILABLE;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	if (write_all(p_sync[1], "1", 1) < 0) {
		r = -EIO;
		snprintf(errmsg, errlen, "the sandbox's init died at start");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	/* p_sync[1] stays open until init is gone: see init_main. */
	deadline = start + s->lim.wall_ms;
	bool open_out = true, open_err = true, open_rep = true;
	while (open_out || open_err || open_rep) {
		struct pollfd pf[3];
		int n = 0, idx_out = -1, idx_err = -1, idx_rep = -1;
		int64_t now = mono_ms(), wait;

		if (!killed && now >= deadline) {
			kill(pid, STOP_SIGNAL);
			killed = true;
			kill_reason = "timeout";
		}
		if (killed && !stop_deadline)
			stop_deadline = now + STOP_GRACE_MS;
		if (killed && !hard_killed && now >= stop_deadline) {
			kill(pid, SIGKILL);
			hard_killed = true;
			kill_deadline = now + 5000;
		}
		if (hard_killed && now >= kill_deadline)
			break;	/* the namespace is gone; a pipe end leaked somehow */
		wait = (hard_killed ? kill_deadline : killed ? stop_deadline : deadline) - now;
		if (open_out) {
			pf[n] = (struct pollfd){ p_out[0], POLLIN, 0 };
			idx_out = n++;
		}
		if (open_err) {
			pf[n] = (struct pollfd){ p_err[0], POLLIN, 0 };
			idx_err = n++;
		}
		if (open_rep) {
			pf[n] = (struct pollfd){ p_rep[0], POLLIN, 0 };
			idx_rep = n++;
		}
		int pr = poll(pf, (nfds_t)n, (int)(wait > 1000 ? 1000 : wait < 0 ? 0 : wait));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			snprintf(errmsg, errlen, "poll: %s", strerror(errno));
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			goto out;
		}
		if (idx_out >= 0 && pf[idx_out].revents &&
		    drain(p_out[0], &o->out, (size_t)s->lim.stdout_max, &out_over))
			open_out = false;
		if (idx_err >= 0 && pf[idx_err].revents &&
		    drain(p_err[0], &o->err, (size_t)s->lim.stderr_max, &err_over))
			open_err = false;
		if (idx_rep >= 0 && pf[idx_rep].revents) {
			bool rep_over = false;
			if (drain(p_rep[0], &rep, rep.max, &rep_over))
				open_rep = false;
			if (rep_over && !killed) {
				kill(pid, STOP_SIGNAL);
				killed = true;
				kill_reason = "files";
			}
		}
		if ((out_over || err_over) && !killed) {
			kill(pid, STOP_SIGNAL);
			killed = true;
			kill_reason = "output";
		}
	}
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	o->wall_ms = mono_ms() - start;
	if (o->cgroup)
		cgroup_run_usage(&cg, &peak, &oom_killed);
	o->out_truncated = out_over;
	o->err_truncated = err_over;

	bool have_status = false;
	int setup_failed = 0;
	struct rec_status st = { 0 };
	r = parse_report(&rep, s, o, &have_status, &st, errmsg, errlen, &setup_failed);
	if (setup_failed) {
		*kind = setup_failed == 1 ? JAIL_ERR_UNAVAILABLE : JAIL_ERR_REQUEST;
		r = setup_failed == 1 ? -EPERM : -EINVAL;
		goto out;
	}
	if (killed) {
		o->status = JAIL_KILLED;
		o->signal = SIGKILL;
		o->limit = kill_reason;
		if (have_status) {
			o->cpu_ms = st.cpu_ms;
			o->max_rss_kb = st.max_rss_kb;
		} else {
			/* init was killed: the kernel reaped the namespace into
			 * its totals, which include init's own share. */
			o->cpu_ms = (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
			    (int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
			o->max_rss_kb = ru.ru_maxrss;
		}
		if (peak / 1024 > o->max_rss_kb)
			o->max_rss_kb = peak / 1024;
		if (!have_status || st.stopped) {
			for (size_t i = 0; i < o->n_files; i++) {
				free(o->files[i].path);
				free(o->files[i].data);
			}
			o->files = mfree(o->files);
			o->n_files = 0;
		}
		r = 0;
		goto out;
	}
	if (!have_status && oom_killed) {
		/* The OOM killer took init too: the run is over, nothing came back. */
		o->status = JAIL_SIGNALED;
		o->signal = SIGKILL;
		o->limit = "memory";
		o->cpu_ms = (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
		    (int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
		o->max_rss_kb = peak / 1024;
		r = 0;
		goto out;
	}
	if (r < 0 || !have_status) {
		r = r < 0 ? r : -EIO;
		snprintf(errmsg, errlen, "the sandbox's init ended without a report (wait status 0x%x)",
		    (unsigned)status);
		goto out;
	}
	o->cpu_ms = st.cpu_ms;
	o->max_rss_kb = st.max_rss_kb;
	if (WIFSIGNALED(st.wstatus)) {
		o->status = JAIL_SIGNALED;
		o->signal = WTERMSIG(st.wstatus);
		if (o->signal == SIGXCPU ||
		    (o->signal == SIGKILL && o->cpu_ms >= s->lim.cpu_s * 1000))
			o->limit = "cpu";
		else if (o->signal == SIGXFSZ)
			o->limit = "fsize";
	} else {
		o->status = JAIL_EXITED;
		o->exit_code = WEXITSTATUS(st.wstatus);
	}
	if (oom_killed && o->status == JAIL_SIGNALED && o->signal == SIGKILL)
		o->limit = "memory";
	if (!o->limit && o->files_truncated)
		o->limit = "files";
	/* What the cgroup counted is the true peak: tmpfs, memfds and shared
	 * memory included, which no process's RSS shows. */
	if (peak / 1024 > o->max_rss_kb)
		o->max_rss_kb = peak / 1024;
	r = 0;
out:
	if (o->cgroup)
		cgroup_run_close(&cg);
	buf_free(&rep);
	for (int i = 0; i < 2; i++) {
		if (p_out[i] >= 0)
			close(p_out[i]);
		if (p_err[i] >= 0)
			close(p_err[i]);
		if (p_rep[i] >= 0)
			close(p_rep[i]);
		if (p_sync[i] >= 0)
			close(p_sync[i]);
	}
	if (r < 0)
		jail_outcome_free(o);
	return r;
}

void jail_outcome_free(struct jail_outcome *o)
{
	buf_free(&o->out);
	buf_free(&o->err);
	for (size_t i = 0; i < o->n_files; i++) {
		free(o->files[i].path);
		free(o->files[i].data);
	}
	o->files = mfree(o->files);
	o->n_files = 0;
}
