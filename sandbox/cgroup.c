/* The run's cgroup (cgroup.h). The helper runs inside the daemon's cgroup,
 * which holds processes and so cannot have children with controllers
 * (cgroup v2's no-internal-processes rule); the run's cgroup is made beside
 * it, in the parent, which systemd delegates to the unit (Delegate= and
 * cgroup_settle_self, etc/researchd.service) or to a user session. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroup.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int read_small(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	out[n] = '\0';
	return 0;
}

static int write_small(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* Our own cgroup's directory, or its parent's with parent set. */
static int find_self(bool parent, char *out, size_t len)
{
	static const char *const mounts[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char self[1024], *rel, *slash;
	const char *mnt = NULL;
	int r;

	for (size_t i = 0; i < sizeof(mounts) / sizeof(*mounts) && !mnt; i++)
		if (is_cgroup2(mounts[i]))
			mnt = mounts[i];
	if (!mnt)
		return -ENOENT;
	if ((r = read_small("/proc/self/cgroup", self, sizeof(self))) < 0)
		return r;
	rel = strstr(self, "0::/");
	if (!rel || (rel != self && rel[-1] != '\n'))
		return -ENOENT;
	rel += 3;
	rel[strcspn(rel, "\n")] = '\0';
	if (strcmp(rel, "/") == 0)
		return -ENOENT;	/* the root of the tree is nobody's to delegate */
	if (parent) {
		slash = strrchr(rel, '/');
		if (slash == rel)
			return -ENOENT;
		*slash = '\0';
	}
	if ((size_t)snprintf(out, len, "%s%s", mnt, rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Delegated to us: owned by our uid (a user session, or a unit with User=
 * and Delegate=), or marked by systemd. */
static bool is_delegated(const char *dir)
{
	char attr[8];
	struct stat st;

	if (stat(dir, &st) < 0)
		return false;
	if (st.st_uid == geteuid() && geteuid() != 0)
		return true;
	return getxattr(dir, "trusted.delegate", attr, sizeof(attr)) > 0 ||
	    getxattr(dir, "user.delegate", attr, sizeof(attr)) > 0;
}

/* The parent of our own cgroup, when it is ours to use. */
static int find_parent(char *out, size_t len)
{
	int r = find_self(true, out, len);
	if (r < 0)
		return r;
	return is_delegated(out) ? 0 : -ENOENT;
}

int cgroup_settle_self(void)
{
	char self[PATH_MAX], file[PATH_MAX + 32], buf[512], num[32];
	int r;

	if ((r = find_self(false, self, sizeof(self))) < 0)
		return r;
	if (!is_delegated(self))
		return -ENOENT;
	snprintf(file, sizeof(file), "%s/cgroup.controllers", self);
	if ((r = read_small(file, buf, sizeof(buf))) < 0)
		return r;
	if (!has_word(buf, "memory") || !has_word(buf, "pids"))
		return -ENOENT;
	/* Only when we are alone in it: a shell sharing a session scope with
	 * us is not ours to leave behind. */
	snprintf(file, sizeof(file), "%s/cgroup.procs", self);
	if ((r = read_small(file, buf, sizeof(buf))) < 0)
		return r;
	snprintf(num, sizeof(num), "%d\n", (int)getpid());
	if (strcmp(buf, num) != 0)
		return -EBUSY;
	snprintf(file, sizeof(file), "%s/supervisor", self);
	if (mkdir(file, 0755) < 0 && errno != EEXIST)
		return -errno;
	if ((r = write_small(file, "cgroup.procs", num)) < 0)
		return r;
	return write_small(self, "cgroup.subtree_control", "+memory +pids");
}

int cgroup_run_open(int64_t memory, int64_t pids, struct cgroup_run *ret, char *errmsg,
    size_t errlen)
{
	char parent[PATH_MAX], file[PATH_MAX + 32], buf[512], num[32];
	const char *env = getenv(CGROUP_PARENT_ENV);
	struct cgroup_run cg = { .dir_fd = -1 };
	int r;

	if (env && *env) {
		if (strlen(env) >= sizeof(parent) || !is_cgroup2(env)) {
			snprintf(errmsg, errlen, "%s=%s is not a cgroup v2 directory",
			    CGROUP_PARENT_ENV, env);
			return -EINVAL;
		}
		snprintf(parent, sizeof(parent), "%s", env);
	} else if ((r = find_parent(parent, sizeof(parent))) < 0) {
		snprintf(errmsg, errlen, "no delegated cgroup v2 here");
		return r;
	}
	snprintf(file, sizeof(file), "%s/cgroup.subtree_control", parent);
	if ((r = read_small(file, buf, sizeof(buf))) < 0)
		goto fail_parent;
	if (!has_word(buf, "memory") || !has_word(buf, "pids")) {
		/* The parent holds no processes of ours: enable them there. */
		if ((r = write_small(parent, "cgroup.subtree_control", "+memory +pids")) < 0)
			goto fail_parent;
	}
	if ((size_t)snprintf(cg.path, sizeof(cg.path), "%s/researchd-sandbox-%d", parent,
	    (int)getpid()) >= sizeof(cg.path)) {
		r = -ENAMETOOLONG;
		goto fail_parent;
	}
	if (mkdir(cg.path, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail_parent;
	}
	snprintf(num, sizeof(num), "%lld", (long long)memory);
	if ((r = write_small(cg.path, "memory.max", num)) < 0)
		goto fail_run;
	/* No swap: memory.max would not hold otherwise. Kernels without swap
	 * accounting have no such file, and no swap to fear either. */
	if ((r = write_small(cg.path, "memory.swap.max", "0")) < 0 && r != -ENOENT)
		goto fail_run;
	/* One OOM kill ends the whole run, not a random process of it. */
	(void)write_small(cg.path, "memory.oom.group", "1");
	snprintf(num, sizeof(num), "%lld", (long long)pids);
	if ((r = write_small(cg.path, "pids.max", num)) < 0)
		goto fail_run;
	cg.dir_fd = open(cg.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg.dir_fd < 0) {
		r = -errno;
		goto fail_run;
	}
	*ret = cg;
	return 0;
fail_run:
	snprintf(errmsg, errlen, "cgroup %s: %s", cg.path, strerror(-r));
	rmdir(cg.path);
	return r;
fail_parent:
	snprintf(errmsg, errlen, "cgroup %s: %s", parent, strerror(-r));
	return r;
}

int cgroup_run_attach(const struct cgroup_run *cg, pid_t pid)
{
	char num[32];
	snprintf(num, sizeof(num), "%d", (int)pid);
	return write_small(cg->path, "cgroup.procs", num);
}

void cgroup_run_usage(const struct cgroup_run *cg, int64_t *ret_peak, bool *ret_oom_killed)
{
	char path[PATH_MAX + 32], buf[1024];
	const char *p;

	*ret_peak = 0;
	*ret_oom_killed = false;
	snprintf(path, sizeof(path), "%s/memory.peak", cg->path);
	if (read_small(path, buf, sizeof(buf)) == 0)
		*ret_peak = strtoll(buf, NULL, 10);
	snprintf(path, sizeof(path), "%s/memory.events", cg->path);
	if (read_small(path, buf, sizeof(buf)) == 0 && (p = strstr(buf, "oom_kill ")))
		*ret_oom_killed = strtoll(p + 9, NULL, 10) > 0;
}

void cgroup_run_close(struct cgroup_run *cg)
{
	if (cg->dir_fd >= 0)
		close(cg->dir_fd);
	cg->dir_fd = -1;
	/* The pid namespace is gone when init is reaped, but the cgroup may
	 * count its dying tasks a moment longer. */
	for (int i = 0; i < 200 && rmdir(cg->path) < 0 && errno == EBUSY; i++)
		usleep(5000);
}
