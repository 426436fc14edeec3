/* The code tool end to end, as the research loop will use it but without a
 * job runner: a real page served by nginx on 127.0.0.1 is fetched with
 * tools/http, its main content extracted with extract/ (the table
 * becomes a Markdown table), and Python in the sandbox computes a figure
 * over that table through the effects layer ("sandbox.python"), which
 * stores the code, the input's hash and the result together. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>
#include "../cmocka-skip.h"

#include "code.h"
#include "effect.h"
#include "extract.h"
#include "hash.h"
#include "http.h"
#include "json.h"
#include "ssrf.h"
#include "store.h"

static const char page[] =
    "<!doctype html><html lang=en><head><meta charset=utf-8>"
    "<title>Nordic cities</title></head><body>"
    "<nav><a href=/>Home</a> <a href=/about>About</a> <a href=/contact>Contact</a></nav>"
    "<article><h1>Population of three Norwegian cities</h1>"
    "<p>The table below gives the population of each municipality at the start of 2023, "
    "as published by the national statistics office. It is used here as a small, real "
    "example of a table inside an article.</p>"
    "<table><thead><tr><th>City</th><th>Population</th></tr></thead><tbody>"
    "<tr><td>Oslo</td><td>709037</td></tr>"
    "<tr><td>Bergen</td><td>291940</td></tr>"
    "<tr><td>Trondheim</td><td>214565</td></tr>"
    "</tbody></table>"
    "<p>Figures are rounded to the person and do not include the surrounding regions.</p>"
    "</article><footer>Copyright and cookie notice</footer></body></html>";

/* Sums the second column of the Markdown table the extractor wrote. */
static const char code[] =
    "rows = []\n"
    "for line in open('page.md', encoding='utf-8'):\n"
    "    cells = [c.strip() for c in line.strip().strip('|').split('|')]\n"
    "    if line.startswith('|') and len(cells) == 2 and cells[1].isdigit():\n"
    "        rows.append((cells[0], int(cells[1])))\n"
    "print(len(rows), sum(n for _, n in rows))\n";

static struct {
	char dir[64];
	int port;
	pid_t nginx;
	uv_loop_t loop;
} T;

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void write_text(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", T.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char conf[4096], g[256];

	if (access(NGINX, X_OK) != 0)
		return 0;	/* the test says so and fails or skips */
	strcpy(T.dir, "/tmp/test-code-web.XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	/* nginx's worker drops to an unprivileged user when run as root */
	chmod(T.dir, 0755);
	T.port = free_port();
	snprintf(conf, sizeof(conf),
	    "worker_processes 1;\nerror_log %s/error.log;\nevents { worker_connections 64; }\n"
	    "http {\n access_log %s/access.log;\n client_body_temp_path %s/tmp;\n"
	    " proxy_temp_path %s/tmp;\n fastcgi_temp_path %s/tmp;\n uwsgi_temp_path %s/tmp;\n"
	    " scgi_temp_path %s/tmp;\n types { text/html html; }\n"
	    " server { listen 127.0.0.1:%d; root %s/site; }\n}\n",
	    T.dir, T.dir, T.dir, T.dir, T.dir, T.dir, T.dir, T.port, T.dir);
	write_text("nginx.conf", conf);
	snprintf(g, sizeof(g), "%s/site", T.dir);
	mkdir(g, 0755);
	snprintf(g, sizeof(g), "%s/tmp", T.dir);
	mkdir(g, 0755);
	write_text("site/cities.html", page);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", T.dir);
	snprintf(g, sizeof(g), "daemon off; pid %s/nginx.pid;", T.dir);
	T.nginx = fork();
	if (T.nginx == 0) {
		execl(NGINX, "nginx", "-p", T.dir, "-c", conf, "-g", g, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !port_open(T.port); i++)
		usleep(50 * 1000);
	if (!port_open(T.port))
		return -1;
	uv_loop_init(&T.loop);
	hash_init();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	if (T.nginx > 0) {
		kill(T.nginx, SIGTERM);
		waitpid(T.nginx, NULL, 0);
	}
	if (T.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

struct got_page {
	bool done;
	long status;
	char *body;
	size_t len;
	char *content_type;
};

static void on_page(struct http_request *req, struct http_response *resp, void *ud)
{
	struct got_page *g = ud;

	g->done = true;
	g->status = resp->status;
	g->len = resp->body.len;
	g->body = buf_steal(&resp->body);
	g->content_type = strdup(resp->content_type ? resp->content_type : "");
}

struct got_effect {
	bool done;
	int r;
	json_t *result;
};

static void on_effect(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct got_effect *g = ud;

	g->done = true;
	g->r = r;
	g->result = result ? json_deep_copy(result) : NULL;
}

static void run_until(bool *flag)
{
	for (int i = 0; i < 6000 && !*flag; i++)
		uv_run(&T.loop, UV_RUN_ONCE);
	assert_true(*flag);
}

static void test_table_from_page_computed_in_sandbox(void **state)
{
	const char *helper = getenv("SANDBOX_HELPER");
	const char *allow[] = { "127.0.0.1/32" };
	struct http_limits lim = { .max_transfers = 2 };
	struct ssrf_policy *guard = NULL;
	struct http *http = NULL;
	struct got_page pg = { 0 };
	struct got_effect ge = { 0 };
	struct extract_result *ex = NULL;
	struct extract_options eo = { 0 };
	struct store *store = NULL;
	struct effects *fx = NULL;
	struct effect_call *call = NULL;
	struct store_job job = { .owner = 0, .kind = "t", .question = "q", .state = JOB_RUNNING, .created = 1 };
	struct code_config cc = { 0 };
	struct effect_kind kind = { .name = CODE_EFFECT_KIND, .start = code_exec_start,
		.cancel = code_exec_cancel, .userdata = &cc };
	char url[128], dbpath[128], hex[HASH_HEX_LEN + 1];
	uint8_t key[HASH_BYTES], h[HASH_BYTES];
	json_t *req, *stored = NULL;
	int64_t jid;
	size_t bad;

	if (access(NGINX, X_OK) != 0) {
		if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
			fail_msg("nginx (%s) is missing; CI must run this test", NGINX);
		test_skip("nginx is not installed");
	}
	assert_non_null(helper);

	/* fetch the page, with the SSRF guard letting loopback through */
	assert_int_equal(ssrf_policy_new(allow, 1, &guard, &bad), 0);
	assert_int_equal(http_new(&T.loop, &lim, &http), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/cities.html", T.port);
	struct http_options ho = { .url = url, .user_agent = "researchd-test", .guard = guard };
	assert_int_equal(http_request_start(http, &ho, on_page, &pg, &(struct http_request *){ 0 }), 0);
	run_until(&pg.done);
	assert_int_equal(pg.status, 200);

	/* extract: the table comes out as a Markdown table, the nav does not */
	eo.content_type = pg.content_type;
	eo.base_url = url;
	assert_int_equal(extract_html(pg.body, pg.len, &eo, &ex), 0);
	if (strstr(ex->text, "| Oslo | 709037 |") == NULL)
		fail_msg("no Markdown table row for Oslo in:\n%s", ex->text);
	assert_null(strstr(ex->text, "Contact"));

	/* compute over it in the sandbox, through the effects layer */
	snprintf(dbpath, sizeof(dbpath), "%s/r.db", T.dir);
	assert_int_equal(store_open(dbpath, &store), 0);
	assert_int_equal(store_job_insert(store, &job, &jid), 0);
	assert_int_equal(effects_new(&T.loop, store, &fx), 0);
	cc.helper = helper;
	cc.limits.wall_ms = 20000;
	assert_int_equal(effects_register(fx, &kind), 0);
	req = json_pack("{s:s, s:[{s:s, s:s}]}", "code", code, "inputs", "name", "page.md", "text", ex->text);
	assert_int_equal(effect_run(fx, jid, CODE_EFFECT_KIND, req, on_effect, &ge, &call), 0);
	run_until(&ge.done);
	assert_int_equal(ge.r, 0);
	assert_int_equal(json_integer_value(json_object_get(ge.result, "exit_code")), 0);
	assert_string_equal(json_string_value(json_object_get(ge.result, "stdout")), "3 1215542\n");

	/* the code, the input's hash and the result are stored together */
	assert_int_equal(effect_key(CODE_EFFECT_KIND, req, key), 0);
	assert_int_equal(store_effect_get(store, jid, key, &stored), 0);
	assert_string_equal(json_string_value(json_object_get(stored, "code")), code);
	hash_bytes(ex->text, strlen(ex->text), h);
	hash_hex(h, hex);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(stored, "inputs"), 0), "blake2b")), hex);
	assert_string_equal(json_string_value(json_object_get(stored, "stdout")), "3 1215542\n");

	json_decref(stored);
	json_decref(req);
	json_decref(ge.result);
	effects_free(fx);
	store_close(store);
	extract_result_free(ex);
	free(pg.body);
	free(pg.content_type);
	http_free(http);
	ssrf_policy_free(guard);
	uv_run(&T.loop, UV_RUN_DEFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_from_page_computed_in_sandbox),
	};
	return test_run_group("code-web", tests, setup, teardown);
}
