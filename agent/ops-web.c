/* The ops that read the web for a person at the CLI: fetch (one page
 * through the polite fetcher and the source cache, extracted on the thread
 * pool) and sources (what jobs fetched). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "extract.h"
#include "fetch.h"
#include "index.h"
#include "search.h"
#include "json.h"
#include "client.h"
#include "log.h"
#include "model.h"
#include "pool.h"
#include "pdf.h"
#include "ops.h"
#include "protocol.h"
#include "server.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

struct ops_fetch {
	struct client *c;
	json_t *id;
	struct fetch_req *req;	/* while fetching */
	uv_work_t work;		/* while decompressing and extracting */
	bool in_work, dead;
	struct store_blob blob;	/* the snapshot as stored, until decompressed */
	uint8_t hash[HASH_BYTES];
	int decode_r;
	bool is_pdf;
	char *body;
	size_t len;
	char *content_type, *base_url;
	struct extract_result *ex;
	int ex_r;
	struct pdf_job *pdf;	/* while converting a PDF in the sandbox */
	char *pdf_text;
	size_t pdf_len;
	unsigned pdf_pages;
	char *pdf_error;
	json_t *source;
};

static json_t *ops_web_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void ops_fetch_free(struct ops_fetch *f)
{
	if (f->id)
		json_decref(f->id);
	if (f->source)
		json_decref(f->source);
	extract_result_free(f->ex);
	free(f->pdf_text);
	free(f->pdf_error);
	store_blob_clear(&f->blob);
	free(f->body);
	free(f->content_type);
	free(f->base_url);
	free(f);
}

/* The client went away: stop what can be stopped; the thread pool's work
 * cannot, so its completion frees. */
static void ops_fetch_cleanup(void *data)
{
	struct ops_fetch *f = data;

	if (f->req) {
		fetch_cancel(f->req);
		f->req = NULL;
	}
	if (f->pdf) {
		pdf_job_cancel(f->pdf);
		f->pdf = NULL;
	}
	if (f->in_work) {
		f->dead = true;
		return;
	}
	ops_fetch_free(f);
}

static void ops_fetch_reply(struct ops_fetch *f, json_t *msg)
{
	struct client *c = f->c;

	client_set_op(c, NULL, NULL);
	client_send(c, msg);
	json_decref(msg);
	ops_fetch_free(f);
	client_set_busy(c, false);
}

static void ops_fetch_fail(struct ops_fetch *f, const char *code, const char *message)
{
	ops_fetch_reply(f, protocol_error_new(f->id, code, message));
}

static void ops_fetch_answer(struct ops_fetch *f)
{
	json_t *m = protocol_reply_new(f->id);

	json_object_set(m, "source", f->source);
	if (f->pdf_text) {
		json_object_set_new(m, "page", json_pack("{s:s, s:n, s:i, s:s%}", "kind", "pdf",
		    "title", "pages", (int)f->pdf_pages, "text", f->pdf_text, f->pdf_len));
	} else if (f->pdf_error) {
		json_object_set_new(m, "page_error", json_string(f->pdf_error));
	} else if (f->ex) {
		json_t *page = json_object(), *links = json_array();

		json_object_set_new(page, "title", ops_web_str(f->ex->title));
		json_object_set_new(page, "canonical_url", ops_web_str(f->ex->canonical_url));
		json_object_set_new(page, "author", ops_web_str(f->ex->author));
		json_object_set_new(page, "published", ops_web_str(f->ex->published));
		json_object_set_new(page, "lang", ops_web_str(f->ex->lang));
		json_object_set_new(page, "charset", ops_web_str(f->ex->charset));
		for (size_t i = 0; i < f->ex->n_links; i++)
			json_array_append_new(links, json_pack("{s:s, s:s}", "url", f->ex->links[i].url,
			    "text", f->ex->links[i].text ? f->ex->links[i].text : ""));
		json_object_set_new(page, "links", links);
		json_object_set_new(page, "text", json_stringn(f->ex->text, f->ex->text_len));
		json_object_set_new(m, "page", page);
	} else if (f->ex_r < 0) {
		json_object_set_new(m, "page_error", json_string(
		    f->ex_r == -EMEDIUMTYPE ? "not HTML, text, Markdown or JSON" :
		    f->ex_r == -EFBIG ? "the page or its text is over the extractor's caps" :
		    "not text, or markup the extractor refuses"));
	}
	ops_fetch_reply(f, m);
}

/* On the thread pool: decompressing a snapshot of up to 10 MiB, checking
 * its hash and extracting it would each stall every client on the loop. */
static void ops_fetch_work(uv_work_t *w)
{
	struct ops_fetch *f = w->data;
	struct extract_options opt = {
		.content_type = f->content_type,
		.base_url = f->base_url,
	};

	f->decode_r = store_snapshot_decode(f->hash, &f->blob, &f->body, &f->len);
	store_blob_clear(&f->blob);
	if (f->decode_r < 0)
		return;
	/* A PDF is known by its bytes, not by its URL or Content-Type, and is
	 * converted by pdftotext inside the sandbox, never in the daemon. */
	f->is_pdf = pdf_is_pdf(f->body, f->len);
	if (f->is_pdf)
		return;
	f->ex_r = extract_html(f->body, f->len, &opt, &f->ex);
}

static void ops_fetch_pdf_done(struct pdf_job *job, int r, char *text, size_t len, unsigned pages,
    const char *error, void *ud);

static void ops_fetch_work_done(uv_work_t *w, int status)
{
	struct ops_fetch *f = w->data;
	struct daemon *d;
	int r;

	f->in_work = false;
	if (f->dead) {
		ops_fetch_free(f);
		return;
	}
	d = client_daemon(f->c);
	if (f->decode_r < 0) {
		log_warn_errno(f->decode_r, "reading the snapshot of %s", f->base_url);
		ops_fetch_fail(f, PROTO_E_INTERNAL, "the fetched page could not be read back from the cache");
		return;
	}
	if (f->is_pdf) {
		struct pdf_limits lim = { .max_input = d->config->fetch_max_body };

		r = pdf_to_text(d->loop, d->config->sandbox_helper, f->body, f->len, &lim,
		    ops_fetch_pdf_done, f, &f->pdf);
		if (r < 0) {
			f->pdf = NULL;
			f->pdf_error = xasprintf("the PDF could not be converted: %s", strerror(-r));
			ops_fetch_answer(f);
		}
		return;
	}
	ops_fetch_answer(f);
}

static void ops_fetch_pdf_done(struct pdf_job *job, int r, char *text, size_t len, unsigned pages,
    const char *error, void *ud)
{
	struct ops_fetch *f = ud;

	f->pdf = NULL;
	if (r < 0)
		f->pdf_error = xstrdup(error ? error : strerror(-r));
	else {
		f->pdf_text = text;
		f->pdf_len = len;
		f->pdf_pages = pages;
	}
	ops_fetch_answer(f);
}

static void ops_fetch_done(struct fetch_req *req, int r, const struct fetch_result *res,
    const char *msg, void *ud)
{
	struct ops_fetch *f = ud;
	struct daemon *d = client_daemon(f->c);
	char hex[HASH_HEX_LEN + 1];

	f->req = NULL;
	if (r < 0) {
		ops_fetch_fail(f, PROTO_E_FAILED, msg ? msg : strerror(-r));
		return;
	}
	f->source = json_object();
	json_object_set_new(f->source, "url", json_string(res->url));
	json_object_set_new(f->source, "final_url", ops_web_str(res->final_url));
	json_object_set_new(f->source, "status", json_integer(res->status));
	json_object_set_new(f->source, "content_type", ops_web_str(res->content_type));
	if (res->has_body) {
		hash_hex(res->hash, hex);
		json_object_set_new(f->source, "hash", json_string(hex));
	}
	json_object_set_new(f->source, "bytes", json_integer(res->bytes));
	json_object_set_new(f->source, "fetched", ops_time(res->fetched));
	json_object_set_new(f->source, "from_cache", json_boolean(res->from_cache));
	json_object_set_new(f->source, "revalidated", json_boolean(res->revalidated));
	json_object_set_new(f->source, "error", ops_web_str(res->error));
	if (res->error || !res->has_body) {
		ops_fetch_answer(f);
		return;
	}
	/* Only the read is here; decompressing runs with the extraction. */
	r = store_snapshot_get_encoded(d->store, res->hash, (size_t)d->config->fetch_max_body,
	    &f->blob);
	if (r < 0) {
		log_warn_errno(r, "reading the snapshot of %s", res->url);
		ops_fetch_fail(f, PROTO_E_INTERNAL, "the fetched page could not be read back from the cache");
		return;
	}
	memcpy(f->hash, res->hash, HASH_BYTES);
	f->content_type = res->content_type ? xstrdup(res->content_type) : NULL;
	f->base_url = xstrdup(res->final_url ? res->final_url : res->url);
	f->work.data = f;
	f->in_work = true;
	r = uv_queue_work(d->loop, &f->work, ops_fetch_work, ops_fetch_work_done);
	if (r < 0) {
		f->in_work = false;
		ops_fetch_fail(f, PROTO_E_INTERNAL, "extraction could not be started");
	}
}

void op_fetch(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct ops_fetch *f;
	const char *url = NULL;
	int r;

	json_get_string(req->root, "url", &url);
	f = xcalloc(1, sizeof(*f));
	f->c = c;
	f->id = req->id ? json_incref(req->id) : NULL;
	client_set_busy(c, true);
	client_set_op(c, f, ops_fetch_cleanup);
	r = fetch_start(d->fetch, url, ops_fetch_done, f, &f->req);
	if (r < 0) {
		f->req = NULL;
		ops_fetch_fail(f, r == -EINVAL ? PROTO_E_BAD_REQUEST : PROTO_E_FAILED,
		    r == -EINVAL ? "not an http:// or https:// URL the fetcher accepts" : strerror(-r));
	}
}

struct ops_sources {
	struct client *c;
	json_t *id;
	json_t *seen;		/* canonical URLs sent, as object keys */
	int64_t count;
};

static int ops_sources_one(int64_t job_id, const char *request, const char *result, int64_t ms,
    int64_t created, void *userdata)
{
	struct ops_sources *s = userdata;
	json_t *src = json_loads(result, 0, NULL), *m;
	const char *url = NULL;
	bool ok;

	if (src == NULL || json_get_string(src, "url", &url) < 0 || json_object_get(s->seen, url)) {
		json_decref(src);
		return 0;
	}
	json_object_set_new(s->seen, url, json_true());
	json_object_set_new(src, "job", json_integer(job_id));
	m = protocol_reply_new(s->id);
	json_object_set_new(m, "source", src);
	ok = client_send(s->c, m);
	json_decref(m);
	s->count++;
	return ok ? 0 : -EPIPE;
}

void op_sources(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct ops_sources s = { .c = c, .id = req->id };
	int64_t job = 0, limit = 1000;
	uid_t owner = client_uid(c);
	bool all = false;
	int r;

	json_get_int(req->root, "job", &job);
	json_get_int(req->root, "limit", &limit);
	json_get_bool(req->root, "all", &all);
	if (job > 0) {
		struct store_job *j = ops_job_get(c, req);

		if (j == NULL)
			return;
		store_job_free(j);
	}
	/* Root sees a job's sources by its id, and everyone's with "all". */
	if (owner == 0 && (job > 0 || all))
		owner = (uid_t)-1;
	s.seen = json_object();
	r = store_effect_list_kind(d->store, "web.fetch", owner, job, limit, ops_sources_one, &s);
	json_decref(s.seen);
	if (r == -EPIPE)
		return;
	if (r < 0) {
		client_send_error(c, req->id, PROTO_E_INTERNAL, "listing sources failed");
		return;
	}
	ops_send_end(c, req->id, s.count);
}

/* One of the user's documents for the local index, read and extracted by
 * the CLI with the user's own permissions (`research index DIR`). It is
 * the user's own: keys are per uid, so nobody replaces another's document,
 * and only the user's jobs and searches see it; root's documents are
 * shared with everyone. */
void op_index_add(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	const char *key = NULL, *title = NULL;
	json_t *text = json_object_get(req->root, "text"), *m;
	size_t passages = 0;
	bool unchanged = false;
	int r;

	json_get_string(req->root, "key", &key);
	json_get_string(req->root, "title", &title);
	if (!str_startswith(key, "file://")) {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "key must be a file:// URL");
		return;
	}
	r = index_add_owned(d->store, client_uid(c), key, "local", title, json_string_value(text),
	    json_string_length(text), time_now_ms(), &passages, &unchanged);
	if (r == -EINVAL || r == -E2BIG) {
		client_send_error(c, req->id, PROTO_E_BAD_REQUEST, "the document cannot be indexed: %s",
		    strerror(-r));
		return;
	}
	if (r < 0) {
		log_warn_errno(r, "indexing a document for uid %u", (unsigned)client_uid(c));
		client_send_error(c, req->id, PROTO_E_INTERNAL, "indexing failed: %s", strerror(-r));
		return;
	}
	m = protocol_reply_new(req->id);
	json_object_set_new(m, "passages", json_integer((json_int_t)passages));
	json_object_set_new(m, "unchanged", json_boolean(unchanged));
	client_send(c, m);
	json_decref(m);
}

/* A search for a person at the CLI: every configured backend at once,
 * merged. Not an effect: nothing is stored for a job. */
struct ops_search {
	struct client *c;
	json_t *id;
	struct search_call *call;
};

static void ops_search_free(struct ops_search *o)
{
	if (o->id)
		json_decref(o->id);
	free(o);
}

static void ops_search_cleanup(void *data)
{
	struct ops_search *o = data;

	if (o->call)
		search_cancel(o->call);
	ops_search_free(o);
}

static void ops_search_done(struct search_call *call, const struct search_response *resp, void *ud)
{
	struct ops_search *o = ud;
	struct client *c = o->c;
	json_t *m = protocol_reply_new(o->id), *body = search_response_json(resp);

	o->call = NULL;
	json_object_update(m, body);
	json_decref(body);
	client_set_op(c, NULL, NULL);
	client_send(c, m);
	json_decref(m);
	ops_search_free(o);
	client_set_busy(c, false);
}

void op_search(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct search_query q = { 0 };
	struct ops_search *o;
	int64_t max = 0;
	int r;

	json_get_string(req->root, "q", &q.q);
	json_get_string(req->root, "lang", &q.lang);
	json_get_string(req->root, "time_range", &q.time_range);
	q.owner = client_uid(c);
	if (json_get_int(req->root, "max_results", &max) == 0)
		q.max_results = (unsigned)max;
	o = xcalloc(1, sizeof(*o));
	o->c = c;
	o->id = req->id ? json_incref(req->id) : NULL;
	r = search_start(d->search, &q, NULL, 0, ops_search_done, o, &o->call);
	if (r < 0) {
		client_send_error(c, req->id, r == -EINVAL ? PROTO_E_BAD_REQUEST : PROTO_E_FAILED,
		    r == -EINVAL ? "the query, language or time range is not one the backends take" :
		    "the search could not start: %s", strerror(-r));
		ops_search_free(o);
		return;
	}
	client_set_busy(c, true);
	client_set_op(c, o, ops_search_cleanup);
}

/* `research llm`: the endpoints as the pool knows them, or one prompt run
 * through the pool (not an effect: nothing is stored for a job). */
struct ops_llm {
	struct client *c;
	json_t *id;
	struct llm_req *req;
	json_t *messages;
};

static void ops_llm_free(struct ops_llm *o)
{
	if (o->id)
		json_decref(o->id);
	if (o->messages)
		json_decref(o->messages);
	free(o);
}

static void ops_llm_cleanup(void *data)
{
	struct ops_llm *o = data;

	if (o->req)
		llm_pool_cancel(o->req);
	ops_llm_free(o);
}

static json_t *ops_llm_int(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static void ops_llm_done(struct llm_req *req, struct llm_result *res, const char *endpoint, void *ud)
{
	struct ops_llm *o = ud;
	struct client *c = o->c;
	json_t *m;

	o->req = NULL;
	client_set_op(c, NULL, NULL);
	if (res->error < 0) {
		m = protocol_error_new(o->id, PROTO_E_FAILED,
		    res->error_msg ? res->error_msg : strerror(-res->error));
	} else {
		m = protocol_reply_new(o->id);
		json_object_set_new(m, "answer", json_string(res->answer ? res->answer : ""));
		json_object_set_new(m, "reasoning", json_string(res->reasoning ? res->reasoning : ""));
		if (res->json)
			json_object_set(m, "json", res->json);
		json_object_set_new(m, "finish_reason", ops_web_str(res->finish_reason));
		json_object_set_new(m, "model", ops_web_str(res->model));
		json_object_set_new(m, "endpoint", ops_web_str(endpoint));
		json_object_set_new(m, "attempts", json_integer(res->attempts));
		json_object_set_new(m, "ms", json_integer(res->ms));
		json_object_set_new(m, "usage", json_pack("{s:o, s:o, s:o, s:o}",
		    "prompt_tokens", ops_llm_int(res->usage.prompt_tokens),
		    "completion_tokens", ops_llm_int(res->usage.completion_tokens),
		    "cached_tokens", ops_llm_int(res->usage.cached_tokens),
		    "reasoning_tokens", ops_llm_int(res->usage.reasoning_tokens)));
		if (res->usage.timings_predicted_ms > 0 && res->usage.timings_predicted_n > 0)
			json_object_set_new(m, "tokens_per_s", json_real(res->usage.timings_predicted_n *
			    1000.0 / res->usage.timings_predicted_ms));
	}
	client_send(c, m);
	json_decref(m);
	ops_llm_free(o);
	client_set_busy(c, false);
}

static const char *const ops_llm_breakers[] = { "closed", "open", "half-open" };

void op_llm(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct llm_endpoint_info info;
	struct llm_pool_stats st;
	const char *prompt = NULL;
	json_t *schema = NULL, *m, *eps;
	int64_t max_tokens = 512;
	struct ops_llm *o;
	int r;

	if (json_get_string(req->root, "prompt", &prompt) < 0) {
		llm_pool_get_stats(d->llm, &st);
		eps = json_array();
		for (unsigned i = 0; llm_pool_endpoint(d->llm, i, &info) == 0; i++)
			json_array_append_new(eps, json_pack("{s:s, s:s, s:o, s:i, s:i, s:o, s:b, s:b, s:s, s:I, s:I, s:i}",
			    "url", info.url, "kind", info.kind ? info.kind : "unknown",
			    "model", ops_web_str(info.model), "slots", info.slots, "busy", info.busy,
			    "n_ctx", info.n_ctx > 0 ? json_integer(info.n_ctx) : json_null(),
			    "reachable", info.discovered && info.breaker == LLM_BREAKER_CLOSED,
			    "tokenize", info.has_tokenize, "breaker", ops_llm_breakers[info.breaker],
			    "requests", (json_int_t)info.requests, "failures", (json_int_t)info.failures,
			    "max_busy", info.max_busy));
		for (unsigned i = 0; llm_pool_endpoint(d->llm, i, &info) == 0; i++)
			if (info.tokens_per_s > 0)
				json_object_set_new(json_array_get(eps, i), "tokens_per_s",
				    json_real(info.tokens_per_s));
		m = protocol_reply_new(req->id);
		json_object_set_new(m, "endpoints", eps);
		json_object_set_new(m, "queued", json_integer(st.queued));
		json_object_set_new(m, "running", json_integer(st.running));
		json_object_set_new(m, "ready", json_boolean(llm_pool_ready(d->llm)));
		json_object_set_new(m, "source", model_status(d->model));
		client_send(c, m);
		json_decref(m);
		return;
	}
	json_get_object(req->root, "schema", &schema);
	json_get_int(req->root, "max_tokens", &max_tokens);
	o = xcalloc(1, sizeof(*o));
	o->c = c;
	o->id = req->id ? json_incref(req->id) : NULL;
	o->messages = json_pack("[{s:s, s:s}]", "role", "user", "content", prompt);
	struct llm_request rq = {
		.job_id = 0,
		.priority = 1,	/* a person is waiting */
		.messages = o->messages,
		.schema = schema,
		.max_tokens = max_tokens,
		.temperature = -1,
		.max_repairs = -1,
		.slot_hint = -1,
	};
	r = llm_pool_submit(d->llm, &rq, ops_llm_done, o, &o->req);
	if (r < 0) {
		client_send_error(c, req->id, r == -EINVAL ? PROTO_E_BAD_REQUEST : PROTO_E_FAILED,
		    "%s", r == -EINVAL ? "the schema is outside the subset researchd validates" : strerror(-r));
		ops_llm_free(o);
		return;
	}
	client_set_busy(c, true);
	client_set_op(c, o, ops_llm_cleanup);
}

/* A job's model calls as stored (request, reply, reasoning), in order:
 * durable execution keeps every one, so the trace is just the store. */
struct ops_trace {
	struct client *c;
	json_t *id;
	int64_t count;
};

static int ops_trace_one(int64_t job_id, const char *request, const char *result, int64_t ms,
    int64_t created, void *userdata)
{
	struct ops_trace *t = userdata;
	json_t *m = protocol_reply_new(t->id), *call;
	bool ok;

	call = json_pack("{s:o, s:o, s:I, s:o}",
	    "request", json_loads(request, JSON_DECODE_ANY, NULL) ?: json_null(),
	    "result", json_loads(result, JSON_DECODE_ANY, NULL) ?: json_null(),
	    "ms", (json_int_t)ms, "time", ops_time(created));
	json_object_set_new(m, "call", call);
	ok = client_send(t->c, m);
	json_decref(m);
	t->count++;
	return ok ? 0 : -EPIPE;
}

void op_trace(struct client *c, struct protocol_request *req)
{
	struct daemon *d = client_daemon(c);
	struct ops_trace t = { .c = c, .id = req->id };
	struct store_job *j;
	int64_t job;
	int r;

	j = ops_job_get(c, req);
	if (j == NULL)
		return;
	job = j->id;
	store_job_free(j);
	r = store_effect_list_kind(d->store, "llm.chat", (uid_t)-1, job, PROTOCOL_MAX_LIST,
	    ops_trace_one, &t);
	if (r == -EPIPE)
		return;
	if (r < 0) {
		client_send_error(c, req->id, PROTO_E_INTERNAL, "reading the trace failed");
		return;
	}
	ops_send_end(c, req->id, t.count);
}
