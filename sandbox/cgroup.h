/* A cgroup v2 per sandbox run: memory.max that counts everything the run
 * holds (tmpfs, memfds, SysV shared memory, page cache), no swap, and a
 * pids.max. Made only where the helper's cgroup tree is delegated to it.
 * Used by the helper (jail.c), and by the daemon once (sandbox.c). */
#ifndef RESEARCHD_SANDBOX_CGROUP_H
#define RESEARCHD_SANDBOX_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* RESEARCHD_SANDBOX_CGROUP names the parent to use (a delegated cgroup v2
 * directory); without it, the parent of the helper's own cgroup is used
 * when it is delegated (owned by our uid, or marked by systemd with the
 * trusted.delegate or user.delegate attribute). */
#define CGROUP_PARENT_ENV "RESEARCHD_SANDBOX_CGROUP"

struct cgroup_run {
	char path[512];		/* the run's directory */
	int dir_fd;		/* for clone3's CLONE_INTO_CGROUP */
};

/* Make the run's cgroup with the limits. 0 with *ret filled, or a negative
 * errno (-ENOENT: no delegated cgroup v2 with memory and pids here) with a
 * sentence in errmsg. */
int cgroup_run_open(int64_t memory, int64_t pids, struct cgroup_run *ret, char *errmsg,
    size_t errlen);
/* Move pid into it (when clone3 could not place it there). */
int cgroup_run_attach(const struct cgroup_run *cg, pid_t pid);
/* memory.peak in bytes (0 where the kernel does not keep it), and whether
 * the kernel's OOM killer ran inside (memory.events oom_kill). */
void cgroup_run_usage(const struct cgroup_run *cg, int64_t *ret_peak, bool *ret_oom_killed);
/* Remove the cgroup (its processes are gone). */
void cgroup_run_close(struct cgroup_run *cg);

/* Daemon side, once before the first run: a unit with Delegate= starts the
 * daemon in the delegated cgroup itself, where no child may have the
 * memory controller while the daemon is there (cgroup v2's rule against
 * internal processes). When it is alone there, move it into a
 * "supervisor" child and enable memory and pids, so the helper can make
 * the runs' cgroups beside it. 0, or a negative errno where nothing was
 * done (-ENOENT: not delegated; -EBUSY: not alone). */
int cgroup_settle_self(void);

#endif
