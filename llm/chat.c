/* OpenAI chat-completions (and Ollama's native /api/chat) over jansson:
 * request bodies, chunk and body parsing, and the accumulation of a reply.
 * Untrusted input throughout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "json.h"
#include "schema.h"
#include "str.h"
#include "xmalloc.h"

#define CHAT_SCHEMA_NAME_MAX 64

void llm_usage_init(struct llm_usage *u)
{
	u->prompt_tokens = u->completion_tokens = -1;
	u->cached_tokens = u->reasoning_tokens = -1;
	u->timings_prompt_n = u->timings_predicted_n = -1;
	u->timings_prompt_ms = u->timings_predicted_ms = -1;
}

/* ---- parsing ---- */

/* A token count: a non-negative integer, else "not reported". Usage is
 * accounting only; an odd value there is no reason to drop a reply. */
static int64_t usage_count(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v);
	return -1;
}

static double usage_ms(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_number(v) && json_number_value(v) >= 0)
		return json_number_value(v);
	return -1;
}

static bool parse_usage(const json_t *root, struct llm_usage *u)
{
	json_t *usage = json_object_get(root, "usage");
	json_t *timings = json_object_get(root, "timings");
	bool any = false;

	llm_usage_init(u);
	if (json_is_object(usage)) {
		json_t *pd = json_object_get(usage, "prompt_tokens_details");
		json_t *cd = json_object_get(usage, "completion_tokens_details");

		u->prompt_tokens = usage_count(usage, "prompt_tokens");
		u->completion_tokens = usage_count(usage, "completion_tokens");
		if (json_is_object(pd))
			u->cached_tokens = usage_count(pd, "cached_tokens");
		if (json_is_object(cd))
			u->reasoning_tokens = usage_count(cd, "reasoning_tokens");
		any = true;
	}
	if (json_is_object(timings)) {
		u->timings_prompt_n = usage_count(timings, "prompt_n");
		u->timings_predicted_n = usage_count(timings, "predicted_n");
		u->timings_prompt_ms = usage_ms(timings, "prompt_ms");
		u->timings_predicted_ms = usage_ms(timings, "predicted_ms");
		if (u->cached_tokens < 0)
			u->cached_tokens = usage_count(timings, "cache_n");
		any = true;
	}
	return any;
}

/* An optional string: absent and null are fine, anything else is not. */
static int opt_string(const json_t *obj, const char *key, const char **ret, size_t *ret_len)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*ret = json_string_value(v);
	if (ret_len)
		*ret_len = json_string_length(v);
	return 0;
}

static const char *error_message(const json_t *e)
{
	const char *msg = NULL;

	if (json_is_string(e))
		return json_string_value(e);
	if (json_is_object(e) && json_get_string(e, "message", &msg) == 0)
		return msg;
	return "the server reported an error without a message";
}

static int parse_common(const json_t *root, const char *part, struct chat_delta *ret)
{
	struct chat_delta d = { 0 };
	json_t *choices, *choice, *e;
	const char *reasoning_content = NULL, *reasoning = NULL;
	size_t rc_len = 0, r_len = 0;
	int r;

	if (!json_is_object(root))
		return -EBADMSG;
	llm_usage_init(&d.usage);

	e = json_object_get(root, "error");
	/* vLLM's error body is itself the error object. */
	if ((e == NULL || json_is_null(e)) && json_is_string(json_object_get(root, "object")) &&
	    strcmp(json_string_value(json_object_get(root, "object")), "error") == 0)
		e = (json_t *)root;
	if (e && !json_is_null(e)) {
		d.error = error_message(e);
		*ret = d;
		return 0;
	}
	r = opt_string(root, "model", &d.model, NULL);
	if (r < 0)
		return r;

	choices = json_object_get(root, "choices");
	if (choices && !json_is_null(choices) && !json_is_array(choices))
		return -EBADMSG;
	/* We ask for one choice; the usage-only chunk has none. */
	choice = NULL;
	for (size_t i = 0; i < json_array_size(choices); i++) {
		json_t *c = json_array_get(choices, i);
		json_t *idx = json_object_get(c, "index");

		if (!json_is_object(c))
			return -EBADMSG;
		if (idx == NULL || (json_is_integer(idx) && json_integer_value(idx) == 0)) {
			choice = c;
			break;
		}
	}
	if (choice) {
		json_t *msg = json_object_get(choice, part);

		r = opt_string(choice, "finish_reason", &d.finish_reason, NULL);
		if (r < 0)
			return r;
		if (msg && !json_is_null(msg)) {
			if (!json_is_object(msg))
				return -EBADMSG;
			r = opt_string(msg, "content", &d.content, &d.content_len);
			if (r == 0)
				r = opt_string(msg, "reasoning_content", &reasoning_content, &rc_len);
			if (r == 0)
				r = opt_string(msg, "reasoning", &reasoning, &r_len);
			if (r < 0)
				return r;
			/* Servers in transition send both names with the same text. */
			if (reasoning_content) {
				d.reasoning = reasoning_content;
				d.reasoning_len = rc_len;
			} else if (reasoning) {
				d.reasoning = reasoning;
				d.reasoning_len = r_len;
			}
		}
	}
	d.has_usage = parse_usage(root, &d.usage);
	*ret = d;
	return 0;
}

int chat_chunk_parse(const json_t *chunk, struct chat_delta *ret)
{
	return parse_common(chunk, "delta", ret);
}

int chat_body_parse(const json_t *body, struct chat_delta *ret)
{
	return parse_common(body, "message", ret);
}

/* ---- request ---- */

static bool schema_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CHAT_SCHEMA_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool role_ok(const char *role)
{
	return role && (strcmp(role, "system") == 0 || strcmp(role, "user") == 0 ||
			strcmp(role, "assistant") == 0);
}

/* json_object_set_new() that turns a NULL value (bad UTF-8) into -EINVAL. */
static int set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL)
		return -EINVAL;
	if (json_object_set_new(obj, key, v) < 0)
		return -EINVAL;
	return 0;
}

/* The checks and the "messages" array both bodies share. */
static int request_start(const struct chat_request *req, json_t **ret)
{
	json_t *body, *msgs;
	int r;

	if (req == NULL || req->n_messages == 0 || req->messages == NULL)
		return -EINVAL;
	if (req->schema) {
		r = schema_check(req->schema, NULL);
		if (r < 0)
			return r;
	}
	body = json_object();
	msgs = json_array();
	r = set(body, "messages", msgs);
	for (size_t i = 0; r == 0 && i < req->n_messages; i++) {
		const struct chat_message *m = &req->messages[i];
		json_t *o;

		if (!role_ok(m->role) || m->content == NULL ||
		    !utf8_valid(m->content, strlen(m->content))) {
			r = -EINVAL;
			break;
		}
		o = json_object();
		r = set(o, "role", json_string(m->role));
		if (r == 0)
			r = set(o, "content", json_string(m->content));
		if (r == 0 && json_array_append_new(msgs, o) < 0)
			r = -EINVAL;
		else if (r < 0)
			json_decref(o);
	}
	if (r == 0 && req->model)
		r = set(body, "model", json_string(req->model));
	if (r == 0)
		r = set(body, "stream", json_boolean(req->stream));
	if (r < 0) {
		json_decref(body);
		return r;
	}
	*ret = body;
	return 0;
}

int chat_request_build(const struct chat_request *req, json_t **ret)
{
	json_t *body = NULL;
	const char *name;
	int r;

	if (req == NULL || ret == NULL)
		return -EINVAL;
	name = req->schema_name ? req->schema_name : "reply";
	if (req->schema && !schema_name_ok(name))
		return -EINVAL;
	r = request_start(req, &body);
	if (r < 0)
		return r;
	if (req->stream) {
		json_t *so = json_object();
		r = set(so, "include_usage", json_true());
		if (r == 0)
			r = set(body, "stream_options", so);
		else
			json_decref(so);
	}
	if (r == 0 && req->max_tokens > 0)
		r = set(body, "max_tokens", json_integer(req->max_tokens));
	if (r == 0 && req->temperature >= 0)
		r = set(body, "temperature", json_real(req->temperature));
	if (r == 0 && req->schema)
		r = set(body, "response_format",
			json_pack("{s:s, s:{s:s, s:b, s:O}}",
				  "type", "json_schema",
				  "json_schema",
				  "name", name,
				  "strict", req->strict,
				  "schema", (json_t *)req->schema));
	if (r == 0 && req->cache_prompt)
		r = set(body, "cache_prompt", json_true());
	if (r == 0 && req->use_slot && req->id_slot < 0)
		r = -EINVAL;
	if (r == 0 && req->use_slot)
		r = set(body, "id_slot", json_integer(req->id_slot));
	if (r < 0) {
		json_decref(body);
		return r;
	}
	*ret = body;
	return 0;
}

int chat_request_build_ollama(const struct chat_request *req, json_t **ret)
{
	json_t *body = NULL, *opts;
	int r;

	if (req == NULL || ret == NULL || req->model == NULL)
		return -EINVAL;
	r = request_start(req, &body);
	if (r < 0)
		return r;
	if (req->schema)
		r = set(body, "format", json_deep_copy(req->schema));
	opts = json_object();
	if (r == 0)
		r = set(body, "options", opts);
	else
		json_decref(opts);
	/* Without num_ctx Ollama cuts the prompt to its default context. */
	if (r == 0 && req->num_ctx > 0)
		r = set(opts, "num_ctx", json_integer(req->num_ctx));
	if (r == 0 && req->max_tokens > 0)
		r = set(opts, "num_predict", json_integer(req->max_tokens));
	if (r == 0 && req->temperature >= 0)
		r = set(opts, "temperature", json_real(req->temperature));
	if (r < 0) {
		json_decref(body);
		return r;
	}
	*ret = body;
	return 0;
}

/* ---- reply ---- */

void chat_reply_init(struct chat_reply *r, size_t max_reasoning, size_t max_answer)
{
	memset(r, 0, sizeof(*r));
	think_init(&r->think, max_reasoning, max_answer);
	llm_usage_init(&r->usage);
}

void chat_reply_done(struct chat_reply *r)
{
	if (r == NULL)
		return;
	think_done(&r->think);
	r->finish_reason = mfree(r->finish_reason);
	r->model = mfree(r->model);
	r->error = mfree(r->error);
}

static void usage_merge(struct llm_usage *to, const struct llm_usage *from)
{
	/* Later reports are cumulative (vLLM's continuous stats): take them. */
	if (from->prompt_tokens >= 0)
		to->prompt_tokens = from->prompt_tokens;
	if (from->completion_tokens >= 0)
		to->completion_tokens = from->completion_tokens;
	if (from->cached_tokens >= 0)
		to->cached_tokens = from->cached_tokens;
	if (from->reasoning_tokens >= 0)
		to->reasoning_tokens = from->reasoning_tokens;
	if (from->timings_prompt_n >= 0)
		to->timings_prompt_n = from->timings_prompt_n;
	if (from->timings_predicted_n >= 0)
		to->timings_predicted_n = from->timings_predicted_n;
	if (from->timings_prompt_ms >= 0)
		to->timings_prompt_ms = from->timings_prompt_ms;
	if (from->timings_predicted_ms >= 0)
		to->timings_predicted_ms = from->timings_predicted_ms;
}

static int reply_apply(struct chat_reply *r, const struct chat_delta *d)
{
	int k;

	r->chunks++;
	if (d->error) {
		if (r->error == NULL)
			r->error = xstrdup(d->error);
		return -EREMOTEIO;
	}
	if (d->model && r->model == NULL)
		r->model = xstrdup(d->model);
	if (d->reasoning && d->reasoning_len > 0) {
		k = think_feed_reasoning(&r->think, d->reasoning, d->reasoning_len);
		if (k < 0)
			return k;
	}
	if (d->content && d->content_len > 0) {
		k = think_feed(&r->think, d->content, d->content_len);
		if (k < 0)
			return k;
	}
	if (d->finish_reason && r->finish_reason == NULL)
		r->finish_reason = xstrdup(d->finish_reason);
	if (d->has_usage) {
		usage_merge(&r->usage, &d->usage);
		r->has_usage = true;
	}
	return 0;
}

int chat_reply_feed_chunk(struct chat_reply *r, const json_t *chunk)
{
	struct chat_delta d;
	int k;

	k = chat_chunk_parse(chunk, &d);
	if (k < 0)
		return k;
	return reply_apply(r, &d);
}

int chat_reply_feed_event(struct chat_reply *r, const char *data, size_t len)
{
	json_t *chunk;
	int k;

	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		r->done = true;
		return 0;
	}
	if (r->done)
		return -EBADMSG;	/* nothing may follow [DONE] */
	chunk = json_loadb(data, len, 0, NULL);
	if (chunk == NULL)
		return -EBADMSG;
	k = chat_reply_feed_chunk(r, chunk);
	json_decref(chunk);
	return k;
}

int chat_reply_feed_sse(struct chat_reply *r, const char *type, const char *data, size_t len)
{
	json_t *e;

	if (strcmp(type, "message") == 0)
		return chat_reply_feed_event(r, data, len);
	if (strcmp(type, "error") != 0)
		return 0;
	r->chunks++;
	if (r->error == NULL) {
		e = json_loadb(data, len, 0, NULL);
		if (e)
			r->error = xstrdup(error_message(e));
		else
			r->error = xstrdup("the server reported an error in the stream");
		json_decref(e);
	}
	return -EREMOTEIO;
}

int chat_reply_feed_body(struct chat_reply *r, const char *body, size_t len)
{
	struct chat_delta d;
	json_t *root;
	int k;

	root = json_loadb(body, len, 0, NULL);
	if (root == NULL)
		return -EBADMSG;
	k = chat_body_parse(root, &d);
	if (k == 0)
		k = reply_apply(r, &d);
	json_decref(root);
	return k;
}

/* One object of Ollama's /api/chat reply: {"message":{"content",
 * "thinking"}, "done":false}, the last with "done":true, "done_reason" and
 * the counts; or {"error": "..."}. */
static int ollama_parse(const json_t *root, struct chat_delta *ret)
{
	struct chat_delta d = { 0 };
	json_t *msg, *e, *done;
	int r;

	if (!json_is_object(root))
		return -EBADMSG;
	llm_usage_init(&d.usage);
	e = json_object_get(root, "error");
	if (e && !json_is_null(e)) {
		d.error = error_message(e);
		*ret = d;
		return 0;
	}
	r = opt_string(root, "model", &d.model, NULL);
	if (r < 0)
		return r;
	msg = json_object_get(root, "message");
	if (msg && !json_is_null(msg)) {
		if (!json_is_object(msg))
			return -EBADMSG;
		r = opt_string(msg, "content", &d.content, &d.content_len);
		if (r == 0)
			r = opt_string(msg, "thinking", &d.reasoning, &d.reasoning_len);
		if (r < 0)
			return r;
	}
	done = json_object_get(root, "done");
	if (done && !json_is_boolean(done))
		return -EBADMSG;
	if (json_is_true(done)) {
		r = opt_string(root, "done_reason", &d.finish_reason, NULL);
		if (r < 0)
			return r;
		/* Older servers end without a reason: done is the stop. */
		if (d.finish_reason == NULL)
			d.finish_reason = "stop";
		d.usage.prompt_tokens = usage_count(root, "prompt_eval_count");
		d.usage.completion_tokens = usage_count(root, "eval_count");
		d.has_usage = true;
	}
	*ret = d;
	return 0;
}

int chat_reply_feed_ollama(struct chat_reply *r, const char *line, size_t len)
{
	struct chat_delta d;
	json_t *root;
	int k;

	if (r->done)
		return -EBADMSG;	/* nothing may follow "done": true */
	root = json_loadb(line, len, 0, NULL);
	if (root == NULL)
		return -EBADMSG;
	k = ollama_parse(root, &d);
	if (k == 0) {
		k = reply_apply(r, &d);
		r->done = d.finish_reason != NULL;
	}
	json_decref(root);
	return k;
}

int chat_reply_finish(struct chat_reply *r)
{
	int k;

	if (r->error)
		return -EREMOTEIO;
	k = think_finish(&r->think);
	if (k < 0)
		return k;
	if (r->finish_reason == NULL)
		return -EPIPE;
	if (strcmp(r->finish_reason, "stop") == 0)
		return 0;
	if (strcmp(r->finish_reason, "length") == 0)
		return -ENOSPC;
	return -EPROTO;
}

const char *chat_reply_answer(const struct chat_reply *r)
{
	return r->think.answer.data ? r->think.answer.data : "";
}

const char *chat_reply_reasoning(const struct chat_reply *r)
{
	return r->think.reasoning.data ? r->think.reasoning.data : "";
}

/* Models without a grammar like to wrap JSON in a Markdown fence. */
static void strip_fence(const char **s, size_t *len)
{
	const char *p = *s, *nl, *end;
	size_t n = *len;

	if (n < 6 || memcmp(p, "```", 3) != 0)
		return;
	nl = memchr(p, '\n', n);
	if (nl == NULL)
		return;
	end = p + n;
	while (end > nl && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
		end--;
	if (end - nl < 4 || memcmp(end - 3, "```", 3) != 0)
		return;
	*s = nl + 1;
	*len = (size_t)(end - 3 - (nl + 1));
}

int chat_reply_json(const struct chat_reply *r, const json_t *schema,
		    struct schema_errors *errors, json_t **ret)
{
	const char *s = chat_reply_answer(r);
	size_t len = r->think.answer.len;
	json_error_t jerr;
	json_t *v;
	int k;

	strip_fence(&s, &len);
	if (len == 0) {
		if (errors)
			schema_errors_add(errors, "(root): the reply is empty; a JSON value is required");
		return -EBADMSG;
	}
	v = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		if (errors)
			schema_errors_add(errors, "(root): not valid JSON: %s (line %d, column %d)",
					  jerr.text, jerr.line, jerr.column);
		return -EBADMSG;
	}
	if (schema) {
		k = schema_validate(schema, v, errors);
		if (k < 0) {
			json_decref(v);
			return k;
		}
	}
	*ret = v;
	return 0;
}

int chat_repair_prompt(const struct schema_errors *errors, struct buf *out)
{
	int k;

	k = buf_puts(out, "Your previous reply was rejected:\n");
	for (size_t i = 0; k == 0 && i < errors->n; i++)
		k = buf_printf(out, "- %s\n", errors->msgs[i]);
	if (k == 0 && errors->truncated)
		k = buf_puts(out, "- (more problems not shown)\n");
	if (k == 0)
		k = buf_puts(out, "Reply again with only the corrected JSON, valid against the schema.");
	return k;
}
