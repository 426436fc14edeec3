/* Helpers for the sandbox tests (see harness.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "harness.h"
#include "xmalloc.h"

const char *harness_helper(void)
{
	const char *h = getenv("SANDBOX_HELPER");
	if (!h || h[0] != '/') {
		fprintf(stderr, "SANDBOX_HELPER must name researchd-sandbox (meson sets it)\n");
		abort();
	}
	return h;
}

char *harness_read_source(const char *name, size_t *len)
{
	const char *dir = getenv("SANDBOX_TEST_DIR");
	char *path = xasprintf("%s/%s", dir ? dir : ".", name);
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		abort();
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = xmalloc((size_t)n + 1);
	if (fread(data, 1, (size_t)n, f) != (size_t)n)
		abort();
	data[n] = '\0';
	fclose(f);
	free(path);
	if (len)
		*len = (size_t)n;
	return data;
}

struct sync_run {
	bool done;
	int r;
	struct sandbox_result *res;
};

static void on_done(struct sandbox_run *run, int r, struct sandbox_result *res, void *userdata)
{
	struct sync_run *s = userdata;
	s->done = true;
	s->r = r;
	s->res = res;
}

int harness_run(const struct sandbox_request *req, struct sandbox_result **ret)
{
	uv_loop_t loop;
	struct sandbox_run *run;
	struct sync_run s = { 0 };
	int r;

	uv_loop_init(&loop);
	r = sandbox_run(&loop, req, on_done, &s, &run);
	if (r < 0) {
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		*ret = NULL;
		return r;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "loop still has handles after the run\n");
		abort();
	}
	if (!s.done)
		abort();
	*ret = s.res;
	return s.r;
}

int harness_count_procs(const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;
	pid_t self = getpid();

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[300], buf[4096];
		ssize_t len;
		int fd;
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || atoi(de->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		for (ssize_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, marker))
			n++;
	}
	closedir(d);
	return n;
}

void harness_marker(char *out, size_t len, const char *what)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, len, "rsbx-%s-%d-%ld", what, (int)getpid(), (long)ts.tv_nsec);
}

bool harness_have(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	copy = xstrdup(path ? path : "/usr/bin:/bin");
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", dir, prog);
		if (access(p, X_OK) == 0)
			found = true;
		free(p);
		if (found)
			break;
	}
	free(copy);
	return found;
}
