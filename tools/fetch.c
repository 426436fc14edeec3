/* Fetching pages: the source cache in front, then per-host politeness
 * (queue, concurrency, delay, robots.txt, Retry-After, breaker), then
 * tools/http.c with the SSRF guard. Every completion is delivered from the
 * loop, never from inside fetch_start(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <uv.h>

#include "buildconf.h"
#include "fetch.h"
#include "http.h"
#include "robots.h"
#include "ssrf.h"
#include "store.h"
#include "str.h"
#include "url.h"
#include "xmalloc.h"

#define FETCH_ROBOTS_MAX_BODY (1024 * 1024)
#define FETCH_ROBOTS_RETRY_MS 60000		/* after a robots.txt that failed */
#define FETCH_MAX_CRAWL_DELAY_MS 30000
#define FETCH_DEFAULT_RETRY_AFTER_MS 5000
#define FETCH_MAX_RETRY_AFTER_MS (86400LL * 1000)
#define FETCH_MAX_ATTEMPTS 2

struct fetch_outcome {
	int refs;
	int r;				/* 0, or a transient negative errno */
	char *msg;
	struct fetch_result res;
	char *url, *final_url, *content_type, *error;
};

struct fetch_req {
	struct fetch *f;
	struct fetch_job *job;		/* waiting for it, or NULL */
	struct fetch_outcome *ready;	/* waiting in f's ready list, or NULL */
	struct fetch_req *prev, *next;
	fetch_done_fn done;
	void *ud;
	bool delivering;
};

struct fetch_job {
	struct fetch *f;
	struct fetch_host *host;
	char *url, *path;
	char *hop_url;			/* where a redirect led, or NULL */
	int hops;			/* redirects followed */
	struct store_source *stale;	/* for a conditional request */
	struct http_request *http;
	bool queued, linked, completing;
	int attempts;
	struct fetch_req *waiters;
	struct fetch_store_work *storing;	/* hashing and compressing its body */
	struct fetch_job *prev, *next;		/* f->jobs */
	struct fetch_job *qprev, *qnext;	/* host queue */
};

struct fetch_host {
	struct fetch *f;
	char *key;			/* scheme://host:port */
	char *origin;			/* scheme://host[:port] for URLs */
	unsigned active;
	int64_t next_ms;		/* monotonic: no request starts before */
	struct fetch_job *qhead, *qtail;
	struct robots *robots;
	int64_t robots_expires;		/* monotonic */
	struct http_request *robots_http;
	int robots_err;
	char *robots_msg;
	int64_t delay_ms;		/* max(host_delay, Crawl-delay) */
	unsigned failures;
	int64_t open_until;
	int64_t last_used;
	struct fetch_host *prev, *next;
};

struct fetch {
	uv_loop_t *loop;
	struct http *http;
	struct store *store;
	struct fetch_config c;
	char *user_agent;
	char *robots_agent;	/* the product token of user_agent */
	struct ssrf_policy *policy;
	struct fetch_job *jobs;
	struct fetch_host *hosts;
	unsigned n_hosts;
	struct fetch_req *ready_head, *ready_tail;
	uv_timer_t kick, wake;
	int64_t wake_due;
	int open_handles;
	unsigned works;		/* fetch_store_work on the thread pool */
	bool freeing;		/* fetch_free ran: f goes when the last of those ends */
	struct fetch_stats stats;
};

/* Storing a page: hashing and compressing its body (up to max_body, 10 MiB
 * by default) run on the thread pool, so one big page does not stall every
 * client; the SQL runs back on the loop. */
struct fetch_store_work {
	uv_work_t work;
	struct fetch *f;
	struct fetch_job *job;		/* NULL once nobody waits for it */
	char *final_url, *content_type, *etag, *last_modified;
	long status;
	int64_t fetched;
	char *body;
	size_t len;
	uint8_t hash[HASH_BYTES];
	struct store_blob blob;
	int r;
};

static void fetch_host_pump(struct fetch *f, struct fetch_host *h);
static bool fetch_permanent(int e);
static const char *fetch_url_error(int r);

void fetch_config_init(struct fetch_config *c)
{
	*c = (struct fetch_config){
		.robots = true,
		.max_body = 10LL * 1024 * 1024,
		.timeout_ms = 30000,
		.connect_timeout_ms = 10000,
		.low_speed_limit = 1,
		.low_speed_time = 15,
		.max_redirects = 5,
		.cache_ttl_ms = 86400LL * 1000,
		.host_max_active = 2,
		.host_delay_ms = 1000,
		.breaker_threshold = 5,
		.breaker_cooldown_ms = 60000,
		.robots_ttl_ms = 86400LL * 1000,
		.retry_max_wait_ms = 30000,
		.max_hosts = 1024,
	};
}

/* ---- outcomes and delivery ---- */

static struct fetch_outcome *fetch_outcome_new(const char *url)
{
	struct fetch_outcome *o = xcalloc(1, sizeof(*o));

	o->refs = 1;
	o->url = xstrdup(url);
	o->res.url = o->url;
	return o;
}

static void fetch_outcome_unref(struct fetch_outcome *o)
{
	if (o == NULL || --o->refs > 0)
		return;
	free(o->msg);
	free(o->url);
	free(o->final_url);
	free(o->content_type);
	free(o->error);
	free(o);
}

static struct fetch_outcome *fetch_outcome_transient(const char *url, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct fetch_outcome *fetch_outcome_transient(const char *url, int r, const char *fmt, ...)
{
	struct fetch_outcome *o = fetch_outcome_new(url);
	va_list ap;

	va_start(ap, fmt);
	o->msg = xvasprintf(fmt, ap);
	va_end(ap);
	o->r = r;
	return o;
}

static struct fetch_outcome *fetch_outcome_failed(const char *url, int code, long status,
    const char *final_url, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static struct fetch_outcome *fetch_outcome_failed(const char *url, int code, long status,
    const char *final_url, const char *fmt, ...)
{
	struct fetch_outcome *o = fetch_outcome_new(url);
	va_list ap;

	va_start(ap, fmt);
	o->error = xvasprintf(fmt, ap);
	va_end(ap);
	o->res.error = o->error;
	o->res.error_code = code;
	o->res.status = status;
	o->res.fetched = time_now_ms();
	if (final_url) {
		o->final_url = xstrdup(final_url);
		o->res.final_url = o->final_url;
	}
	return o;
}

static struct fetch_outcome *fetch_outcome_source(const struct store_source *src)
{
	struct fetch_outcome *o = fetch_outcome_new(src->url);

	o->final_url = xstrdup(src->final_url);
	o->res.final_url = o->final_url;
	if (src->content_type) {
		o->content_type = xstrdup(src->content_type);
		o->res.content_type = o->content_type;
	}
	o->res.status = src->status;
	o->res.has_body = src->has_hash;
	memcpy(o->res.hash, src->hash, HASH_BYTES);
	o->res.bytes = src->bytes;
	o->res.fetched = src->fetched;
	o->res.source_id = src->id;
	return o;
}

static void fetch_deliver(struct fetch_req *req, struct fetch_outcome *o)
{
	req->delivering = true;
	req->job = NULL;
	req->done(req, o->r, o->r == 0 ? &o->res : NULL, o->r == 0 ? o->error : o->msg, req->ud);
	free(req);
}

static void fetch_on_kick(uv_timer_t *t);

static void fetch_kick(struct fetch *f)
{
	if (!uv_is_active((uv_handle_t *)&f->kick))
		uv_timer_start(&f->kick, fetch_on_kick, 0, 0);
}

/* Deliver o to req from the loop, later. Takes o's reference. */
static void fetch_ready(struct fetch *f, struct fetch_req *req, struct fetch_outcome *o)
{
	req->ready = o;
	req->prev = f->ready_tail;
	req->next = NULL;
	if (f->ready_tail)
		f->ready_tail->next = req;
	else
		f->ready_head = req;
	f->ready_tail = req;
	fetch_kick(f);
}

static void fetch_ready_unlink(struct fetch *f, struct fetch_req *req)
{
	if (req->prev)
		req->prev->next = req->next;
	else
		f->ready_head = req->next;
	if (req->next)
		req->next->prev = req->prev;
	else
		f->ready_tail = req->prev;
	req->prev = req->next = NULL;
}

/* ---- jobs ---- */

static void fetch_job_unqueue(struct fetch_job *j)
{
	struct fetch_host *h = j->host;

	if (!j->queued)
		return;
	if (j->qprev)
		j->qprev->qnext = j->qnext;
	else
		h->qhead = j->qnext;
	if (j->qnext)
		j->qnext->qprev = j->qprev;
	else
		h->qtail = j->qprev;
	j->qprev = j->qnext = NULL;
	j->queued = false;
}

static void fetch_job_enqueue(struct fetch_job *j, bool front)
{
	struct fetch_host *h = j->host;

	j->queued = true;
	if (front) {
		j->qprev = NULL;
		j->qnext = h->qhead;
		if (h->qhead)
			h->qhead->qprev = j;
		else
			h->qtail = j;
		h->qhead = j;
	} else {
		j->qnext = NULL;
		j->qprev = h->qtail;
		if (h->qtail)
			h->qtail->qnext = j;
		else
			h->qhead = j;
		h->qtail = j;
	}
}

static void fetch_job_unlink(struct fetch_job *j)
{
	struct fetch *f = j->f;

	if (!j->linked)
		return;
	if (j->prev)
		j->prev->next = j->next;
	else
		f->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
	j->linked = false;
}

static void fetch_job_free(struct fetch_job *j)
{
	fetch_job_unqueue(j);
	fetch_job_unlink(j);
	if (j->storing) {
		/* The thread pool's work cannot be stopped: it ends alone. */
		j->storing->job = NULL;
		j->storing = NULL;
	}
	if (j->http) {
		http_request_cancel(j->http);
		j->host->active--;
	}
	store_source_free(j->stale);
	free(j->hop_url);
	free(j->url);
	free(j->path);
	free(j);
}

/* Hand o to everyone waiting for j, then free j. Takes o's reference. */
static void fetch_job_complete(struct fetch_job *j, struct fetch_outcome *o)
{
	struct fetch_req *req;

	/* A fetch_start() of the same URL from a callback starts afresh (or
	 * hits the cache); a fetch_cancel() of another waiter leaves j alone. */
	fetch_job_unqueue(j);
	fetch_job_unlink(j);
	j->completing = true;
	while ((req = j->waiters) != NULL) {
		j->waiters = req->next;
		if (j->waiters)
			j->waiters->prev = NULL;
		fetch_deliver(req, o);
	}
	fetch_job_free(j);
	fetch_outcome_unref(o);
}

/* ---- hosts ---- */

static struct fetch_host *fetch_host_get(struct fetch *f, const struct url_parts *p)
{
	char key[URL_MAX];
	struct fetch_host *h;
	bool v6 = strchr(p->host, ':') != NULL;

	snprintf(key, sizeof(key), "%s://%s%s%s:%d", p->scheme, v6 ? "[" : "", p->host,
	    v6 ? "]" : "", p->port);
	for (h = f->hosts; h; h = h->next)
		if (strcmp(h->key, key) == 0)
			return h;
	h = xcalloc(1, sizeof(*h));
	h->f = f;
	h->key = xstrdup(key);
	h->origin = xstrdup(key);
	h->delay_ms = f->c.host_delay_ms;
	h->next = f->hosts;
	if (f->hosts)
		f->hosts->prev = h;
	f->hosts = h;
	f->n_hosts++;
	return h;
}

static void fetch_host_free(struct fetch *f, struct fetch_host *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		f->hosts = h->next;
	if (h->next)
		h->next->prev = h->prev;
	f->n_hosts--;
	http_request_cancel(h->robots_http);
	robots_free(h->robots);
	free(h->robots_msg);
	free(h->key);
	free(h->origin);
	free(h);
}

/* Forget the least recently used idle hosts beyond max_hosts. */
static void fetch_hosts_trim(struct fetch *f)
{
	while (f->n_hosts > f->c.max_hosts) {
		struct fetch_host *victim = NULL;

		for (struct fetch_host *h = f->hosts; h; h = h->next)
			if (h->active == 0 && h->qhead == NULL && h->robots_http == NULL &&
			    (victim == NULL || h->last_used < victim->last_used))
				victim = h;
		if (victim == NULL)
			return;
		fetch_host_free(f, victim);
	}
}

static void fetch_on_wake(uv_timer_t *t);

static void fetch_wake_at(struct fetch *f, int64_t due)
{
	int64_t now = time_mono_ms();

	if (uv_is_active((uv_handle_t *)&f->wake) && f->wake_due <= due)
		return;
	f->wake_due = due;
	uv_timer_start(&f->wake, fetch_on_wake, (uint64_t)(due > now ? due - now : 0), 0);
}

static void fetch_breaker_fail(struct fetch *f, struct fetch_host *h)
{
	if (++h->failures >= f->c.breaker_threshold)
		h->open_until = time_mono_ms() + f->c.breaker_cooldown_ms;
}

static void fetch_breaker_ok(struct fetch_host *h)
{
	h->failures = 0;
	h->open_until = 0;
}

/* Fail every queued job of h with o's copy (r < 0) or with a permanent
 * outcome built per job. */
static void fetch_host_fail_queued(struct fetch *f, struct fetch_host *h, int r, const char *msg)
{
	struct fetch_job *j;

	while ((j = h->qhead) != NULL) {
		struct fetch_outcome *o = !fetch_permanent(r) ?
		    fetch_outcome_transient(j->url, r, "%s", msg) :
		    fetch_outcome_failed(j->url, r, 0, NULL, "%s", msg);

		fetch_job_complete(j, o);
	}
}

/* ---- robots.txt ---- */

static void fetch_on_robots(struct http_request *req, struct http_response *resp, void *ud)
{
	struct fetch_host *h = ud;
	struct fetch *f = h->f;
	int64_t now = time_mono_ms();

	h->robots_http = NULL;
	h->robots = robots_free(h->robots);
	h->robots_msg = mfree(h->robots_msg);
	h->robots_err = 0;
	h->robots_expires = now + FETCH_ROBOTS_RETRY_MS;
	if (resp->error == -EFBIG) {
		/* RFC 9309 lets a crawler ignore what is past its limit. */
		h->robots = robots_new_all(true);
	} else if (resp->error < 0) {
		h->robots_err = resp->error;
		h->robots_msg = xasprintf("robots.txt of %s: %s", h->origin, resp->error_msg);
	} else if (resp->status >= 200 && resp->status < 300) {
		h->robots = robots_parse(resp->body.data, resp->body.len, f->robots_agent);
	} else if (resp->status == 429 || resp->status >= 500) {
		h->robots_err = -EAGAIN;
		h->robots_msg = xasprintf("robots.txt of %s answered HTTP %ld; trying again later",
		    h->origin, resp->status);
	} else
		h->robots = robots_new_all(true);	/* 3xx, 4xx: no rules */
	if (h->robots) {
		long d = robots_crawl_delay_ms(h->robots);

		h->robots_expires = now + f->c.robots_ttl_ms;
		if (d > FETCH_MAX_CRAWL_DELAY_MS)
			d = FETCH_MAX_CRAWL_DELAY_MS;
		if (d > h->delay_ms)
			h->delay_ms = d;
	}
	fetch_host_pump(f, h);
}

static int fetch_robots_start(struct fetch *f, struct fetch_host *h)
{
	char url[URL_MAX];
	struct http_options o = {
		.url = url,
		.user_agent = f->user_agent,
		.max_body = FETCH_ROBOTS_MAX_BODY,
		.timeout_ms = (long)f->c.timeout_ms,
		.connect_timeout_ms = (long)f->c.connect_timeout_ms,
		.low_speed_limit = f->c.low_speed_limit,
		.low_speed_time = f->c.low_speed_time,
		.max_redirects = 5,
		.guard = f->policy,
	};

	snprintf(url, sizeof(url), "%s/robots.txt", h->origin);
	f->stats.robots_fetched++;
	return http_request_start(f->http, &o, fetch_on_robots, h, &h->robots_http);
}

/* ---- pages ---- */

static bool fetch_permanent(int e)
{
	return e == -EACCES || e == -EFBIG || e == -ELOOP || e == -EPROTONOSUPPORT ||
	    e == -EINVAL || e == -E2BIG || e == -EBADMSG || e == -EPERM || e == -ENAMETOOLONG;
}

static int64_t fetch_retry_after_ms(const char *v)
{
	int64_t s;
	time_t t;

	if (v == NULL)
		return FETCH_DEFAULT_RETRY_AFTER_MS;
	if (str_to_int64(v, 0, FETCH_MAX_RETRY_AFTER_MS / 1000, &s) == 0)
		return s * 1000;
	t = curl_getdate(v, NULL);
	if (t < 0)
		return FETCH_DEFAULT_RETRY_AFTER_MS;
	s = (int64_t)t * 1000 - time_now_ms();
	if (s < 0)
		return 0;
	return s > FETCH_MAX_RETRY_AFTER_MS ? FETCH_MAX_RETRY_AFTER_MS : s;
}

static char *fetch_strdup0(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* What storing resp needs once resp is gone; the body is taken from it. */
static struct fetch_store_work *fetch_store_work_new(struct fetch *f, struct fetch_job *j,
    struct http_response *resp)
{
	struct fetch_store_work *sw = xcalloc(1, sizeof(*sw));

	sw->f = f;
	sw->job = j;
	sw->final_url = fetch_strdup0(resp->url);
	sw->content_type = fetch_strdup0(resp->content_type);
	sw->etag = fetch_strdup0(resp->etag);
	sw->last_modified = fetch_strdup0(resp->last_modified);
	sw->status = resp->status;
	sw->fetched = time_now_ms();
	sw->len = resp->body.len;
	sw->body = buf_steal(&resp->body);
	sw->work.data = sw;
	return sw;
}

static void fetch_store_work_free(struct fetch_store_work *sw)
{
	store_blob_clear(&sw->blob);
	free(sw->body);
	free(sw->final_url);
	free(sw->content_type);
	free(sw->etag);
	free(sw->last_modified);
	free(sw);
}

/* The CPU part: no store, no loop, so it may run on any thread. */
static void fetch_store_compute(struct fetch_store_work *sw)
{
	if (sw->len == 0)
		return;
	hash_bytes(sw->body, sw->len, sw->hash);
	sw->r = store_snapshot_encode(sw->body, sw->len, &sw->blob);
}

static void fetch_store_work_run(uv_work_t *w)
{
	fetch_store_compute(w->data);
}

static struct fetch_outcome *fetch_store_page(struct fetch *f, struct fetch_job *j,
    struct fetch_store_work *sw)
{
	struct store_source src = {
		.url = j->url,
		.final_url = sw->final_url,
		.status = sw->status,
		.content_type = sw->content_type,
		.etag = sw->etag,
		.last_modified = sw->last_modified,
		.bytes = (int64_t)sw->len,
		.fetched = sw->fetched,
		.has_hash = sw->len > 0,
	};
	int r = sw->r;

	if (r < 0)
		return fetch_outcome_transient(j->url, r, "compressing %s for the source cache: %s",
		    j->url, strerror(-r));
	if (src.has_hash)
		memcpy(src.hash, sw->hash, HASH_BYTES);
	r = store_begin(f->store);
	if (r == 0 && src.has_hash)
		r = store_snapshot_put_encoded(f->store, src.hash, &sw->blob, src.fetched);
	if (r == 0)
		r = store_source_put(f->store, &src, &src.id);
	if (r == 0)
		r = store_commit(f->store);
	else
		store_rollback(f->store);
	if (r < 0)
		return fetch_outcome_transient(j->url, r, "storing %s in the source cache: %s",
		    j->url, store_errmsg(f->store));
	return fetch_outcome_source(&src);
}

static void fetch_store_work_done(uv_work_t *w, int status)
{
	struct fetch_store_work *sw = w->data;
	struct fetch *f = sw->f;
	struct fetch_job *j = sw->job;

	f->works--;
	if (f->freeing) {
		if (f->open_handles == 0 && f->works == 0)
			free(f);
		fetch_store_work_free(sw);
		return;
	}
	if (j == NULL) {
		/* Every waiter left: nobody wants it stored now. */
		fetch_store_work_free(sw);
		return;
	}
	j->storing = NULL;
	if (status < 0 && sw->r == 0)
		sw->r = status;
	fetch_job_complete(j, fetch_store_page(f, j, sw));
	fetch_store_work_free(sw);
}

/* Store resp's page for j: on the thread pool when there is a body, NULL
 * then (j completes later); else the outcome, at once. */
static struct fetch_outcome *fetch_store_start(struct fetch *f, struct fetch_job *j,
    struct http_response *resp)
{
	struct fetch_store_work *sw = fetch_store_work_new(f, j, resp);
	struct fetch_outcome *o;

	if (sw->len > 0 && uv_queue_work(f->loop, &sw->work, fetch_store_work_run,
	    fetch_store_work_done) == 0) {
		f->works++;
		j->storing = sw;
		return NULL;
	}
	fetch_store_compute(sw);
	o = fetch_store_page(f, j, sw);
	fetch_store_work_free(sw);
	return o;
}

/* Queue j again at the host its redirect leads to; NULL when it was, or
 * the outcome that ends it (a loop, a bad target). */
static struct fetch_outcome *fetch_follow(struct fetch *f, struct fetch_job *j,
    struct http_response *resp)
{
	struct url_parts parts = {0};
	char *next = NULL;
	int r;

	if (j->hops >= f->c.max_redirects)
		return fetch_outcome_failed(j->url, -ELOOP, resp->status, resp->url,
		    "too many redirects (more than %ld)", f->c.max_redirects);
	r = url_resolve(resp->url, resp->location, &next);
	if (r == 0)
		r = url_parse(next, &parts);
	if (r < 0) {
		free(next);
		return fetch_outcome_failed(j->url, r == -EACCES ? -EINVAL : r, resp->status,
		    resp->url, "redirected to a URL that is not fetched: %s", fetch_url_error(r));
	}
	j->hops++;
	free(j->hop_url);
	j->hop_url = next;
	free(j->path);
	j->path = parts.path;
	parts.path = NULL;
	j->host = fetch_host_get(f, &parts);
	j->host->last_used = time_mono_ms();
	url_parts_clear(&parts);
	fetch_job_enqueue(j, false);
	fetch_host_pump(f, j->host);
	return NULL;
}

static void fetch_on_page(struct http_request *req, struct http_response *resp, void *ud)
{
	struct fetch_job *j = ud;
	struct fetch *f = j->f;
	struct fetch_host *h = j->host;
	struct fetch_outcome *o;
	int64_t now = time_mono_ms();

	j->http = NULL;
	h->active--;
	h->last_used = now;
	if (resp->error < 0) {
		if (resp->error == -EACCES)
			f->stats.guard_denied++;
		if (fetch_permanent(resp->error))
			o = fetch_outcome_failed(j->url, resp->error, resp->status, resp->url, "%s",
			    resp->error_msg);
		else {
			fetch_breaker_fail(f, h);
			o = fetch_outcome_transient(j->url, resp->error, "fetching %s: %s", j->url,
			    resp->error_msg);
		}
	} else if (f->c.max_redirects > 0 && (resp->status == 301 || resp->status == 302 ||
	    resp->status == 303 || resp->status == 307 || resp->status == 308)) {
		fetch_breaker_ok(h);
		/* A redirect that cannot be followed is not a page. */
		o = resp->location ? fetch_follow(f, j, resp) : fetch_outcome_failed(j->url,
		    -EBADMSG, resp->status, resp->url, "HTTP %ld redirect without a Location",
		    resp->status);
		if (o == NULL) {
			fetch_host_pump(f, h);
			return;
		}
	} else if (resp->status == 304 && j->stale) {
		f->stats.revalidated++;
		fetch_breaker_ok(h);
		j->stale->fetched = time_now_ms();
		if (store_source_touch(f->store, j->url, j->stale->fetched) < 0)
			o = fetch_outcome_transient(j->url, -EIO, "updating %s in the source cache: %s",
			    j->url, store_errmsg(f->store));
		else {
			o = fetch_outcome_source(j->stale);
			o->res.revalidated = true;
		}
	} else if (resp->status == 429 || resp->status == 503) {
		int64_t wait = fetch_retry_after_ms(resp->retry_after);

		if (now + wait > h->next_ms)
			h->next_ms = now + wait;
		if (resp->status == 503)
			fetch_breaker_fail(f, h);
		if (wait <= f->c.retry_max_wait_ms && ++j->attempts < FETCH_MAX_ATTEMPTS &&
		    (resp->status == 429 || h->failures < f->c.breaker_threshold)) {
			f->stats.retried++;
			fetch_job_enqueue(j, true);
			fetch_host_pump(f, h);
			return;
		}
		o = fetch_outcome_transient(j->url, -EAGAIN, "%s answered HTTP %ld and asks to retry"
		    " after %lld s", h->origin, resp->status, (long long)(wait / 1000));
	} else if (resp->status >= 500) {
		fetch_breaker_fail(f, h);
		o = fetch_outcome_transient(j->url, -EIO, "%s answered HTTP %ld", h->origin,
		    resp->status);
	} else {
		fetch_breaker_ok(h);
		o = fetch_store_start(f, j, resp);
		if (o == NULL) {
			fetch_host_pump(f, h);
			return;
		}
	}
	fetch_job_complete(j, o);
	fetch_host_pump(f, h);
}

static int fetch_job_start(struct fetch *f, struct fetch_job *j)
{
	char inm[HTTP_MAX_HEADER_VALUE + 32], ims[HTTP_MAX_HEADER_VALUE + 32];
	const char *headers[4];
	size_t n = 0;
	struct http_options o = {
		.url = j->hop_url ? j->hop_url : j->url,
		.headers = headers,
		.user_agent = f->user_agent,
		.max_body = (size_t)f->c.max_body,
		.timeout_ms = (long)f->c.timeout_ms,
		.connect_timeout_ms = (long)f->c.connect_timeout_ms,
		.low_speed_limit = f->c.low_speed_limit,
		.low_speed_time = f->c.low_speed_time,
		/* Redirects are followed here, hop by hop, so that each hop
		 * goes through its host's queue and robots.txt. */
		.max_redirects = -1,
		.guard = f->policy,
	};
	int r;

	headers[n++] = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,"
	    "text/plain;q=0.8,*/*;q=0.5";
	if (j->stale && j->hops == 0 && j->stale->etag) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", j->stale->etag);
		headers[n++] = inm;
	}
	if (j->stale && j->hops == 0 && j->stale->last_modified) {
		snprintf(ims, sizeof(ims), "If-Modified-Since: %s", j->stale->last_modified);
		headers[n++] = ims;
	}
	headers[n] = NULL;
	r = http_request_start(f->http, &o, fetch_on_page, j, &j->http);
	if (r < 0)
		return r;
	j->host->active++;
	f->stats.network++;
	return 0;
}

static void fetch_host_pump(struct fetch *f, struct fetch_host *h)
{
	int64_t now = time_mono_ms();
	struct fetch_job *j;
	int r;

	if (h->qhead == NULL)
		return;
	if (h->failures >= f->c.breaker_threshold && now < h->open_until) {
		char msg[URL_MAX + 128];

		snprintf(msg, sizeof(msg), "%s failed %u times in a row; not trying it again for"
		    " %lld s", h->origin, h->failures, (long long)((h->open_until - now + 999) / 1000));
		for (j = h->qhead; j; j = j->qnext)
			f->stats.breaker_open++;
		fetch_host_fail_queued(f, h, -EHOSTDOWN, msg);
		return;
	}
	if (f->c.robots) {
		if (h->robots_http)
			return;
		if ((h->robots == NULL && h->robots_err == 0) || now >= h->robots_expires) {
			r = fetch_robots_start(f, h);
			if (r < 0)
				fetch_host_fail_queued(f, h, r, "could not start fetching robots.txt");
			return;
		}
		if (h->robots_err < 0) {
			char *msg = xstrdup(h->robots_msg ? h->robots_msg : "robots.txt failed");

			fetch_host_fail_queued(f, h, h->robots_err, msg);
			free(msg);
			return;
		}
	}
	while ((j = h->qhead) != NULL && h->active < f->c.host_max_active && now >= h->next_ms) {
		/* Half-open breaker: one probe at a time. */
		if (h->failures >= f->c.breaker_threshold && h->active > 0)
			break;
		fetch_job_unqueue(j);
		if (f->c.robots && h->robots && !robots_allowed(h->robots, j->path)) {
			f->stats.robots_denied++;
			fetch_job_complete(j, fetch_outcome_failed(j->url, -EPERM, 0, NULL,
			    "disallowed by the robots.txt of %s", h->origin));
			continue;
		}
		r = fetch_job_start(f, j);
		if (r < 0) {
			fetch_job_complete(j, fetch_outcome_transient(j->url, r,
			    "could not start fetching %s: %s", j->url, strerror(-r)));
			continue;
		}
		h->next_ms = now + h->delay_ms;
		if (h->failures >= f->c.breaker_threshold)
			break;
	}
	if (h->qhead && h->active < f->c.host_max_active && h->next_ms > now)
		fetch_wake_at(f, h->next_ms);
}

static void fetch_pump_all(struct fetch *f)
{
	for (struct fetch_host *h = f->hosts; h; h = h->next)
		if (h->qhead)
			fetch_host_pump(f, h);
}

static void fetch_on_kick(uv_timer_t *t)
{
	struct fetch *f = t->data;
	struct fetch_req *req;

	while ((req = f->ready_head) != NULL) {
		struct fetch_outcome *o = req->ready;

		fetch_ready_unlink(f, req);
		req->ready = NULL;
		fetch_deliver(req, o);
		fetch_outcome_unref(o);
	}
	fetch_hosts_trim(f);
	fetch_pump_all(f);
}

static void fetch_on_wake(uv_timer_t *t)
{
	fetch_pump_all(t->data);
}

/* ---- public ---- */

int fetch_new(uv_loop_t *loop, struct http *http, struct store *store,
    const struct fetch_config *c, struct fetch **ret)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	int r;

	f->loop = loop;
	f->http = http;
	f->store = store;
	f->c = *c;
	f->c.allow_hosts = NULL;
	if (f->c.host_max_active == 0)
		f->c.host_max_active = 1;
	if (f->c.breaker_threshold == 0)
		f->c.breaker_threshold = 5;
	if (f->c.max_hosts == 0)
		f->c.max_hosts = 1024;
	if (f->c.max_body <= 0)
		f->c.max_body = HTTP_DEFAULT_MAX_BODY;
	if (f->c.host_delay_ms < 0)
		f->c.host_delay_ms = 0;
	f->user_agent = xstrdup(c->user_agent ? c->user_agent : FETCH_DEFAULT_USER_AGENT);
	/* robots.txt names crawlers by the first word of their User-Agent. */
	size_t n = strcspn(f->user_agent, "/ \t");
	f->robots_agent = n > 0 ? xstrndup(f->user_agent, n) : xstrdup(FETCH_ROBOTS_AGENT);
	r = ssrf_policy_new(c->allow_hosts, c->n_allow_hosts, &f->policy, NULL);
	if (r < 0) {
		free(f->user_agent);
		free(f->robots_agent);
		free(f);
		return r;
	}
	uv_timer_init(loop, &f->kick);
	uv_timer_init(loop, &f->wake);
	f->kick.data = f->wake.data = f;
	f->open_handles = 2;
	*ret = f;
	return 0;
}

static void fetch_closed(uv_handle_t *hd)
{
	struct fetch *f = hd->data;

	if (--f->open_handles == 0 && f->works == 0)
		free(f);
}

struct fetch *fetch_free(struct fetch *f)
{
	struct fetch_req *req;

	if (f == NULL)
		return NULL;
	f->freeing = true;
	while (f->jobs) {
		struct fetch_job *j = f->jobs;

		while ((req = j->waiters) != NULL) {
			j->waiters = req->next;
			free(req);
		}
		fetch_job_free(j);
	}
	while ((req = f->ready_head) != NULL) {
		fetch_ready_unlink(f, req);
		fetch_outcome_unref(req->ready);
		free(req);
	}
	while (f->hosts)
		fetch_host_free(f, f->hosts);
	f->policy = ssrf_policy_free(f->policy);
	f->user_agent = mfree(f->user_agent);
	f->robots_agent = mfree(f->robots_agent);
	uv_close((uv_handle_t *)&f->kick, fetch_closed);
	uv_close((uv_handle_t *)&f->wake, fetch_closed);
	return NULL;
}

static const char *fetch_url_error(int r)
{
	switch (r) {
	case -EPROTONOSUPPORT: return "only http and https URLs are fetched";
	case -EACCES: return "URLs with a user name or password are not fetched";
	case -ENAMETOOLONG: return "the URL is longer than 8192 bytes";
	default: return "not a valid URL";
	}
}

int fetch_start(struct fetch *f, const char *url, fetch_done_fn done, void *ud,
    struct fetch_req **ret)
{
	struct fetch_req *req;
	struct store_source *src = NULL;
	struct url_parts parts = {0};
	struct fetch_job *j;
	char *canon = NULL;
	int r;

	if (url == NULL || done == NULL)
		return -EINVAL;
	req = xcalloc(1, sizeof(*req));
	req->f = f;
	req->done = done;
	req->ud = ud;
	if (ret)
		*ret = req;
	f->stats.requests++;

	r = url_canonical(url, &canon);
	if (r == 0)
		r = url_parse(canon, &parts);
	if (r < 0) {
		fetch_ready(f, req, fetch_outcome_failed(url, r == -EACCES ? -EINVAL : r, 0, NULL,
		    "%s", fetch_url_error(r)));
		free(canon);
		return 0;
	}
	for (j = f->jobs; j; j = j->next) {
		if (strcmp(j->url, canon) == 0) {
			f->stats.joined++;
			req->job = j;
			req->next = j->waiters;
			if (j->waiters)
				j->waiters->prev = req;
			j->waiters = req;
			goto out;
		}
	}
	if (store_source_get(f->store, canon, &src) == 0) {
		bool body_ok = !src->has_hash || store_snapshot_exists(f->store, src->hash);

		if (body_ok && time_now_ms() - src->fetched < f->c.cache_ttl_ms) {
			struct fetch_outcome *o = fetch_outcome_source(src);

			o->res.from_cache = true;
			f->stats.cache_hits++;
			fetch_ready(f, req, o);
			goto out;
		}
		if (!body_ok || src->status != 200 || (!src->etag && !src->last_modified))
			src = store_source_free(src);
	}
	j = xcalloc(1, sizeof(*j));
	j->f = f;
	j->url = canon;
	canon = NULL;
	j->path = parts.path;
	parts.path = NULL;
	j->stale = src;
	src = NULL;
	j->host = fetch_host_get(f, &parts);
	j->host->last_used = time_mono_ms();
	j->next = f->jobs;
	if (f->jobs)
		f->jobs->prev = j;
	f->jobs = j;
	j->linked = true;
	req->job = j;
	j->waiters = req;
	fetch_job_enqueue(j, false);
	fetch_kick(f);
out:
	store_source_free(src);
	url_parts_clear(&parts);
	free(canon);
	return 0;
}

void fetch_cancel(struct fetch_req *req)
{
	struct fetch *f;
	struct fetch_job *j;

	if (req == NULL || req->delivering)
		return;
	f = req->f;
	if (req->ready) {
		fetch_ready_unlink(f, req);
		fetch_outcome_unref(req->ready);
		free(req);
		return;
	}
	j = req->job;
	if (j) {
		if (req->prev)
			req->prev->next = req->next;
		else
			j->waiters = req->next;
		if (req->next)
			req->next->prev = req->prev;
		if (j->waiters == NULL && !j->completing) {
			fetch_job_free(j);
			fetch_kick(f);
		}
	}
	free(req);
}

void fetch_get_stats(const struct fetch *f, struct fetch_stats *ret)
{
	*ret = f->stats;
}
