/* The model client and the pool against the scripted fixture server
 * (fixture-server.py) on 127.0.0.1: every failure path, on a real uv loop
 * over tools/http.
 *
 *   test-llm-client PYTHON3 FIXTURE-SERVER.PY */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client.h"
#include "effect.h"
#include "http.h"
#include "llm-effect.h"
#include "llm-test.h"
#include "pool.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

static const char *python, *fixture;
static struct test_server srv;
static uv_loop_t loop;
static struct http *http;
static char keyfile[64];

static const char schema_text[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"score\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10},"
	"\"label\":{\"type\":\"string\",\"maxLength\":20}},"
	"\"required\":[\"score\",\"label\"],\"additionalProperties\":false}";

/* ---- plumbing ---- */

static int start_fixture(int port, struct test_server *s)
{
	char portarg[16];
	char *argv[] = { (char *)python, (char *)fixture, "--port", portarg, NULL };

	snprintf(portarg, sizeof(portarg), "%d", port);
	return test_server_start(argv, 10000, s);
}

static int setup(void **state)
{
	int fd;

	if (start_fixture(0, &srv) < 0)
		return -1;
	snprintf(keyfile, sizeof(keyfile), "/tmp/llm-test-key.XXXXXX");
	fd = mkstemp(keyfile);
	if (fd < 0)
		return -1;
	dprintf(fd, "testkey-123\n");
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	test_server_stop(&srv);
	unlink(keyfile);
	return 0;
}

static int each_setup(void **state)
{
	uv_loop_init(&loop);
	return http_new(&loop, NULL, &http) < 0 ? -1 : 0;
}

static int each_teardown(void **state)
{
	http = http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop) == 0 ? 0 : -1;
}

static char *base(const char *scen)
{
	return xasprintf("http://127.0.0.1:%d/%s/v1", srv.port, scen);
}

static json_t *user_msgs(const char *text)
{
	return json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content",
	    "You answer in JSON.", "role", "user", "content", text);
}

static json_t *fixture_get(const char *scen, const char *what)
{
	char path[128];
	char *body;
	json_t *v;

	snprintf(path, sizeof(path), "/%s/%s", scen, what);
	body = test_http(srv.port, "GET", path, NULL);
	assert_non_null(body);
	v = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(v);
	return v;
}

static int64_t fixture_count(const char *scen)
{
	json_t *v = fixture_get(scen, "count");
	int64_t n = json_integer_value(json_object_get(v, "count"));

	json_decref(v);
	return n;
}

/* ---- one client call ---- */

struct outcome {
	bool done;
	struct llm_result res;
	char *endpoint;
	int64_t t0, ms;
};

static void call_done(struct llm_call *call, struct llm_result *res, void *ud)
{
	struct outcome *o = ud;

	o->res = *res;
	llm_result_init(res);	/* stolen */
	o->done = true;
	o->ms = time_mono_ms() - o->t0;
}

static void outcome_clear(struct outcome *o)
{
	llm_result_clear(&o->res);
	free(o->endpoint);
}

struct call_args {
	const char *scen;
	bool schema;
	int repairs;
	long timeout_ms;
	bool no_stream;
	const char *keyfile;
	bool ollama;		/* the native API, model "llama3:8b" */
	int64_t num_ctx;
};

static void run_call(const struct call_args *a, struct outcome *o)
{
	struct llm_client_options copt = { .api_key_file = a->keyfile,
		.model = a->ollama ? "llama3:8b" : NULL };
	struct llm_call_options opt = {0};
	struct llm_client *c = NULL;
	json_t *msgs = user_msgs("Rate this.");
	json_t *schema = json_loads(schema_text, 0, NULL);
	char *url = base(a->scen);

	memset(o, 0, sizeof(*o));
	assert_int_equal(llm_client_new(http, &copt, &c), 0);
	opt.base_url = url;
	opt.messages = msgs;
	opt.schema = a->schema ? schema : NULL;
	opt.max_tokens = 64;
	opt.temperature = 0;
	opt.max_repairs = a->repairs;
	opt.timeout_ms = a->timeout_ms ? a->timeout_ms : 10000;
	opt.no_stream = a->no_stream;
	opt.id_slot = -1;
	opt.ollama = a->ollama;
	opt.num_ctx = a->num_ctx;
	o->t0 = time_mono_ms();
	assert_int_equal(llm_call_start(c, &opt, call_done, o, NULL), 0);
	assert_true(test_run_until(&loop, &o->done, 30000));
	llm_client_free(c);
	json_decref(msgs);
	json_decref(schema);
	free(url);
}

static void test_stream_ok(void **state)
{
	struct call_args a = { .scen = "ok", .schema = true, .keyfile = keyfile };
	struct outcome o;
	json_t *last, *body, *hdrs;

	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_true(o.res.streamed);
	assert_string_equal(o.res.answer, "{\"score\": 7, \"label\": \"ok\"}");
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_string_equal(o.res.reasoning, "hmm");
	assert_string_equal(o.res.finish_reason, "stop");
	assert_string_equal(o.res.model, "fixture-model");
	assert_int_equal(o.res.usage.prompt_tokens, 11);
	assert_int_equal(o.res.usage.completion_tokens, 5);
	assert_int_equal(o.res.usage.cached_tokens, 3);
	assert_int_equal(o.res.usage.reasoning_tokens, 2);
	assert_int_equal(o.res.attempts, 1);
	outcome_clear(&o);

	/* What went over the wire. */
	last = fixture_get("ok", "last");
	body = json_object_get(last, "body");
	hdrs = json_object_get(last, "headers");
	assert_true(json_is_true(json_object_get(body, "stream")));
	assert_true(json_is_true(json_object_get(json_object_get(body, "stream_options"),
	    "include_usage")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(body,
	    "response_format"), "type")), "json_schema");
	assert_string_equal(json_string_value(json_object_get(hdrs, "authorization")),
	    "Bearer testkey-123");
	assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 64);
	json_decref(last);
}

static void test_plain_fallback(void **state)
{
	struct call_args a = { .scen = "plain", .schema = true };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_false(o.res.streamed);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_int_equal(o.res.usage.prompt_tokens, 9);
	outcome_clear(&o);

	/* Asking for no stream at all. */
	a.scen = "ok";
	a.no_stream = true;
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_false(o.res.streamed);
	assert_string_equal(o.res.finish_reason, "stop");
	outcome_clear(&o);
}

static void test_bytewise(void **state)
{
	struct call_args a = { .scen = "bytewise", .schema = true };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_string_equal(o.res.reasoning, "split reasoning");
	assert_int_equal(o.res.usage.completion_tokens, 5);
	outcome_clear(&o);
}

static void test_stream_cut(void **state)
{
	struct call_args a = { .scen = "cut", .schema = true };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, -EPIPE);
	assert_true(o.res.transient);
	assert_null(o.res.json);
	assert_non_null(strstr(o.res.error_msg, "without a finish_reason"));
	outcome_clear(&o);
}

static void test_bad_chunk(void **state)
{
	struct call_args a = { .scen = "badchunk", .schema = true };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, -EBADMSG);
	assert_true(o.res.transient);
	assert_null(o.res.json);
	outcome_clear(&o);
}

static void test_invalid_json(void **state)
{
	struct call_args a = { .scen = "badjson", .schema = true, .repairs = 2 };
	struct outcome o;
	json_t *last, *msgs;
	int64_t before = fixture_count("badjson");

	run_call(&a, &o);
	assert_int_equal(o.res.error, -EBADMSG);
	assert_false(o.res.transient);
	assert_int_equal(o.res.attempts, 3);
	assert_int_equal(fixture_count("badjson") - before, 3);
	assert_non_null(strstr(o.res.error_msg, "not valid JSON"));
	assert_null(o.res.json);
	/* Usage of every attempt is counted. */
	assert_int_equal(o.res.usage.prompt_tokens, 33);
	outcome_clear(&o);

	/* The repair round carries the reply and what was wrong with it. */
	last = fixture_get("badjson", "last");
	msgs = json_object_get(json_object_get(last, "body"), "messages");
	assert_int_equal(json_array_size(msgs), 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "role")),
	    "assistant");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(msgs, 3),
	    "content")), "not valid JSON"));
	json_decref(last);

	a.scen = "badjson_then_ok";
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(o.res.attempts, 2);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	outcome_clear(&o);
}

static void test_number_range(void **state)
{
	struct call_args a = { .scen = "range", .schema = true, .repairs = 1 };
	struct outcome o;

	/* Schema-valid for the server, out of range for us. */
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EBADMSG);
	assert_false(o.res.transient);
	assert_int_equal(o.res.attempts, 2);
	assert_non_null(strstr(o.res.error_msg, "/score"));
	assert_null(o.res.json);
	outcome_clear(&o);

	a.scen = "range_then_ok";
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(o.res.attempts, 2);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	outcome_clear(&o);
}

static void test_length(void **state)
{
	struct call_args a = { .scen = "length", .schema = true, .repairs = 0 };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, -ENOSPC);
	assert_false(o.res.transient);
	assert_string_equal(o.res.finish_reason, "length");
	assert_null(o.res.json);
	outcome_clear(&o);

	/* Never a success, even as free text and after repairs. */
	a.schema = false;
	a.repairs = 1;
	run_call(&a, &o);
	assert_int_equal(o.res.error, -ENOSPC);
	assert_int_equal(o.res.attempts, 2);
	outcome_clear(&o);
}

static void test_think(void **state)
{
	struct call_args a = { .scen = "think_closed", .schema = true };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_null(strstr(o.res.answer, "think"));
	assert_non_null(strstr(o.res.reasoning, "I should answer 7."));
	outcome_clear(&o);

	a.scen = "think_split";
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_string_equal(o.res.reasoning, "ponder");
	assert_null(strstr(o.res.answer, "th"));
	outcome_clear(&o);

	/* Unclosed: everything after <think> is reasoning, the answer is empty. */
	a.scen = "think_unclosed";
	a.schema = false;
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_string_equal(o.res.answer, "");
	assert_non_null(strstr(o.res.reasoning, "never stopping"));
	outcome_clear(&o);

	/* With a schema, an unclosed block is an invalid (empty) reply. */
	a.schema = true;
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EBADMSG);
	assert_null(strstr(o.res.error_msg, "never stopping"));
	outcome_clear(&o);
}

static void test_timeouts(void **state)
{
	struct call_args a = { .scen = "slow", .timeout_ms = 2500 };
	struct outcome o;

	/* One token a second never finishes within 2.5 s. */
	run_call(&a, &o);
	assert_int_equal(o.res.error, -ETIMEDOUT);
	assert_true(o.res.transient);
	assert_in_range(o.ms, 2400, 5000);
	outcome_clear(&o);

	/* A server that accepts and never answers. */
	a.scen = "hang";
	a.timeout_ms = 1500;
	run_call(&a, &o);
	assert_int_equal(o.res.error, -ETIMEDOUT);
	assert_true(o.res.transient);
	assert_in_range(o.ms, 1400, 4000);
	outcome_clear(&o);
}

static void test_http_errors(void **state)
{
	struct call_args a = { .scen = "e500" };
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, -EREMOTEIO);
	assert_true(o.res.transient);
	assert_int_equal(o.res.http_status, 500);
	assert_non_null(strstr(o.res.error_msg, "internal failure"));
	outcome_clear(&o);

	a.scen = "e400ctx";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -E2BIG);
	assert_false(o.res.transient);
	outcome_clear(&o);

	a.scen = "nosuch";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EINVAL);
	assert_false(o.res.transient);
	outcome_clear(&o);
}

static void never_called(struct llm_call *call, struct llm_result *res, void *ud)
{
	fail_msg("done called after cancel");
}

static void pool_never_called(struct llm_req *req, struct llm_result *res, const char *ep, void *ud)
{
	fail_msg("done called after cancel");
}

static void test_cancel(void **state)
{
	struct llm_call_options opt = {0};
	struct llm_client *c = NULL;
	struct llm_call *call = NULL;
	struct http_stats st;
	json_t *msgs = user_msgs("go");
	char *url = base("slow");

	assert_int_equal(llm_client_new(http, NULL, &c), 0);
	opt.base_url = url;
	opt.messages = msgs;
	opt.id_slot = -1;
	assert_int_equal(llm_call_start(c, &opt, never_called, NULL, &call), 0);
	test_run_for(&loop, 1300);
	llm_call_cancel(call);
	test_run_for(&loop, 200);
	http_get_stats(http, &st);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.cancelled, 1);
	llm_client_free(c);
	json_decref(msgs);
	free(url);
}

static void test_bad_key_file(void **state)
{
	struct llm_client_options copt = { .api_key_file = "/nonexistent/key" };
	struct llm_client *c = NULL;

	assert_int_equal(llm_client_new(http, &copt, &c), -ENOENT);
	assert_null(c);
}

static void test_retry_after(void **state)
{
	assert_int_equal(llm_retry_after_ms("3", 0), 3000);
	assert_int_equal(llm_retry_after_ms(NULL, 0), -1);
	assert_int_equal(llm_retry_after_ms("soon", 0), -1);
	assert_int_equal(llm_retry_after_ms("999999", 0), 3600 * 1000);
	/* An HTTP date 10 s after "now". */
	assert_int_equal(llm_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT",
	    784111777000LL), 10000);
}

/* ---- the pool ---- */

struct pool_outcome {
	bool done;
	int n;			/* completions seen */
	int want;
	struct llm_result res;
	char *endpoint;
	int64_t t0, ms;
};

static void pool_done(struct llm_req *req, struct llm_result *res, const char *endpoint, void *ud)
{
	struct pool_outcome *o = ud;

	llm_result_clear(&o->res);
	o->res = *res;
	llm_result_init(res);
	free(o->endpoint);
	o->endpoint = endpoint ? xstrdup(endpoint) : NULL;
	o->n++;
	o->ms = time_mono_ms() - o->t0;
	if (o->n >= (o->want ? o->want : 1))
		o->done = true;
}

static void pool_outcome_clear(struct pool_outcome *o)
{
	llm_result_clear(&o->res);
	free(o->endpoint);
	memset(o, 0, sizeof(*o));
}

static struct llm_pool *make_pool(const char *scen, struct llm_pool_options *po)
{
	struct llm_pool *p = NULL;
	char *url = base(scen);
	bool ready = false;

	po->urls = url;
	assert_int_equal(llm_pool_new(&loop, http, po, &p), 0);
	for (int i = 0; i < 100 && !(ready = llm_pool_ready(p)); i++)
		test_run_for(&loop, 20);
	assert_true(ready);
	free(url);
	po->urls = NULL;
	return p;
}

static void submit(struct llm_pool *p, int64_t job, int prio, const char *text, const json_t *schema,
    int64_t max_tokens, struct pool_outcome *o)
{
	struct llm_request rq = {0};
	json_t *msgs = user_msgs(text);

	rq.job_id = job;
	rq.priority = prio;
	rq.messages = msgs;
	rq.schema = schema;
	rq.max_tokens = max_tokens;
	rq.temperature = 0;
	rq.max_repairs = -1;
	rq.slot_hint = -1;
	o->t0 = time_mono_ms();
	assert_int_equal(llm_pool_submit(p, &rq, pool_done, o, NULL), 0);
	json_decref(msgs);
}

static void test_pool_retries(void **state)
{
	struct llm_pool_options po = { .max_retries = 2, .backoff_base_ms = 50, .no_discovery = true,
		.breaker_failures = 100 };
	struct pool_outcome o = {0};
	struct llm_pool *p = make_pool("e500", &po);
	int64_t before = fixture_count("e500");

	/* 5xx: retried with backoff, then a transient failure. */
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, -EREMOTEIO);
	assert_true(o.res.transient);
	assert_int_equal(o.res.attempts, 3);
	assert_int_equal(fixture_count("e500") - before, 3);
	/* Backoff 50 then 100 ms, each jittered to [50%, 100%]. */
	assert_true(o.ms >= 70);
	pool_outcome_clear(&o);
	llm_pool_free(p);

	/* Two failures then a reply: usage of the successful try, three attempts. */
	p = make_pool("flaky500", &po);
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, 0);
	assert_int_equal(o.res.attempts, 3);
	assert_non_null(o.endpoint);
	pool_outcome_clear(&o);
	llm_pool_free(p);

	/* 429 with Retry-After: 1 is obeyed. */
	p = make_pool("e429", &po);
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, 0);
	assert_int_equal(o.res.attempts, 2);
	assert_true(o.ms >= 950);
	pool_outcome_clear(&o);
	llm_pool_free(p);
}

static void test_pool_discovery(void **state)
{
	struct llm_pool_options po = {0};
	struct llm_endpoint_info info;
	struct pool_outcome o = {0};
	struct llm_pool *p = make_pool("llama", &po);
	char text[481];
	json_t *last, *body;

	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_true(info.discovered);
	assert_string_equal(info.kind, "llama-server");
	assert_int_equal(info.slots, 2);
	assert_int_equal(info.n_ctx, 200);
	assert_true(info.has_tokenize);
	assert_string_equal(info.model, "/models/fixture.gguf");
	assert_int_equal(llm_pool_context(p), 200);
	assert_int_equal(llm_estimate_tokens(0), 0);
	assert_int_equal(llm_estimate_tokens(7), 3);

	/* The estimate (bytes/3) says no, the server's /tokenize says yes. */
	memset(text, 'a', 480);
	text[480] = '\0';
	submit(p, 1, 0, text, NULL, 20, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, 0);
	pool_outcome_clear(&o);
	last = fixture_get("llama", "last");
	body = json_object_get(last, "body");
	assert_true(json_is_true(json_object_get(body, "cache_prompt")));
	assert_null(json_object_get(body, "id_slot"));
	json_decref(last);

	/* Too long even counted: an error, never a cut prompt. */
	{
		char big[1001];
		int64_t before = fixture_count("llama");

		memset(big, 'b', 1000);
		big[1000] = '\0';
		submit(p, 1, 0, big, NULL, 20, &o);
		assert_true(test_run_until(&loop, &o.done, 10000));
		assert_int_equal(o.res.error, -E2BIG);
		assert_false(o.res.transient);
		assert_non_null(strstr(o.res.error_msg, "does not fit"));
		assert_int_equal(fixture_count("llama"), before);
		pool_outcome_clear(&o);
	}
	llm_pool_free(p);

	/* /slots when /props is missing. */
	p = make_pool("slotsonly", &po);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.slots, 3);
	assert_int_equal(info.n_ctx, 300);
	llm_pool_free(p);

	/* Ollama's /api/show gives the model's maximum (131072 here); the
	 * context asked of Ollama is the default 8192, or the configured one,
	 * never past the maximum. */
	po.model = "llama3:8b";
	p = make_pool("ollama", &po);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_string_equal(info.kind, "ollama");
	assert_int_equal(info.n_ctx, LLM_OLLAMA_DEFAULT_CTX);
	assert_int_equal(info.slots, 1);
	llm_pool_free(p);
	po.n_ctx = 4096;
	p = make_pool("ollama", &po);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.n_ctx, 4096);
	llm_pool_free(p);
	po.n_ctx = 1 << 20;
	p = make_pool("ollama", &po);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.n_ctx, 131072);
	llm_pool_free(p);
	po.n_ctx = 0;

	/* Nothing to discover: config, else one slot. */
	po.model = NULL;
	po.slots = 4;
	po.n_ctx = 4096;
	p = make_pool("ok", &po);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_false(info.discovered);
	assert_string_equal(info.kind, "openai");
	assert_int_equal(info.slots, 4);
	assert_int_equal(info.n_ctx, 4096);
	llm_pool_free(p);

	/* Two endpoints: the smaller context is the budget. */
	{
		char *urls = xasprintf("http://127.0.0.1:%d/llama/v1, http://127.0.0.1:%d/slotsonly/v1/",
		    srv.port, srv.port);
		struct llm_pool_stats ps;

		po.slots = 0;
		po.n_ctx = 0;
		po.urls = urls;
		assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
		for (int i = 0; i < 100 && !llm_pool_ready(p); i++)
			test_run_for(&loop, 20);
		assert_true(llm_pool_ready(p));
		llm_pool_get_stats(p, &ps);
		assert_int_equal(ps.n_endpoints, 2);
		assert_int_equal(llm_pool_endpoint(p, 1, &info), 0);
		assert_true(str_endswith(info.url, "/slotsonly/v1"));
		assert_int_equal(info.n_ctx, 300);
		assert_int_equal(llm_pool_context(p), 200);
		assert_int_equal(llm_pool_endpoint(p, 2, &info), -ENOENT);
		llm_pool_free(p);
		free(urls);
		po.urls = NULL;
	}

	/* Bad URL lists are refused. */
	po.urls = "ftp://x/v1";
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), -EINVAL);
	po.urls = " , ";
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), -EINVAL);
	po.urls = NULL;
}

static int64_t last_id_slot(const char *scen)
{
	json_t *last = fixture_get(scen, "last");
	json_t *v = json_object_get(json_object_get(last, "body"), "id_slot");
	int64_t n = v ? json_integer_value(v) : -1;

	json_decref(last);
	return n;
}

static void test_pool_affinity(void **state)
{
	struct llm_pool_options po = { .slot_affinity = true };
	struct llm_pool *p = make_pool("llama2", &po);
	struct pool_outcome o = {0}, o2 = {0};
	struct llm_request rq = { .job_id = 7, .max_repairs = -1, .temperature = -1 };
	json_t *msgs = user_msgs("x");

	/* Two jobs at once take both slots; each then keeps its own. */
	submit(p, 1, 0, "x", NULL, 16, &o);
	submit(p, 2, 0, "x", NULL, 16, &o2);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_true(test_run_until(&loop, &o2.done, 10000));
	pool_outcome_clear(&o);
	pool_outcome_clear(&o2);
	for (int i = 0; i < 3; i++) {
		submit(p, 2, 0, "x", NULL, 16, &o);
		assert_true(test_run_until(&loop, &o.done, 10000));
		assert_int_equal(o.res.error, 0);
		assert_int_equal(last_id_slot("llama2"), 1);
		pool_outcome_clear(&o);
		submit(p, 1, 0, "x", NULL, 16, &o);
		assert_true(test_run_until(&loop, &o.done, 10000));
		assert_int_equal(last_id_slot("llama2"), 0);
		pool_outcome_clear(&o);
	}
	/* An explicit hint wins. */
	rq.messages = msgs;
	rq.slot_hint = 1;
	assert_int_equal(llm_pool_submit(p, &rq, pool_done, &o, NULL), 0);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(last_id_slot("llama2"), 1);
	pool_outcome_clear(&o);
	json_decref(msgs);
	llm_pool_free(p);
}

/* Completion order of several jobs sharing one slot. */
struct fair {
	int64_t order[32];
	int n, want;
	bool done;
};

struct fair_req {
	struct fair *f;
	int64_t job;
};

static void fair_req_done(struct llm_req *req, struct llm_result *res, const char *endpoint, void *ud)
{
	struct fair_req *fr = ud;
	struct fair *f = fr->f;

	assert_int_equal(res->error, 0);
	f->order[f->n++] = fr->job;
	if (f->n == f->want)
		f->done = true;
}

static void test_pool_fairness(void **state)
{
	struct llm_pool_options po = { .slots = 1, .no_discovery = true };
	struct llm_pool *p = make_pool("ok", &po);
	struct fair f = { .want = 10 };
	struct fair_req fr[10];
	struct llm_job_usage u;
	json_t *msgs = user_msgs("x");
	/* Job 1 queues six requests before job 2 queues three; a priority
	 * request of job 3 comes last. */
	const int64_t jobs[10] = { 1, 1, 1, 1, 1, 1, 2, 2, 2, 3 };
	const int64_t want[10] = { 3, 1, 2, 1, 2, 1, 2, 1, 1, 1 };

	for (int i = 0; i < 10; i++) {
		struct llm_request rq = { .job_id = jobs[i], .messages = msgs, .max_repairs = -1,
			.slot_hint = -1, .temperature = -1, .priority = jobs[i] == 3 ? 5 : 0 };

		fr[i].f = &f;
		fr[i].job = jobs[i];
		assert_int_equal(llm_pool_submit(p, &rq, fair_req_done, &fr[i], NULL), 0);
	}
	assert_true(test_run_until(&loop, &f.done, 20000));
	for (int i = 0; i < 10; i++)
		assert_int_equal(f.order[i], want[i]);
	assert_int_equal(llm_pool_job_usage(p, 1, &u), 0);
	assert_int_equal(u.requests, 6);
	assert_int_equal(u.usage.prompt_tokens, 66);
	assert_int_equal(u.usage.cached_tokens, 18);
	assert_int_equal(llm_pool_job_usage(p, 9, &u), -ENOENT);
	llm_pool_forget_job(p, 1);
	assert_int_equal(llm_pool_job_usage(p, 1, &u), -ENOENT);
	assert_int_equal(llm_pool_job_usage(p, 2, &u), 0);
	assert_int_equal(u.requests, 3);
	json_decref(msgs);
	llm_pool_free(p);
}

/* Users first, then their jobs: user 1000 runs jobs 1 and 2, user 2000
 * job 3, three requests each, one slot. Worked out by hand: a user served
 * longest ago goes first, then that user's job served longest ago. */
static void test_pool_user_fairness(void **state)
{
	struct llm_pool_options po = { .slots = 1, .no_discovery = true };
	struct llm_pool *p = make_pool("ok", &po);
	struct fair f = { .want = 9 };
	struct fair_req fr[9];
	json_t *msgs = user_msgs("x");
	const int64_t jobs[9] = { 1, 1, 1, 2, 2, 2, 3, 3, 3 };
	const int64_t want[9] = { 1, 3, 2, 3, 1, 3, 2, 1, 2 };

	for (int i = 0; i < 9; i++) {
		struct llm_request rq = { .job_id = jobs[i], .owner = jobs[i] == 3 ? 2000 : 1000,
			.messages = msgs, .max_repairs = -1, .slot_hint = -1, .temperature = -1 };

		fr[i].f = &f;
		fr[i].job = jobs[i];
		assert_int_equal(llm_pool_submit(p, &rq, fair_req_done, &fr[i], NULL), 0);
	}
	assert_true(test_run_until(&loop, &f.done, 20000));
	for (int i = 0; i < 9; i++)
		assert_int_equal(f.order[i], want[i]);
	json_decref(msgs);
	llm_pool_free(p);
}

static void test_pool_cancel(void **state)
{
	struct llm_pool_options po = { .slots = 1, .no_discovery = true, .timeout_ms = 30000 };
	struct llm_pool *p = make_pool("slow", &po);
	struct llm_pool_stats st;
	struct http_stats hs;
	struct llm_req *a = NULL, *b = NULL;
	json_t *msgs = user_msgs("x");
	struct llm_request rq = { .job_id = 1, .messages = msgs, .max_repairs = -1, .slot_hint = -1,
		.temperature = -1 };

	assert_int_equal(llm_pool_submit(p, &rq, pool_never_called, NULL, &a), 0);
	assert_int_equal(llm_pool_submit(p, &rq, pool_never_called, NULL, &b), 0);
	test_run_for(&loop, 500);
	llm_pool_get_stats(p, &st);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.queued, 1);
	llm_pool_cancel(b);	/* queued */
	llm_pool_cancel(a);	/* running: the transfer is aborted */
	test_run_for(&loop, 100);
	llm_pool_get_stats(p, &st);
	assert_int_equal(st.running, 0);
	assert_int_equal(st.queued, 0);
	http_get_stats(http, &hs);
	assert_int_equal(hs.running, 0);
	json_decref(msgs);
	llm_pool_free(p);
}

static void test_breaker(void **state)
{
	struct llm_pool_options po = { .no_discovery = true, .max_retries = -1,
		.breaker_failures = 2, .breaker_cooldown_ms = 300 };
	struct test_server s2 = {0};
	struct llm_endpoint_info info;
	struct pool_outcome o = {0};
	struct llm_pool *p;
	char *url;
	int port;

	/* A server of our own, on a port we will reuse. */
	assert_int_equal(start_fixture(0, &s2), 0);
	port = s2.port;
	url = xasprintf("http://127.0.0.1:%d/ok/v1", port);
	po.urls = url;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, 0);
	pool_outcome_clear(&o);

	/* It dies: two refused connections open the breaker. */
	test_server_stop(&s2);
	for (int i = 0; i < 2; i++) {
		submit(p, 1, 0, "x", NULL, 16, &o);
		assert_true(test_run_until(&loop, &o.done, 10000));
		assert_int_equal(o.res.error, -ECONNREFUSED);
		assert_true(o.res.transient);
		pool_outcome_clear(&o);
	}
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.breaker, LLM_BREAKER_OPEN);
	assert_int_equal(info.failures, 2);

	/* While open, nothing is sent; the half-open probe fails and the
	 * breaker opens again for longer. */
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, -ECONNREFUSED);
	assert_true(o.ms >= 150);
	pool_outcome_clear(&o);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.breaker, LLM_BREAKER_OPEN);

	/* It comes back: the next probe succeeds and closes the breaker. */
	{
		char portarg[16];
		char *argv[] = { (char *)python, (char *)fixture, "--port", portarg, NULL };

		snprintf(portarg, sizeof(portarg), "%d", port);
		assert_int_equal(test_server_start(argv, 10000, &s2), 0);
	}
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, 0);
	pool_outcome_clear(&o);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_int_equal(info.breaker, LLM_BREAKER_CLOSED);
	llm_pool_free(p);
	test_run_for(&loop, 10);

	/* With retries, a request sent while the server is down waits for it. */
	test_server_stop(&s2);
	po.max_retries = 20;
	po.backoff_base_ms = 100;
	po.backoff_max_ms = 200;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	submit(p, 2, 0, "x", NULL, 16, &o);
	test_run_for(&loop, 700);
	assert_false(o.done);
	{
		char portarg[16];
		char *argv[] = { (char *)python, (char *)fixture, "--port", portarg, NULL };

		snprintf(portarg, sizeof(portarg), "%d", port);
		assert_int_equal(test_server_start(argv, 10000, &s2), 0);
	}
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, 0);
	assert_true(o.res.attempts >= 3);
	pool_outcome_clear(&o);
	llm_pool_free(p);
	test_server_stop(&s2);
	free(url);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_all_down(void **state)
{
	struct llm_pool_options po = { .max_retries = 100, .backoff_base_ms = 50,
		.breaker_failures = 1, .breaker_cooldown_ms = 10000, .max_wait_ms = 600 };
	struct llm_endpoint_info info;
	struct pool_outcome o = {0};
	struct llm_pool *p;
	char *url = xasprintf("http://127.0.0.1:%d/v1", free_port());

	/* Nobody listens: discovery fails, the first try opens the breaker,
	 * and the request gives up after max_wait_ms, transiently. */
	po.urls = url;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	submit(p, 1, 0, "x", NULL, 16, &o);
	assert_true(test_run_until(&loop, &o.done, 10000));
	assert_int_equal(o.res.error, -EHOSTDOWN);
	assert_true(o.res.transient);
	assert_in_range(o.ms, 550, 3000);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_false(info.discovered);
	assert_int_equal(info.breaker, LLM_BREAKER_OPEN);
	pool_outcome_clear(&o);
	llm_pool_free(p);
	free(url);
}

/* ---- the "llm.chat" effect ---- */

struct eff_outcome {
	bool done;
	int r;
	bool replayed;
	json_t *result;
};

static void eff_done(struct effect_call *c, int r, const json_t *result, bool replayed, void *ud)
{
	struct eff_outcome *o = ud;

	o->done = true;
	o->r = r;
	o->replayed = replayed;
	json_decref(o->result);
	o->result = result ? json_deep_copy(result) : NULL;
}

static void eff_run(struct effects *e, int64_t job, const json_t *rq, struct eff_outcome *o)
{
	struct effect_call *c = NULL;

	json_decref(o->result);
	memset(o, 0, sizeof(*o));
	assert_int_equal(effect_run(e, job, LLM_EFFECT_KIND, rq, eff_done, o, &c), 0);
	assert_true(test_run_until(&loop, &o->done, 20000));
}

static void test_effect(void **state)
{
	char dir[] = "/tmp/test-llm-effect-XXXXXX", path[64], cmd[96];
	struct llm_pool_options po = { .no_discovery = true, .max_retries = 1, .backoff_base_ms = 20,
		.breaker_failures = 100 };
	struct store_job sj = { .owner = 1, .kind = "t", .question = "q", .state = JOB_RUNNING,
		.created = 1 };
	struct eff_outcome o = {0};
	struct store_job *j = NULL;
	struct store *st = NULL;
	struct effects *e = NULL;
	struct llm_pool *p;
	json_t *rq, *schema = json_loads(schema_text, 0, NULL), *msgs = user_msgs("Rate this.");
	char *urls;
	int64_t job, before;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	assert_int_equal(store_open(path, &st), 0);
	assert_int_equal(store_job_insert(st, &sj, &job), 0);
	assert_int_equal(effects_new(&loop, st, &e), 0);
	/* Three endpoints of one server, one scenario each; the scenario is in
	 * the URL, so each request below names its endpoint by its text. */
	urls = xasprintf("http://127.0.0.1:%d/ok/v1", srv.port);
	po.urls = urls;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	assert_int_equal(llm_register(e, p), 0);

	/* A valid reply: stored with its usage, then replayed without a request. */
	rq = json_pack("{s:O, s:O, s:i, s:f, s:I}", "messages", msgs, "schema", schema,
	    "max_tokens", 64, "temperature", 0.0, "job", (json_int_t)job);
	before = fixture_count("ok");
	eff_run(e, job, rq, &o);
	assert_int_equal(o.r, 0);
	assert_false(o.replayed);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o.result, "json"),
	    "score")), 7);
	assert_string_equal(json_string_value(json_object_get(o.result, "reasoning")), "hmm");
	assert_string_equal(json_string_value(json_object_get(o.result, "finish_reason")), "stop");
	assert_string_equal(json_string_value(json_object_get(o.result, "model")), "fixture-model");
	assert_int_equal(json_integer_value(json_object_get(o.result, "attempts")), 1);
	assert_string_equal(json_string_value(json_object_get(o.result, "endpoint")), urls);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o.result, "usage"),
	    "prompt_tokens")), 11);
	assert_null(json_object_get(o.result, "error"));
	eff_run(e, job, rq, &o);
	assert_int_equal(o.r, 0);
	assert_true(o.replayed);
	assert_int_equal(fixture_count("ok") - before, 1);
	assert_int_equal(store_job_get(st, job, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "prompt_tokens")), 11);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "completion_tokens")), 5);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "cached_tokens")), 3);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "reasoning_tokens")), 2);
	assert_non_null(json_object_get(j->usage, "llm_ms"));
	store_job_free(j);
	/* Scheduling hints reach the executor but not the key: another
	 * priority replays; a hint out of range is refused by the executor. */
	{
		json_t *h = json_pack("{s:i, s:i}", "priority", 7, "slot", 0);
		json_t *bad = json_pack("{s:i}", "priority", 5000);
		struct effect_opts oh = { .hints = h }, ob = { .hints = bad };
		struct effect_call *c = NULL;
		json_t *rq2 = json_pack("{s:O, s:i}", "messages", msgs, "max_tokens", 32);

		json_decref(o.result);
		memset(&o, 0, sizeof(o));
		assert_int_equal(effect_run_opts(e, job, LLM_EFFECT_KIND, rq, &oh, eff_done, &o, &c), 0);
		assert_true(o.done && o.replayed);
		assert_int_equal(effect_run_opts(e, job, LLM_EFFECT_KIND, rq2, &ob, eff_done, &o, &c),
		    -EINVAL);
		assert_int_equal(fixture_count("ok") - before, 1);
		json_decref(h);
		json_decref(bad);
		json_decref(rq2);
	}
	json_decref(rq);
	llm_pool_free(p);
	free(urls);

	/* The schema never satisfied: a stored error result, replayed. */
	urls = xasprintf("http://127.0.0.1:%d/range/v1", srv.port);
	po.urls = urls;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	effects_free(e);
	test_run_for(&loop, 10);
	assert_int_equal(effects_new(&loop, st, &e), 0);
	assert_int_equal(llm_register(e, p), 0);
	rq = json_pack("{s:O, s:O, s:i, s:i}", "messages", msgs, "schema", schema,
	    "max_tokens", 64, "max_repairs", 1);
	before = fixture_count("range");
	eff_run(e, job, rq, &o);
	assert_int_equal(o.r, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o.result, "error"),
	    "code")), "schema");
	assert_null(json_object_get(o.result, "json"));
	assert_string_equal(json_string_value(json_object_get(o.result, "answer")), "");
	assert_int_equal(json_integer_value(json_object_get(o.result, "attempts")), 2);
	eff_run(e, job, rq, &o);
	assert_true(o.replayed);
	assert_int_equal(fixture_count("range") - before, 2);
	json_decref(rq);
	llm_pool_free(p);
	free(urls);

	/* Server errors are transient: nothing stored, the next run asks again. */
	urls = xasprintf("http://127.0.0.1:%d/e500/v1", srv.port);
	po.urls = urls;
	assert_int_equal(llm_pool_new(&loop, http, &po, &p), 0);
	effects_free(e);
	test_run_for(&loop, 10);
	assert_int_equal(effects_new(&loop, st, &e), 0);
	assert_int_equal(llm_register(e, p), 0);
	rq = json_pack("{s:O}", "messages", msgs);
	before = fixture_count("e500");
	eff_run(e, job, rq, &o);
	assert_int_equal(o.r, -EREMOTEIO);
	assert_null(o.result);
	eff_run(e, job, rq, &o);
	assert_int_equal(o.r, -EREMOTEIO);
	assert_false(o.replayed);
	assert_int_equal(fixture_count("e500") - before, 4);	/* 2 runs x (1 + 1 retry) */
	json_decref(rq);

	/* A bad request is refused before anything is sent. */
	rq = json_pack("{s:s}", "messages", "not an array");
	{
		struct effect_call *c = NULL;

		json_decref(o.result);
		memset(&o, 0, sizeof(o));
		assert_int_equal(effect_run(e, job, LLM_EFFECT_KIND, rq, eff_done, &o, &c), -EINVAL);
		assert_false(o.done);
	}
	json_decref(rq);
	json_decref(o.result);

	effects_free(e);
	llm_pool_free(p);
	test_run_for(&loop, 10);
	store_close(st);
	free(urls);
	json_decref(schema);
	json_decref(msgs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- Ollama's native API ---- */

static void test_ollama_client(void **state)
{
	struct call_args a = { .scen = "ollama", .schema = true, .ollama = true, .num_ctx = 8192 };
	json_t *last, *body, *opts, *schema = json_loads(schema_text, 0, NULL);
	struct outcome o;

	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_true(o.res.streamed);
	assert_string_equal(o.res.answer, "{\"score\": 7, \"label\": \"ok\"}");
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_string_equal(o.res.finish_reason, "stop");
	assert_string_equal(o.res.model, "llama3:8b");
	assert_int_equal(o.res.usage.prompt_tokens, 21);
	assert_int_equal(o.res.usage.completion_tokens, 6);
	outcome_clear(&o);

	/* The native body: num_ctx, the schema as "format", no OpenAI fields. */
	last = fixture_get("ollama", "last");
	assert_string_equal(json_string_value(json_object_get(last, "path")), "/api/chat");
	body = json_object_get(last, "body");
	opts = json_object_get(body, "options");
	assert_string_equal(json_string_value(json_object_get(body, "model")), "llama3:8b");
	assert_true(json_is_true(json_object_get(body, "stream")));
	assert_int_equal(json_integer_value(json_object_get(opts, "num_ctx")), 8192);
	assert_int_equal(json_integer_value(json_object_get(opts, "num_predict")), 64);
	assert_true(json_number_value(json_object_get(opts, "temperature")) == 0);
	assert_true(json_equal(json_object_get(body, "format"), schema));
	assert_int_equal(json_array_size(json_object_get(body, "messages")), 2);
	assert_null(json_object_get(body, "response_format"));
	assert_null(json_object_get(body, "max_tokens"));
	assert_null(json_object_get(body, "think"));
	json_decref(last);

	/* stream: false is one object, without a newline. */
	a.no_stream = true;
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_false(o.res.streamed);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	outcome_clear(&o);
	a.no_stream = false;

	/* Lines cut at every byte, a blank line, a CRLF. */
	a.scen = "ollama_split";
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_string_equal(o.res.reasoning, "split");
	outcome_clear(&o);

	/* done_reason "length" is never a success. */
	a.scen = "ollama_length";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -ENOSPC);
	assert_false(o.res.transient);
	assert_string_equal(o.res.finish_reason, "length");
	assert_null(o.res.json);
	outcome_clear(&o);

	/* <think> in content and the "thinking" field: reasoning, never the answer. */
	a.scen = "ollama_think";
	run_call(&a, &o);
	assert_int_equal(o.res.error, 0);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_null(strstr(o.res.answer, "think"));
	assert_non_null(strstr(o.res.reasoning, "the thinking field"));
	assert_non_null(strstr(o.res.reasoning, "I should answer 7."));
	outcome_clear(&o);

	/* An error line in the stream. */
	a.scen = "ollama_error";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EREMOTEIO);
	assert_true(o.res.transient);
	assert_non_null(strstr(o.res.error_msg, "an error was encountered while running the model"));
	outcome_clear(&o);

	/* HTTP errors with Ollama's {"error": "..."} body. */
	a.scen = "ollama_e500";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EREMOTEIO);
	assert_true(o.res.transient);
	assert_non_null(strstr(o.res.error_msg, "llama runner process has terminated"));
	outcome_clear(&o);
	a.scen = "ollama_e404";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EINVAL);
	assert_false(o.res.transient);
	assert_non_null(strstr(o.res.error_msg, "model 'nosuch' not found"));
	outcome_clear(&o);
	a.scen = "ollama_e503";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EBUSY);
	assert_true(o.res.transient);
	assert_int_equal(o.res.http_status, 503);
	assert_non_null(strstr(o.res.error_msg, "server busy, please try again"));
	outcome_clear(&o);

	/* A stream that ends before "done": cut, as on the OpenAI path. */
	a.scen = "ollama_cut";
	run_call(&a, &o);
	assert_int_equal(o.res.error, -EPIPE);
	assert_true(o.res.transient);
	outcome_clear(&o);
	json_decref(schema);
}

static void test_ollama_pool(void **state)
{
	char dir[] = "/tmp/test-llm-ollama-XXXXXX", path[64], cmd[96];
	struct llm_pool_options po = { .model = "llama3:8b" };
	struct store_job sj = { .owner = 1, .kind = "t", .question = "q", .state = JOB_RUNNING,
		.created = 1 };
	struct llm_endpoint_info info;
	struct pool_outcome o = {0};
	struct eff_outcome eo = {0};
	struct store *st = NULL;
	struct effects *e = NULL;
	json_t *schema = json_loads(schema_text, 0, NULL), *msgs = user_msgs("Rate this.");
	json_t *last, *rq;
	struct llm_pool *p;
	int64_t job;

	/* Discovered as Ollama: requests go to /api/chat with its context. */
	p = make_pool("ollama", &po);
	assert_int_equal(llm_pool_endpoint(p, 0, &info), 0);
	assert_string_equal(info.kind, "ollama");
	assert_int_equal(info.n_ctx, 8192);
	submit(p, 1, 0, "Rate this.", schema, 64, &o);
	assert_true(test_run_until(&loop, &o.done, 20000));
	assert_int_equal(o.res.error, 0);
	assert_int_equal(json_integer_value(json_object_get(o.res.json, "score")), 7);
	assert_int_equal(o.res.usage.prompt_tokens, 21);
	pool_outcome_clear(&o);
	last = fixture_get("ollama", "last");
	assert_string_equal(json_string_value(json_object_get(last, "path")), "/api/chat");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(last,
	    "body"), "options"), "num_ctx")), 8192);
	assert_true(json_equal(json_object_get(json_object_get(last, "body"), "format"), schema));
	json_decref(last);

	/* The "llm.chat" effect over it. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	assert_int_equal(store_open(path, &st), 0);
	assert_int_equal(store_job_insert(st, &sj, &job), 0);
	assert_int_equal(effects_new(&loop, st, &e), 0);
	assert_int_equal(llm_register(e, p), 0);
	rq = json_pack("{s:O, s:O, s:i, s:f, s:I}", "messages", msgs, "schema", schema,
	    "max_tokens", 64, "temperature", 0.0, "job", (json_int_t)job);
	eff_run(e, job, rq, &eo);
	assert_int_equal(eo.r, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(eo.result, "json"),
	    "score")), 7);
	assert_string_equal(json_string_value(json_object_get(eo.result, "finish_reason")), "stop");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(eo.result, "usage"),
	    "prompt_tokens")), 21);
	json_decref(eo.result);
	json_decref(rq);
	effects_free(e);
	llm_pool_free(p);
	test_run_for(&loop, 10);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	json_decref(msgs);
	json_decref(schema);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stream_ok, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_plain_fallback, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_bytewise, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_stream_cut, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_bad_chunk, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_json, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_number_range, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_length, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_think, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_http_errors, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_cancel, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_bad_key_file, each_setup, each_teardown),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test_setup_teardown(test_pool_retries, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_pool_discovery, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_pool_fairness, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_pool_user_fairness, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_pool_affinity, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_pool_cancel, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_breaker, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_all_down, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_effect, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_ollama_client, each_setup, each_teardown),
		cmocka_unit_test_setup_teardown(test_ollama_pool, each_setup, each_teardown),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s PYTHON3 FIXTURE-SERVER.PY\n", argv[0]);
		return 2;
	}
	python = argv[1];
	fixture = argv[2];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
