/* researchd-sandbox through the daemon's API (sandbox_run): every way out we
 * know of is tried by probe.py from inside, and each test asserts the exact
 * outcome, and where it matters that the host saw nothing (a live server
 * got no connection, no process outlived the run). */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>
#include "../cmocka-skip.h"

#include "buf.h"
#include "harness.h"
#include "sandbox.h"
#include "xmalloc.h"

static char *probe_src;
static size_t probe_len;

static int setup(void **state)
{
	probe_src = harness_read_source("probe.py", &probe_len);
	return 0;
}

static int teardown(void **state)
{
	free(probe_src);
	return 0;
}

/* Run probe.py with args (NULL-terminated) under lim. */
static int run_probe(const struct sandbox_limits *lim, struct sandbox_result **ret, ...)
{
	const char *argv[16] = { "python3", "probe.py" };
	size_t n = 2;
	va_list ap;
	struct sandbox_file f = { .path = "probe.py", .data = probe_src, .len = probe_len };
	struct sandbox_request req = { 0 };

	va_start(ap, ret);
	for (const char *a; (a = va_arg(ap, const char *)) && n < 15;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	req.helper = harness_helper();
	req.argv = argv;
	req.files = &f;
	req.n_files = 1;
	if (lim)
		req.limits = *lim;
	if (!req.limits.wall_ms)
		req.limits.wall_ms = 20000;
	return harness_run(&req, ret);
}

static int run_argv(const char *const *argv, const struct sandbox_limits *lim,
    struct sandbox_result **ret)
{
	struct sandbox_request req = { 0 };
	req.helper = harness_helper();
	req.argv = argv;
	if (lim)
		req.limits = *lim;
	return harness_run(&req, ret);
}

static void assert_line(const struct sandbox_result *res, const char *line)
{
	const char *p = res->out;
	size_t n = strlen(line);
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return;
		p = nl ? nl + 1 : NULL;
	}
	fail_msg("line \"%s\" not in the output:\n%s\nstderr:\n%s", line, res->out, res->err);
}

static void assert_exited_ok(int r, const struct sandbox_result *res)
{
	assert_int_equal(r, 0);
	assert_non_null(res);
	if (res->status != SANDBOX_EXITED || res->exit_code != 0)
		fail_msg("status %d exit %d signal %d\nstdout:\n%s\nstderr:\n%s", res->status,
		    res->exit_code, res->signal, res->out, res->err);
}

/* No process of the run may be left on the host: poll briefly, since the
 * namespace's teardown is the kernel's. */
static void assert_no_leftovers(const char *marker)
{
	int n = -1;
	for (int i = 0; i < 50; i++) {
		n = harness_count_procs(marker);
		if (n == 0)
			return;
		usleep(20000);
	}
	fail_msg("%d processes with marker %s outlived the sandbox", n, marker);
}

static void test_network(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t slen = sizeof(sin);
	struct sandbox_result *res;
	char port[16], abstract[64];
	int tcp, unx, r;

	/* A live TCP server on 127.0.0.1 and an abstract unix socket (those are
	 * per network namespace, and AF_UNIX is allowed). */
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(tcp >= 0);
	assert_int_equal(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(tcp, 16), 0);
	assert_int_equal(getsockname(tcp, (struct sockaddr *)&sin, &slen), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	harness_marker(abstract, sizeof(abstract), "unix");
	unx = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memcpy(sun.sun_path + 1, abstract, strlen(abstract));
	assert_int_equal(bind(unx, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract))), 0);
	assert_int_equal(listen(unx, 16), 0);

	r = run_probe(NULL, &res, "net", port, abstract, NULL);
	assert_exited_ok(r, res);
	assert_line(res, "inet: EAFNOSUPPORT");
	assert_line(res, "inet6: EAFNOSUPPORT");
	assert_line(res, "netlink: EAFNOSUPPORT");
	assert_line(res, "packet: EAFNOSUPPORT");
	assert_line(res, "unix-abstract: ECONNREFUSED");
	assert_line(res, "interfaces: lo");
	sandbox_result_free(res);

	/* The servers saw nothing. */
	assert_int_equal(accept(tcp, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(accept(unx, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	/* And they were live: the host reaches the TCP one. */
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(c);
	close(tcp);
	close(unx);
}

static void test_dns(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "dns", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "dns example.com: failed");
	assert_line(res, "dns deb.debian.org: failed");
	sandbox_result_free(res);
}

static void plant(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("secret\n", f);
	fclose(f);
	chmod(path, 0644);	/* readable by anyone: only the view may stop it */
}

static void test_secrets(void **state)
{
	char marker[64], state_dir[] = "/tmp/researchd-state-XXXXXX", *state_secret, *sock_path;
	char *home_secret = NULL, line[512];
	const char *home = getenv("HOME");
	struct sandbox_result *res;
	int r, sock;

	harness_marker(marker, sizeof(marker), "secret");
	assert_non_null(mkdtemp(state_dir));
	chmod(state_dir, 0755);
	state_secret = xasprintf("%s/secret", state_dir);
	plant(state_secret);
	/* The daemon's control socket, in its state dir. */
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	sock_path = xasprintf("%s/researchd.sock", state_dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), 0);
	chmod(sock_path, 0666);
	assert_int_equal(listen(sock, 4), 0);
	if (home && access(home, W_OK) == 0) {
		home_secret = xasprintf("%s/.%s", home, marker);
		plant(home_secret);
	} else {
		print_message("HOME (%s) is not writable by this user: the secret is planted "
		    "only in the fake state dir\n", home ? home : "unset");
	}

	r = run_probe(NULL, &res, "read", state_secret, sock_path,
	    home_secret ? home_secret : "/root/.profile", "/etc/shadow", "/var/lib", "/home",
	    "/root", "/run", NULL);
	assert_exited_ok(r, res);
	snprintf(line, sizeof(line), "read %s: ENOENT", state_secret);
	assert_line(res, line);
	snprintf(line, sizeof(line), "read %s: ENOENT", sock_path);
	assert_line(res, line);
	snprintf(line, sizeof(line), "read %s: ENOENT", home_secret ? home_secret : "/root/.profile");
	assert_line(res, line);
	assert_line(res, "read /etc/shadow: ENOENT");
	assert_line(res, "read /var/lib: ENOENT");
	assert_line(res, "read /home: ENOENT");
	assert_line(res, "read /root: ENOENT");
	assert_line(res, "read /run: ENOENT");
	/* The whole top level of the view: nothing of the host's data. */
	const char *root = strstr(res->out, "root: ");
	assert_non_null(root);
	for (const char *bad = "home,root,var,run,srv,mnt,opt,media,boot,sys"; *bad;) {
		const char *comma = strchr(bad, ',');
		size_t n = comma ? (size_t)(comma - bad) : strlen(bad);
		char tok[32];
		snprintf(tok, sizeof(tok), ",%.*s,", (int)n, bad);
		char *list = xasprintf(",%.*s,", (int)strcspn(root + 6, "\n"), root + 6);
		if (strstr(list, tok))
			fail_msg("the sandbox sees /%.*s: %s", (int)n, bad, list);
		free(list);
		bad += n + (comma ? 1 : 0);
	}
	sandbox_result_free(res);
	close(sock);
	unlink(sock_path);
	unlink(state_secret);
	rmdir(state_dir);
	if (home_secret)
		unlink(home_secret);
	free(home_secret);
	free(state_secret);
	free(sock_path);
}

static void test_write_outside(void **state)
{
	struct sandbox_result *res;
	struct stat st;
	int r = run_probe(NULL, &res, "write", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "write /usr/x: EROFS");
	assert_line(res, "write /etc/x: EROFS");
	assert_line(res, "write /x: EROFS");
	assert_line(res, "write /dev/x: EROFS");
	assert_line(res, "write /proc/x: ENOENT");
	assert_line(res, "write /bin/x: EROFS");
	assert_line(res, "write /etc/passwd: EROFS");
	assert_line(res, "write /work/ok: ok");
	assert_line(res, "write /tmp/ok: ok");
	assert_line(res, "write /work/out/ok: ok");
	assert_int_equal(stat("/usr/x", &st), -1);
	/* What the command wrote in out/ came back; nothing else did. */
	assert_int_equal(res->n_files, 1);
	assert_string_equal(res->files[0].path, "out/ok");
	assert_int_equal(res->files[0].len, 1);
	sandbox_result_free(res);
}

static void test_ptrace(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "syscalls", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "ptrace attach child: EPERM");
	assert_line(res, "ptrace attach init: EPERM");
	assert_line(res, "ptrace traceme: EPERM");
	sandbox_result_free(res);
}

static void test_mount(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "syscalls", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "mount: EPERM");
	assert_line(res, "umount: EPERM");
	sandbox_result_free(res);
}

static void test_unshare(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "syscalls", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "unshare user: EPERM");
	assert_line(res, "unshare net: EPERM");
	assert_line(res, "unshare mount: EPERM");
	assert_line(res, "setns: EPERM");
	assert_line(res, "clone newuser: EPERM");
	sandbox_result_free(res);
}

static void test_other_syscalls(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "syscalls", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "keyctl: EPERM");
	assert_line(res, "add_key: EPERM");
	assert_line(res, "bpf: EPERM");
	assert_line(res, "perf_event_open: EPERM");
	assert_line(res, "personality set: EPERM");
	assert_line(res, "personality query: ok");
	assert_line(res, "init_module: EPERM");
	assert_line(res, "reboot: EPERM");
	assert_line(res, "kexec_load: EPERM");
	/* No capabilities at all, bounding set included; no_new_privs; seccomp. */
	assert_line(res, "CapInh: 0000000000000000");
	assert_line(res, "CapPrm: 0000000000000000");
	assert_line(res, "CapEff: 0000000000000000");
	assert_line(res, "CapBnd: 0000000000000000");
	assert_line(res, "CapAmb: 0000000000000000");
	assert_line(res, "NoNewPrivs: 1");
	assert_line(res, "Seccomp: 2");
	sandbox_result_free(res);
}

static void test_fork_bomb(void **state)
{
	struct sandbox_limits lim = { .nproc = 16, .wall_ms = 20000 };
	struct sandbox_result *res;
	char marker[64];
	int forks = -1, r;

	harness_marker(marker, sizeof(marker), "forkbomb");
	r = run_probe(&lim, &res, "forkbomb", marker, NULL);
	assert_exited_ok(r, res);
	assert_line(res, "fork: EAGAIN");
	const char *p = strstr(res->out, "forks: ");
	assert_non_null(p);
	forks = atoi(p + 7);
	/* The probe is one of the 16. */
	assert_true(forks >= 1 && forks <= 15);
	assert_int_equal(res->limit, SANDBOX_LIMIT_NONE);
	sandbox_result_free(res);
	assert_no_leftovers(marker);

	/* A shell fork bomb that does not stop at the first failure. */
	const char *argv[] = { "sh", "-c", "b() { b | b & b; }; b", marker, NULL };
	lim.wall_ms = 2000;
	r = run_argv(argv, &lim, &res);
	assert_int_equal(r, 0);
	/* Either the bomb burned out or the clock ended it; the host is intact. */
	assert_true(res->wall_ms < 6000);
	sandbox_result_free(res);
	assert_no_leftovers(marker);
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 7);
}

static void test_memory_bomb(void **state)
{
	struct sandbox_limits lim = { .memory = 256LL << 20 };
	struct sandbox_result *res;
	int r = run_probe(&lim, &res, "membomb", NULL);
	assert_int_equal(r, 0);
	/* The allocation past the address-space limit failed: Python raised
	 * MemoryError, the probe reported it and exited 3. */
	assert_int_equal(res->status, SANDBOX_EXITED);
	assert_int_equal(res->exit_code, 3);
	const char *p = strstr(res->out, "memory: MemoryError after ");
	assert_non_null(p);
	assert_true(atoi(p + 26) < 256);
	assert_true(res->max_rss_kb < 256 * 1024);
	sandbox_result_free(res);
}

static void test_timeout(void **state)
{
	struct sandbox_limits lim = { .wall_ms = 1000 };
	struct sandbox_result *res;
	char marker[64];
	int r;

	harness_marker(marker, sizeof(marker), "loop");
	r = run_probe(&lim, &res, "loop", marker, NULL);
	assert_int_equal(r, 0);
	assert_int_equal(res->status, SANDBOX_KILLED);
	assert_int_equal(res->signal, SIGKILL);
	assert_int_equal(res->limit, SANDBOX_LIMIT_TIMEOUT);
	assert_true(res->wall_ms >= 1000 && res->wall_ms < 4000);
	/* init ended the run and reported what the busy loop used. */
	if (res->cpu_ms < 100)	/* the machine may be busy: only show it was counted */
		fail_msg("cpu_ms %lld for a second of busy loop", (long long)res->cpu_ms);
	assert_true(res->max_rss_kb > 1000);
	sandbox_result_free(res);
	/* The loop's child (a sleep 600) went with it. */
	assert_no_leftovers(marker);
}

static void test_cpu_limit(void **state)
{
	const char *argv[] = { "sh", "-c", "while :; do :; done", NULL };
	struct sandbox_limits lim = { .cpu_s = 1, .wall_ms = 10000 };
	struct sandbox_result *res;
	int r = run_argv(argv, &lim, &res);
	assert_int_equal(r, 0);
	assert_int_equal(res->status, SANDBOX_SIGNALED);
	assert_int_equal(res->signal, SIGXCPU);
	assert_int_equal(res->limit, SANDBOX_LIMIT_CPU);
	/* The kernel fires SIGXCPU on its precise clock, but the rusage totals
	 * are tick samples scaled to it: on a loaded machine they came out at
	 * 800-1000 ms for this second, with the helper before and after the
	 * allowlist alike. Only show that the time was counted. */
	assert_true(res->cpu_ms >= 500);
	sandbox_result_free(res);
}

static void test_output_cap(void **state)
{
	const char *argv[] = { "head", "-c", "100000000", "/dev/zero", NULL };
	struct sandbox_limits lim = { .stdout_max = 1 << 20 };
	struct sandbox_result *res;
	int r = run_argv(argv, &lim, &res);
	assert_int_equal(r, 0);
	assert_int_equal(res->status, SANDBOX_KILLED);
	assert_int_equal(res->limit, SANDBOX_LIMIT_OUTPUT);
	assert_true(res->out_truncated);
	assert_int_equal(res->out_len, 1 << 20);
	assert_false(res->err_truncated);
	sandbox_result_free(res);

	/* The same on stderr. */
	const char *argv2[] = { "sh", "-c", "head -c 100000000 /dev/zero >&2", NULL };
	lim.stderr_max = 64 << 10;
	r = run_argv(argv2, &lim, &res);
	assert_int_equal(r, 0);
	assert_int_equal(res->limit, SANDBOX_LIMIT_OUTPUT);
	assert_true(res->err_truncated);
	assert_int_equal(res->err_len, 64 << 10);
	sandbox_result_free(res);
}

static void test_daemonise(void **state)
{
	struct sandbox_result *res;
	char marker[64];
	int r;

	harness_marker(marker, sizeof(marker), "daemon");
	r = run_probe(NULL, &res, "daemonise", marker, NULL);
	assert_exited_ok(r, res);
	assert_line(res, "daemon started");
	assert_true(res->wall_ms < 5000);
	sandbox_result_free(res);
	assert_no_leftovers(marker);
}

static void test_files_and_stdin(void **state)
{
	const char *argv[] = { "sh", "-c",
		"cat > out/echo.txt; cat in/data.txt; mkdir -p out/d/e; echo deep > out/d/e/f.txt; "
		"ln -s /etc/passwd out/link; mkfifo out/fifo; echo $GREETING; echo err >&2; exit 5",
		NULL };
	const char *env[] = { "PATH=/usr/bin:/bin", "GREETING=hello", NULL };
	struct sandbox_file f = { .path = "in/data.txt", .data = "data\n", .len = 5 };
	struct sandbox_request req = { 0 };
	struct sandbox_result *res;
	int r;

	req.helper = harness_helper();
	req.argv = argv;
	req.env = env;
	req.stdin_data = "from stdin";
	req.stdin_len = 10;
	req.files = &f;
	req.n_files = 1;
	r = harness_run(&req, &res);
	assert_int_equal(r, 0);
	assert_int_equal(res->status, SANDBOX_EXITED);
	assert_int_equal(res->exit_code, 5);
	assert_string_equal(res->out, "data\nhello\n");
	assert_string_equal(res->err, "err\n");
	/* Regular files only: the symlink and the fifo stay behind. */
	assert_int_equal(res->n_files, 2);
	for (size_t i = 0; i < res->n_files; i++) {
		if (strcmp(res->files[i].path, "out/echo.txt") == 0)
			assert_string_equal((char *)res->files[i].data, "from stdin");
		else if (strcmp(res->files[i].path, "out/d/e/f.txt") == 0)
			assert_string_equal((char *)res->files[i].data, "deep\n");
		else
			fail_msg("unexpected file %s", res->files[i].path);
	}
	assert_true(res->files_truncated);
	assert_int_equal(res->limit, SANDBOX_LIMIT_FILES);
	sandbox_result_free(res);
}

static void test_bad_request(void **state)
{
	const char *argv[] = { "true", NULL };
	struct sandbox_file f = { .path = "../escape", .data = "x", .len = 1 };
	struct sandbox_request req = { 0 };
	struct sandbox_result *res;
	int r;

	req.helper = harness_helper();
	req.argv = argv;
	req.files = &f;
	req.n_files = 1;
	r = harness_run(&req, &res);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(res->error_kind, SANDBOX_ERROR_REQUEST);
	assert_non_null(strstr(res->error, "path"));
	sandbox_result_free(res);

	req.helper = "/nonexistent/researchd-sandbox";
	req.n_files = 0;
	r = harness_run(&req, &res);
	assert_int_equal(r, -ENOENT);
	assert_null(res);
}

struct cancel_ctx {
	struct sandbox_run *run;
	bool called;
};

static void cancel_done(struct sandbox_run *run, int r, struct sandbox_result *res, void *userdata)
{
	struct cancel_ctx *c = userdata;
	c->called = true;
	sandbox_result_free(res);
}

static void cancel_timer(uv_timer_t *t)
{
	struct cancel_ctx *c = t->data;
	sandbox_run_cancel(c->run);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
	struct sandbox_file f = { .path = "probe.py", .data = probe_src, .len = probe_len };
	struct sandbox_request req = { 0 };
	struct cancel_ctx c = { 0 };
	char marker[64];
	uv_loop_t loop;
	uv_timer_t t;

	harness_marker(marker, sizeof(marker), "cancel");
	const char *argv[] = { "python3", "probe.py", "loop", marker, NULL };
	req.helper = harness_helper();
	req.argv = argv;
	req.files = &f;
	req.n_files = 1;
	req.limits.wall_ms = 60000;
	uv_loop_init(&loop);
	assert_int_equal(sandbox_run(&loop, &req, cancel_done, &c, &c.run), 0);
	uv_timer_init(&loop, &t);
	t.data = &c;
	uv_timer_start(&t, cancel_timer, 500, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_false(c.called);
	assert_no_leftovers(marker);
}

struct par {
	int index;
	int r;
	struct sandbox_result *res;
};

static void par_done(struct sandbox_run *run, int r, struct sandbox_result *res, void *userdata)
{
	struct par *p = userdata;
	p->r = r;
	p->res = res;
}

/* Several runs at once on one loop, each with its own result. */
static void test_parallel(void **state)
{
	struct par p[6];
	char scripts[6][64];
	const char *argv[6][4];
	struct sandbox_run *run;
	uv_loop_t loop;

	uv_loop_init(&loop);
	for (int i = 0; i < 6; i++) {
		struct sandbox_request req = { 0 };
		snprintf(scripts[i], sizeof(scripts[i]), "sleep 0.%d; echo run %d; exit %d", 6 - i, i, i);
		argv[i][0] = "sh";
		argv[i][1] = "-c";
		argv[i][2] = scripts[i];
		argv[i][3] = NULL;
		req.helper = harness_helper();
		req.argv = argv[i];
		p[i] = (struct par){ .index = i, .r = 1 };
		assert_int_equal(sandbox_run(&loop, &req, par_done, &p[i], &run), 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (int i = 0; i < 6; i++) {
		char want[32];
		assert_int_equal(p[i].r, 0);
		snprintf(want, sizeof(want), "run %d\n", i);
		assert_string_equal(p[i].res->out, want);
		assert_int_equal(p[i].res->exit_code, i);
		sandbox_result_free(p[i].res);
	}
}

/* Where user namespaces cannot be made, the helper refuses: run it in a
 * user namespace of our own whose namespace quota is 0. */
static void test_unavailable(void **state)
{
	char marker[64], *canary, out[4096];
	int in[2], outp[2], st;
	ssize_t n, len = 0;
	pid_t pid;

	harness_marker(marker, sizeof(marker), "unavail");
	canary = xasprintf("/tmp/%s", marker);
	char *request = xasprintf("{\"version\":1,\"argv\":[\"touch\",\"%s\"]}", canary);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(outp), 0);
	pid = fork();
	if (pid == 0) {
		char map[64];
		uid_t uid = geteuid();
		gid_t gid = getegid();
		int fd;
		if (unshare(CLONE_NEWUSER) < 0) {
			dprintf(2, "unshare: %m\n");
			_exit(90);
		}
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			(void)!write(fd, "deny", 4);
			close(fd);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			_exit(91);
		close(fd);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			_exit(92);
		close(fd);
		fd = open("/proc/sys/user/max_user_namespaces", O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) < 0) {
			dprintf(2, "max_user_namespaces: %m\n");
			_exit(93);
		}
		close(fd);
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execl(harness_helper(), "researchd-sandbox", (char *)NULL);
		_exit(94);
	}
	close(in[0]);
	close(outp[1]);
	assert_int_equal(write(in[1], request, strlen(request)), (ssize_t)strlen(request));
	close(in[1]);
	while ((n = read(outp[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += n;
	out[len] = '\0';
	close(outp[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) >= 90 && WEXITSTATUS(st) <= 93) {
		if (geteuid() == 0)
			fail_msg("could not set up the test's user namespace (exit %d)", WEXITSTATUS(st));
		test_skip("no user namespace for the test (unprivileged user namespaces are off)");
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	assert_non_null(strstr(out, "\"error_kind\":\"unavailable\""));
	assert_non_null(strstr(out, "refusing to run unsandboxed"));
	assert_int_equal(access(canary, F_OK), -1);
	free(canary);
	free(request);
}

/* Feed the helper a raw request; its stdout into out, its exit status back. */
static int raw_request(const char *request, char *out, size_t outlen)
{
	int in[2], outp[2], st;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(outp), 0);
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);
		execl(harness_helper(), "researchd-sandbox", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	(void)!write(in[1], request, strlen(request));
	close(in[1]);
	while (len < outlen - 1 && (n = read(outp[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(outp[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The helper's parser is strict: each bad request is refused with a
 * sentence, and nothing runs. */
static void test_strict_requests(void **state)
{
	static const struct {
		const char *request, *error;
	} cases[] = {
		{ "", "not JSON" },
		{ "[]", "must be a JSON object" },
		{ "{\"version\":2,\"argv\":[\"true\"]}", "must be 1" },
		{ "{\"version\":1}", "must be an array of 1 to 256 strings" },
		{ "{\"version\":1,\"argv\":[]}", "must be an array of 1 to 256 strings" },
		{ "{\"version\":1,\"argv\":[\"\"]}", "argv[0] is empty" },
		{ "{\"version\":1,\"argv\":[\"a\\u0000b\"]}", "not JSON" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"argv\":[\"true\"]}", "not JSON" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"x\":1}", "unknown request key" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"limits\":{\"cpu_s\":0}}", "within 1..3600" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"limits\":{\"memory\":1e9}}", "must be an integer" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"limits\":{\"swap\":1}}", "unknown limit" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"env\":{\"A=B\":\"x\"}}", "variable name" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"stdin\":\"!!\"}", "not base64" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"files\":[{\"path\":\"out/x\",\"data\":\"\"}]}", "not under out/" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"files\":[{\"path\":\"a/../b\",\"data\":\"\"}]}", "relative path" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"files\":[{\"path\":\"/etc/x\",\"data\":\"\"}]}", "relative path" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"files\":[{\"path\":\".bashrc\",\"data\":\"\"}]}", "relative path" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"files\":[{\"path\":\"a\",\"data\":\"\"},{\"path\":\"a\",\"data\":\"\"}]}", "duplicate path" },
		{ "{\"version\":1,\"argv\":[\"true\"],\"files\":[{\"path\":\"a\",\"data\":\"\",\"mode\":1}]}", "unknown key" },
		/* Inputs that do not fit the work dir: refused by init, nothing ran. */
		{ "{\"version\":1,\"argv\":[\"true\"],\"limits\":{\"disk\":1048576},\"files\":[{\"path\":\"big\",\"data\":\"BIGDATA\"}]}", "disk limit" },
	};
	static char out[8192];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *req = (char *)cases[i].request;
		if (strstr(req, "BIGDATA")) {
			/* 2 MiB of zeros, in base64. */
			struct buf b;
			buf_init(&b, 4 << 20);
			const char *pre = strstr(req, "BIGDATA");
			buf_append(&b, req, (size_t)(pre - req));
			for (int k = 0; k < (2 << 20) / 3 + 1; k++)
				buf_puts(&b, "AAAA");
			buf_puts(&b, pre + 7);
			req = buf_steal(&b);
		}
		int r = raw_request(req, out, sizeof(out));
		if (r != 2 || !strstr(out, "\"error_kind\":\"request\"") || !strstr(out, cases[i].error))
			fail_msg("case %zu: exit %d, wanted 2 and \"%s\":\n%s", i, r, cases[i].error, out);
		if (req != cases[i].request)
			free(req);
	}
	/* And a good one, for contrast. */
	assert_int_equal(raw_request("{\"version\":1,\"argv\":[\"sh\",\"-c\",\"echo ok\"]}", out,
	    sizeof(out)), 0);
	assert_non_null(strstr(out, "\"stdout\":\"b2sK\""));
}

/* Memory RLIMIT_AS does not see: memfds grown with fallocate and SysV
 * segments filled and detached. Refused where no cgroup counts them, or the
 * cgroup ends the run ("memory"); the host's Shmem never grows past the
 * limit either way. */
static void test_memory_outside_as(void **state)
{
	struct sandbox_limits lim = { .memory = 256LL << 20, .wall_ms = 30000 };
	struct sandbox_result *res;
	int r = run_probe(&lim, &res, "shm", "256", NULL);
	assert_int_equal(r, 0);
	if (res->limit == SANDBOX_LIMIT_MEMORY) {
		assert_int_not_equal(res->status, SANDBOX_EXITED);
		assert_true(res->max_rss_kb <= 256 * 1024);
	} else {
		/* Refused: by the filter without a cgroup (EPERM), by the cgroup's
		 * charge with one (ENOMEM, ENOSPC); never held to the end. */
		assert_exited_ok(r, res);
		if (!strstr(res->out, "memfd: EPERM\n") && !strstr(res->out, "memfd: ENOMEM\n") &&
		    !strstr(res->out, "memfd: ENOSPC\n"))
			fail_msg("memfds were not refused:\n%s", res->out);
		if (!strstr(res->out, "shmget: EPERM\n") && !strstr(res->out, "shmget: ENOMEM\n") &&
		    !strstr(res->out, "shmget: ENOSPC\n"))
			fail_msg("SysV shared memory was not refused:\n%s", res->out);
	}
	const char *p = strstr(res->out, "shmem grew: ");
	if (p && atoi(p + 12) >= 256)
		fail_msg("the host's Shmem grew by %d MiB under a 256 MiB limit", atoi(p + 12));
	sandbox_result_free(res);
}

/* Host-wide and per-uid kernel budgets, and the filter's argument rules. */
static void test_kernel_budgets(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "kernel", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "io_setup: EPERM");
	assert_line(res, "inotify_init: EPERM");
	assert_line(res, "inotify_init1: EPERM");
	assert_line(res, "fanotify_init: EPERM");
	assert_line(res, "msgget: EPERM");
	assert_line(res, "unlisted call (acct): EPERM");
	/* The kernel reads ioctl's command as 32 bits: TIOCSTI with a high bit
	 * set is TIOCSTI, and is denied as such. */
	assert_line(res, "ioctl TIOCSTI: EPERM");
	assert_line(res, "ioctl TIOCSTI high bits: EPERM");
	assert_line(res, "ioctl FIOCLEX: ok");
	assert_line(res, "socket inet high bits: EAFNOSUPPORT");
	assert_line(res, "prlimit init: EPERM");
	assert_line(res, "prlimit self: ok");
	sandbox_result_free(res);
}

/* A SIGUSR1 queued to init with a forged si_pid of 0 does not end the run;
 * the signal itself was delivered (the queueing succeeded). */
static void test_init_stop_spoof(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "signals", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "sigqueue init si_queue: ok");
	assert_line(res, "sigqueue init si_user: EPERM");
	assert_line(res, "kill init: ok");
	assert_line(res, "after signals to init: alive");
	assert_int_equal(res->limit, SANDBOX_LIMIT_NONE);
	sandbox_result_free(res);
}

static bool read_nonempty(const char *path)
{
	char b[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
	if (fd >= 0)
		close(fd);
	return n > 0;
}

/* The view: /usr/local without its configuration, kernel-wide /proc files
 * empty, a private /dev/shm of 64 MiB (the disk limit is larger). */
static void test_view_trimmed(void **state)
{
	char marker[64], *planted = NULL;
	struct sandbox_result *res;
	struct stat st;
	int r;

	harness_marker(marker, sizeof(marker), "npmrc");
	if (stat("/usr/local/etc", &st) < 0 && geteuid() == 0 && mkdir("/usr/local/etc", 0755) == 0)
		planted = xasprintf("/usr/local/etc");
	if (stat("/usr/local/etc", &st) < 0)
		print_message("no /usr/local/etc on this host and none can be made: "
		    "its absence inside proves nothing\n");
	char *secret = xasprintf("/usr/local/etc/%s", marker);
	FILE *f = fopen(secret, "w");
	if (f) {
		fputs("//registry.example/:_authToken=secret\n", f);
		fclose(f);
	}
	assert_true(read_nonempty("/proc/cmdline"));

	r = run_probe(NULL, &res, "view", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "list /usr/local/etc: ENOENT");
	assert_line(res, "list /usr/local/share/ca-certificates: ENOENT");
	assert_line(res, "list /usr/local/include: ENOENT");
	assert_line(res, "/proc/cmdline: 0 bytes");
	assert_line(res, "/proc/partitions: 0 bytes");
	assert_line(res, "list /proc/self/fd: ok");
	assert_line(res, "read /proc/cpuinfo: ok");
	assert_line(res, "/dev/shm size: 64 MiB");
	const char *p = strstr(res->out, "/dev/shm fill: ENOSPC after ");
	assert_non_null(p);
	assert_true(atoi(p + 28) <= 64);
	sandbox_result_free(res);
	if (f)
		unlink(secret);
	free(secret);
	if (planted)
		rmdir(planted);
	free(planted);
}

/* Python's multiprocessing: its locks live in /dev/shm. */
static void test_multiprocessing(void **state)
{
	struct sandbox_result *res;
	int r = run_probe(NULL, &res, "mp", NULL);
	assert_exited_ok(r, res);
	assert_line(res, "multiprocessing: 285");	/* 0^2 + 1^2 + ... + 9^2 */
	sandbox_result_free(res);
}

static double json_num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_number(v))
		fail_msg("no number \"%s\"", key);
	return json_number_value(v);
}

/* A real analysis script runs unchanged under the allowlist. */
static void test_analysis(void **state)
{
	size_t len;
	char *src = harness_read_source("analysis.py", &len);
	const char *argv[] = { "python3", "analysis.py", NULL };
	struct sandbox_file f = { .path = "analysis.py", .data = src, .len = len };
	struct sandbox_request req = { 0 };
	struct sandbox_result *res;
	json_error_t jerr;

	req.helper = harness_helper();
	req.argv = argv;
	req.files = &f;
	req.n_files = 1;
	int r = harness_run(&req, &res);
	assert_exited_ok(r, res);
	json_t *o = json_loads(res->out, 0, &jerr);
	if (!o)
		fail_msg("not JSON: %s\n%s", jerr.text, res->out);
	/* 2 4 4 4 5 5 7 9: worked by hand. */
	assert_true(json_num(o, "n") == 8);
	assert_true(json_num(o, "mean") == 5);
	assert_true(json_num(o, "median") == 4.5);
	assert_true(json_num(o, "pstdev") == 2);
	assert_true(json_num(o, "mode") == 4);
	json_t *np = json_object_get(o, "numpy");
	if (json_is_object(np)) {
		assert_true(json_num(np, "mean") == 5);
		assert_true(json_num(np, "dot") == 32);
		json_t *x = json_object_get(np, "solve");
		double d0 = json_number_value(json_array_get(x, 0)) - 0.8;
		double d1 = json_number_value(json_array_get(x, 1)) - 1.4;
		assert_true(d0 < 1e-9 && d0 > -1e-9 && d1 < 1e-9 && d1 > -1e-9);
	} else {
		print_message("numpy is not installed: the analysis ran without it\n");
	}
	assert_int_equal(res->n_files, 1);
	assert_string_equal(res->files[0].path, "out/summary.json");
	json_decref(o);
	sandbox_result_free(res);
	free(src);
}

/* Run the helper in an operator's mode; its output into out. */
static int run_helper(const char *args, char *out, size_t outlen)
{
	char *cmd = xasprintf("'%s' %s 2>&1", harness_helper(), args);
	FILE *p = popen(cmd, "r");
	size_t n = 0, k;
	int st;

	assert_non_null(p);
	while (n < outlen - 1 && (k = fread(out + n, 1, outlen - 1 - n, p)) > 0)
		n += k;
	out[n] = '\0';
	st = pclose(p);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_operator_modes(void **state)
{
	static char out[65536];
	int r;

	/* --run: the limits in force, then what happened. */
	r = run_helper("--run --limit wall_ms=5000 --limit nproc=7 -- sh -c 'echo hi; exit 3'", out,
	    sizeof(out));
	assert_int_equal(r, 3);
	assert_non_null(strstr(out, "limits:"));
	assert_non_null(strstr(out, "  processes    7\n"));
	assert_non_null(strstr(out, "  wall         5000 ms\n"));
	assert_non_null(strstr(out, "--- stdout ---\nhi\n"));
	assert_non_null(strstr(out, "outcome: exited with status 3; limit hit: none"));
	r = run_helper("--run --limit wall_ms=500 -- sh -c 'while :; do :; done'", out, sizeof(out));
	assert_int_equal(r, 128 + SIGKILL);
	assert_non_null(strstr(out, "outcome: killed by the sandbox; limit hit: timeout"));
	r = run_helper("--run --limit nproc=0 -- true", out, sizeof(out));
	assert_int_equal(r, 2);

	/* --check: every way out it tries is blocked. */
	r = run_helper("--check", out, sizeof(out));
	if (r != 0 || strstr(out, "NOT BLOCKED"))
		fail_msg("--check failed (%d):\n%s", r, out);
	assert_non_null(strstr(out, "blocked: TCP connect") ? strstr(out, "blocked: TCP connect") :
	    strstr(out, "blocked: AF_INET socket"));
	assert_non_null(strstr(out, "blocked: open /etc/shadow"));
	assert_non_null(strstr(out, "blocked: ptrace attach to pid 1"));
	assert_non_null(strstr(out, "blocked: a fork bomb"));
	assert_non_null(strstr(out, "blocked: io_setup"));
	assert_non_null(strstr(out, "blocked: inotify_init1"));
	assert_non_null(strstr(out, "blocked: ioctl TIOCSTI with high bits set"));
	assert_non_null(strstr(out, "blocked: ending the run with a queued SIGUSR1 to init"));
	assert_non_null(strstr(out, "blocked: memfd_create") ? strstr(out, "blocked: memfd_create") :
	    strstr(out, "blocked: holding twice memory.max in a memfd"));
	assert_non_null(strstr(out, "blocked: open /usr/local/etc"));
	assert_non_null(strstr(out, "blocked: read the host's /proc/cmdline"));
	assert_non_null(strstr(out, "check passed: every attempt was blocked"));

	/* --print-filter: the allowlist, group by group. */
	r = run_helper("--print-filter", out, sizeof(out));
	assert_int_equal(r, 0);
	assert_non_null(strstr(out, "\nread write "));
	assert_non_null(strstr(out, "ioctl: TCGETS"));
	assert_non_null(strstr(out, "only under a cgroup's memory.max\nmemfd_create"));
	assert_non_null(strstr(out, "calls allowed on this architecture"));
	assert_null(strstr(out, "io_setup"));
	assert_null(strstr(out, "inotify"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_dns),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_write_outside),
		cmocka_unit_test(test_ptrace),
		cmocka_unit_test(test_mount),
		cmocka_unit_test(test_unshare),
		cmocka_unit_test(test_other_syscalls),
		cmocka_unit_test(test_fork_bomb),
		cmocka_unit_test(test_memory_bomb),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cpu_limit),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_daemonise),
		cmocka_unit_test(test_files_and_stdin),
		cmocka_unit_test(test_bad_request),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_unavailable),
		cmocka_unit_test(test_operator_modes),
		cmocka_unit_test(test_strict_requests),
		cmocka_unit_test(test_memory_outside_as),
		cmocka_unit_test(test_kernel_budgets),
		cmocka_unit_test(test_init_stop_spoof),
		cmocka_unit_test(test_view_trimmed),
		cmocka_unit_test(test_multiprocessing),
		cmocka_unit_test(test_analysis),
	};
	signal(SIGPIPE, SIG_IGN);
	return test_run_group("sandbox", tests, setup, teardown);
}
