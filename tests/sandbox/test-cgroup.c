/* The run's cgroup v2 (sandbox/cgroup.c): memory.max counts the memfds and
 * SysV segments RLIMIT_AS does not see, and the run ends with "limit hit:
 * memory" and its true peak; the run's cgroup is gone afterwards. Needs
 * root and a cgroup v2 hierarchy with the memory and pids controllers.
 * Where there is none (cgroup v1 hosts, no root), the same program checks
 * the other half of the rule instead: with no cgroup to count them, memfds
 * and SysV segments are refused, and no cgroup is made for the run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "sandbox.h"
#include "xmalloc.h"

#define CGROUP2_MAGIC 0x63677270

static char parent[256];

static int write_to(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = write(fd, text, strlen(text)) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* A parent cgroup of our own with memory and pids delegated to it. */
static bool make_parent(void)
{
	static const char *const mounts[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char path[512], ctl[256] = "";
	struct statfs sf;

	if (geteuid() != 0)
		return false;
	for (size_t i = 0; i < sizeof(mounts) / sizeof(*mounts); i++) {
		if (statfs(mounts[i], &sf) < 0 || sf.f_type != CGROUP2_MAGIC)
			continue;
		snprintf(path, sizeof(path), "%s/cgroup.controllers", mounts[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(ctl, sizeof(ctl), f))
			ctl[0] = '\0';
		fclose(f);
		if (!strstr(ctl, "memory") || !strstr(ctl, "pids"))
			continue;
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", mounts[i]);
		if (write_to(path, "+memory +pids") < 0)
			continue;
		snprintf(parent, sizeof(parent), "%s/researchd-test-%d", mounts[i], (int)getpid());
		if (mkdir(parent, 0755) < 0)
			continue;
		return true;
	}
	return false;
}

static int count_runs(void)
{
	DIR *d = opendir(parent);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, "researchd-sandbox-", 18) == 0;
	if (d)
		closedir(d);
	return n;
}

/* probe.py's shm mode (memfds and SysV segments past the limit) under a
 * 256 MiB memory limit. */
static struct sandbox_result *run_shm(void)
{
	size_t len;
	char *probe = harness_read_source("probe.py", &len);
	const char *argv[] = { "python3", "probe.py", "shm", "256", NULL };
	struct sandbox_file f = { .path = "probe.py", .data = probe, .len = len };
	struct sandbox_request req = { 0 };
	struct sandbox_result *res = NULL;

	req.helper = harness_helper();
	req.argv = argv;
	req.files = &f;
	req.n_files = 1;
	req.limits.memory = 256LL << 20;
	req.limits.wall_ms = 30000;
	assert_int_equal(harness_run(&req, &res), 0);
	free(probe);
	return res;
}

static void test_memfd_counted(void **state)
{
	struct sandbox_result *res = run_shm();
	int r;

	if (res->limit != SANDBOX_LIMIT_MEMORY)
		fail_msg("limit %d, status %d exit %d\nstdout:\n%s\nstderr:\n%s", res->limit,
		    res->status, res->exit_code, res->out, res->err);
	assert_int_not_equal(res->status, SANDBOX_EXITED);
	/* The peak is what the cgroup counted: near the limit, never past it,
	 * though no process's RSS held the memfd. */
	assert_true(res->max_rss_kb > 128 * 1024);
	assert_true(res->max_rss_kb <= 256 * 1024);
	/* memfds are allowed here; the run ended while holding one. */
	assert_null(strstr(res->out, "memfd: EPERM"));
	sandbox_result_free(res);
	assert_int_equal(count_runs(), 0);

	/* An ordinary run under the cgroup. */
	const char *argv2[] = { "sh", "-c", "echo ok", NULL };
	struct sandbox_request req2 = { 0 };
	req2.helper = harness_helper();
	req2.argv = argv2;
	r = harness_run(&req2, &res);
	assert_int_equal(r, 0);
	assert_string_equal(res->out, "ok\n");
	assert_int_equal(res->limit, SANDBOX_LIMIT_NONE);
	sandbox_result_free(res);
	assert_int_equal(count_runs(), 0);
}

/* No cgroup can be had: what RLIMIT_AS cannot see is refused. */
static void test_no_cgroup_refuses(void **state)
{
	struct sandbox_result *res = run_shm();

	if (strstr(res->out, "memfd: EPERM") == NULL || strstr(res->out, "shmget: EPERM") == NULL)
		fail_msg("memfd or shmget not refused without a cgroup\nstdout:\n%s\nstderr:\n%s",
		    res->out, res->err);
	assert_non_null(strstr(res->out, "shmem grew: 0 MiB"));
	sandbox_result_free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memfd_counted),
	};
	const struct CMUnitTest fallback[] = {
		cmocka_unit_test(test_no_cgroup_refuses),
	};
	if (!make_parent()) {
		fprintf(stderr, "no cgroup v2 with memory and pids that this test can use (root "
		    "needed): checking the fallback instead\n");
		unsetenv("RESEARCHD_SANDBOX_CGROUP");
		return cmocka_run_group_tests_name("sandbox-cgroup-fallback", fallback, NULL, NULL);
	}
	setenv("RESEARCHD_SANDBOX_CGROUP", parent, 1);
	int r = cmocka_run_group_tests_name("sandbox-cgroup", tests, NULL, NULL);
	rmdir(parent);
	return r;
}
