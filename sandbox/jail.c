/* The helper's core: namespaces, the mount view, the sandbox's init, the
 * command's process with rlimits, no capabilities and seccomp, and the
 * supervisor that enforces the wall clock and the output caps.
 *
 * Three processes: the supervisor (the helper, in the host namespaces);
 * "init", cloned into new user/pid/mount/net/ipc/uts/cgroup namespaces,
 * which builds the view, forks the command and reaps everything; and the
 * command. The view is built in view.c, the command's process set up in
 * command.c. When the command exits, init kills every other process of the
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
#include "jail.h"
#include "jail-init.h"
#include "xmalloc.h"

#define OUTSIDE_NOBODY 65534

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

int jail_write_all(int fd, const void *p, size_t n)
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
	int r = jail_write_all(fd, text, strlen(text));
	close(fd);
	return r;
}

/* ---- init: inside the namespaces ---- */

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
	(void)jail_write_all(c->report, &type, 1);
	(void)jail_write_all(c->report, &len, sizeof(len));
	(void)jail_write_all(c->report, msg, len);
	_exit(1);
}

_Noreturn void init_fail(struct init_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	init_vfail(c, REC_ERROR, err, fmt, ap);
}

_Noreturn void init_fail_request(struct init_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	init_vfail(c, REC_REQUEST, err, fmt, ap);
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

	(void)jail_write_all(k->c->report, &t, 1);
	(void)jail_write_all(k->c->report, &plen, sizeof(plen));
	(void)jail_write_all(k->c->report, &len, sizeof(len));
	(void)jail_write_all(k->c->report, rel, plen);
	while (left > 0) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n <= 0) {
			/* Shrunk under us: nothing runs any more, but pad to be safe. */
			memset(buf, 0, sizeof(buf));
			n = (ssize_t)(left < sizeof(buf) ? left : sizeof(buf));
		}
		(void)jail_write_all(k->c->report, buf, (size_t)n);
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
	view_build(c);
	if (sethostname("sandbox", 7) < 0)
		init_fail(c, errno, "sethostname");
	view_place_inputs(c);

	stdin_fd = memfd_create("stdin", MFD_CLOEXEC);
	if (stdin_fd < 0)
		init_fail(c, errno, "memfd_create");
	if (s->stdin_len > 0 && jail_write_all(stdin_fd, s->stdin_data, s->stdin_len) < 0)
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
	(void)jail_write_all(c->report, &t, 1);
	(void)jail_write_all(c->report, &st, sizeof(st));
	if (stop_requested) {
		t = REC_END;
		(void)jail_write_all(c->report, &t, 1);
		_exit(0);
	}

	struct collect k = { .c = c };
	int dfd = open(SANDBOX_WORKDIR "/out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		collect_dir(&k, dfd, "out", 1);
	if (k.truncated) {
		t = REC_TRUNC;
		(void)jail_write_all(c->report, &t, 1);
	}
	t = REC_END;
	(void)jail_write_all(c->report, &t, 1);
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
	if (jail_write_all(p_sync[1], "1", 1) < 0) {
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
