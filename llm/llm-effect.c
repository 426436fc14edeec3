/* The "llm.chat" effect executor: request JSON in, a pool request out, the
 * outcome back as a stored result or a transient error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "effect.h"
#include "json.h"
#include "str.h"
#include "llm-effect.h"
#include "pool.h"
#include "xmalloc.h"

#define LLM_EFFECT_MAX_REPAIRS 8

struct llm_exec {
	struct effect_exec *x;
	struct llm_req *req;
};

static const char *error_code(int e)
{
	switch (e) {
	case -EBADMSG: return "schema";
	case -ENOSPC: return "length";
	case -E2BIG: return "context";
	case -EPROTO: return "finish_reason";
	case -ENOBUFS: return "too_big";
	default: return NULL;
	}
}

/* Model output may hold broken UTF-8 (a byte-token model, a cut stream);
 * jansson refuses it, so bad bytes become U+FFFD rather than vanish. */
static json_t *text_json(const char *s)
{
	struct buf b;
	json_t *v;
	size_t i = 0, n;

	if (s == NULL)
		s = "";
	n = strlen(s);
	if (utf8_valid(s, n))
		return json_string(s);
	buf_init(&b, n * 3 + 1);
	while (i < n) {
		size_t k = 1;

		/* The longest valid sequence at i (1 to 4 bytes). */
		for (size_t m = 4; m >= 1; m--)
			if (i + m <= n && utf8_valid(s + i, m)) {
				k = m;
				break;
			}
		if (k == 1 && ((unsigned char)s[i] >= 0x80 || !utf8_valid(s + i, 1)))
			buf_puts(&b, "\xef\xbf\xbd");
		else
			buf_append(&b, s + i, k);
		i += k;
	}
	v = json_string(b.data ? b.data : "");
	buf_free(&b);
	return v;
}

static json_t *usage_json(const struct llm_usage *u)
{
	json_t *o = json_object();

#define C(name) if (u->name >= 0) json_object_set_new(o, #name, json_integer(u->name))
	C(prompt_tokens);
	C(completion_tokens);
	C(cached_tokens);
	C(reasoning_tokens);
#undef C
	return o;
}

json_t *llm_effect_result(const struct llm_result *res, const char *endpoint)
{
	const char *code = NULL;
	json_t *o;

	if (res->error < 0) {
		code = res->transient ? NULL : error_code(res->error);
		if (code == NULL)
			return NULL;
	}
	o = json_object();
	json_object_set_new(o, "answer", text_json(res->answer && code == NULL ? res->answer : ""));
	if (res->json && code == NULL)
		json_object_set(o, "json", res->json);
	json_object_set_new(o, "reasoning", text_json(res->reasoning));
	json_object_set_new(o, "finish_reason", res->finish_reason ?
	    text_json(res->finish_reason) : json_null());
	json_object_set_new(o, "model", res->model ? text_json(res->model) : json_null());
	json_object_set_new(o, "usage", usage_json(&res->usage));
	json_object_set_new(o, "attempts", json_integer(res->attempts));
	json_object_set_new(o, "endpoint", endpoint ? json_string(endpoint) : json_null());
	if (code) {
		/* The rejected answer stays out of "answer": nothing may parse it. */
		json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", code,
		    "message", res->error_msg ? res->error_msg : strerror(-res->error)));
		if (res->answer)
			json_object_set_new(o, "rejected", text_json(res->answer));
	}
	return o;
}

json_t *llm_effect_cost(const struct llm_result *res)
{
	const struct llm_usage *u = &res->usage;

	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "prompt_tokens", (json_int_t)(u->prompt_tokens > 0 ? u->prompt_tokens : 0),
	    "completion_tokens", (json_int_t)(u->completion_tokens > 0 ? u->completion_tokens : 0),
	    "cached_tokens", (json_int_t)(u->cached_tokens > 0 ? u->cached_tokens : 0),
	    "reasoning_tokens", (json_int_t)(u->reasoning_tokens > 0 ? u->reasoning_tokens : 0),
	    "llm_ms", (json_int_t)(res->ms > 0 ? res->ms : 0));
}

static void exec_done(struct llm_req *req, struct llm_result *res, const char *endpoint, void *ud)
{
	struct llm_exec *e = ud;
	struct effect_exec *x = e->x;
	json_t *result;

	effect_exec_set_data(x, NULL);
	free(e);
	result = llm_effect_result(res, endpoint);
	if (result == NULL) {
		effect_exec_done(x, res->error < 0 ? res->error : -EBADMSG, NULL, NULL);
		return;
	}
	effect_exec_done(x, 0, result, llm_effect_cost(res));
}

static int get_int_opt(const json_t *req, const char *key, int64_t def, int64_t min, int64_t max,
    int64_t *ret)
{
	json_t *v = json_object_get(req, key);

	if (v == NULL || json_is_null(v)) {
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

static int exec_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct llm_pool *pool = userdata;
	const json_t *hints = effect_exec_hints(x);
	struct llm_request rq = {0};
	struct llm_exec *e;
	int64_t v;
	json_t *t;
	int r;

	rq.messages = json_object_get(request, "messages");
	rq.schema = json_object_get(request, "schema");
	if (rq.schema && json_is_null(rq.schema))
		rq.schema = NULL;
	if (!json_is_array(rq.messages))
		return -EINVAL;
	t = json_object_get(request, "schema_name");
	if (t && !json_is_string(t))
		return -EINVAL;
	rq.schema_name = t ? json_string_value(t) : NULL;
	r = get_int_opt(request, "max_tokens", 0, 0, INT32_MAX, &rq.max_tokens);
	/* Scheduling comes from the call's hints (effect_run_opts), outside the
	 * key, so a job's priority can change without paying again; a request
	 * that still carries the old fields is honoured when no hint is given. */
	if (r == 0)
		r = get_int_opt(json_object_get(hints, "priority") ? hints : request, "priority", 0,
		    -1000, 1000, &v), rq.priority = (int)v;
	if (r == 0) {
		if (json_object_get(hints, "slot"))
			r = get_int_opt(hints, "slot", -1, -1, 4096, &v);
		else
			r = get_int_opt(request, "job_slot_hint", -1, -1, 4096, &v);
		rq.slot_hint = (int)v;
	}
	if (r == 0)
		r = get_int_opt(request, "max_repairs", -1, -1, LLM_EFFECT_MAX_REPAIRS, &v),
		    rq.max_repairs = (int)v;
	/* The job that asked, for the pool's fairness; a request may name
	 * another for tests of the queue. */
	if (r == 0)
		r = get_int_opt(request, "job", effect_exec_job_id(x), INT64_MIN, INT64_MAX, &rq.job_id);
	/* The job's user, from the hints: fairness across users comes first. */
	if (r == 0)
		r = get_int_opt(hints, "owner", -1, -1, INT32_MAX, &rq.owner);
	if (r < 0)
		return r;
	t = json_object_get(request, "temperature");
	if (t == NULL || json_is_null(t))
		rq.temperature = -1;
	else if (json_is_number(t) && json_number_value(t) >= 0 && json_number_value(t) <= 2)
		rq.temperature = json_number_value(t);
	else
		return -EINVAL;
	e = xcalloc(1, sizeof(*e));
	e->x = x;
	r = llm_pool_submit(pool, &rq, exec_done, e, &e->req);
	if (r < 0) {
		free(e);
		return r;
	}
	effect_exec_set_data(x, e);
	return 0;
}

static void exec_cancel(struct effect_exec *x, void *userdata)
{
	struct llm_exec *e = effect_exec_get_data(x);

	if (e == NULL)
		return;
	effect_exec_set_data(x, NULL);
	llm_pool_cancel(e->req);
	free(e);
}

int llm_register(struct effects *e, struct llm_pool *pool)
{
	return llm_register_kind(e, pool, LLM_EFFECT_KIND);
}

int llm_register_kind(struct effects *e, struct llm_pool *pool, const char *name)
{
	struct effect_kind k = {
		.name = name,
		.start = exec_start,
		.cancel = exec_cancel,
		.userdata = pool,
	};

	return effects_register(e, &k);
}
