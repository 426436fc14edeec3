/* Figures of the model client, printed, not judged:
 *  1. client overhead: requests per second and latency per request through
 *     the pool and client against the scripted fixture server's instant
 *     streamed replies, next to the same bytes fetched with tools/http alone
 *     (the difference is what SSE parsing, reply assembly, schema checking
 *     and scheduling add), and the client process's CPU time per request;
 *  2. slot utilisation: 3 jobs each issuing requests back to back against a
 *     2-slot node-llama-cpp server.
 *
 *   bench-llm PYTHON3 FIXTURE-SERVER.PY [NODE SERVER.MJS MODEL.gguf] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "client.h"
#include "http.h"
#include "llm-test.h"
#include "pool.h"
#include "str.h"
#include "xmalloc.h"

static uv_loop_t loop;
static struct http *http;

static const char schema_text[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"score\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10},"
	"\"label\":{\"type\":\"string\",\"maxLength\":20}},"
	"\"required\":[\"score\",\"label\"],\"additionalProperties\":false}";

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* ---- 1. overhead ---- */

struct run {
	int total, started, done, failed, conc;
	bool finished;
	int64_t lat_sum_us;
	struct llm_pool *pool;
	json_t *msgs, *schema;
	char *url, *body;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct one {
	struct run *run;
	int64_t t0;
};

static void pool_next(struct run *r);

static void pool_one_done(struct llm_req *req, struct llm_result *res, const char *ep, void *ud)
{
	struct one *o = ud;
	struct run *r = o->run;

	r->lat_sum_us += now_us() - o->t0;
	r->done++;
	if (res->error < 0 || res->json == NULL)
		r->failed++;
	free(o);
	if (r->done == r->total)
		r->finished = true;
	else
		pool_next(r);
}

static void pool_next(struct run *r)
{
	struct llm_request rq = { .job_id = 1, .messages = r->msgs, .schema = r->schema,
		.max_tokens = 64, .temperature = 0, .max_repairs = 0, .slot_hint = -1 };
	struct one *o;

	if (r->started >= r->total)
		return;
	o = xcalloc(1, sizeof(*o));
	o->run = r;
	o->t0 = now_us();
	r->started++;
	if (llm_pool_submit(r->pool, &rq, pool_one_done, o, NULL) < 0)
		abort();
}

static void http_one_done(struct http_request *req, struct http_response *resp, void *ud);

static void http_next(struct run *r)
{
	const char *headers[] = { "Content-Type: application/json", "Accept: text/event-stream", NULL };
	struct http_options ho = { .url = r->url, .method = "POST", .headers = headers,
		.body = r->body, .body_len = strlen(r->body), .max_redirects = -1,
		.no_compression = true };
	struct one *o;

	if (r->started >= r->total)
		return;
	o = xcalloc(1, sizeof(*o));
	o->run = r;
	o->t0 = now_us();
	r->started++;
	if (http_request_start(http, &ho, http_one_done, o, NULL) < 0)
		abort();
}

static void http_one_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct one *o = ud;
	struct run *r = o->run;

	r->lat_sum_us += now_us() - o->t0;
	r->done++;
	if (resp->error < 0 || resp->status != 200)
		r->failed++;
	free(o);
	if (r->done == r->total)
		r->finished = true;
	else
		http_next(r);
}

static void bench_overhead(int port, int total, int conc)
{
	struct llm_pool_options po = { .slots = conc, .no_discovery = true };
	struct run a = { .total = total, .conc = conc }, b = { .total = total, .conc = conc };
	int64_t t0, wall_a, wall_b;
	double c0, cpu_a, cpu_b;
	json_t *body;

	a.msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "Rate this.");
	a.schema = json_loads(schema_text, 0, NULL);
	a.url = xasprintf("http://127.0.0.1:%d/ok/v1", port);
	po.urls = a.url;
	if (llm_pool_new(&loop, http, &po, &a.pool) < 0)
		abort();
	/* The same request body the client sends, for the bare transfers. */
	body = json_pack("{s:O, s:b, s:{s:b}, s:i}", "messages", a.msgs, "stream", 1,
	    "stream_options", "include_usage", 1, "max_tokens", 64);
	b.body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	b.url = xasprintf("http://127.0.0.1:%d/ok/v1/chat/completions", port);

	/* Warm up both paths (connections, the server's threads). */
	{
		struct run w = a;

		w.total = 20;
		w.started = w.done = 0;
		w.finished = false;
		for (int i = 0; i < conc; i++)
			pool_next(&w);
		test_run_until(&loop, &w.finished, 60000);
	}

	/* One untimed round of each path first: the first few hundred
	 * connections of a fresh Python server are slower. */
	for (int round = 0; round < 2; round++) {
	b.started = b.done = b.failed = 0;
	b.finished = false;
	b.lat_sum_us = 0;
	a.started = a.done = a.failed = 0;
	a.finished = false;
	a.lat_sum_us = 0;
	c0 = cpu_ms();
	t0 = now_us();
	for (int i = 0; i < conc; i++)
		http_next(&b);
	test_run_until(&loop, &b.finished, 600000);
	wall_b = now_us() - t0;
	cpu_b = cpu_ms() - c0;

	c0 = cpu_ms();
	t0 = now_us();
	for (int i = 0; i < conc; i++)
		pool_next(&a);
	test_run_until(&loop, &a.finished, 600000);
	wall_a = now_us() - t0;
	cpu_a = cpu_ms() - c0;
	}

	printf("overhead, %d requests, %d at a time, instant streamed replies (fixture server):\n",
	    total, conc);
	printf("  tools/http alone : %7.1f req/s, %6.3f ms/request mean latency, "
	    "%5.1f us CPU/request, %d failed\n", (double)total * 1e6 / (double)wall_b,
	    (double)b.lat_sum_us / total / 1e3, cpu_b * 1e3 / total, b.failed);
	printf("  pool+client      : %7.1f req/s, %6.3f ms/request mean latency, "
	    "%5.1f us CPU/request, %d failed (SSE parse, reply, schema validation, queue)\n",
	    (double)total * 1e6 / (double)wall_a, (double)a.lat_sum_us / total / 1e3,
	    cpu_a * 1e3 / total, a.failed);
	printf("  added by the client: %+.3f ms latency/request, %+.1f us CPU/request\n",
	    ((double)a.lat_sum_us - (double)b.lat_sum_us) / total / 1e3,
	    (cpu_a - cpu_b) * 1e3 / total);
	llm_pool_free(a.pool);
	json_decref(a.msgs);
	json_decref(a.schema);
	free(a.url);
	free(b.url);
	free(b.body);
}

/* ---- 2. slot utilisation ---- */

struct stream {
	struct llm_pool *pool;
	int64_t job;
	int done, failed;
	bool stop;
	json_t *msgs;
	int64_t wait_ms;	/* queued time, summed */
};

static void stream_next(struct stream *s);

static void stream_done(struct llm_req *req, struct llm_result *res, const char *ep, void *ud)
{
	struct stream *s = ud;

	s->done++;
	/* Length stops are what a fixed max_tokens gives on this model. */
	if (res->error < 0 && res->error != -ENOSPC)
		s->failed++;
	if (!s->stop)
		stream_next(s);
}

static void stream_next(struct stream *s)
{
	struct llm_request rq = { .job_id = s->job, .messages = s->msgs, .max_tokens = 20,
		.temperature = 0, .max_repairs = 0, .slot_hint = -1 };

	if (llm_pool_submit(s->pool, &rq, stream_done, s, NULL) < 0)
		abort();
}

static void bench_slots(const char *node, const char *mjs, const char *model_path, int seconds)
{
	char *argv[] = { (char *)node, (char *)mjs, "--model", (char *)model_path, "--port", "0",
		"--parallel", "2", "--ctx", "1024", "--threads", "1", "--token-delay-ms", "10", NULL };
	struct llm_pool_options po = { .timeout_ms = 60000 };
	struct llm_endpoint_info info;
	struct test_server s = {0};
	struct stream st[3];
	struct llm_pool *p;
	int64_t t0, wall, busy0;
	char *url;

	if (test_server_start(argv, 60000, &s) < 0) {
		printf("slot utilisation: the model server did not start\n");
		return;
	}
	url = xasprintf("http://127.0.0.1:%d/v1", s.port);
	po.urls = url;
	if (llm_pool_new(&loop, http, &po, &p) < 0)
		abort();
	while (!llm_pool_ready(p))
		test_run_for(&loop, 10);
	llm_pool_endpoint(p, 0, &info);
	busy0 = info.busy_slot_ms;
	t0 = time_mono_ms();
	for (int i = 0; i < 3; i++) {
		st[i] = (struct stream){ .pool = p, .job = i + 1 };
		st[i].msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "Once upon a time");
		stream_next(&st[i]);
	}
	test_run_for(&loop, seconds * 1000);
	for (int i = 0; i < 3; i++)
		st[i].stop = true;
	llm_pool_endpoint(p, 0, &info);
	wall = time_mono_ms() - t0;
	printf("slot utilisation, 3 jobs back to back on a 2-slot server (%s, 20 tokens a request, "
	    "10 ms/token delay) for %.1f s:\n", model_path, (double)wall / 1e3);
	printf("  slots %d, most busy at once %d, busy slot time %.1f%% of 2 x wall\n",
	    info.slots, info.max_busy,
	    100.0 * (double)(info.busy_slot_ms - busy0) / (2.0 * (double)wall));
	{
		double server_ms = 0;

		for (int i = 0; i < 3; i++) {
			struct llm_job_usage u;

			if (llm_pool_job_usage(p, i + 1, &u) == 0 && u.usage.timings_predicted_ms > 0)
				server_ms += u.usage.timings_predicted_ms +
				    (u.usage.timings_prompt_ms > 0 ? u.usage.timings_prompt_ms : 0);
			printf("  job %d: %d requests done, %d failed, %lld completion tokens\n", i + 1,
			    st[i].done, st[i].failed, (long long)u.usage.completion_tokens);
		}
		printf("  server-reported prompt+generation time: %.1f%% of 2 x wall "
		    "(the rest: HTTP, scheduling, the server's own bookkeeping)\n",
		    100.0 * server_ms / (2.0 * (double)wall));
	}
	/* Let what is in flight end, then stop. */
	{
		struct llm_pool_stats ps;

		for (int i = 0; i < 500; i++) {
			llm_pool_get_stats(p, &ps);
			if (ps.running == 0 && ps.queued == 0)
				break;
			test_run_for(&loop, 10);
		}
	}
	llm_pool_free(p);
	for (int i = 0; i < 3; i++)
		json_decref(st[i].msgs);
	test_server_stop(&s);
	free(url);
}

int main(int argc, char **argv)
{
	char *fargv[4];
	struct test_server fx = {0};
	int total = 2000;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PYTHON3 FIXTURE-SERVER.PY [NODE SERVER.MJS MODEL.gguf]\n",
		    argv[0]);
		return 2;
	}
	if (getenv("LLM_BENCH_REQUESTS"))
		total = atoi(getenv("LLM_BENCH_REQUESTS"));
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	if (http_new(&loop, NULL, &http) < 0)
		return 1;
	fargv[0] = argv[1];
	fargv[1] = argv[2];
	fargv[2] = NULL;
	if (test_server_start(fargv, 10000, &fx) < 0)
		return 1;
	bench_overhead(fx.port, total, 1);
	bench_overhead(fx.port, total, 8);
	test_server_stop(&fx);
	if (argc >= 6)
		bench_slots(argv[3], argv[4], argv[5], 10);
	http = http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return 0;
}
