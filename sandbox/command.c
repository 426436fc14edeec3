/* The command's process, forked by init: a session of its own, its stdio,
 * no capabilities, no_new_privs, the seccomp allowlist (filter.c), the
 * rlimits, and execve. A step that fails is reported on the setup pipe and
 * the command never runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filter.h"
#include "jail-init.h"

/* Pending signals are counted per user across user namespaces (the
 * kernel's ucounts), so the outside uid shares its budget with the run:
 * a run gets a small slice of it. */
#define SIGPENDING_MAX 256

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

_Noreturn void command_main(struct init_ctx *c, int stdin_fd, int setup_fd)
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
