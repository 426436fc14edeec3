/* The endpoint pool and the scheduler of model requests: discovery of slots
 * and context, one queue across jobs, retries, breakers, usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "json.h"
#include "pool.h"
#include "str.h"
#include "xmalloc.h"

#define DISCOVERY_TIMEOUT_MS 5000
#define TOKENIZE_TIMEOUT_MS 30000
#define BREAKER_MAX_COOLDOWN_MS 60000
#define TOKENS_PER_MESSAGE 8	/* the chat template's markers, generously */
#define MAX_JOBS 4096

enum ep_kind { EP_OPENAI, EP_LLAMA, EP_OLLAMA };
static const char *const kind_names[] = { "openai", "llama-server", "ollama" };

struct llm_endpoint {
	struct llm_pool *p;
	unsigned index;
	char *base;		/* ".../v1", no trailing slash */
	char *root;		/* base without "/v1" */
	char *model;
	enum ep_kind kind;
	int slots, busy, max_busy;
	bool *slot_busy;
	int nslot_busy;		/* allocated entries */
	int64_t n_ctx;
	bool has_tokenize;
	bool discovered;	/* the server told us */
	bool disc_running;
	bool disc_unreachable;	/* the last discovery could not connect */
	bool disc_answered;	/* some discovery connected, once */
	bool name_model;	/* found by /v1/models: requests name its model */
	int disc_stage;
	struct http_request *disc_req;
	/* breaker */
	enum llm_breaker breaker;
	int fails;
	int64_t open_until, cooldown_ms;
	bool probing;
	int64_t paused_until;	/* Retry-After */
	/* accounting */
	uint64_t requests, failures;
	/* Generation measured by the server (llama-server timings): tokens/s. */
	int64_t gen_tokens;
	double gen_ms;
	int64_t busy_slot_ms, busy_since;
};

struct llm_job {
	int64_t id;
	int64_t owner;
	uint64_t last_served;
	int ep, slot;		/* affinity: where it ran last */
	struct llm_job_usage u;
};

enum req_state { REQ_QUEUED, REQ_TOKENIZING, REQ_RUNNING };

struct llm_req {
	struct llm_pool *p;
	struct llm_req *prev, *next;
	enum req_state state;
	int64_t job_id, owner;
	int priority;
	json_t *messages, *schema;
	char *schema_name;
	int64_t max_tokens;
	double temperature;
	int max_repairs, slot_hint;
	uint64_t seq;
	int64_t queued_at, not_before;
	int retries;
	struct llm_endpoint *ep;
	int slot;
	struct llm_call *call;
	struct http_request *tok_req;
	struct llm_result acc;	/* what earlier tries cost */
	llm_pool_done_fn done;
	void *ud;
};

struct llm_pool {
	uv_loop_t *loop;
	struct http *http;
	struct llm_client *client;
	struct llm_pool_options o;
	struct llm_endpoint eps[LLM_POOL_MAX_ENDPOINTS];
	unsigned neps;
	struct llm_req *queue;		/* unordered; the scheduler scans */
	struct llm_req *running;
	unsigned nqueued, nrunning;
	uint64_t seq, served;
	struct llm_job *jobs;
	size_t njobs;
	uv_timer_t timer;
	bool in_schedule, again;
	uint64_t rng;
	unsigned rr;
	struct llm_pool_stats st;
};

static void pool_schedule(struct llm_pool *p);

int64_t llm_estimate_tokens(size_t bytes)
{
	return (int64_t)((bytes + 2) / 3);
}

/* ---- small helpers ---- */

static double pool_random(struct llm_pool *p)
{
	/* xorshift64*: jitter only, nothing secret. */
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return (double)((p->rng * 2685821657736338717ULL) >> 11) / (double)(1ULL << 53);
}

static void list_push(struct llm_req **head, struct llm_req *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_unlink(struct llm_req **head, struct llm_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static struct llm_job *pool_job(struct llm_pool *p, int64_t id, bool create)
{
	for (size_t i = 0; i < p->njobs; i++)
		if (p->jobs[i].id == id)
			return &p->jobs[i];
	if (!create)
		return NULL;
	if (p->njobs >= MAX_JOBS) {
		/* Forget the job served longest ago: only its place in the
		 * round-robin and its in-memory counters go (the durable usage is
		 * in the store, through the effects). */
		size_t old = 0;

		for (size_t i = 1; i < p->njobs; i++)
			if (p->jobs[i].last_served < p->jobs[old].last_served)
				old = i;
		memset(&p->jobs[old], 0, sizeof(*p->jobs));
		p->jobs[old].id = id;
		p->jobs[old].ep = -1;
		p->jobs[old].slot = -1;
		llm_usage_init(&p->jobs[old].u.usage);
		return &p->jobs[old];
	}
	p->jobs = xreallocarray(p->jobs, p->njobs + 1, sizeof(*p->jobs));
	memset(&p->jobs[p->njobs], 0, sizeof(*p->jobs));
	p->jobs[p->njobs].id = id;
	p->jobs[p->njobs].ep = -1;
	p->jobs[p->njobs].slot = -1;
	llm_usage_init(&p->jobs[p->njobs].u.usage);
	return &p->jobs[p->njobs++];
}

static void ep_account(struct llm_endpoint *ep)
{
	int64_t now = time_mono_ms();

	ep->busy_slot_ms += (int64_t)ep->busy * (now - ep->busy_since);
	ep->busy_since = now;
}

static void ep_set_slots(struct llm_endpoint *ep, int slots)
{
	if (slots < 1)
		slots = 1;
	if (slots > LLM_POOL_MAX_SLOTS)
		slots = LLM_POOL_MAX_SLOTS;
	if (slots > ep->nslot_busy) {
		ep->slot_busy = xreallocarray(ep->slot_busy, (size_t)slots, sizeof(bool));
		memset(ep->slot_busy + ep->nslot_busy, 0,
		    (size_t)(slots - ep->nslot_busy) * sizeof(bool));
		ep->nslot_busy = slots;
	}
	ep->slots = slots;
}

static void on_timer(uv_timer_t *t);

static void pool_kick(struct llm_pool *p)
{
	uv_timer_start(&p->timer, on_timer, 0, 0);
}

/* ---- discovery ---- */

static void disc_next(struct llm_endpoint *ep);

static int64_t json_int_at(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static bool disc_parse(struct llm_endpoint *ep, int stage, const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, 0, NULL), *v, *dgs;
	const char *key;
	bool ok = false;
	int64_t n;

	if (root == NULL)
		return false;
	if (stage == 0 && json_is_object(root)) {
		/* llama-server /props */
		dgs = json_object_get(root, "default_generation_settings");
		n = json_int_at(dgs, "n_ctx");
		if (n > 0)
			ep->n_ctx = n;
		n = json_int_at(root, "total_slots");
		if (n > 0 && ep->p->o.slots <= 0)
			ep_set_slots(ep, (int)(n > LLM_POOL_MAX_SLOTS ? LLM_POOL_MAX_SLOTS : n));
		v = json_object_get(root, "model_path");
		if (json_is_string(v) && ep->model == NULL)
			ep->model = xstrdup(json_string_value(v));
		ok = json_object_get(root, "total_slots") != NULL || n > 0 || dgs != NULL;
		if (ok) {
			ep->kind = EP_LLAMA;
			ep->has_tokenize = true;
		}
	} else if (stage == 1 && json_is_array(root) && json_array_size(root) > 0) {
		/* llama-server /slots */
		n = json_int_at(json_array_get(root, 0), "n_ctx");
		if (n > 0)
			ep->n_ctx = n;
		if (ep->p->o.slots <= 0)
			ep_set_slots(ep, (int)json_array_size(root));
		ep->kind = EP_LLAMA;
		ep->has_tokenize = true;
		ok = true;
	} else if (stage == 3 && json_is_object(root) && json_is_array(json_object_get(root, "data"))) {
		/* OpenAI /v1/models (vLLM, LM Studio, Ollama without a model
		 * named): the first model is the one asked for by name, since
		 * these servers want one in every request. */
		v = json_object_get(json_array_get(json_object_get(root, "data"), 0), "id");
		if (json_is_string(v) && ep->model == NULL && json_string_length(v) <= 1024) {
			ep->model = xstrdup(json_string_value(v));
			ep->name_model = true;
		}
		ok = true;
	} else if (stage == 2 && json_is_object(root)) {
		/* Ollama /api/show: model_info["<arch>.context_length"] */
		json_t *mi = json_object_get(root, "model_info");

		json_object_foreach(mi, key, v) {
			if (str_endswith(key, ".context_length") && json_is_integer(v) &&
			    json_integer_value(v) > 0) {
				/* This is the model's maximum; with Ollama the context is
				 * ours to choose (num_ctx) and it is allocated whole: the
				 * configured one, else a default, never past the maximum. */
				int64_t max = json_integer_value(v);
				int64_t want = ep->p->o.n_ctx > 0 ? ep->p->o.n_ctx : LLM_OLLAMA_DEFAULT_CTX;

				ep->n_ctx = want < max ? want : max;
				ok = true;
			}
		}
		if (ok || json_object_get(root, "modelfile"))
			ep->kind = EP_OLLAMA, ok = true;
	}
	json_decref(root);
	return ok;
}

static void disc_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct llm_endpoint *ep = ud;

	ep->disc_req = NULL;
	ep->disc_unreachable = resp->error < 0;
	ep->disc_answered = ep->disc_answered || resp->error == 0;
	if (resp->error == 0 && resp->status == 200 &&
	    disc_parse(ep, ep->disc_stage, resp->body.data, resp->body.len)) {
		ep->discovered = true;
		ep->disc_running = false;
		pool_schedule(ep->p);
		return;
	}
	/* Nobody there: do not try the other URLs, the breaker sorts it out
	 * and discovery runs again after a success. */
	if (resp->error < 0 || ep->disc_stage >= (ep->p->o.probe ? 3 : 2)) {
		ep->disc_running = false;
		/* Probing: what does not answer as a model server is not one
		 * (any more). */
		if (ep->p->o.probe && ep->discovered) {
			ep->discovered = false;
			ep->model = mfree(ep->model);
			ep->name_model = false;
		}
		pool_schedule(ep->p);
		return;
	}
	ep->disc_stage++;
	disc_next(ep);
}

static void disc_next(struct llm_endpoint *ep)
{
	struct llm_pool *p = ep->p;
	struct http_options ho = {0};
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	char *url, *body = NULL;
	int r;

	if (ep->disc_stage == 2 && p->o.model == NULL) {
		if (!p->o.probe)
			goto give_up;	/* /api/show needs a model name */
		ep->disc_stage = 3;
	}
	headers[1] = llm_client_auth_header(p->client);
	if (ep->disc_stage == 0)
		url = xasprintf("%s/props", ep->root);
	else if (ep->disc_stage == 1)
		url = xasprintf("%s/slots", ep->root);
	else if (ep->disc_stage == 3)
		url = xasprintf("%s/models", ep->base);
	else {
		json_t *o = json_pack("{s:s}", "model", p->o.model);

		url = xasprintf("%s/api/show", ep->root);
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		ho.method = "POST";
		ho.body = body;
		ho.body_len = body ? strlen(body) : 0;
	}
	ho.url = url;
	ho.headers = headers;
	ho.timeout_ms = DISCOVERY_TIMEOUT_MS;
	ho.connect_timeout_ms = DISCOVERY_TIMEOUT_MS;
	ho.max_body = 1024 * 1024;
	ho.max_redirects = -1;
	ep->disc_running = true;
	r = http_request_start(p->http, &ho, disc_done, ep, &ep->disc_req);
	free(url);
	free(body);
	if (r == 0)
		return;
give_up:
	ep->disc_running = false;
	pool_kick(p);
}

static void disc_start(struct llm_endpoint *ep)
{
	if (ep->p->o.no_discovery || ep->disc_running)
		return;
	ep->disc_stage = 0;
	disc_next(ep);
}

/* ---- the breaker ---- */

static bool ep_available(struct llm_endpoint *ep, int64_t now, int64_t *wake)
{
	if (ep->disc_running || ep->busy >= ep->slots)
		return false;
	/* A place probed where nothing was found is not a server. */
	if (ep->p->o.probe && !ep->discovered)
		return false;
	if (ep->paused_until > now) {
		if (*wake < 0 || ep->paused_until < *wake)
			*wake = ep->paused_until;
		return false;
	}
	if (ep->breaker == LLM_BREAKER_OPEN) {
		if (ep->open_until > now) {
			if (*wake < 0 || ep->open_until < *wake)
				*wake = ep->open_until;
			return false;
		}
		ep->breaker = LLM_BREAKER_HALF_OPEN;
		ep->probing = false;
	}
	/* Half open: one request probes; the rest wait for its outcome. */
	if (ep->breaker == LLM_BREAKER_HALF_OPEN && ep->probing)
		return false;
	return true;
}

static bool counts_against_breaker(int e)
{
	return e == -ECONNREFUSED || e == -ECONNRESET || e == -ETIMEDOUT || e == -EREMOTEIO ||
	    e == -EPIPE || e == -EHOSTUNREACH || e == -EIO || e == -EBADMSG;
}

static void ep_outcome(struct llm_endpoint *ep, const struct llm_result *res)
{
	struct llm_pool *p = ep->p;
	int64_t now = time_mono_ms();

	if (res->error < 0 && res->transient && counts_against_breaker(res->error)) {
		ep->failures++;
		ep->fails++;
		if (ep->breaker == LLM_BREAKER_HALF_OPEN) {
			ep->cooldown_ms *= 2;
			if (ep->cooldown_ms > BREAKER_MAX_COOLDOWN_MS)
				ep->cooldown_ms = BREAKER_MAX_COOLDOWN_MS;
			ep->breaker = LLM_BREAKER_OPEN;
			ep->open_until = now + ep->cooldown_ms;
		} else if (ep->fails >= p->o.breaker_failures) {
			ep->breaker = LLM_BREAKER_OPEN;
			ep->open_until = now + ep->cooldown_ms;
		}
		ep->probing = false;
		/* A probed server that went away is looked for again, and
		 * the next one found takes the requests meanwhile. */
		if (p->o.probe && res->error == -ECONNREFUSED) {
			ep->discovered = false;
			ep->breaker = LLM_BREAKER_CLOSED;
			ep->fails = 0;
			ep->model = mfree(ep->model);
			ep->name_model = false;
		}
		return;
	}
	if (res->error == -EBUSY) {
		int64_t d = res->retry_after_ms >= 0 ? res->retry_after_ms : p->o.backoff_base_ms;

		ep->paused_until = now + d;
		ep->probing = false;
		return;
	}
	/* The server answered as a server: it is healthy. */
	ep->fails = 0;
	ep->probing = false;
	ep->breaker = LLM_BREAKER_CLOSED;
	ep->cooldown_ms = p->o.breaker_cooldown_ms;
	/* A server that was down at start is asked again once it answers;
	 * one that has no /props is not asked after every request. */
	if (!ep->discovered && ep->disc_unreachable && ep->busy == 0)
		disc_start(ep);
}

/* ---- requests ---- */

static void req_free(struct llm_req *r)
{
	json_decref(r->messages);
	json_decref(r->schema);
	free(r->schema_name);
	llm_result_clear(&r->acc);
	free(r);
}

static void req_release(struct llm_req *r)
{
	struct llm_endpoint *ep = r->ep;

	if (ep == NULL || r->slot < 0)
		return;
	ep_account(ep);
	ep->busy--;
	if (r->slot < ep->nslot_busy)
		ep->slot_busy[r->slot] = false;
	r->slot = -1;
}

/* Hand the final outcome to the caller; r leaves every list first. */
static void req_complete(struct llm_req *r, struct llm_result *res)
{
	struct llm_pool *p = r->p;
	struct llm_job *j = pool_job(p, r->job_id, true);
	const char *endpoint = r->ep ? r->ep->base : NULL;

	if (r->ep && res->usage.timings_predicted_n > 0 && res->usage.timings_predicted_ms > 0) {
		r->ep->gen_tokens += res->usage.timings_predicted_n;
		r->ep->gen_ms += res->usage.timings_predicted_ms;
	}
	llm_usage_add(&r->acc.usage, &res->usage);
	res->usage = r->acc.usage;
	res->attempts += r->acc.attempts;
	res->ms += r->acc.ms;
	if (j) {
		j->u.requests++;
		if (res->error < 0)
			j->u.failures++;
		j->u.attempts += (uint64_t)res->attempts;
		llm_usage_add(&j->u.usage, &res->usage);
		j->u.llm_ms += res->ms;
	}
	p->st.completed++;
	if (res->error < 0)
		p->st.failed++;
	r->done(r, res, endpoint, r->ud);
	req_free(r);
}

static void req_fail(struct llm_req *r, int error, bool transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void req_fail(struct llm_req *r, int error, bool transient, const char *fmt, ...)
{
	struct llm_result res;
	va_list ap;

	llm_result_init(&res);
	res.error = error;
	res.transient = transient;
	va_start(ap, fmt);
	res.error_msg = xvasprintf(fmt, ap);
	va_end(ap);
	req_complete(r, &res);
	llm_result_clear(&res);
}

static void req_call_done(struct llm_call *call, struct llm_result *res, void *ud)
{
	struct llm_req *r = ud;
	struct llm_pool *p = r->p;
	struct llm_endpoint *ep = r->ep;

	r->call = NULL;
	list_unlink(&p->running, r);
	p->nrunning--;
	req_release(r);
	ep_outcome(ep, res);
	if (res->error < 0 && res->transient && r->retries < p->o.max_retries) {
		int64_t delay;

		/* Keep what this try cost; the next try adds to it. */
		llm_usage_add(&r->acc.usage, &res->usage);
		r->acc.attempts += res->attempts;
		r->acc.ms += res->ms;
		r->retries++;
		p->st.retried++;
		if (res->retry_after_ms >= 0)
			delay = res->retry_after_ms;
		else {
			int64_t b = p->o.backoff_base_ms;

			for (int i = 1; i < r->retries && b < p->o.backoff_max_ms; i++)
				b *= 2;
			if (b > p->o.backoff_max_ms)
				b = p->o.backoff_max_ms;
			delay = (int64_t)((double)b * (0.5 + 0.5 * pool_random(p)));
		}
		r->not_before = time_mono_ms() + delay;
		r->state = REQ_QUEUED;
		list_push(&p->queue, r);
		p->nqueued++;
		pool_schedule(p);
		return;
	}
	req_complete(r, res);
	pool_schedule(p);
}

static void req_run(struct llm_req *r)
{
	struct llm_pool *p = r->p;
	struct llm_endpoint *ep = r->ep;
	struct llm_call_options co = {0};
	int k;

	co.base_url = ep->base;
	co.messages = r->messages;
	co.schema = r->schema;
	co.schema_name = r->schema_name;
	co.max_tokens = r->max_tokens;
	co.temperature = r->temperature;
	co.max_repairs = r->max_repairs;
	co.timeout_ms = p->o.timeout_ms;
	co.no_stream = p->o.no_stream;
	co.cache_prompt = ep->kind == EP_LLAMA;
	/* Ollama's /v1 ignores num_ctx and silently cuts a longer prompt. */
	co.ollama = ep->kind == EP_OLLAMA;
	co.num_ctx = ep->n_ctx;
	co.id_slot = -1;
	if (p->o.model == NULL && ep->name_model)
		co.model = ep->model;
	if (ep->kind == EP_LLAMA && (p->o.slot_affinity || r->slot_hint >= 0))
		co.id_slot = r->slot;
	r->state = REQ_RUNNING;
	k = llm_call_start(p->client, &co, req_call_done, r, &r->call);
	if (k < 0) {
		list_unlink(&p->running, r);
		p->nrunning--;
		req_release(r);
		req_fail(r, k, k == -EAGAIN, "starting the request: %s", strerror(-k));
	}
}

/* ---- context check ---- */

static size_t messages_bytes(const json_t *msgs, struct buf *joined)
{
	size_t i, n = 0;
	json_t *m;

	json_array_foreach(msgs, i, m) {
		const char *s = json_string_value(json_object_get(m, "content"));

		if (s == NULL)
			continue;
		n += strlen(s);
		if (joined) {
			buf_puts(joined, s);
			buf_putc(joined, '\n');
		}
	}
	return n;
}

static int64_t req_budget(const struct llm_req *r)
{
	return (int64_t)json_array_size(r->messages) * TOKENS_PER_MESSAGE + TOKENS_PER_MESSAGE +
	    (r->max_tokens > 0 ? r->max_tokens : 0);
}

static void tok_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct llm_req *r = ud;
	struct llm_pool *p = r->p;
	struct llm_endpoint *ep = r->ep;
	json_t *root = NULL, *toks;
	int64_t n = -1;

	r->tok_req = NULL;
	if (resp->error == 0 && resp->status == 200) {
		root = json_loadb(resp->body.data, resp->body.len, 0, NULL);
		toks = json_object_get(root, "tokens");
		if (json_is_array(toks))
			n = (int64_t)json_array_size(toks);
		json_decref(root);
	}
	if (n < 0) {
		/* No count from the server: the estimate stands, and it said no. */
		list_unlink(&p->running, r);
		p->nrunning--;
		req_release(r);
		req_fail(r, -E2BIG, false, "the prompt may not fit the context of %lld tokens "
		    "(estimated %lld prompt tokens, max_tokens %lld) and %s could not count it",
		    (long long)ep->n_ctx, (long long)llm_estimate_tokens(messages_bytes(r->messages,
		    NULL)), (long long)r->max_tokens, ep->base);
		pool_schedule(p);
		return;
	}
	if (n + req_budget(r) > ep->n_ctx) {
		list_unlink(&p->running, r);
		p->nrunning--;
		req_release(r);
		req_fail(r, -E2BIG, false, "the prompt does not fit the context: %lld prompt "
		    "tokens + %lld for the template and max_tokens > n_ctx %lld",
		    (long long)n, (long long)req_budget(r), (long long)ep->n_ctx);
		pool_schedule(p);
		return;
	}
	req_run(r);
}

/* 0: go; 1: counting on the server; < 0: refused (r is finished). */
static int req_check_fit(struct llm_req *r)
{
	struct llm_pool *p = r->p;
	struct llm_endpoint *ep = r->ep;
	struct http_options ho = {0};
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	struct buf joined;
	int64_t est;
	json_t *o;
	char *url, *body;
	int k;

	if (ep->n_ctx <= 0)
		return 0;
	est = llm_estimate_tokens(messages_bytes(r->messages, NULL));
	if (est + req_budget(r) <= ep->n_ctx)
		return 0;
	if (!ep->has_tokenize)
		return -E2BIG;
	buf_init(&joined, 64 * 1024 * 1024);
	messages_bytes(r->messages, &joined);
	o = json_pack("{s:s, s:b}", "content", joined.data ? joined.data : "", "add_special", 1);
	buf_free(&joined);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (body == NULL)
		return -E2BIG;
	headers[1] = llm_client_auth_header(p->client);
	url = xasprintf("%s/tokenize", ep->root);
	ho.url = url;
	ho.method = "POST";
	ho.headers = headers;
	ho.body = body;
	ho.body_len = strlen(body);
	ho.timeout_ms = TOKENIZE_TIMEOUT_MS;
	ho.max_body = 64 * 1024 * 1024;
	ho.max_redirects = -1;
	r->state = REQ_TOKENIZING;
	k = http_request_start(p->http, &ho, tok_done, r, &r->tok_req);
	free(url);
	free(body);
	return k < 0 ? -E2BIG : 1;
}

/* ---- the scheduler ---- */

/* When a user's jobs were last served: the latest of their jobs'. */
static uint64_t owner_served(const struct llm_pool *p, int64_t owner)
{
	uint64_t last = 0;

	/* Requests without an owner (< 0) share one place in the rotation. */
	for (size_t i = 0; i < p->njobs; i++)
		if (p->jobs[i].owner == owner && p->jobs[i].last_served > last)
			last = p->jobs[i].last_served;
	return last;
}

/* The next request to run: the highest priority, then the user served
 * longest ago (round-robin across users), then that user's job served
 * longest ago (round-robin across jobs), then the oldest. */
static struct llm_req *pick(struct llm_pool *p, int64_t now, int64_t *wake)
{
	struct llm_req *best = NULL, *r;
	uint64_t best_served = 0, best_user = 0;

	for (r = p->queue; r; r = r->next) {
		struct llm_job *j;
		uint64_t served, user;

		if (r->not_before > now) {
			if (*wake < 0 || r->not_before < *wake)
				*wake = r->not_before;
			continue;
		}
		j = pool_job(p, r->job_id, false);
		served = j ? j->last_served : 0;
		user = owner_served(p, r->owner);
		if (best == NULL || r->priority > best->priority ||
		    (r->priority == best->priority && (user < best_user ||
		    (user == best_user && (served < best_served ||
		    (served == best_served && r->seq < best->seq)))))) {
			best = r;
			best_served = served;
			best_user = user;
		}
	}
	return best;
}

static struct llm_endpoint *choose_ep(struct llm_pool *p, struct llm_req *r, int64_t now,
    int64_t *wake, int *ret_slot)
{
	struct llm_job *j = pool_job(p, r->job_id, false);
	struct llm_endpoint *best = NULL;
	int slot = -1;

	/* Affinity first: the job's slot keeps its prompt cache. */
	if (j && j->ep >= 0 && (p->o.slot_affinity || r->slot_hint >= 0)) {
		struct llm_endpoint *ep = &p->eps[j->ep];
		int s = r->slot_hint >= 0 ? r->slot_hint % ep->slots : j->slot;

		if (s >= 0 && s < ep->slots && ep_available(ep, now, wake) && !ep->slot_busy[s]) {
			*ret_slot = s;
			return ep;
		}
	}
	for (unsigned k = 0; k < p->neps; k++) {
		struct llm_endpoint *ep = &p->eps[(p->rr + k) % p->neps];

		if (!ep_available(ep, now, wake))
			continue;
		if (best == NULL || ep->slots - ep->busy > best->slots - best->busy)
			best = ep;
	}
	if (best == NULL)
		return NULL;
	p->rr++;
	if (r->slot_hint >= 0 && !best->slot_busy[r->slot_hint % best->slots])
		slot = r->slot_hint % best->slots;
	for (int s = 0; slot < 0 && s < best->slots; s++)
		if (!best->slot_busy[s])
			slot = s;
	if (slot < 0)
		return NULL;
	*ret_slot = slot;
	return best;
}

static bool any_endpoint_up(struct llm_pool *p, int64_t now)
{
	for (unsigned i = 0; i < p->neps; i++) {
		struct llm_endpoint *ep = &p->eps[i];

		if (p->o.probe && !ep->discovered && !ep->disc_running)
			continue;
		if (ep->disc_running || ep->breaker != LLM_BREAKER_OPEN || ep->open_until <= now)
			return true;
	}
	return false;
}

static void pool_schedule(struct llm_pool *p)
{
	int64_t now, wake;

	if (p->in_schedule) {
		p->again = true;
		return;
	}
	p->in_schedule = true;
	do {
		p->again = false;
		now = time_mono_ms();
		wake = -1;
		/* Nothing can run anywhere for a long time: say so. */
		if (p->nqueued > 0 && !any_endpoint_up(p, now)) {
			struct llm_req *r;

			/* From the head each time: a done callback may cancel others. */
			for (;;) {
				for (r = p->queue; r; r = r->next)
					if (now - r->queued_at >= p->o.max_wait_ms)
						break;
				if (r == NULL)
					break;
				list_unlink(&p->queue, r);
				p->nqueued--;
				req_fail(r, -EHOSTDOWN, true, p->o.probe ?
				    "no model server found on loopback for %lld ms" :
				    "no model endpoint available for %lld ms (every breaker open)",
				    (long long)(now - r->queued_at));
			}
			for (r = p->queue; r; r = r->next) {
				int64_t t = r->queued_at + p->o.max_wait_ms;

				if (wake < 0 || t < wake)
					wake = t;
			}
		}
		for (;;) {
			struct llm_req *r = pick(p, now, &wake);
			struct llm_endpoint *ep;
			struct llm_job *j;
			int slot = -1, k;

			if (r == NULL)
				break;
			ep = choose_ep(p, r, now, &wake, &slot);
			if (ep == NULL)
				break;
			list_unlink(&p->queue, r);
			p->nqueued--;
			list_push(&p->running, r);
			p->nrunning++;
			ep_account(ep);
			ep->busy++;
			if (ep->busy > ep->max_busy)
				ep->max_busy = ep->busy;
			ep->slot_busy[slot] = true;
			ep->requests++;
			if (ep->breaker == LLM_BREAKER_HALF_OPEN)
				ep->probing = true;
			r->ep = ep;
			r->slot = slot;
			j = pool_job(p, r->job_id, true);
			if (j) {
				j->owner = r->owner;
				j->last_served = ++p->served;
				j->ep = (int)ep->index;
				j->slot = slot;
			}
			k = req_check_fit(r);
			if (k == 0)
				req_run(r);
			else if (k < 0) {
				list_unlink(&p->running, r);
				p->nrunning--;
				req_release(r);
				if (ep->breaker == LLM_BREAKER_HALF_OPEN)
					ep->probing = false;
				req_fail(r, -E2BIG, false, "the prompt does not fit the context of "
				    "%lld tokens (estimated %lld prompt tokens + %lld)",
				    (long long)ep->n_ctx, (long long)llm_estimate_tokens(
				    messages_bytes(r->messages, NULL)), (long long)req_budget(r));
			}
		}
	} while (p->again);
	p->in_schedule = false;
	if (wake >= 0)
		uv_timer_start(&p->timer, on_timer, (uint64_t)(wake > now ? wake - now : 0), 0);
	else
		uv_timer_stop(&p->timer);
}

static void on_timer(uv_timer_t *t)
{
	pool_schedule(t->data);
}

/* ---- public ---- */

static int pool_add_endpoint(struct llm_pool *p, const char *s, size_t n)
{
	struct llm_endpoint *ep;
	size_t rl;

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '/'))
		n--;
	if (n == 0)
		return 0;
	if (p->neps >= LLM_POOL_MAX_ENDPOINTS)
		return -E2BIG;
	if (!(n > 7 && strncmp(s, "http://", 7) == 0) && !(n > 8 && strncmp(s, "https://", 8) == 0))
		return -EINVAL;
	ep = &p->eps[p->neps];
	ep->p = p;
	ep->index = p->neps++;
	ep->base = xstrndup(s, n);
	rl = n;
	if (rl >= 3 && strncmp(s + rl - 3, "/v1", 3) == 0)
		rl -= 3;
	ep->root = xstrndup(s, rl);
	ep->kind = EP_OPENAI;
	ep_set_slots(ep, p->o.slots > 0 ? p->o.slots : 1);
	ep->n_ctx = p->o.n_ctx > 0 ? p->o.n_ctx : 0;
	ep->cooldown_ms = p->o.breaker_cooldown_ms;
	ep->busy_since = time_mono_ms();
	return 0;
}

int llm_pool_new(uv_loop_t *loop, struct http *http, const struct llm_pool_options *o,
    struct llm_pool **ret)
{
	struct llm_client_options co = {0};
	struct llm_pool *p;
	const char *s, *comma;
	int r;

	if (loop == NULL || http == NULL || o == NULL || o->urls == NULL || ret == NULL)
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->http = http;
	p->o = *o;
	p->o.urls = NULL;
	p->o.api_key_file = NULL;
	p->o.model = o->model ? xstrdup(o->model) : NULL;
	if (p->o.timeout_ms <= 0)
		p->o.timeout_ms = LLM_DEFAULT_TIMEOUT_MS;
	if (p->o.max_retries == 0)
		p->o.max_retries = 4;
	if (p->o.max_retries < 0)
		p->o.max_retries = 0;
	if (p->o.max_repairs <= 0)
		p->o.max_repairs = 2;
	if (p->o.backoff_base_ms <= 0)
		p->o.backoff_base_ms = 500;
	if (p->o.backoff_max_ms <= 0)
		p->o.backoff_max_ms = 30000;
	if (p->o.breaker_failures <= 0)
		p->o.breaker_failures = 3;
	if (p->o.breaker_cooldown_ms <= 0)
		p->o.breaker_cooldown_ms = 5000;
	if (p->o.max_wait_ms <= 0)
		p->o.max_wait_ms = 120000;
	if (p->o.max_queued == 0)
		p->o.max_queued = 10000;
	p->rng = (uint64_t)time_now_ms() ^ ((uint64_t)(uintptr_t)p << 16) ^ 0x9e3779b97f4a7c15ULL;
	for (s = o->urls; ; s = comma + 1) {
		comma = strchr(s, ',');
		r = pool_add_endpoint(p, s, comma ? (size_t)(comma - s) : strlen(s));
		if (r < 0)
			goto fail;
		if (comma == NULL)
			break;
	}
	if (p->neps == 0) {
		r = -EINVAL;
		goto fail;
	}
	co.api_key_file = o->api_key_file;
	co.model = p->o.model;
	r = llm_client_new(http, &co, &p->client);
	if (r < 0)
		goto fail;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	for (unsigned i = 0; i < p->neps; i++)
		disc_start(&p->eps[i]);
	*ret = p;
	return 0;
fail:
	for (unsigned i = 0; i < p->neps; i++) {
		free(p->eps[i].base);
		free(p->eps[i].root);
		free(p->eps[i].slot_busy);
	}
	free((char *)p->o.model);
	free(p);
	return r;
}

static void pool_closed(uv_handle_t *h)
{
	free(h->data);
}

struct llm_pool *llm_pool_free(struct llm_pool *p)
{
	struct llm_req *r;

	if (p == NULL)
		return NULL;
	while ((r = p->queue) != NULL) {
		list_unlink(&p->queue, r);
		req_free(r);
	}
	while ((r = p->running) != NULL) {
		list_unlink(&p->running, r);
		llm_call_cancel(r->call);
		if (r->tok_req)
			http_request_cancel(r->tok_req);
		req_free(r);
	}
	for (unsigned i = 0; i < p->neps; i++) {
		struct llm_endpoint *ep = &p->eps[i];

		if (ep->disc_req)
			http_request_cancel(ep->disc_req);
		free(ep->base);
		free(ep->root);
		free(ep->model);
		free(ep->slot_busy);
	}
	llm_client_free(p->client);
	free(p->jobs);
	free((char *)p->o.model);
	/* The timer's memory is the pool's: freed once the loop closed it. */
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, pool_closed);
	return NULL;
}

int64_t llm_pool_context(const struct llm_pool *p)
{
	int64_t n = 0;

	for (unsigned i = 0; i < p->neps; i++)
		if (p->eps[i].n_ctx > 0 && (n == 0 || p->eps[i].n_ctx < n))
			n = p->eps[i].n_ctx;
	return n;
}

bool llm_pool_reachable(const struct llm_pool *p)
{
	for (unsigned i = 0; i < p->neps; i++) {
		const struct llm_endpoint *ep = &p->eps[i];

		if (ep->breaker == LLM_BREAKER_OPEN)
			continue;
		if (p->o.probe) {
			if (ep->discovered)
				return true;
			continue;
		}
		if (p->o.no_discovery || ep->discovered ||
		    (ep->disc_answered && !ep->disc_unreachable))
			return true;
	}
	return false;
}

void llm_pool_probe(struct llm_pool *p)
{
	for (unsigned i = 0; i < p->neps; i++)
		if (!p->eps[i].discovered || (p->o.probe && p->eps[i].busy == 0))
			disc_start(&p->eps[i]);
}

bool llm_pool_ready(const struct llm_pool *p)
{
	for (unsigned i = 0; i < p->neps; i++)
		if (p->eps[i].disc_running)
			return false;
	return true;
}

int llm_pool_submit(struct llm_pool *p, const struct llm_request *rq, llm_pool_done_fn done,
    void *ud, struct llm_req **ret)
{
	struct llm_req *r;
	size_t i;
	json_t *m;
	int k;

	if (p == NULL || rq == NULL || done == NULL || !json_is_array(rq->messages) ||
	    json_array_size(rq->messages) == 0)
		return -EINVAL;
	if (p->nqueued >= p->o.max_queued)
		return -EAGAIN;
	json_array_foreach(rq->messages, i, m)
		if (!json_is_string(json_object_get(m, "role")) ||
		    !json_is_string(json_object_get(m, "content")))
			return -EINVAL;
	if (rq->schema) {
		k = schema_check(rq->schema, NULL);
		if (k < 0)
			return k;
	}
	pool_job(p, rq->job_id, true);
	r = xcalloc(1, sizeof(*r));
	r->p = p;
	r->job_id = rq->job_id;
	r->owner = rq->owner;
	r->priority = rq->priority;
	r->messages = json_deep_copy(rq->messages);
	r->schema = rq->schema ? json_deep_copy(rq->schema) : NULL;
	r->schema_name = rq->schema_name ? xstrdup(rq->schema_name) : NULL;
	r->max_tokens = rq->max_tokens;
	r->temperature = rq->temperature;
	r->max_repairs = rq->max_repairs < 0 ? p->o.max_repairs : rq->max_repairs;
	r->slot_hint = rq->slot_hint >= 0 ? rq->slot_hint : -1;
	r->slot = -1;
	r->seq = ++p->seq;
	r->queued_at = time_mono_ms();
	r->done = done;
	r->ud = ud;
	llm_result_init(&r->acc);
	r->state = REQ_QUEUED;
	list_push(&p->queue, r);
	p->nqueued++;
	p->st.submitted++;
	pool_kick(p);
	if (ret)
		*ret = r;
	return 0;
}

void llm_pool_cancel(struct llm_req *r)
{
	struct llm_pool *p;

	if (r == NULL)
		return;
	p = r->p;
	p->st.cancelled++;
	if (r->state == REQ_QUEUED) {
		list_unlink(&p->queue, r);
		p->nqueued--;
		req_free(r);
		return;
	}
	list_unlink(&p->running, r);
	p->nrunning--;
	if (r->call)
		llm_call_cancel(r->call);
	if (r->tok_req)
		http_request_cancel(r->tok_req);
	if (r->ep && r->ep->breaker == LLM_BREAKER_HALF_OPEN)
		r->ep->probing = false;
	req_release(r);
	req_free(r);
	pool_kick(p);
}

void llm_pool_get_stats(const struct llm_pool *p, struct llm_pool_stats *ret)
{
	*ret = p->st;
	ret->queued = p->nqueued;
	ret->running = p->nrunning;
	ret->n_endpoints = p->neps;
}

int llm_pool_endpoint(const struct llm_pool *p, unsigned i, struct llm_endpoint_info *ret)
{
	const struct llm_endpoint *ep;
	int64_t now = time_mono_ms();

	if (i >= p->neps)
		return -ENOENT;
	ep = &p->eps[i];
	memset(ret, 0, sizeof(*ret));
	ret->url = ep->base;
	ret->kind = kind_names[ep->kind];
	ret->model = ep->model;
	ret->slots = ep->slots;
	ret->busy = ep->busy;
	ret->n_ctx = ep->n_ctx;
	ret->discovered = ep->discovered;
	ret->has_tokenize = ep->has_tokenize;
	ret->breaker = ep->breaker;
	ret->requests = ep->requests;
	ret->failures = ep->failures;
	ret->tokens_per_s = ep->gen_ms > 0 ? ep->gen_tokens * 1000.0 / ep->gen_ms : 0;
	ret->busy_slot_ms = ep->busy_slot_ms + (int64_t)ep->busy * (now - ep->busy_since);
	ret->max_busy = ep->max_busy;
	return 0;
}

void llm_pool_forget_job(struct llm_pool *p, int64_t job_id)
{
	for (size_t i = 0; i < p->njobs; i++)
		if (p->jobs[i].id == job_id) {
			p->jobs[i] = p->jobs[--p->njobs];
			return;
		}
}

int llm_pool_job_usage(const struct llm_pool *p, int64_t job_id, struct llm_job_usage *ret)
{
	for (size_t i = 0; i < p->njobs; i++)
		if (p->jobs[i].id == job_id) {
			*ret = p->jobs[i].u;
			return 0;
		}
	return -ENOENT;
}
