/* One chat call over tools/http: the request body, the SSE stream (or a
 * plain JSON body), or Ollama's NDJSON stream, into a chat_reply; the schema
 * check and the repair loop, the same for both. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <sodium.h>

#include "client.h"
#include "secret.h"
#include "http.h"
#include "json.h"
#include "ndjson.h"
#include "sse.h"
#include "str.h"
#include "xmalloc.h"

#define LLM_MAX_EVENT (4 * 1024 * 1024)
#define LLM_MAX_BODY (16 * 1024 * 1024)
#define LLM_MAX_ERROR_BODY (64 * 1024)
#define LLM_MAX_REPAIR_PROMPT (64 * 1024)
#define LLM_MAX_RETRY_AFTER_MS (3600 * 1000)

struct llm_client {
	struct http *http;
	char *auth;		/* sodium_malloc: "Authorization: Bearer KEY" */
	char *model;
	char *user_agent;
	size_t max_answer, max_reasoning;
};

enum llm_mode { MODE_UNKNOWN, MODE_SSE, MODE_BODY, MODE_NDJSON };

struct llm_call {
	struct llm_client *c;
	char *url;
	json_t *messages;	/* ours: grows with repair rounds */
	json_t *schema;
	char *schema_name;
	struct llm_call_options o;
	int max_attempts;
	struct http_request *hreq;
	struct sse_parser *sse;
	struct ndjson *nd;	/* Ollama's native API */
	struct chat_reply reply;
	bool reply_live;
	enum llm_mode mode;
	struct buf body;	/* a plain JSON body, or an error body */
	int feed_error;
	struct buf reasoning;	/* all attempts */
	/* Why the previous attempt was refused, while a repair round runs. */
	int prev_error;
	char *prev_msg, *prev_answer, *prev_finish;
	struct llm_result res;
	int64_t t0;
	llm_done_fn done;
	void *ud;
};

/* ---- results ---- */

void llm_result_init(struct llm_result *r)
{
	memset(r, 0, sizeof(*r));
	llm_usage_init(&r->usage);
	r->retry_after_ms = -1;
}

void llm_result_clear(struct llm_result *r)
{
	free(r->error_msg);
	free(r->answer);
	free(r->reasoning);
	free(r->finish_reason);
	free(r->model);
	json_decref(r->json);
	llm_result_init(r);
}

static void add_count(int64_t *a, int64_t b)
{
	if (b < 0)
		return;
	*a = *a < 0 ? b : *a + b;
}

void llm_usage_add(struct llm_usage *a, const struct llm_usage *b)
{
	add_count(&a->prompt_tokens, b->prompt_tokens);
	add_count(&a->completion_tokens, b->completion_tokens);
	add_count(&a->cached_tokens, b->cached_tokens);
	add_count(&a->reasoning_tokens, b->reasoning_tokens);
	add_count(&a->timings_prompt_n, b->timings_prompt_n);
	add_count(&a->timings_predicted_n, b->timings_predicted_n);
	if (b->timings_prompt_ms >= 0)
		a->timings_prompt_ms = (a->timings_prompt_ms < 0 ? 0 : a->timings_prompt_ms) +
		    b->timings_prompt_ms;
	if (b->timings_predicted_ms >= 0)
		a->timings_predicted_ms = (a->timings_predicted_ms < 0 ? 0 :
		    a->timings_predicted_ms) + b->timings_predicted_ms;
}

int64_t llm_retry_after_ms(const char *v, int64_t now_epoch_ms)
{
	int64_t s, ms;
	time_t t;

	if (v == NULL || *v == '\0')
		return -1;
	if (str_to_int64(v, 0, INT64_MAX / 1000, &s) == 0)
		ms = s * 1000;
	else {
		t = curl_getdate(v, NULL);
		if (t < 0)
			return -1;
		ms = (int64_t)t * 1000 - now_epoch_ms;
		if (ms < 0)
			ms = 0;
	}
	return ms > LLM_MAX_RETRY_AFTER_MS ? LLM_MAX_RETRY_AFTER_MS : ms;
}

/* ---- the client ---- */

int llm_client_new(struct http *http, const struct llm_client_options *o, struct llm_client **ret)
{
	static const char prefix[] = "Authorization: Bearer ";
	struct llm_client *c;
	char *key = NULL;
	int r;

	if (http == NULL || ret == NULL)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	if (o && o->api_key_file) {
		r = secret_read_file(o->api_key_file, LLM_MAX_API_KEY, &key);
		if (r < 0)
			return r;
	}
	c = xcalloc(1, sizeof(*c));
	c->http = http;
	if (key) {
		r = secret_header(prefix, key, &c->auth);
		secret_free(key);
		if (r < 0) {
			free(c);
			return r;
		}
	}
	c->model = o && o->model ? xstrdup(o->model) : NULL;
	c->user_agent = xstrdup(o && o->user_agent ? o->user_agent : "researchd/" "0.1");
	c->max_answer = o && o->max_answer ? o->max_answer : LLM_DEFAULT_MAX_ANSWER;
	c->max_reasoning = o && o->max_reasoning ? o->max_reasoning : LLM_DEFAULT_MAX_REASONING;
	*ret = c;
	return 0;
}

struct llm_client *llm_client_free(struct llm_client *c)
{
	if (c == NULL)
		return NULL;
	if (c->auth)
		sodium_free(c->auth);
	free(c->model);
	free(c->user_agent);
	free(c);
	return NULL;
}

struct http *llm_client_http(const struct llm_client *c)
{
	return c->http;
}

const char *llm_client_auth_header(const struct llm_client *c)
{
	return c->auth;
}

/* ---- one call ---- */

static void call_free(struct llm_call *k)
{
	if (k->hreq)
		http_request_cancel(k->hreq);
	sse_parser_free(k->sse);
	ndjson_free(k->nd);
	if (k->reply_live)
		chat_reply_done(&k->reply);
	buf_free(&k->body);
	buf_free(&k->reasoning);
	free(k->prev_msg);
	free(k->prev_answer);
	free(k->prev_finish);
	llm_result_clear(&k->res);
	json_decref(k->messages);
	json_decref(k->schema);
	free(k->schema_name);
	free(k->url);
	free(k);
}

static int on_sse_event(const struct sse_event *ev, void *ud)
{
	struct llm_call *k = ud;

	return chat_reply_feed_sse(&k->reply, ev->type, ev->data, ev->data_len);
}

static int on_ndjson_line(const char *line, size_t len, void *ud)
{
	struct llm_call *k = ud;

	return chat_reply_feed_ollama(&k->reply, line, len);
}

static int on_data(struct http_request *req, const char *data, size_t len, void *ud)
{
	struct llm_call *k = ud;
	int r;

	/* Ollama: a reply, a plain body and an error body are all NDJSON. */
	if (k->mode == MODE_NDJSON) {
		r = ndjson_feed(k->nd, data, len);
		if (r < 0)
			k->feed_error = r;
		return r;
	}
	if (k->mode == MODE_UNKNOWN) {
		size_t i = 0;

		/* The content type is not known yet: a JSON body (a non-streaming
		 * reply or an error) starts with '{' where SSE starts with a field
		 * name or a comment. */
		while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' ||
		    data[i] == '\n'))
			i++;
		if (i == len) {
			r = buf_append(&k->body, data, len);
			if (r < 0)
				goto fail;
			return 0;
		}
		k->mode = data[i] == '{' || data[i] == '[' ? MODE_BODY : MODE_SSE;
		if (k->mode == MODE_SSE && k->body.len > 0) {
			r = sse_parser_feed(k->sse, k->body.data, k->body.len);
			buf_reset(&k->body);
			if (r < 0)
				goto fail;
		}
	}
	if (k->mode == MODE_BODY)
		r = buf_append(&k->body, data, len);
	else
		r = sse_parser_feed(k->sse, data, len);
	if (r < 0)
		goto fail;
	return 0;
fail:
	k->feed_error = r;
	return r;
}

static int messages_to_chat(const json_t *msgs, struct chat_message **ret, size_t *ret_n)
{
	struct chat_message *m;
	size_t i, n;
	json_t *v;

	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return -EINVAL;
	n = json_array_size(msgs);
	m = xcalloc(n, sizeof(*m));
	json_array_foreach(msgs, i, v) {
		if (json_get_string(v, "role", &m[i].role) < 0 ||
		    json_get_string(v, "content", &m[i].content) < 0) {
			free(m);
			return -EINVAL;
		}
	}
	*ret = m;
	*ret_n = n;
	return 0;
}

static void call_http_done(struct http_request *req, struct http_response *resp, void *ud);

static int call_attempt(struct llm_call *k)
{
	struct chat_message *msgs = NULL;
	struct chat_request rq = {0};
	struct http_options ho = {0};
	const char *headers[4];
	size_t n = 0, nh = 0;
	json_t *body = NULL;
	char *text = NULL;
	int r;

	r = messages_to_chat(k->messages, &msgs, &n);
	if (r < 0)
		return r;
	rq.model = k->o.model ? k->o.model : k->c->model;
	rq.messages = msgs;
	rq.n_messages = n;
	rq.stream = !k->o.no_stream;
	rq.max_tokens = k->o.max_tokens;
	rq.temperature = k->o.temperature;
	rq.schema = k->schema;
	rq.schema_name = k->schema_name;
	rq.strict = k->schema != NULL;
	rq.cache_prompt = k->o.cache_prompt;
	rq.use_slot = k->o.id_slot >= 0;
	rq.id_slot = k->o.id_slot;
	rq.num_ctx = k->o.num_ctx;
	r = k->o.ollama ? chat_request_build_ollama(&rq, &body) : chat_request_build(&rq, &body);
	free(msgs);
	if (r < 0)
		return r;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return -ENOMEM;

	if (k->reply_live)
		chat_reply_done(&k->reply);
	chat_reply_init(&k->reply, k->c->max_reasoning, k->c->max_answer);
	k->reply_live = true;
	k->sse = sse_parser_free(k->sse);
	k->nd = ndjson_free(k->nd);
	if (k->o.ollama)
		r = ndjson_new(LLM_MAX_EVENT, on_ndjson_line, k, &k->nd);
	else
		r = sse_parser_new(LLM_MAX_EVENT, on_sse_event, k, &k->sse);
	if (r < 0) {
		free(text);
		return r;
	}
	k->mode = k->o.ollama ? MODE_NDJSON : MODE_UNKNOWN;
	k->feed_error = 0;
	buf_reset(&k->body);

	headers[nh++] = "Content-Type: application/json";
	if (k->o.ollama)
		headers[nh++] = rq.stream ? "Accept: application/x-ndjson" : "Accept: application/json";
	else
		headers[nh++] = rq.stream ? "Accept: text/event-stream" : "Accept: application/json";
	if (k->c->auth)
		headers[nh++] = k->c->auth;
	headers[nh] = NULL;
	ho.url = k->url;
	ho.method = "POST";
	ho.headers = headers;
	ho.body = text;
	ho.body_len = strlen(text);
	ho.user_agent = k->c->user_agent;
	ho.max_body = LLM_MAX_BODY;
	ho.timeout_ms = k->o.timeout_ms;
	/* A long prompt may take minutes before the first byte: the whole
	 * attempt's timeout is the limit, not a stall detector. */
	ho.low_speed_limit = 1;
	ho.low_speed_time = k->o.timeout_ms / 1000 + 1;
	ho.max_redirects = -1;
	ho.no_compression = true;
	ho.on_data = on_data;
	ho.data_ud = k;
	k->res.attempts++;
	r = http_request_start(k->c->http, &ho, call_http_done, k, &k->hreq);
	free(text);
	return r;
}

static void call_finish(struct llm_call *k, int error, bool transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void call_finish(struct llm_call *k, int error, bool transient, const char *fmt, ...)
{
	struct llm_result *res = &k->res;
	va_list ap;

	res->error = error;
	res->transient = error < 0 && transient;
	if (error < 0 && fmt) {
		va_start(ap, fmt);
		free(res->error_msg);
		res->error_msg = xvasprintf(fmt, ap);
		va_end(ap);
	}
	if (error == -E2BIG && k->prev_error < 0) {
		/* The repair round outgrew the context: what failed is the reply
		 * before it. */
		res->error = k->prev_error;
		free(res->error_msg);
		res->error_msg = xasprintf("%s (the repair round does not fit the context)",
		    k->prev_msg ? k->prev_msg : "");
		free(res->answer);
		res->answer = k->prev_answer;
		k->prev_answer = NULL;
		free(res->finish_reason);
		res->finish_reason = k->prev_finish;
		k->prev_finish = NULL;
	} else if (k->reply_live) {
		free(res->answer);
		res->answer = error == 0 || error == -EBADMSG || error == -ENOSPC ?
		    xstrdup(chat_reply_answer(&k->reply)) : NULL;
		if (k->reply.finish_reason) {
			free(res->finish_reason);
			res->finish_reason = xstrdup(k->reply.finish_reason);
		}
		if (k->reply.model) {
			free(res->model);
			res->model = xstrdup(k->reply.model);
		}
	}
	free(res->reasoning);
	res->reasoning = xstrdup(k->reasoning.data ? k->reasoning.data : "");
	res->ms = time_mono_ms() - k->t0;
	k->done(k, res, k->ud);
	call_free(k);
}

/* The error body of a non-200 answer: {"error":{"message":...,"type":...}}. */
static void error_body(struct llm_call *k, const char **msg, const char **type, json_t **hold)
{
	json_t *root, *e;

	*msg = *type = NULL;
	*hold = NULL;
	if (k->body.len == 0)
		return;
	root = json_loadb(k->body.data, k->body.len, 0, NULL);
	if (root == NULL)
		return;
	*hold = root;
	e = json_object_get(root, "error");
	if (json_is_string(e)) {
		*msg = json_string_value(e);
		return;
	}
	if (json_is_object(e)) {
		json_get_string(e, "message", msg);
		json_get_string(e, "type", type);
	}
}

static void call_remember(struct llm_call *k, int error, const char *why)
{
	k->prev_error = error;
	free(k->prev_msg);
	k->prev_msg = xasprintf("the reply did not satisfy the request after %d attempts: %s",
	    k->res.attempts, why);
	free(k->prev_answer);
	k->prev_answer = xstrdup(chat_reply_answer(&k->reply));
	free(k->prev_finish);
	k->prev_finish = k->reply.finish_reason ? xstrdup(k->reply.finish_reason) : NULL;
}

static void call_repair(struct llm_call *k, const char *answer, const char *why)
{
	json_array_append_new(k->messages, json_pack("{s:s, s:s}", "role", "assistant",
	    "content", answer));
	json_array_append_new(k->messages, json_pack("{s:s, s:s}", "role", "user",
	    "content", why));
}

static void call_http_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct llm_call *k = ud;
	struct llm_result *res = &k->res;
	struct schema_errors errs;
	const char *emsg, *etype;
	json_t *hold = NULL, *v = NULL;
	int r;

	k->hreq = NULL;
	res->http_status = resp->status;
	res->retry_after_ms = llm_retry_after_ms(resp->retry_after, time_now_ms());
	res->streamed = k->mode == MODE_SSE || (k->mode == MODE_NDJSON && !k->o.no_stream);
	/* A plain body (or an error body) ends without a newline. */
	if (k->mode == MODE_NDJSON && k->feed_error == 0 && resp->error == 0) {
		r = ndjson_finish(k->nd);
		if (r < 0)
			k->feed_error = r;
	}

	if (resp->error < 0 && k->feed_error == 0) {
		call_finish(k, resp->error, resp->error != -EACCES && resp->error != -EINVAL,
		    "%s: %s", k->url, resp->error_msg ? resp->error_msg : strerror(-resp->error));
		return;
	}
	if (resp->status != 200) {
		long st = resp->status;

		error_body(k, &emsg, &etype, &hold);
		if (emsg == NULL)
			emsg = k->reply.error;	/* Ollama's {"error": "..."}, read as NDJSON */
		if (emsg == NULL)
			emsg = "no error message";
		if (st == 429 || st == 503)
			call_finish(k, -EBUSY, true, "%s: HTTP %ld: %s", k->url, st, emsg);
		else if (st >= 500)
			call_finish(k, -EREMOTEIO, true, "%s: HTTP %ld: %s", k->url, st, emsg);
		else if (st == 401 || st == 403)
			call_finish(k, -EACCES, false, "%s: HTTP %ld: %s", k->url, st, emsg);
		else if (st == 400 && ((etype && strstr(etype, "exceed_context")) ||
		    strstr(emsg, "context")))
			call_finish(k, -E2BIG, false, "the prompt does not fit the context: %s", emsg);
		else
			call_finish(k, -EINVAL, false, "%s: HTTP %ld: %s", k->url, st, emsg);
		json_decref(hold);
		return;
	}

	if (k->mode == MODE_BODY) {
		r = chat_reply_feed_body(&k->reply, k->body.data, k->body.len);
		if (r == 0)
			r = chat_reply_finish(&k->reply);
	} else if (k->feed_error < 0) {
		r = k->feed_error;
		if (r != -EREMOTEIO && r != -ENOBUFS && r != -EMSGSIZE)
			r = -EBADMSG;
	} else {
		r = k->mode == MODE_NDJSON ? 0 : sse_parser_finish(k->sse);
		/* A cut event is reported by the finish_reason check. */
		if (r == -EPIPE)
			r = 0;
		if (r == 0)
			r = chat_reply_finish(&k->reply);
		else
			chat_reply_finish(&k->reply);
	}
	if (k->reply.has_usage)
		llm_usage_add(&res->usage, &k->reply.usage);
	if (k->reply.think.reasoning.len > 0) {
		if (k->reasoning.len > 0)
			buf_puts(&k->reasoning, "\n\n");
		buf_append(&k->reasoning, k->reply.think.reasoning.data, k->reply.think.reasoning.len);
	}

	switch (r) {
	case 0:
		break;
	case -ENOSPC:
		if (res->attempts < k->max_attempts) {
			call_remember(k, -ENOSPC, "the reply was cut at the length limit "
			    "(finish_reason \"length\")");
			/* Not appended: a cut reply only teaches the model to be cut. */
			json_array_append_new(k->messages, json_pack("{s:s, s:s}", "role", "user",
			    "content", "Your previous reply was cut off at the length limit. "
			    "Reply again, much shorter, and complete."));
			goto again;
		}
		call_finish(k, -ENOSPC, false, "the reply was cut at the length limit "
		    "(finish_reason \"length\", max_tokens %lld) after %d attempts",
		    (long long)k->o.max_tokens, res->attempts);
		return;
	case -EPIPE:
		call_finish(k, -EPIPE, true, "%s: the stream ended without a finish_reason", k->url);
		return;
	case -EREMOTEIO:
		call_finish(k, -EREMOTEIO, true, "%s: the server reported an error: %s", k->url,
		    k->reply.error ? k->reply.error : "unknown");
		return;
	case -EPROTO:
		call_finish(k, -EPROTO, false, "the reply ended with finish_reason \"%s\"",
		    k->reply.finish_reason ? k->reply.finish_reason : "?");
		return;
	case -ENOBUFS:
		call_finish(k, -ENOBUFS, false, "the reply exceeds the answer or reasoning cap");
		return;
	default:
		call_finish(k, r, true, "%s: malformed reply from the server: %s", k->url,
		    strerror(-r));
		return;
	}

	if (k->schema == NULL) {
		call_finish(k, 0, false, NULL);
		return;
	}
	schema_errors_init(&errs, 20);
	r = chat_reply_json(&k->reply, k->schema, &errs, &v);
	if (r == 0) {
		schema_errors_free(&errs);
		res->json = v;
		call_finish(k, 0, false, NULL);
		return;
	}
	if (r == -EBADMSG && res->attempts < k->max_attempts) {
		struct buf p;

		buf_init(&p, LLM_MAX_REPAIR_PROMPT);
		if (chat_repair_prompt(&errs, &p) == 0) {
			struct buf why;

			buf_init(&why, 4096);
			schema_errors_format(&errs, &why);
			call_remember(k, -EBADMSG, why.data ? why.data : "");
			buf_free(&why);
			call_repair(k, chat_reply_answer(&k->reply), p.data);
			buf_free(&p);
			schema_errors_free(&errs);
			goto again;
		}
		buf_free(&p);
	}
	{
		struct buf why;

		buf_init(&why, 4096);
		schema_errors_format(&errs, &why);
		/* A partly formatted list is still the best sentence we have. */
		call_finish(k, r == -EBADMSG ? -EBADMSG : r, false,
		    "the reply did not satisfy the schema after %d attempts: %s",
		    res->attempts, why.data ? why.data : "");
		buf_free(&why);
		schema_errors_free(&errs);
	}
	return;

again:
	r = call_attempt(k);
	if (r < 0)
		call_finish(k, r, r == -EAGAIN, "starting a repair attempt: %s", strerror(-r));
}

int llm_call_start(struct llm_client *c, const struct llm_call_options *o, llm_done_fn done,
    void *ud, struct llm_call **ret)
{
	struct llm_call *k;
	size_t blen;
	int r;

	if (c == NULL || o == NULL || o->base_url == NULL || done == NULL ||
	    !json_is_array(o->messages))
		return -EINVAL;
	if (o->schema) {
		r = schema_check(o->schema, NULL);
		if (r < 0)
			return r;
	}
	k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->o = *o;
	k->o.base_url = NULL;
	k->o.messages = NULL;
	k->o.schema = NULL;
	if (k->o.timeout_ms <= 0)
		k->o.timeout_ms = LLM_DEFAULT_TIMEOUT_MS;
	if (k->o.max_repairs < 0)
		k->o.max_repairs = 0;
	k->max_attempts = 1 + k->o.max_repairs;
	blen = strlen(o->base_url);
	while (blen > 0 && o->base_url[blen - 1] == '/')
		blen--;
	if (k->o.ollama) {
		/* The native API lives beside the OpenAI one, at the root. */
		if (blen >= 3 && strncmp(o->base_url + blen - 3, "/v1", 3) == 0)
			blen -= 3;
		k->url = xasprintf("%.*s/api/chat", (int)blen, o->base_url);
	} else
		k->url = xasprintf("%.*s/chat/completions", (int)blen, o->base_url);
	k->messages = json_deep_copy(o->messages);
	k->schema = o->schema ? json_deep_copy(o->schema) : NULL;
	k->schema_name = o->schema_name ? xstrdup(o->schema_name) : NULL;
	k->done = done;
	k->ud = ud;
	k->t0 = time_mono_ms();
	buf_init(&k->body, LLM_MAX_BODY);
	buf_init(&k->reasoning, LLM_DEFAULT_MAX_REASONING * 2);
	llm_result_init(&k->res);
	if (k->messages == NULL) {
		call_free(k);
		return -ENOMEM;
	}
	r = call_attempt(k);
	if (r < 0) {
		call_free(k);
		return r;
	}
	if (ret)
		*ret = k;
	return 0;
}

void llm_call_cancel(struct llm_call *call)
{
	if (call == NULL)
		return;
	call_free(call);
}
