/* The model client and the pool against a real engine: the node-llama-cpp
 * test server (tests/llm/model-server) with 2 slots serving a GGUF model:
 * discovery, streaming, schema-valid output checked by our validator, usage,
 * the length stop, parallel slots with a third request waiting, context
 * checks and cancellation freeing the slot.
 *
 *   test-llm-model NODE SERVER.MJS MODEL.gguf TOTAL-CTX
 *
 * Exits 77 (skipped) when the model file or node_modules is absent, unless
 * the environment variable CI is "true": CI must not skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "client.h"
#include "http.h"
#include "llm-test.h"
#include "pool.h"
#include "str.h"
#include "xmalloc.h"

#define KEY "model-test-key"

static const char *node, *server_mjs, *model, *ctx_arg;
static struct test_server srv;
static uv_loop_t loop;
static struct http *http;
static char keyfile[64];
static int64_t n_ctx;		/* per slot, as discovered */
static int64_t t_start;

static const char schema_text[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"answer\":{\"enum\":[\"yes\",\"no\"]},"
	"\"sure\":{\"type\":\"boolean\"}},"
	"\"required\":[\"answer\",\"sure\"],\"additionalProperties\":false}";

static int setup(void **state)
{
	char *argv[] = { (char *)node, (char *)server_mjs, "--model", (char *)model, "--port", "0",
		"--parallel", "2", "--ctx", (char *)ctx_arg, "--threads", "1",
		"--token-delay-ms", "20", "--api-key-file", keyfile, NULL };
	int fd;

	snprintf(keyfile, sizeof(keyfile), "/tmp/llm-model-key.XXXXXX");
	fd = mkstemp(keyfile);
	if (fd < 0)
		return -1;
	dprintf(fd, "%s\n", KEY);
	close(fd);
	t_start = time_mono_ms();
	if (test_server_start(argv, 60000, &srv) < 0)
		return -1;
	fprintf(stderr, "test-llm-model: server ready in %lld ms\n",
	    (long long)(time_mono_ms() - t_start));
	return 0;
}

static int teardown(void **state)
{
	int64_t t = time_mono_ms();

	test_server_stop(&srv);
	unlink(keyfile);
	fprintf(stderr, "test-llm-model: tests took %lld ms, server stopped in %lld ms\n",
	    (long long)(t - t_start), (long long)(time_mono_ms() - t));
	return 0;
}

static int64_t t_test;

static int each_setup(void **state)
{
	t_test = time_mono_ms();
	uv_loop_init(&loop);
	return http_new(&loop, NULL, &http) < 0 ? -1 : 0;
}

static int each_teardown(void **state)
{
	fprintf(stderr, "test-llm-model: test took %lld ms\n", (long long)(time_mono_ms() - t_test));
	http = http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop) == 0 ? 0 : -1;
}

static struct llm_pool *make_pool(bool with_key)
{
	struct llm_pool_options po = { .timeout_ms = 60000, .max_retries = -1 };
	struct llm_pool *p = NULL;
	char *url = xasprintf("http://127.0.0.1:%d/v1", srv.port);

	po.urls = url;
	po.api_key_file = with_key ? keyfile : NULL;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	for (int i = 0; i < 250 && !llm_pool_ready(p); i++)
		test_run_for(&loop, 20);
	assert_true(llm_pool_ready(p));
	free(url);
	return p;
}

struct outcome {
	bool done;
	int n, want;
	int bad;		/* ended other than by stop or length */
	struct llm_result res;
	int64_t t0, ms;
};

static void pool_done(struct llm_req *req, struct llm_result *res, const char *endpoint, void *ud)
{
	struct outcome *o = ud;

	if (res->error < 0 && res->error != -ENOSPC) {
		o->bad++;
		fprintf(stderr, "test-llm-model: request failed after %lld ms: %s\n",
		    (long long)res->ms, res->error_msg ? res->error_msg : "?");
	}
	llm_result_clear(&o->res);
	o->res = *res;
	llm_result_init(res);
	o->ms = time_mono_ms() - o->t0;
	if (++o->n >= (o->want ? o->want : 1))
		o->done = true;
}

static struct llm_req *submit_r(struct llm_pool *p, int64_t job, const char *text,
    const json_t *schema, int64_t max_tokens, int repairs, struct outcome *o)
{
	struct llm_request rq = { .job_id = job, .max_tokens = max_tokens, .temperature = 0,
		.max_repairs = repairs, .slot_hint = -1, .schema = schema };
	json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", text);
	struct llm_req *r = NULL;

	rq.messages = msgs;
	o->t0 = time_mono_ms();
	assert_int_equal(llm_pool_submit(p, &rq, pool_done, o, &r), 0);
	json_decref(msgs);
	return r;
}

static struct llm_req *submit(struct llm_pool *p, int64_t job, const char *text, const json_t *schema,
    int64_t max_tokens, struct outcome *o)
{
	return submit_r(p, job, text, schema, max_tokens, 1, o);
}

static int slots_processing(void)
{
	int64_t t0 = time_mono_ms();
	char *body = test_http_auth(srv.port, "GET", "/slots", NULL, KEY);

	if (time_mono_ms() - t0 > 1000)
		fprintf(stderr, "test-llm-model: GET /slots took %lld ms\n",
		    (long long)(time_mono_ms() - t0));
	json_t *v, *s;
	size_t i;
	int n = 0;

	assert_non_null(body);
	v = json_loads(body, 0, NULL);
	free(body);
	assert_true(json_is_array(v));
	json_array_foreach(v, i, s)
		n += json_is_true(json_object_get(s, "is_processing"));
	json_decref(v);
	return n;
}

static void test_discovery(void **state)
{
	struct llm_pool *p = make_pool(true);
	struct llm_endpoint_info info;
	int64_t want_ctx;

	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_true(info.discovered);
	assert_string_equal(info.kind, "llama-server");
	assert_int_equal(info.slots, 2);
	assert_int_equal(str_to_int64(ctx_arg, 1, INT64_MAX, &want_ctx), 0);
	assert_int_equal(info.n_ctx, want_ctx / 2);
	assert_true(info.has_tokenize);
	assert_non_null(info.model);
	assert_true(str_endswith(info.model, ".gguf"));
	n_ctx = info.n_ctx;
	llm_pool_free(p);

	/* Without the key the server says who is wrong; not a transient error. */
	p = make_pool(false);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_false(info.discovered);
	{
		struct outcome o = {0};

		submit(p, 1, "Answer.", NULL, 4, &o);
		assert_true(test_run_until(&loop, &o.done, 30000));
		assert_int_equal(o.res.error, -EACCES);
		assert_false(o.res.transient);
		llm_result_clear(&o.res);
	}
	llm_pool_free(p);
}

static void test_schema_stream(void **state)
{
	struct llm_pool *p = make_pool(true);
	json_t *schema = json_loads(schema_text, 0, NULL);
	struct outcome o = {0};
	const char *a;

	submit(p, 1, "Answer.", schema, 60, &o);
	assert_true(test_run_until(&loop, &o.done, 60000));
	if (o.res.error < 0)
		fprintf(stderr, "error: %s\n", o.res.error_msg);
	assert_int_equal(o.res.error, 0);
	assert_true(o.res.streamed);
	assert_string_equal(o.res.finish_reason, "stop");
	/* Our validator passed: what the grammar made is what the schema says. */
	assert_non_null(o.res.json);
	a = json_string_value(json_object_get(o.res.json, "answer"));
	assert_non_null(a);
	assert_true(strcmp(a, "yes") == 0 || strcmp(a, "no") == 0);
	assert_true(json_is_boolean(json_object_get(o.res.json, "sure")));
	assert_true(o.res.usage.prompt_tokens > 0);
	assert_true(o.res.usage.completion_tokens > 0);
	assert_true(o.res.usage.cached_tokens >= 0);
	assert_true(o.res.usage.timings_predicted_n > 0);
	assert_non_null(o.res.model);
	llm_result_clear(&o.res);
	json_decref(schema);
	llm_pool_free(p);
}

static void test_length_stop(void **state)
{
	struct llm_pool *p = make_pool(true);
	struct outcome o = {0};

	/* A free-text reply cut at max_tokens is never a success. */
	submit_r(p, 1, "Once upon a time", NULL, 8, 0, &o);
	assert_true(test_run_until(&loop, &o.done, 60000));
	assert_int_equal(o.res.error, -ENOSPC);
	assert_string_equal(o.res.finish_reason, "length");
	assert_int_equal(o.res.usage.completion_tokens, 8);
	assert_int_equal(o.res.attempts, 1);
	assert_true(strlen(o.res.answer) > 0);
	llm_result_clear(&o.res);

	/* With a repair round that still does not fit the small context, the
	 * failure reported is the length stop, not the repair's overflow. */
	memset(&o, 0, sizeof(o));
	submit_r(p, 1, "Once upon a time", NULL, 8, 1, &o);
	assert_true(test_run_until(&loop, &o.done, 60000));
	assert_int_equal(o.res.error, -ENOSPC);
	assert_int_equal(o.res.attempts, 2);
	llm_result_clear(&o.res);
	llm_pool_free(p);
}

struct probe {
	int busy_server, running, queued;
	struct llm_pool *p;
	bool fired;
};

static void probe_cb(uv_timer_t *t)
{
	struct probe *pr = t->data;
	struct llm_pool_stats st;

	pr->busy_server = slots_processing();
	llm_pool_get_stats(pr->p, &st);
	pr->running = (int)st.running;
	pr->queued = (int)st.queued;
	pr->fired = true;
}

static void test_parallel(void **state)
{
	struct llm_pool *p = make_pool(true);
	struct llm_endpoint_info info;
	struct outcome o = { .want = 3 };
	struct probe pr = { .p = p };
	uv_timer_t t;

	/* Three jobs, 2 slots, 30 tokens at >= 20 ms each. */
	for (int j = 1; j <= 3; j++)
		submit(p, j, "Once upon a time", NULL, 30, &o);
	uv_timer_init(&loop, &t);
	t.data = &pr;
	uv_timer_start(&t, probe_cb, 300, 0);
	assert_true(test_run_until(&loop, &o.done, 60000));
	uv_close((uv_handle_t *)&t, NULL);
	test_run_for(&loop, 1);
	assert_true(pr.fired);
	assert_int_equal(o.bad, 0);
	assert_int_equal(pr.busy_server, 2);	/* both slots generating at once */
	assert_int_equal(pr.running, 2);
	assert_int_equal(pr.queued, 1);		/* the third waits */
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.max_busy, 2);
	assert_int_equal(info.requests, 3);
	/* Two rounds of ~30 tokens: the third began after one of the first two. */
	assert_true(o.ms >= 2 * 30 * 20);
	llm_result_clear(&o.res);
	llm_pool_free(p);
}

static void never_called(struct llm_req *req, struct llm_result *res, const char *endpoint, void *ud)
{
	fail_msg("done after cancel");
}

static void test_cancel(void **state)
{
	struct llm_pool *p = make_pool(true);
	struct llm_request rq = { .job_id = 1, .max_tokens = 60, .temperature = 0, .max_repairs = 0,
		.slot_hint = -1 };
	json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "Once upon a time");
	struct llm_req *r = NULL;
	int busy = -1;

	rq.messages = msgs;
	assert_int_equal(llm_pool_submit(p, &rq, never_called, NULL, &r), 0);
	for (int i = 0; i < 50 && busy != 1; i++) {
		test_run_for(&loop, 50);
		busy = slots_processing();
	}
	assert_int_equal(busy, 1);
	llm_pool_cancel(r);
	/* The server notices the closed connection before its next token. */
	for (int i = 0; i < 50 && busy != 0; i++) {
		test_run_for(&loop, 20);
		busy = slots_processing();
	}
	assert_int_equal(busy, 0);
	json_decref(msgs);
	llm_pool_free(p);
}

static void test_context(void **state)
{
	struct llm_pool *p = make_pool(true);
	struct outcome o = {0};
	size_t big = (size_t)n_ctx * 3 + 30, medium = (size_t)(n_ctx - 40) * 3;
	char *text = xmalloc(big + 1);

	assert_true(n_ctx > 64);
	for (size_t i = 0; i < big; i++)
		text[i] = i % 2 ? ' ' : 'a';
	/* Over the estimate, then counted by /tokenize: refused here. */
	text[big] = '\0';
	submit(p, 1, text, NULL, 8, &o);
	assert_true(test_run_until(&loop, &o.done, 60000));
	assert_int_equal(o.res.error, -E2BIG);
	assert_false(o.res.transient);
	assert_non_null(strstr(o.res.error_msg, "does not fit"));
	llm_result_clear(&o.res);

	/* Within the estimate but not the real count: the server refuses it
	 * (400), the same error, never a truncated prompt. */
	memset(&o, 0, sizeof(o));
	text[medium] = '\0';
	submit(p, 1, text, NULL, 8, &o);
	assert_true(test_run_until(&loop, &o.done, 60000));
	assert_int_equal(o.res.error, -E2BIG);
	assert_false(o.res.transient);
	llm_result_clear(&o.res);
	free(text);
	llm_pool_free(p);
}

static bool skip_or_fail(const char *why)
{
	const char *ci = getenv("CI");

	fprintf(stderr, "test-llm-model: %s\n", why);
	if (ci && strcmp(ci, "true") == 0) {
		fprintf(stderr, "test-llm-model: CI=true: not skipping\n");
		return false;
	}
	fprintf(stderr, "test-llm-model: skipped\n");
	return true;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discovery, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_schema_stream, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_length_stop, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_parallel, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_cancel, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_context, each_setup, each_teardown),
	};
	struct stat sb;
	char *nm;

	if (argc < 5) {
		fprintf(stderr, "usage: %s NODE SERVER.MJS MODEL.gguf TOTAL-CTX\n", argv[0]);
		return 2;
	}
	node = argv[1];
	server_mjs = argv[2];
	model = argv[3];
	ctx_arg = argv[4];
	if (stat(model, &sb) < 0) {
		char *why = xasprintf("%s absent (../shared not here)", model);
		bool skip = skip_or_fail(why);

		free(why);
		return skip ? 77 : 1;
	}
	nm = xasprintf("%.*s/node_modules/node-llama-cpp", (int)(strrchr(server_mjs, '/') ?
	    strrchr(server_mjs, '/') - server_mjs : 1), strrchr(server_mjs, '/') ? server_mjs : ".");
	if (stat(nm, &sb) < 0) {
		free(nm);
		return skip_or_fail("node_modules of the model server is not installed") ? 77 : 1;
	}
	free(nm);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
