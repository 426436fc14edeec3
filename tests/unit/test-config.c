/* Unit tests: the configuration parser (agent/config.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static int parse(const char *text, struct config **ret, char *err, size_t errlen)
{
	struct config *c = config_new();
	int r = config_parse(c, "t.conf", text, strlen(text), err, errlen);

	if (r < 0) {
		config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* The parse fails and the message starts with want ("t.conf:LINE: ..."). */
static void expect_error(const char *text, const char *want)
{
	struct config *c = NULL;
	char err[1024] = "";
	int r = parse(text, &c, err, sizeof(err));

	if (r == 0 || strncmp(err, want, strlen(want)) != 0)
		fail_msg("config %s\nwanted error \"%s\", got r=%d \"%s\"", text, want, r, err);
	assert_null(c);
}

static void test_empty_is_defaults(void **state)
{
	struct config *c = NULL;
	char err[256];

	assert_int_equal(parse("", &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_jobs, 2);
	assert_int_equal(c->max_clients, 64);
	assert_int_equal(c->client_timeout, 60);
	assert_false(c->selftest);
	/* No url by default: the daemon probes loopback for the usual servers. */
	assert_int_equal(c->llm_url.n, 0);
	assert_null(c->llm_serve);
	assert_int_equal(c->llm_probe.n, 4);
	assert_string_equal(c->llm_probe.items[0], "127.0.0.1:8080");
	assert_string_equal(c->llm_probe.items[1], "127.0.0.1:11434");
	assert_string_equal(c->llm_probe.items[2], "127.0.0.1:1234");
	assert_string_equal(c->llm_probe.items[3], "127.0.0.1:8000");
	assert_int_equal(c->search_backends.n, 3);
	assert_string_equal(c->search_backends.items[0], "wikipedia");
	assert_string_equal(c->search_backends.items[1], "arxiv");
	assert_string_equal(c->search_backends.items[2], "local");
	assert_true(c->robots);
	assert_int_equal(c->fetch_max_body, 10 * 1024 * 1024);
	assert_int_equal(c->budget_max_time, 3600);
	assert_int_equal(c->sandbox_memory, 512LL * 1024 * 1024);
	assert_non_null(c->socket);
	assert_non_null(c->state_dir);
	config_free(c);
}

static void test_full(void **state)
{
	static const char text[] =
	    "# a comment\n"
	    "; another\n"
	    "\n"
	    "[server]\n"
	    "socket = /tmp/x/r.sock\n"
	    "state_dir = \"/var/tmp/state dir\"\n"
	    "max_jobs = 7\n"
	    "client_timeout = 2m\r\n"
	    "selftest = yes\n"
	    "  [llm]  \n"
	    "url = http://127.0.0.1:8080/v1, https://gpu.example:8443/v1 ,http://[::1]:11434/v1\n"
	    "model = qwen3-8b\n"
	    "spawn = /usr/bin/llama-server -m /m.gguf --port 8080\n"
	    "[search]\n"
	    "backends = searxng,local\n"
	    "searxng_url = http://127.0.0.1:8888\n"
	    "[fetch]\n"
	    "allow_hosts = 127.0.0.1/32, ::1, intranet.example, 10.0.0.0/8\n"
	    "robots = off\n"
	    "max_body = 64K\n"
	    "[budget]\n"
	    "max_time = 2h\n"
	    "max_depth = 4\n"
	    "[sandbox]\n"
	    "memory = 1G\n";
	struct config *c = NULL;
	char err[256] = "";

	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_string_equal(c->socket, "/tmp/x/r.sock");
	assert_string_equal(c->state_dir, "/var/tmp/state dir");
	assert_int_equal(c->max_jobs, 7);
	assert_int_equal(c->client_timeout, 120);
	assert_true(c->selftest);
	assert_int_equal(c->llm_url.n, 3);
	assert_string_equal(c->llm_url.items[1], "https://gpu.example:8443/v1");
	assert_string_equal(c->llm_url.items[2], "http://[::1]:11434/v1");
	assert_string_equal(c->llm_model, "qwen3-8b");
	assert_string_equal(c->llm_spawn, "/usr/bin/llama-server -m /m.gguf --port 8080");
	assert_int_equal(c->search_backends.n, 2);
	assert_string_equal(c->searxng_url, "http://127.0.0.1:8888");
	assert_int_equal(c->allow_hosts.n, 4);
	assert_string_equal(c->allow_hosts.items[3], "10.0.0.0/8");
	assert_false(c->robots);
	assert_int_equal(c->fetch_max_body, 65536);
	assert_int_equal(c->budget_max_time, 7200);
	assert_int_equal(c->budget_max_depth, 4);
	assert_int_equal(c->sandbox_memory, 1024LL * 1024 * 1024);
	config_free(c);
}

static void test_errors(void **state)
{
	expect_error("[server]\nmax_jobs = 2\nfrobnicate = 1\n", "t.conf:3: unknown key \"frobnicate\" in [server]");
	expect_error("[serverx]\n", "t.conf:1: unknown section [serverx]");
	expect_error("max_jobs = 2\n", "t.conf:1: key \"max_jobs\" outside of a [section]");
	expect_error("[server]\nmax_jobs\n", "t.conf:2: expected \"key = value\"");
	expect_error("[server\n", "t.conf:1: malformed section header");
	expect_error("[server]\nmax_jobs = 0\n", "t.conf:2: max_jobs must be an integer from 1 to 64");
	expect_error("[server]\nmax_jobs = 65\n", "t.conf:2: max_jobs must be an integer");
	expect_error("[server]\nmax_jobs = 2x\n", "t.conf:2: max_jobs must be an integer");
	expect_error("[server]\nmax_jobs = \n", "t.conf:2: max_jobs must be an integer");
	expect_error("[server]\nmax_jobs = 2\nmax_jobs = 3\n", "t.conf:3: key \"max_jobs\" set twice");
	expect_error("[server]\nselftest = maybe\n", "t.conf:2: selftest must be yes or no");
	expect_error("[server]\nclient_timeout = 5y\n", "t.conf:2: client_timeout must be a duration");
	expect_error("[server]\nclient_timeout = 0\n", "t.conf:2: client_timeout must be a duration");
	expect_error("[server]\nsocket = relative/path\n", "t.conf:2: socket must be an absolute path");
	expect_error("[server]\nlog_level = loud\n", "t.conf:2: log_level must be");
	expect_error("[llm]\nurl = ftp://x/v1\n", "t.conf:2: \"ftp://x/v1\" is not an http:// or https:// URL");
	expect_error("[llm]\nurl = ,\n", "t.conf:2: the list is empty");
	expect_error("[search]\nbackends = wikipedia,google\n", "t.conf:2: unknown search backend \"google\"");
	expect_error("[search]\nbackends = local,local\n", "t.conf:2: search backend \"local\" listed twice");
	expect_error("\n[search]\nbackends = searxng\n", "t.conf:3: search backend searxng needs [search] searxng_url");
	expect_error("[search]\nbackends = brave\n", "t.conf:2: search backend brave needs [search] brave_key_file");
	expect_error("[fetch]\nallow_hosts = 10.0.0.0/33\n", "t.conf:2: \"10.0.0.0/33\" is not a host name");
	expect_error("[fetch]\nallow_hosts = bad_host!\n", "t.conf:2: \"bad_host!\" is not a host name");
	expect_error("[fetch]\nallow_hosts = 0.0.0.0/0\n",
	    "t.conf:2: allow_hosts covers every IPv4 address (as 0.0.0.0/0 does), which switches"
	    " the SSRF guard off");
	expect_error("[fetch]\nallow_hosts = localhost, ::/0\n",
	    "t.conf:2: allow_hosts covers every IPv6 address");
	expect_error("[fetch]\nallow_hosts = 0.0.0.0/1, 128.0.0.0/1\n",
	    "t.conf:2: allow_hosts covers every IPv4 address");
	expect_error("[fetch]\nmax_body = 1\n", "t.conf:2: max_body must be a size");
	expect_error("[fetch]\nuser_agent = \"\"\n", "t.conf:2: user_agent must not be empty");
	expect_error("[budget]\nmax_depth = 11\n", "t.conf:2: max_depth must be an integer from 1 to 10");
	expect_error("[server]\nmax_jobs = \xff\n", "t.conf:2: line is not valid UTF-8");
}

static void test_serve_and_probe(void **state)
{
	struct config *c = NULL;
	char err[256] = "";

	assert_int_equal(parse("[llm]\nserve = stories260K\nserve_threads = 3\nserve_context = 4096\n"
	    "serve_slots = 2\nprobe = 127.0.0.2:9, [::1]:11434 ,localhost:1\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c->llm_serve, "stories260K");
	assert_int_equal(c->llm_serve_threads, 3);
	assert_int_equal(c->llm_serve_context, 4096);
	assert_int_equal(c->llm_serve_slots, 2);
	assert_int_equal(c->llm_probe.n, 3);
	assert_string_equal(c->llm_probe.items[1], "[::1]:11434");
	config_free(c);

	expect_error("[llm]\nserve = /m.gguf\nurl = http://127.0.0.1:8080/v1\n",
	    "t.conf:3: [llm] serve and url cannot both be set");
	expect_error("[llm]\nspawn = /bin/llama-server\nserve = /m.gguf\n",
	    "t.conf:3: [llm] serve and spawn cannot both be set");
	expect_error("[llm]\nspawn = /bin/llama-server\n", "t.conf:2: [llm] spawn needs the url");
	expect_error("[llm]\nserve = models/m.gguf\n", "t.conf:2: [llm] serve takes an absolute path");
	/* Probing stays on this machine. */
	expect_error("[llm]\nprobe = 10.0.0.1:8080\n", "t.conf:2: \"10.0.0.1:8080\" is not a loopback HOST:PORT");
	expect_error("[llm]\nprobe = example.com:80\n", "t.conf:2: \"example.com:80\" is not a loopback");
	expect_error("[llm]\nprobe = 127.0.0.1\n", "t.conf:2: \"127.0.0.1\" is not a loopback");
	expect_error("[llm]\nprobe = 127.0.0.1:0\n", "t.conf:2: \"127.0.0.1:0\" is not a loopback");
	expect_error("[llm]\nprobe = [::2]:80\n", "t.conf:2: \"[::2]:80\" is not a loopback");
	expect_error("[llm]\nserve_slots = 65\n", "t.conf:2: serve_slots must be an integer from 0 to 64");
}

static void test_long_line_and_nul(void **state)
{
	struct config *c = config_new();
	char err[256] = "";
	size_t n = CONFIG_MAX_LINE + 100;
	char *text = malloc(n + 32);

	strcpy(text, "[llm]\nmodel = ");
	memset(text + strlen(text), 'a', n);
	text[14 + n] = '\0';
	assert_int_equal(config_parse(c, "t.conf", text, strlen(text), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:2: line is longer than 4096 bytes");
	free(text);

	assert_int_equal(config_parse(c, "t.conf", "[llm]\nmodel = a\0b\n", 17, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:2: line contains a NUL byte");
	config_free(c);
}

static void test_load(void **state)
{
	char path[] = "/tmp/test-config-XXXXXX";
	struct config *c = NULL;
	char err[256] = "";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[server]\nmax_jobs = 5\n", 22), 22);
	close(fd);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->max_jobs, 5);
	config_free(c);
	unlink(path);
	c = NULL;
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "No such file"));
}

/* Only a regular file is read: a FIFO (named directly or through a
 * symlink) is refused at once instead of waiting for a writer. */
static void test_load_not_regular(void **state)
{
	char dir[] = "/tmp/test-config-XXXXXX", fifo[64], link[64];
	struct config *c = NULL;
	char err[256] = "";

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(symlink(fifo, link), 0);
	/* The old code blocks in open(): a hang ends the test as a failure. */
	alarm(10);
	assert_int_equal(config_load(fifo, &c, err, sizeof(err)), -EINVAL);
	assert_null(c);
	assert_non_null(strstr(err, "not a regular file (a FIFO)"));
	assert_int_equal(config_load(link, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file (a FIFO)"));
	assert_int_equal(config_load(dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file (a directory)"));
	assert_null(c);
	alarm(0);
	unlink(link);
	unlink(fifo);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_serve_and_probe),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_not_regular),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
