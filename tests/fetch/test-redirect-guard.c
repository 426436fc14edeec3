/* Redirects cannot lead past the SSRF guard: every status from 300 to 399,
 * answered with a Location to a second loopback listener that must never
 * see a connection, on the four paths that make requests (a page fetch,
 * robots.txt, a search backend, the model client). Both listeners run on
 * the test's own loop on 127.0.0.1; no other address is ever contacted. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>

#include "client.h"
#include "fetch.h"
#include "hash.h"
#include "http.h"
#include "search.h"
#include "ssrf.h"
#include "store.h"
#include "xmalloc.h"

/* How the Location of a redirect to the forbidden listener is written. */
enum variant {
	V_PLAIN,	/* http://127.0.0.1:B/hit */
	V_CREDS,	/* http://user:pw@127.0.0.1:B/hit */
	V_LONG,		/* past the 2048 bytes kept of other headers */
	V_HUGE,		/* past URL_MAX */
	V_SCHEMELESS,	/* //127.0.0.1:B/hit */
	V_COUNT
};

static struct {
	char dir[64];
	uv_loop_t loop;
	struct http *http;
	struct store *store;
	uv_tcp_t a, b;
	int port_a, port_b;
	int b_hits;		/* connections the forbidden listener accepted */
	int robots_status;	/* what /robots.txt answers; 0: 404 */
	enum variant robots_variant;
	char last_method[16];
} T;

/* ---- the fixture listeners ---- */

struct conn {
	uv_tcp_t tcp;
	char req[32 * 1024];
	size_t len;
	bool answered;
};

static void conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	free(((char **)(w + 1))[0]);
	free(w);
	conn_close(c);
}

static char *location(enum variant v)
{
	static char pad[10 * 1024];

	switch (v) {
	case V_PLAIN: return xasprintf("http://127.0.0.1:%d/hit", T.port_b);
	case V_CREDS: return xasprintf("http://user:pw@127.0.0.1:%d/hit", T.port_b);
	case V_LONG:
		memset(pad, 'a', 3000);
		pad[3000] = '\0';
		return xasprintf("http://127.0.0.1:%d/%s", T.port_b, pad);
	case V_HUGE:
		memset(pad, 'a', 9000);
		pad[9000] = '\0';
		return xasprintf("http://127.0.0.1:%d/%s", T.port_b, pad);
	default: return xasprintf("//127.0.0.1:%d/hit", T.port_b);
	}
}

static void conn_send(struct conn *c, char *text)
{
	uv_write_t *w = xmalloc(sizeof(*w) + sizeof(char *));
	uv_buf_t b = uv_buf_init(text, (unsigned)strlen(text));

	((char **)(w + 1))[0] = text;
	w->data = c;
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, conn_written) < 0) {
		free(text);
		free(w);
		conn_close(c);
	}
}

static void conn_redirect(struct conn *c, int status, const char *loc)
{
	/* A 304 has no body by definition. */
	conn_send(c, xasprintf("HTTP/1.1 %d Test\r\nLocation: %s\r\n%s"
	    "Connection: close\r\n\r\n%s", status, loc,
	    status == 304 ? "" : "Content-Type: text/plain\r\nContent-Length: 2\r\n",
	    status == 304 ? "" : "hi"));
}

/* Answers once the request's headers and body are in:
 *   /robots.txt           T.robots_status to T.robots_variant, or 404
 *   /STATUS/VARIANT/...   STATUS with a Location to the forbidden listener
 *   /same/STATUS          STATUS with a Location to /ok on the same host
 *   anything else         200 "ok" */
static void conn_answer(struct conn *c)
{
	char method[16] = "", path[256] = "";
	int status, v;
	char *loc;

	sscanf(c->req, "%15s %255s", method, path);
	snprintf(T.last_method, sizeof(T.last_method), "%s", method);
	if (strcmp(path, "/robots.txt") == 0) {
		if (T.robots_status == 0) {
			conn_send(c, xasprintf("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n"));
			return;
		}
		loc = location(T.robots_variant);
		conn_redirect(c, T.robots_status, loc);
		free(loc);
		return;
	}
	if (sscanf(path, "/same/%d", &status) == 1) {
		conn_redirect(c, status, "/ok");
		return;
	}
	if (sscanf(path, "/%d/%d/", &status, &v) == 2) {
		loc = location((enum variant)v);
		conn_redirect(c, status, loc);
		free(loc);
		return;
	}
	conn_send(c, xasprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\nok"));
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = h->data;

	*b = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	const char *end, *cl;
	size_t body = 0;

	if (n < 0 || (n == 0 && c->len == sizeof(c->req) - 1)) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	end = strstr(c->req, "\r\n\r\n");
	if (c->answered || end == NULL)
		return;
	cl = strcasestr(c->req, "\r\ncontent-length:");
	if (cl && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	if (c->len < (size_t)(end + 4 - c->req) + body)
		return;
	c->answered = true;
	conn_answer(c);
}

static void on_accept(uv_stream_t *server, int status)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	uv_tcp_init(&T.loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (server == (uv_stream_t *)&T.b) {
		/* The forbidden listener: being reached at all is the failure. */
		T.b_hits++;
		conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static int listen_on(uv_tcp_t *t, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage got;
	int len = sizeof(got);

	uv_tcp_init(&T.loop, t);
	if (uv_tcp_bind(t, (struct sockaddr *)&a, 0) < 0 ||
	    uv_listen((uv_stream_t *)t, 64, on_accept) < 0)
		return -1;
	uv_tcp_getsockname(t, (struct sockaddr *)&got, &len);
	*port = ntohs(((struct sockaddr_in *)&got)->sin_port);
	return 0;
}

static int group_setup(void **state)
{
	char path[128];

	snprintf(T.dir, sizeof(T.dir), "/tmp/test-redirect-guard.XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	uv_loop_init(&T.loop);
	if (listen_on(&T.a, &T.port_a) < 0 || listen_on(&T.b, &T.port_b) < 0)
		return -1;
	if (http_new(&T.loop, NULL, &T.http) < 0)
		return -1;
	hash_init();
	snprintf(path, sizeof(path), "%s/db", T.dir);
	return store_open(path, &T.store) < 0 ? -1 : 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int group_teardown(void **state)
{
	char cmd[128];

	T.http = http_free(T.http);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	uv_walk(&T.loop, close_walk, NULL);
	uv_run(&T.loop, UV_RUN_DEFAULT);
	uv_loop_close(&T.loop);
	store_close(T.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void tick(uv_timer_t *t)
{
}

static void run_until(bool *flag)
{
	int64_t end = (int64_t)uv_now(&T.loop) + 20000;
	uv_timer_t t;

	uv_timer_init(&T.loop, &t);
	uv_timer_start(&t, tick, 20, 20);
	while (!*flag && (int64_t)uv_now(&T.loop) < end)
		uv_run(&T.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	if (!*flag)
		fail_msg("timed out waiting");
}

static bool followed(int status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 ||
	    status == 308;
}

/* ---- tools/http itself ---- */

struct got {
	bool done;
	int error;
	long status, redirects;
	char body[64];
	char msg[HTTP_ERROR_MAX];
};

static void on_http(struct http_request *req, struct http_response *resp, void *ud)
{
	struct got *g = ud;

	g->done = true;
	g->error = resp->error;
	g->status = resp->status;
	g->redirects = resp->redirects;
	snprintf(g->msg, sizeof(g->msg), "%s", resp->error_msg ? resp->error_msg : "");
	snprintf(g->body, sizeof(g->body), "%.*s", (int)resp->body.len,
	    resp->body.data ? resp->body.data : "");
}

static void http_get(const char *url, const char *method, const struct ssrf_policy *guard,
    struct got *g)
{
	struct http_options o = { .url = url, .guard = guard, .method = method,
	    .body = method ? "{}" : NULL, .body_len = method ? 2 : 0 };

	memset(g, 0, sizeof(*g));
	assert_int_equal(http_request_start(T.http, &o, on_http, g, NULL), 0);
	run_until(&g->done);
}

/* The positive side: a redirect within the same endpoint is followed by
 * our code, and 303 turns a POST into a GET. */
static void test_http_follows_same_host(void **state)
{
	static const char *const allow[] = { "localhost" };
	struct ssrf_policy *p = NULL;
	struct got g;
	char *u;

	T.b_hits = 0;

	for (int st = 300; st <= 399; st++) {
		u = xasprintf("http://127.0.0.1:%d/same/%d", T.port_a, st);
		http_get(u, NULL, NULL, &g);
		free(u);
		assert_int_equal(g.error, 0);
		if (followed(st)) {
			assert_int_equal(g.status, 200);
			assert_int_equal(g.redirects, 1);
			assert_string_equal(g.body, "ok");
		} else {
			assert_int_equal(g.status, st);
			assert_int_equal(g.redirects, 0);
		}
	}
	u = xasprintf("http://127.0.0.1:%d/same/303", T.port_a);
	http_get(u, "POST", NULL, &g);
	free(u);
	assert_int_equal(g.status, 200);
	assert_string_equal(T.last_method, "GET");
	u = xasprintf("http://127.0.0.1:%d/same/307", T.port_a);
	http_get(u, "POST", NULL, &g);
	free(u);
	assert_int_equal(g.status, 200);
	assert_string_equal(T.last_method, "POST");

	/* Behind the guard, a hop to a host it allows is followed too. */
	assert_int_equal(ssrf_policy_new(allow, 1, &p, NULL), 0);
	u = xasprintf("http://localhost:%d/same/302", T.port_a);
	http_get(u, NULL, p, &g);
	free(u);
	assert_int_equal(g.error, 0);
	assert_int_equal(g.status, 200);
	assert_int_equal(g.redirects, 1);
	ssrf_policy_free(p);
	assert_int_equal(T.b_hits, 0);
}

/* A redirect whose Location cannot be parsed and checked is an error, and
 * so is one from a configured endpoint to another host (or port). */
static void test_http_bad_locations(void **state)
{
	static const struct { enum variant v; int error; const char *msg; } cases[] = {
		{ V_PLAIN, -EACCES, "to another host" },
		{ V_SCHEMELESS, -EACCES, "to another host" },
		{ V_LONG, -EACCES, "to another host" },
		{ V_CREDS, -EACCES, "user name or password" },
		{ V_HUGE, -EBADMSG, "the Location header exceeds" },
	};
	struct got g;

	T.b_hits = 0;
	for (int st = 300; st <= 399; st++) {
		if (!followed(st))
			continue;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char *u = xasprintf("http://127.0.0.1:%d/%d/%d/x", T.port_a, st,
			    (int)cases[i].v);

			http_get(u, NULL, NULL, &g);
			free(u);
			if (g.error != cases[i].error || strstr(g.msg, cases[i].msg) == NULL)
				fail_msg("HTTP %d, variant %d: error %d \"%s\"", st, (int)cases[i].v,
				    g.error, g.msg);
		}
	}
	assert_int_equal(T.b_hits, 0);
}

/* ---- the four paths ---- */

struct fetched {
	bool done;
	int r;
	char *error;
};

static void on_fetch(struct fetch_req *req, int r, const struct fetch_result *res,
    const char *msg, void *ud)
{
	struct fetched *o = ud;

	o->done = true;
	o->r = r;
	o->error = res && res->error ? xstrdup(res->error) : NULL;
}

static struct fetch *new_fetch(bool robots)
{
	/* A host name is allowed: its name, not the loopback address, is. */
	static const char *const allow[] = { "localhost" };
	struct fetch_config c;
	struct fetch *f = NULL;

	fetch_config_init(&c);
	c.allow_hosts = allow;
	c.n_allow_hosts = 1;
	c.host_delay_ms = 0;
	c.robots = robots;
	c.timeout_ms = 10000;
	assert_int_equal(fetch_new(&T.loop, T.http, T.store, &c, &f), 0);
	return f;
}

static void fetch_run(struct fetch *f, const char *url, struct fetched *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(fetch_start(f, url, on_fetch, o, NULL), 0);
	run_until(&o->done);
}

static void test_page_redirects(void **state)
{
	struct fetch *f = new_fetch(false);

	T.b_hits = 0;

	for (int st = 300; st <= 399; st++) {
		for (int v = 0; v < V_COUNT; v++) {
			char *u = xasprintf("http://localhost:%d/%d/%d/page", T.port_a, st, v);
			struct fetched o;

			fetch_run(f, u, &o);
			if (T.b_hits)
				fail_msg("HTTP %d, variant %d: the page's redirect reached the"
				    " forbidden listener", st, v);
			if (followed(st) && o.r == 0 && o.error == NULL)
				fail_msg("HTTP %d, variant %d: a redirect that was not followed"
				    " became a page", st, v);
			free(o.error);
			free(u);
		}
	}
	fetch_free(f);
	uv_run(&T.loop, UV_RUN_NOWAIT);
}

static void test_robots_redirects(void **state)
{
	T.b_hits = 0;
	for (int st = 300; st <= 399; st++) {
		for (int v = 0; v < V_COUNT; v++) {
			/* A new fetch each time: robots.txt is asked once per host. */
			struct fetch *f = new_fetch(true);
			char *u = xasprintf("http://localhost:%d/ok/%d/%d", T.port_a, st, v);
			struct fetched o;

			T.robots_status = st;
			T.robots_variant = (enum variant)v;
			fetch_run(f, u, &o);
			if (T.b_hits)
				fail_msg("HTTP %d, variant %d: robots.txt's redirect reached the"
				    " forbidden listener", st, v);
			free(o.error);
			free(u);
			fetch_free(f);
			uv_run(&T.loop, UV_RUN_NOWAIT);
		}
	}
	T.robots_status = 0;
}

struct searched {
	bool done;
	json_t *json;
};

static void on_search(struct search_call *c, const struct search_response *r, void *ud)
{
	struct searched *o = ud;

	o->json = search_response_json(r);
	o->done = true;
}

static void test_search_redirects(void **state)
{
	static const char *const names[] = { "searxng" };

	T.b_hits = 0;

	for (int st = 300; st <= 399; st++) {
		for (int v = 0; v < V_COUNT; v++) {
			/* A configured endpoint, trusted itself and so not guarded. */
			char *base = xasprintf("http://127.0.0.1:%d/%d/%d", T.port_a, st, v);
			struct search_config c = { .backends = names, .n_backends = 1,
			    .searxng_url = base, .min_interval_ms = -1, .rate_burst = 100,
			    .rate_per_second = 100 };
			struct search_query q = { .q = "redirect", .max_results = 5 };
			struct search *s = NULL;
			struct searched o = {0};

			assert_int_equal(search_new(&T.loop, T.http, &c, &s), 0);
			assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o, NULL), 0);
			run_until(&o.done);
			if (T.b_hits)
				fail_msg("HTTP %d, variant %d: the search backend's redirect"
				    " reached another host", st, v);
			json_decref(o.json);
			search_free(s);
			free(base);
			uv_run(&T.loop, UV_RUN_NOWAIT);
		}
	}
}

struct called {
	bool done;
	int error;
};

static void on_call(struct llm_call *call, struct llm_result *res, void *ud)
{
	struct called *o = ud;

	o->error = res->error;
	o->done = true;
}

static void test_model_redirects(void **state)
{
	struct llm_client_options copt = {0};
	struct llm_client *c = NULL;
	json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");

	T.b_hits = 0;

	assert_int_equal(llm_client_new(T.http, &copt, &c), 0);
	for (int st = 300; st <= 399; st++) {
		for (int v = 0; v < V_COUNT; v++) {
			char *base = xasprintf("http://127.0.0.1:%d/%d/%d/v1", T.port_a, st, v);
			struct llm_call_options opt = { .base_url = base, .messages = msgs,
			    .max_tokens = 8, .temperature = 0, .timeout_ms = 10000,
			    .id_slot = -1 };
			struct called o = {0};

			assert_int_equal(llm_call_start(c, &opt, on_call, &o, NULL), 0);
			run_until(&o.done);
			if (T.b_hits)
				fail_msg("HTTP %d, variant %d: the model server's redirect"
				    " reached another host", st, v);
			/* A redirect is never an answer. */
			assert_true(o.error < 0);
			free(base);
		}
	}
	llm_client_free(c);
	json_decref(msgs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_follows_same_host),
		cmocka_unit_test(test_http_bad_locations),
		cmocka_unit_test(test_page_redirects),
		cmocka_unit_test(test_robots_redirects),
		cmocka_unit_test(test_search_redirects),
		cmocka_unit_test(test_model_redirects),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
