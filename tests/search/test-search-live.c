/* Live test of tools/search: real fan-outs over tools/http on a uv loop to
 * a fixture server (fixture-server.py) on 127.0.0.1 that serves each API's
 * canned response by path; merged ranking, failing backends, timeouts,
 * the breaker, Retry-After, the rate limit, the local index as a backend
 * and the "web.search" effect.
 * No address but 127.0.0.1 is ever contacted.
 *
 *     test-search-live PYTHON FIXTURE-SERVER DATADIR */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>

#include "effect.h"
#include "hash.h"
#include "http.h"
#include "index.h"
#include "json.h"
#include "search.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#define BRAVE_KEY "fixture-key-123"

static struct {
	const char *python, *server, *data;
	pid_t pid;
	int port;
	char keyfile[64], badkeyfile[64], dir[64];
	uv_loop_t loop;
	struct http *http;
} T;

/* ---- plumbing ---- */

static int server_start(void)
{
	char *argv[] = { (char *)T.python, (char *)T.server, "--root", (char *)T.data,
	    "--brave-key", BRAVE_KEY, NULL };
	char line[256];
	size_t n = 0;
	int fd[2];

	if (pipe2(fd, O_CLOEXEC) < 0)
		return -1;
	T.pid = fork();
	if (T.pid < 0)
		return -1;
	if (T.pid == 0) {
		dup2(fd[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		struct pollfd p = { .fd = fd[0], .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, 10000) <= 0)
			break;
		k = read(fd[0], line + n, sizeof(line) - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
		line[n] = '\0';
		if (strchr(line, '\n')) {
			if (strncmp(line, "listening 127.0.0.1:", 20) == 0) {
				T.port = atoi(line + 20);
				close(fd[0]);
				return 0;
			}
			break;
		}
	}
	close(fd[0]);
	fprintf(stderr, "the fixture server did not start\n");
	kill(T.pid, SIGKILL);
	waitpid(T.pid, NULL, 0);
	return -1;
}

static void guard_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static bool run_until(const bool *flag, int timeout_ms)
{
	uv_timer_t guard;
	bool expired = false;

	uv_timer_init(&T.loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, guard_cb, (uint64_t)timeout_ms, 0);
	while (!*flag && !expired)
		uv_run(&T.loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	return *flag;
}

static char *base(const char *mode, const char *path)
{
	return xasprintf("http://127.0.0.1:%d/%s%s", T.port, mode, path);
}

static void get_done(struct http_request *req, struct http_response *resp, void *ud)
{
	char **out = ud;

	*out = resp->status == 200 ? buf_steal(&resp->body) : xstrdup("");
}

/* The server's request log: one JSON array [path?query, token] a line. */
static char *server_log(void)
{
	struct http_options o = {0};
	char *out = NULL, *u = xasprintf("http://127.0.0.1:%d/_log", T.port);
	bool done = false;

	o.url = u;
	assert_int_equal(http_request_start(T.http, &o, get_done, &out, NULL), 0);
	while (!done) {
		uv_run(&T.loop, UV_RUN_ONCE);
		done = out != NULL;
	}
	free(u);
	return out;
}

static int log_count(const char *needle)
{
	char *log = server_log(), *save = NULL;
	int n = 0;

	for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strstr(l, needle))
			n++;
	free(log);
	return n;
}

/* The log line of the last request whose path has needle (a copy). */
static char *log_last(const char *needle)
{
	char *log = server_log(), *save = NULL, *last = NULL;

	for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strstr(l, needle)) {
			free(last);
			last = xstrdup(l);
		}
	free(log);
	assert_non_null(last);
	return last;
}

struct outcome {
	bool done;
	json_t *json;
};

static void on_search(struct search_call *c, const struct search_response *r, void *ud)
{
	struct outcome *o = ud;

	o->json = search_response_json(r);
	o->done = true;
}

/* Config with the four network backends at the fixture server's modes. */
struct modes {
	const char *searxng, *wikipedia, *arxiv, *brave;
};

static struct search *new_search(const struct modes *m, struct search_config *extra)
{
	const char *names[4];
	size_t n = 0;
	struct search_config c = extra ? *extra : (struct search_config){0};
	char *sx = NULL, *wp = NULL, *ax = NULL, *br = NULL;
	struct search *s = NULL;

	if (m->searxng) {
		names[n++] = "searxng";
		sx = base(m->searxng, "");
	}
	if (m->wikipedia) {
		names[n++] = "wikipedia";
		wp = base(m->wikipedia, "");
	}
	if (m->arxiv) {
		names[n++] = "arxiv";
		ax = base(m->arxiv, "/api/query");
	}
	if (m->brave) {
		names[n++] = "brave";
		br = base(m->brave, "/res/v1/web/search");
		if (c.brave_key_file == NULL)
			c.brave_key_file = T.keyfile;
	}
	c.backends = names;
	c.n_backends = n;
	c.searxng_url = sx;
	c.wikipedia_url = wp;
	c.arxiv_url = ax;
	c.brave_url = br;
	if (c.min_interval_ms == 0)
		c.min_interval_ms = -1;
	if (c.rate_burst == 0)
		c.rate_burst = 100;
	if (c.rate_per_second == 0)
		c.rate_per_second = 100;
	assert_int_equal(search_new(&T.loop, T.http, &c, &s), 0);
	free(sx);
	free(wp);
	free(ax);
	free(br);
	return s;
}

static json_t *run_search(struct search *s, const char *q, const char *range, unsigned max)
{
	struct search_query sq = { .q = q, .time_range = range, .max_results = max };
	struct outcome o = {0};

	assert_int_equal(search_start(s, &sq, NULL, 0, on_search, &o, NULL), 0);
	assert_false(o.done);	/* never from inside search_start */
	assert_true(run_until(&o.done, 20000));
	return o.json;
}

static const char *result_url(json_t *j, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(j, "results"), i),
	    "url"));
}

static void assert_names(json_t *arr, const char *const *want, size_t n)
{
	assert_int_equal(json_array_size(arr), n);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);

		if (json_is_object(v))
			v = json_object_get(v, "backend");
		assert_string_equal(json_string_value(v), want[i]);
	}
}

static const char *failure(json_t *j, const char *backend)
{
	json_t *f = json_object_get(j, "failed"), *v;
	size_t i;

	json_array_foreach(f, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "backend")), backend))
			return json_string_value(json_object_get(v, "error"));
	return NULL;
}

/* ---- tests ---- */

static void test_fanout(void **state)
{
	static const char *const order[] = {
		"https://arxiv.org/abs/1706.03762v7",	/* searxng 2, arxiv 1, brave 1 */
		"https://en.wikipedia.org/wiki/Transformer_(deep_learning_architecture)", /* 1, 1, 3 */
		"https://jalammar.github.io/illustrated-transformer/",	/* searxng 3, brave 2 */
		"https://en.wikipedia.org/wiki/Attention_(machine_learning)",	/* wikipedia 2 */
		"https://arxiv.org/abs/2009.06732v3",	/* arxiv 2: ties go to the earlier backend */
		"https://en.wikipedia.org/wiki/Attention_Is_All_You_Need",
		"https://arxiv.org/abs/1409.0473v7",
		"https://peterbloem.nl/blog/transformers",
		"https://en.wikipedia.org/wiki/Vaswani%27s_caf%C3%A9_%C3%BCber-model",
	};
	static const char *const all[] = { "searxng", "wikipedia", "arxiv", "brave" };
	static const char *const first_by[] = { "searxng", "arxiv", "brave" };
	struct modes m = { "ok", "ok", "ok", "ok" };
	struct search *s = new_search(&m, NULL);
	json_t *j = run_search(s, "transformer attention", "year", 10), *first;
	char *l;

	assert_names(json_object_get(j, "answered"), all, 4);
	assert_int_equal(json_array_size(json_object_get(j, "failed")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "results")), 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(result_url(j, i), order[i]);
	first = json_array_get(json_object_get(j, "results"), 0);
	assert_names(json_object_get(first, "backends"), first_by, 3);
	assert_string_equal(json_string_value(json_object_get(first, "title")),
	    "Attention Is All You Need");
	assert_string_equal(json_string_value(json_object_get(first, "date")), "2017-06-12T00:00:00");
	assert_int_equal(json_integer_value(json_object_get(first, "rank")), 1);

	/* What each backend asked for. */
	l = log_last("/ok/search?");
	assert_non_null(strstr(l, "format=json"));
	assert_non_null(strstr(l, "q=transformer%20attention"));
	assert_non_null(strstr(l, "language=en"));
	assert_non_null(strstr(l, "time_range=year"));
	free(l);
	l = log_last("/ok/w/api.php?");
	assert_non_null(strstr(l, "action=query&list=search"));
	assert_non_null(strstr(l, "srsearch=transformer%20attention"));
	assert_non_null(strstr(l, "srlimit=10"));
	free(l);
	l = log_last("/ok/api/query?");
	assert_non_null(strstr(l, "search_query=all:transformer+AND+all:attention"));
	assert_non_null(strstr(l, "max_results=10"));
	free(l);
	l = log_last("/ok/res/v1/web/search?");
	assert_non_null(strstr(l, "q=transformer%20attention&count=10"));
	assert_non_null(strstr(l, "freshness=py"));
	assert_non_null(strstr(l, "\"" BRAVE_KEY "\""));	/* the token header */
	free(l);
	json_decref(j);

	/* max_results caps the merged list */
	j = run_search(s, "transformer attention", NULL, 3);
	assert_int_equal(json_array_size(json_object_get(j, "results")), 3);
	assert_string_equal(result_url(j, 0), order[0]);
	json_decref(j);
	search_free(s);
}

static void test_failing_backends(void **state)
{
	static const char *const ok[] = { "wikipedia", "brave" };
	struct modes m = { "e500", "ok", "garbage", "ok" };
	struct search *s = new_search(&m, NULL);
	json_t *j = run_search(s, "transformer attention", NULL, 10);
	const char *e;

	assert_names(json_object_get(j, "answered"), ok, 2);
	assert_int_equal(json_array_size(json_object_get(j, "failed")), 2);
	assert_string_equal(failure(j, "searxng"), "HTTP status 500");
	e = failure(j, "arxiv");
	assert_non_null(e);
	assert_true(str_startswith(e, "the response could not be read"));
	/* wikipedia 1 + brave 3, then brave 1, then wikipedia 2 (earlier list) */
	assert_int_equal(json_array_size(json_object_get(j, "results")), 6);
	assert_string_equal(result_url(j, 0),
	    "https://en.wikipedia.org/wiki/Transformer_(deep_learning_architecture)");
	assert_string_equal(result_url(j, 1), "https://arxiv.org/abs/1706.03762v7");
	assert_string_equal(result_url(j, 2),
	    "https://en.wikipedia.org/wiki/Attention_(machine_learning)");
	assert_string_equal(result_url(j, 3), "https://jalammar.github.io/illustrated-transformer/");
	json_decref(j);
	search_free(s);

	/* A wrong Brave key: the API's 401 is that backend's failure alone. */
	{
		struct search_config c = { .brave_key_file = T.badkeyfile };
		struct modes m2 = { NULL, "ok", NULL, "ok" };

		s = new_search(&m2, &c);
		j = run_search(s, "transformer attention", NULL, 10);
		assert_string_equal(failure(j, "brave"), "HTTP status 401");
		assert_int_equal(json_array_size(json_object_get(j, "answered")), 1);
		assert_int_equal(json_array_size(json_object_get(j, "results")), 4);
		json_decref(j);
		search_free(s);
	}
}

static void test_timeout(void **state)
{
	struct search_config c = { .timeout_ms = 1000 };
	struct modes m = { NULL, "slow", "ok", NULL };
	struct search *s = new_search(&m, &c);
	int64_t t0 = time_mono_ms();
	json_t *j = run_search(s, "transformer attention", NULL, 10);
	const char *e = failure(j, "wikipedia");

	assert_true(time_mono_ms() - t0 < 2500);
	assert_non_null(e);
	assert_true(str_startswith(e, "timed out"));
	assert_int_equal(json_array_size(json_object_get(j, "results")), 3);
	json_decref(j);
	search_free(s);
}

static void test_breaker(void **state)
{
	struct search_config c = { .breaker_threshold = 2, .breaker_cooldown_ms = 60000 };
	struct modes m = { NULL, "e500", "ok", NULL };
	struct search *s = new_search(&m, &c);
	int before = log_count("/e500/w/api.php"), i;
	json_t *j;

	for (i = 0; i < 2; i++) {
		j = run_search(s, "breaker", NULL, 5);
		assert_string_equal(failure(j, "wikipedia"), "HTTP status 500");
		json_decref(j);
	}
	/* Open: no request, the failure says why, arxiv still answers. */
	j = run_search(s, "breaker", NULL, 5);
	assert_true(str_startswith(failure(j, "wikipedia"), "the backend is left alone"));
	assert_int_equal(json_array_size(json_object_get(j, "answered")), 1);
	json_decref(j);
	assert_int_equal(log_count("/e500/w/api.php") - before, 2);
	search_free(s);

	/* A 429 with Retry-After: left alone that long, below the threshold. */
	m = (struct modes){ NULL, "busy", NULL, NULL };
	c.breaker_threshold = 5;
	s = new_search(&m, &c);
	before = log_count("/busy/");
	j = run_search(s, "busy", NULL, 5);
	assert_string_equal(failure(j, "wikipedia"), "HTTP status 429");
	json_decref(j);
	j = run_search(s, "busy", NULL, 5);
	assert_true(str_startswith(failure(j, "wikipedia"), "the backend is left alone"));
	json_decref(j);
	assert_int_equal(log_count("/busy/") - before, 1);
	search_free(s);
}

static void test_rate_limit(void **state)
{
	/* One token, refilled in a second: the second query waits for it. */
	struct search_config c = { .rate_burst = 1, .rate_per_second = 1 };
	struct modes m = { NULL, "ok", NULL, NULL };
	struct search *s = new_search(&m, &c);
	struct search_query q = { .q = "rate" };
	struct outcome o[2] = {0};
	int64_t t0 = time_mono_ms(), t1;

	for (int i = 0; i < 2; i++)
		assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o[i], NULL), 0);
	assert_true(run_until(&o[0].done, 5000));
	t1 = time_mono_ms() - t0;
	assert_true(run_until(&o[1].done, 5000));
	assert_true(t1 < 800);
	assert_true(time_mono_ms() - t0 >= 990);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(json_array_size(json_object_get(o[i].json, "answered")), 1);
		json_decref(o[i].json);
	}
	search_free(s);

	/* A wait longer than the query's time: that backend fails at once. */
	c.timeout_ms = 500;
	s = new_search(&m, &c);
	memset(o, 0, sizeof(o));
	for (int i = 0; i < 2; i++)
		assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o[i], NULL), 0);
	assert_true(run_until(&o[1].done, 5000));
	assert_true(str_startswith(failure(o[1].json, "wikipedia"), "rate limited"));
	assert_true(run_until(&o[0].done, 5000));
	assert_int_equal(json_array_size(json_object_get(o[0].json, "answered")), 1);
	json_decref(o[0].json);
	json_decref(o[1].json);
	search_free(s);
}

static void test_cancel_and_free(void **state)
{
	struct modes m = { "slow", "ok", "ok", NULL };
	struct search *s = new_search(&m, NULL);
	struct search_query q = { .q = "cancel" };
	struct outcome o[2] = {0};
	struct search_call *c = NULL;
	bool never = false;

	assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o[0], &c), 0);
	search_cancel(c);
	/* a second query still in flight when the search object goes away */
	assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o[1], NULL), 0);
	run_until(&never, 300);
	search_free(s);
	run_until(&never, 300);
	assert_false(o[0].done);
	assert_false(o[1].done);

	/* bad queries */
	s = new_search(&m, NULL);
	{
		struct search_query bad[] = {
			{ .q = "" },
			{ .q = "x", .lang = "e" },
			{ .q = "x", .lang = "en.wikipedia.org/" },
			{ .q = "x", .time_range = "decade" },
			{ .q = "\xff" },
		};
		const char *only[] = { "brave" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(search_start(s, &bad[i], NULL, 0, on_search, &o[0], NULL),
			    -EINVAL);
		assert_int_equal(search_start(s, &q, only, 1, on_search, &o[0], NULL), -EINVAL);
	}
	search_free(s);

	/* config errors */
	{
		const char *unknown[] = { "google" }, *twice[] = { "arxiv", "arxiv" },
		    *sx[] = { "searxng" }, *br[] = { "brave" };
		struct search_config cfg = { .backends = unknown, .n_backends = 1 };

		assert_int_equal(search_new(&T.loop, T.http, &cfg, &s), -EINVAL);
		cfg.backends = twice;
		cfg.n_backends = 2;
		assert_int_equal(search_new(&T.loop, T.http, &cfg, &s), -EINVAL);
		cfg.backends = sx;
		cfg.n_backends = 1;
		assert_int_equal(search_new(&T.loop, T.http, &cfg, &s), -EINVAL);
		cfg.backends = br;
		assert_int_equal(search_new(&T.loop, T.http, &cfg, &s), -EINVAL);
		cfg.brave_key_file = "/nonexistent/key";
		assert_int_equal(search_new(&T.loop, T.http, &cfg, &s), -ENOENT);
	}
}

static void test_local(void **state)
{
	static const char *const names[] = { "local", "wikipedia" };
	static const char text[] = "Attention Is All You Need introduced the transformer, "
	    "a sequence model built on attention alone.";
	static const char notes[] = "My notes on transformer attention heads and what they learn.";
	struct search_config c = { .backends = names, .n_backends = 2 };
	struct search_query q = { .q = "transformer attention", .max_results = 10 };
	struct outcome o = {0};
	struct store *st = NULL;
	struct search *s = NULL;
	char path[128], *wp = base("ok", "");
	json_t *res, *v, *names_of_first = NULL;
	size_t i;
	bool saw_file = false;

	snprintf(path, sizeof(path), "%s/local.db", T.dir);
	hash_init();
	assert_int_equal(store_open(path, &st), 0);
	/* a cached web page that Wikipedia also returns, and a user's file */
	assert_int_equal(index_add(st, "https://en.wikipedia.org/wiki/Attention_Is_All_You_Need",
	    "web", "Attention Is All You Need", text, sizeof(text) - 1, 1, NULL, NULL), 0);
	assert_int_equal(index_add(st, "file:///home/u/notes/transformers.md", "local",
	    "", notes, sizeof(notes) - 1, 1, NULL, NULL), 0);
	c.wikipedia_url = wp;
	c.store = st;
	c.min_interval_ms = -1;
	assert_int_equal(search_new(&T.loop, T.http, &c, &s), 0);
	assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o, NULL), 0);
	assert_true(run_until(&o.done, 20000));
	assert_names(json_object_get(o.json, "answered"), names, 2);
	res = json_object_get(o.json, "results");
	json_array_foreach(res, i, v) {
		const char *u = json_string_value(json_object_get(v, "url"));

		if (!strcmp(u, "https://en.wikipedia.org/wiki/Attention_Is_All_You_Need"))
			names_of_first = json_object_get(v, "backends");
		if (!strcmp(u, "file:///home/u/notes/transformers.md")) {
			saw_file = true;
			/* no title: the key stands in */
			assert_string_equal(json_string_value(json_object_get(v, "title")),
			    "file:///home/u/notes/transformers.md");
		}
	}
	assert_true(saw_file);
	assert_non_null(names_of_first);
	assert_names(names_of_first, names, 2);	/* merged: both had it */
	/* 4 from wikipedia, 1 more from the local index */
	assert_int_equal(json_array_size(res), 5);
	json_decref(o.json);
	search_free(s);

	/* Without a store the local backend fails, the others answer. */
	c.store = NULL;
	assert_int_equal(search_new(&T.loop, T.http, &c, &s), 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(search_start(s, &q, NULL, 0, on_search, &o, NULL), 0);
	assert_true(run_until(&o.done, 20000));
	assert_string_equal(failure(o.json, "local"), "there is no local index");
	assert_int_equal(json_array_size(json_object_get(o.json, "answered")), 1);
	json_decref(o.json);
	search_free(s);
	store_close(st);
	free(wp);
}

struct effect_out {
	bool done, replayed;
	int r;
	json_t *result;
};

static void on_effect(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct effect_out *e = ud;

	e->done = true;
	e->r = r;
	e->replayed = replayed;
	e->result = result ? json_deep_copy(result) : NULL;
}

static void test_effect(void **state)
{
	struct modes m = { "e500", "ok", "ok", NULL };
	struct search *s = new_search(&m, NULL);
	struct store *st = NULL;
	struct effects *e = NULL;
	struct effect_out out[4] = {0};
	struct effect_call *call = NULL;
	json_t *options = json_object(), *req;
	struct store_job job = { .owner = 0, .kind = "research", .question = "q",
	    .options = options, .state = JOB_QUEUED, .created = 1 };
	int64_t id = 0;
	char path[128];
	int before;

	snprintf(path, sizeof(path), "%s/db", T.dir);
	hash_init();
	assert_int_equal(store_open(path, &st), 0);
	assert_int_equal(store_job_insert(st, &job, &id), 0);
	assert_int_equal(effects_new(&T.loop, st, &e), 0);
	assert_int_equal(search_register(e, s), 0);

	req = json_pack("{s:s, s:i, s:s, s:[s,s,s]}", "q", "transformer attention",
	    "max_results", 5, "lang", "en", "backends", "wikipedia", "arxiv", "searxng");
	assert_int_equal(effect_run(e, id, "web.search", req, on_effect, &out[0], &call), 0);
	assert_true(run_until(&out[0].done, 20000));
	assert_int_equal(out[0].r, 0);
	assert_false(out[0].replayed);
	assert_int_equal(json_array_size(json_object_get(out[0].result, "results")), 5);
	assert_int_equal(json_array_size(json_object_get(out[0].result, "answered")), 2);
	assert_string_equal(failure(out[0].result, "searxng"), "HTTP status 500");

	/* Again: replayed from the store, no request. */
	before = log_count("/ok/w/api.php");
	assert_int_equal(effect_run(e, id, "web.search", req, on_effect, &out[1], &call), 0);
	assert_true(out[1].done);
	assert_true(out[1].replayed);
	assert_true(json_equal(out[1].result, out[0].result));
	assert_int_equal(log_count("/ok/w/api.php"), before);
	json_decref(req);

	/* Nothing answered: a transient failure, not stored. */
	req = json_pack("{s:s, s:[s]}", "q", "only searxng", "backends", "searxng");
	assert_int_equal(effect_run(e, id, "web.search", req, on_effect, &out[2], &call), 0);
	assert_true(run_until(&out[2].done, 20000));
	assert_true(out[2].r < 0);
	json_decref(req);

	/* A bad request is refused before anything runs. */
	req = json_pack("{s:s, s:[s]}", "q", "x", "backends", "google");
	assert_int_equal(effect_run(e, id, "web.search", req, on_effect, &out[3], &call), -EINVAL);
	json_decref(req);

	for (int i = 0; i < 4; i++)
		json_decref(out[i].result);
	json_decref(options);
	effects_free(e);
	store_close(st);
	search_free(s);
}

static int setup(void **state)
{
	int fd;

	snprintf(T.keyfile, sizeof(T.keyfile), "/tmp/search-key.XXXXXX");
	fd = mkstemp(T.keyfile);
	if (fd < 0)
		return -1;
	dprintf(fd, "%s\n", BRAVE_KEY);
	close(fd);
	snprintf(T.badkeyfile, sizeof(T.badkeyfile), "/tmp/search-key.XXXXXX");
	fd = mkstemp(T.badkeyfile);
	if (fd < 0)
		return -1;
	dprintf(fd, "wrong-key\n");
	close(fd);
	snprintf(T.dir, sizeof(T.dir), "/tmp/search-live.XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	if (server_start() < 0)
		return -1;
	uv_loop_init(&T.loop);
	return http_new(&T.loop, NULL, &T.http) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	T.http = http_free(T.http);
	uv_run(&T.loop, UV_RUN_DEFAULT);
	uv_loop_close(&T.loop);
	if (T.pid > 0) {
		kill(T.pid, SIGTERM);
		waitpid(T.pid, NULL, 0);
	}
	unlink(T.keyfile);
	unlink(T.badkeyfile);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout),
		cmocka_unit_test(test_failing_backends),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_cancel_and_free),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_effect),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: %s PYTHON FIXTURE-SERVER DATADIR\n", argv[0]);
		return 2;
	}
	T.python = argv[1];
	T.server = argv[2];
	T.data = argv[3];
	return cmocka_run_group_tests(tests, setup, teardown);
}
