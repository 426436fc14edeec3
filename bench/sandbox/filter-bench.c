/* bench/sandbox: what the seccomp allowlist costs each run: compiling and
 * loading it (filter_install) in a fresh child, as the command's process
 * does before execve. Prints figures; never pass/fail.
 *   build/bench/filter-bench [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"

static double once(bool memory_counted)
{
	int p[2];
	double ms = -1;

	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec a, b;
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		clock_gettime(CLOCK_MONOTONIC, &a);
		int r = filter_install(memory_counted);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = r < 0 ? -1 : (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		(void)!write(p[1], &ms, sizeof(ms));
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &ms, sizeof(ms)) != (ssize_t)sizeof(ms))
		ms = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return ms;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 100;

	for (int counted = 0; counted < 2; counted++) {
		double best = 1e9, sum = 0;
		for (int i = 0; i < runs; i++) {
			double ms = once(counted);
			if (ms < 0) {
				fprintf(stderr, "filter_install failed\n");
				return 1;
			}
			sum += ms;
			best = ms < best ? ms : best;
		}
		printf("filter_install(%s): runs %d  min %.2f ms  mean %.2f ms\n",
		    counted ? "cgroup" : "no cgroup", runs, best, sum / runs);
	}
	return 0;
}
