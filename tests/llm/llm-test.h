/* Helpers of the llm/ client tests: start a local server (the scripted
 * fixture or the node-llama-cpp model server) and wait for its "listening
 * 127.0.0.1:PORT" line; run a uv loop until a flag is set; tiny blocking
 * HTTP GETs to 127.0.0.1 for checks beside the client. */
#ifndef RESEARCHD_TESTS_LLM_TEST_H
#define RESEARCHD_TESTS_LLM_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

struct test_server {
	pid_t pid;
	int port;
};

/* argv[0] is run with execvp; 0 and the port, or -1 (stderr says why). */
static inline int test_server_start(char *const argv[], int wait_ms, struct test_server *ret)
{
	int fd[2];
	char line[256];
	size_t n = 0;
	pid_t pid;
	struct timespec t0, t;

	if (pipe2(fd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 1);
		setpgid(0, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd[0], .events = POLLIN };
		long el;
		ssize_t k;

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= wait_ms || poll(&p, 1, (int)(wait_ms - el)) <= 0)
			break;
		k = read(fd[0], line + n, sizeof(line) - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
		line[n] = '\0';
		char *nl = strchr(line, '\n'), *colon;

		if (nl == NULL)
			continue;
		colon = strrchr(line, ':');
		if (strncmp(line, "listening 127.0.0.1:", 20) == 0 && colon) {
			close(fd[0]);
			ret->pid = pid;
			ret->port = atoi(colon + 1);
			return 0;
		}
		break;
	}
	close(fd[0]);
	fprintf(stderr, "server %s did not say it was listening\n", argv[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static inline void test_server_stop(struct test_server *s)
{
	if (s->pid <= 0)
		return;
	/* The server's own group (setpgid in the child): helpers it spawned go too. */
	kill(-s->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(20000);
	}
	kill(-s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static void test_guard_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* A flag set by a timer's callback must not leave the same iteration
 * blocked in poll until some later event: checked before every poll. */
static void test_prepare_cb(uv_prepare_t *p)
{
	if (*(const bool *)p->data)
		uv_stop(p->loop);
}

/* Run the loop until *flag or timeout_ms; true when the flag was set. */
static inline bool test_run_until(uv_loop_t *loop, const bool *flag, int timeout_ms)
{
	uv_timer_t guard;
	uv_prepare_t prep;
	bool expired = false;

	uv_timer_init(loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, test_guard_cb, (uint64_t)timeout_ms, 0);
	uv_prepare_init(loop, &prep);
	prep.data = (void *)flag;
	uv_prepare_start(&prep, test_prepare_cb);
	while (!*flag && !expired)
		uv_run(loop, UV_RUN_ONCE);
	uv_prepare_stop(&prep);
	uv_close((uv_handle_t *)&prep, NULL);
	uv_timer_stop(&guard);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *flag;
}

/* Let the loop run for ms (timers, transfers in flight). */
static inline void test_run_for(uv_loop_t *loop, int ms)
{
	bool never = false;

	test_run_until(loop, &never, ms);
}

/* A blocking HTTP/1.0 request to 127.0.0.1:port; the body (malloc'd) or NULL. */
static inline char *test_http_auth(int port, const char *method, const char *path, const char *body,
    const char *auth)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char *out = NULL, *p;
	size_t n = 0, cap = 0;
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return NULL;
	}
	dprintf(fd, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "%s%s%sContent-Length: %zu\r\n\r\n%s", method, path, auth ? "Authorization: Bearer " : "",
	    auth ? auth : "", auth ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
	for (;;) {
		ssize_t k;

		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			out = realloc(out, cap);
		}
		k = read(fd, out + n, cap - n - 1);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	if (out == NULL)
		return NULL;
	out[n] = '\0';
	p = strstr(out, "\r\n\r\n");
	if (p == NULL) {
		free(out);
		return NULL;
	}
	memmove(out, p + 4, strlen(p + 4) + 1);
	return out;
}

static inline char *test_http(int port, const char *method, const char *path, const char *body)
{
	return test_http_auth(port, method, path, body, NULL);
}

#endif
