/* Web search: the search object, its backend table and configuration, and
 * the fan-out of one query over tools/http under each backend's rate limit
 * and breaker (see search.h for the rules). Fusion is search-fuse.c, the
 * limits search-limit.c, backends' text and URLs search-text.c, the
 * "web.search" effect search-effect.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <unistd.h>
#include <uv.h>

#include "http.h"
#include "json.h"
#include "search.h"
#include "store.h"
#include "secret.h"
#include "str.h"
#include "url.h"
#include "xmalloc.h"

#define SEARCH_MAX_KEY 256		/* bytes of an API key */
#define SEARCH_MAX_WAIT_MS (5 * 60 * 1000)	/* longest Retry-After we honour */

/* ---- the search object ---- */

struct search_slot {
	const char *name;
	const struct search_backend *be;	/* NULL: not available in this build */
	struct search_bucket bucket;
	struct search_breaker breaker;
};

struct search {
	uv_loop_t *loop;
	struct http *http;
	struct search_slot slots[SEARCH_MAX_BACKENDS];
	size_t n_slots;
	char *searxng_url, *brave_url, *wikipedia_url, *wikipedia_article_url, *arxiv_url;
	char *user_agent, *default_lang;
	char *brave_header;		/* sodium_malloc'd */
	unsigned max_results;
	int64_t timeout_ms;
	const struct ssrf_policy *guard;
	struct store *store;
	struct search_call *calls;
};

struct search_part {
	struct search_call *call;
	struct search_slot *slot;
	struct http_request *req;
	struct search_parse_args args;
	char *lang, *article_base;
	struct search_hits hits;
	int64_t ready_at;		/* waiting for the rate limit until */
	bool waiting, running, finished, ok, trial;
	char error[SEARCH_ERROR_MAX];
};

struct search_call {
	struct search *s;
	struct search_call *prev, *next;
	struct search_query q;
	char *text, *lang, *time_range;
	struct search_part parts[SEARCH_MAX_BACKENDS];
	size_t n_parts, pending;
	int64_t deadline;
	uv_timer_t timer;
	search_done_fn done;
	void *ud;
	bool completed;
};

static const struct search_backend *const search_backends[] = {
	&search_backend_searxng,
	&search_backend_wikipedia,
	&search_backend_arxiv,
	&search_backend_brave,
	&search_backend_local,
};

static const char *const search_known[] = { "wikipedia", "arxiv", "local", "searxng", "brave" };

const char *search_config_url(const struct search *s, const char *backend)
{
	if (!strcmp(backend, "searxng"))
		return s->searxng_url;
	if (!strcmp(backend, "brave"))
		return s->brave_url;
	if (!strcmp(backend, "wikipedia"))
		return s->wikipedia_url;
	if (!strcmp(backend, "arxiv"))
		return s->arxiv_url;
	return NULL;
}

struct store *search_store(const struct search *s)
{
	return s->store;
}

const char *search_brave_header(const struct search *s)
{
	return s->brave_header;
}

static int read_key_file(const char *path, char **ret)
{
	char *key = NULL;
	int r;

	r = secret_read_file(path, SEARCH_MAX_KEY, &key);
	if (r < 0)
		return r;
	r = secret_header("X-Subscription-Token: ", key, ret);
	secret_free(key);
	return r;
}

static bool url_ok(const char *u)
{
	struct url_parts p = {0};

	if (u == NULL || url_parse(u, &p) < 0)
		return false;
	url_parts_clear(&p);
	return true;
}

int search_new(struct uv_loop_s *loop, struct http *http, const struct search_config *c,
    struct search **ret)
{
	static const char *const defaults[] = { "wikipedia", "arxiv", "local" };
	const char *const *names = c->backends ? c->backends : defaults;
	size_t n = c->backends ? c->n_backends : 3;
	struct search *s;
	int r;

	if (loop == NULL || http == NULL || n > SEARCH_MAX_BACKENDS)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->http = http;
	s->searxng_url = c->searxng_url ? xstrdup(c->searxng_url) : NULL;
	s->brave_url = xstrdup(c->brave_url ? c->brave_url :
	    "https://api.search.brave.com/res/v1/web/search");
	s->wikipedia_url = xstrdup(c->wikipedia_url ? c->wikipedia_url :
	    "https://{lang}.wikipedia.org");
	s->wikipedia_article_url = xstrdup(c->wikipedia_article_url ? c->wikipedia_article_url :
	    "https://{lang}.wikipedia.org/wiki/");
	s->arxiv_url = xstrdup(c->arxiv_url ? c->arxiv_url : "https://export.arxiv.org/api/query");
	s->user_agent = c->user_agent ? xstrdup(c->user_agent) : NULL;
	s->default_lang = xstrdup(c->default_lang ? c->default_lang : "en");
	s->max_results = c->max_results ? c->max_results : 10;
	if (s->max_results > SEARCH_MAX_RESULTS)
		s->max_results = SEARCH_MAX_RESULTS;
	s->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 15000;
	s->guard = c->guard;
	s->store = c->store;

	for (size_t i = 0; i < n; i++) {
		struct search_slot *sl = &s->slots[s->n_slots];
		const char *known = NULL;

		for (size_t k = 0; k < sizeof(search_known) / sizeof(search_known[0]); k++)
			if (names[i] && !strcmp(names[i], search_known[k]))
				known = search_known[k];
		r = -EINVAL;
		if (known == NULL)
			goto fail;
		for (size_t k = 0; k < s->n_slots; k++)
			if (!strcmp(s->slots[k].name, known))
				goto fail;
		sl->name = known;
		for (size_t k = 0; k < sizeof(search_backends) / sizeof(search_backends[0]); k++)
			if (!strcmp(search_backends[k]->name, known))
				sl->be = search_backends[k];
		if (!strcmp(known, "searxng") && !url_ok(s->searxng_url))
			goto fail;
		if (!strcmp(known, "brave")) {
			if (c->brave_key_file == NULL)
				goto fail;
			r = read_key_file(c->brave_key_file, &s->brave_header);
			if (r < 0)
				goto fail;
		}
		search_bucket_init(&sl->bucket, c->rate_burst > 0 ? c->rate_burst : 2,
		    c->rate_per_second > 0 ? c->rate_per_second : 1,
		    c->min_interval_ms < 0 ? 0 : c->min_interval_ms ? c->min_interval_ms : 500);
		search_breaker_init(&sl->breaker, c->breaker_threshold ? c->breaker_threshold : 3,
		    c->breaker_cooldown_ms > 0 ? c->breaker_cooldown_ms : 60000);
		s->n_slots++;
	}
	*ret = s;
	return 0;
fail:
	search_free(s);
	return r;
}

static void call_free_cb(uv_handle_t *h)
{
	struct search_call *c = h->data;

	for (size_t i = 0; i < c->n_parts; i++) {
		search_hits_clear(&c->parts[i].hits);
		free(c->parts[i].lang);
		free(c->parts[i].article_base);
	}
	free(c->text);
	free(c->lang);
	free(c->time_range);
	free(c);
}

/* Unlink the call, stop its transfers, and free it once the timer closed. */
static void call_destroy(struct search_call *c)
{
	struct search *s = c->s;

	for (size_t i = 0; i < c->n_parts; i++) {
		struct search_part *p = &c->parts[i];

		if (p->req) {
			http_request_cancel(p->req);
			p->req = NULL;
			if (p->slot->be->cancel)
				p->slot->be->cancel(s);
		}
		if (p->trial)
			p->slot->breaker.trial = false;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, call_free_cb);
}

struct search *search_free(struct search *s)
{
	if (s == NULL)
		return NULL;
	while (s->calls)
		call_destroy(s->calls);
	if (s->brave_header)
		sodium_free(s->brave_header);
	free(s->searxng_url);
	free(s->brave_url);
	free(s->wikipedia_url);
	free(s->wikipedia_article_url);
	free(s->arxiv_url);
	free(s->user_agent);
	free(s->default_lang);
	free(s);
	return NULL;
}

static void call_complete(struct search_call *c)
{
	struct search_response resp = {0};
	const struct search_hits *lists[SEARCH_MAX_BACKENDS];
	size_t nl = 0;

	c->completed = true;
	for (size_t i = 0; i < c->n_parts; i++) {
		struct search_part *p = &c->parts[i];

		if (p->ok) {
			lists[nl] = &p->hits;
			resp.lists[nl++] = p->slot->name;
			resp.answered[resp.n_answered++] = p->slot->name;
		} else {
			struct search_failure *f = &resp.failed[resp.n_failed++];

			f->backend = p->slot->name;
			snprintf(f->error, sizeof(f->error), "%s", p->error);
		}
	}
	resp.n_lists = nl;
	search_merge(lists, nl, c->q.max_results, &resp.results, &resp.n);
	/* Unlinked first: the callback may free the search object. The memory
	 * of c stays until the loop closes its timer. */
	call_destroy(c);
	c->done(c, &resp, c->ud);
	search_response_clear(&resp);
}

static void part_finish(struct search_part *p, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void part_finish(struct search_part *p, bool ok, const char *fmt, ...)
{
	struct search_call *c = p->call;

	p->finished = true;
	p->running = p->waiting = false;
	p->ok = ok;
	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(p->error, sizeof(p->error), fmt, ap);
		va_end(ap);
	}
	c->pending--;
}

static void call_schedule(struct search_call *c);

static void part_http_done(struct http_request *req, struct http_response *resp, void *ud)
{
	struct search_part *p = ud;
	struct search_slot *sl = p->slot;
	int64_t now = time_mono_ms();
	int r;

	p->req = NULL;
	p->trial = false;
	if (resp->error < 0) {
		search_breaker_record(&sl->breaker, false, now);
		part_finish(p, false, "%s", resp->error_msg ? resp->error_msg : strerror(-resp->error));
	} else if (resp->status != 200) {
		search_breaker_record(&sl->breaker, false, now);
		/* A server that asks us to wait is left alone that long. */
		if ((resp->status == 429 || resp->status == 503) && resp->retry_after) {
			int64_t secs;

			if (str_to_int64(resp->retry_after, 0, SEARCH_MAX_WAIT_MS / 1000, &secs) == 0 &&
			    now + secs * 1000 > sl->breaker.open_until)
				sl->breaker.open_until = now + secs * 1000;
		}
		part_finish(p, false, "HTTP status %ld", resp->status);
	} else {
		r = sl->be->parse(resp->body.data, resp->body.len, &p->args, &p->hits);
		if (r < 0) {
			search_hits_clear(&p->hits);
			search_hits_init(&p->hits, p->args.max_results);
			search_breaker_record(&sl->breaker, false, now);
			part_finish(p, false, "the response could not be read: %s", strerror(-r));
		} else {
			search_breaker_record(&sl->breaker, true, now);
			part_finish(p, true, NULL);
		}
	}
	call_schedule(p->call);
}

/* Send the part's request now, mark it waiting for its rate limit, or
 * finish it as failed (breaker open, a wait past the deadline). */
static void part_try(struct search_part *p, int64_t now)
{
	struct search_call *c = p->call;
	struct search *s = c->s;
	struct search_slot *sl = p->slot;
	struct search_http_req hr = {0};
	struct http_options o = {0};
	int64_t wait;
	int r;

	if (sl->be == NULL) {
		part_finish(p, false, "the %s backend is not available in this build", sl->name);
		return;
	}
	/* In-process: no politeness needed, no breaker to protect a server. */
	if (sl->be->query) {
		r = sl->be->query(s, &c->q, &p->args, &p->hits);
		if (r < 0) {
			search_hits_clear(&p->hits);
			part_finish(p, false, "%s", r == -ENODEV ? "there is no local index" :
			    strerror(-r));
		} else
			part_finish(p, true, NULL);
		return;
	}
	/* An open breaker (or one whose trial is out) fails at once. */
	if (now < sl->breaker.open_until ||
	    (sl->breaker.failures >= sl->breaker.threshold && sl->breaker.trial)) {
		part_finish(p, false, "the backend is left alone for a while (%u failures "
		    "in a row, or it asked us to wait)", sl->breaker.failures);
		return;
	}
	wait = search_bucket_take(&sl->bucket, now);
	if (wait > 0) {
		if (wait >= c->deadline - now) {
			part_finish(p, false, "rate limited: the next request is allowed in %lld ms",
			    (long long)wait);
			return;
		}
		p->waiting = true;
		p->ready_at = now + wait;
		return;
	}
	search_breaker_allow(&sl->breaker, now);	/* true here; takes the trial */
	p->trial = sl->breaker.trial;
	p->waiting = false;
	r = sl->be->start(s, &c->q, &p->args, &hr);
	if (r < 0) {
		if (p->trial)
			sl->breaker.trial = false;
		p->trial = false;
		part_finish(p, false, "the request could not be made: %s", strerror(-r));
		free(hr.url);
		return;
	}
	o.url = hr.url;
	o.headers = hr.headers[0] ? hr.headers : NULL;
	o.user_agent = s->user_agent;
	o.max_body = SEARCH_MAX_BODY;
	o.timeout_ms = (long)(c->deadline - now);
	o.connect_timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
	o.guard = s->guard;
	r = http_request_start(s->http, &o, part_http_done, p, &p->req);
	free(hr.url);
	if (r < 0) {
		if (p->trial)
			sl->breaker.trial = false;
		p->trial = false;
		part_finish(p, false, "the request could not be queued: %s", strerror(-r));
		return;
	}
	p->running = true;
}

static void call_timer_cb(uv_timer_t *t)
{
	struct search_call *c = t->data;
	int64_t now = time_mono_ms();

	for (size_t i = 0; i < c->n_parts; i++) {
		struct search_part *p = &c->parts[i];

		if (p->waiting && p->ready_at <= now)
			part_try(p, now);
	}
	call_schedule(c);
}

/* Complete the call (from the loop, never inside search_start) when every
 * part finished, or wake up for the next part waiting on its rate limit. */
static void call_schedule(struct search_call *c)
{
	int64_t now = time_mono_ms(), next = INT64_MAX;

	if (c->completed)
		return;
	if (c->pending == 0) {
		call_complete(c);
		return;
	}
	for (size_t i = 0; i < c->n_parts; i++)
		if (c->parts[i].waiting && c->parts[i].ready_at < next)
			next = c->parts[i].ready_at;
	if (next != INT64_MAX)
		uv_timer_start(&c->timer, call_timer_cb, (uint64_t)(next > now ? next - now : 0), 0);
}

static bool lang_ok(const char *l)
{
	size_t n = strlen(l), i = 0, run = 0;

	if (n < 2 || n > 16)
		return false;
	for (; i < n; i++) {
		char ch = l[i];

		if (ch == '-') {
			if (run == 0 || i == n - 1)
				return false;
			run = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (i > 2 && ch >= '0' && ch <= '9')))
			return false;
		run++;
	}
	return true;
}

static void call_first_cb(uv_timer_t *t)
{
	struct search_call *c = t->data;

	call_schedule(c);
}

int search_start(struct search *s, const struct search_query *q, const char *const *only,
    size_t n_only, search_done_fn done, void *ud, struct search_call **ret)
{
	static const char *const ranges[] = { "day", "week", "month", "year" };
	struct search_call *c;
	const char *lang = q->lang ? q->lang : s->default_lang;
	size_t qlen;
	int64_t now = time_mono_ms();

	if (q->q == NULL || done == NULL)
		return -EINVAL;
	qlen = strlen(q->q);
	if (qlen == 0 || qlen > SEARCH_MAX_QUERY || !utf8_valid(q->q, qlen))
		return -EINVAL;
	if (!lang_ok(lang))
		return -EINVAL;
	if (q->time_range) {
		bool found = false;

		for (size_t i = 0; i < 4; i++)
			found |= !strcmp(q->time_range, ranges[i]);
		if (!found)
			return -EINVAL;
	}
	if (n_only > SEARCH_MAX_BACKENDS)
		return -EINVAL;
	for (size_t i = 0; i < n_only; i++) {
		bool found = false;

		for (size_t k = 0; k < s->n_slots; k++)
			found |= only[i] && !strcmp(only[i], s->slots[k].name);
		if (!found)
			return -EINVAL;
	}

	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->text = xstrdup(q->q);
	c->lang = xstrdup(lang);
	c->time_range = q->time_range ? xstrdup(q->time_range) : NULL;
	c->q.q = c->text;
	c->q.lang = c->lang;
	c->q.time_range = c->time_range;
	c->q.owner = q->owner;
	c->q.max_results = q->max_results ? q->max_results : s->max_results;
	if (c->q.max_results > SEARCH_MAX_RESULTS)
		c->q.max_results = SEARCH_MAX_RESULTS;
	c->done = done;
	c->ud = ud;
	c->deadline = now + s->timeout_ms;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->next = s->calls;
	if (s->calls)
		s->calls->prev = c;
	s->calls = c;

	for (size_t k = 0; k < s->n_slots; k++) {
		struct search_slot *sl = &s->slots[k];
		bool use = n_only == 0;
		struct search_part *p;

		for (size_t i = 0; i < n_only; i++)
			use |= !strcmp(only[i], sl->name);
		if (!use)
			continue;
		p = &c->parts[c->n_parts++];
		p->call = c;
		p->slot = sl;
		if (!strcmp(sl->name, "wikipedia")) {
			/* Wikipedia's subdomains are the primary language subtag. */
			size_t n = strcspn(lang, "-");

			p->lang = xstrndup(lang, n);
			for (char *ch = p->lang; *ch; ch++)
				if (*ch >= 'A' && *ch <= 'Z')
					*ch = (char)(*ch - 'A' + 'a');
			p->article_base = search_url_lang(s->wikipedia_article_url, p->lang);
		} else
			p->lang = xstrdup(lang);
		p->args.lang = p->lang;
		p->args.article_base = p->article_base;
		p->args.max_results = c->q.max_results;
		search_hits_init(&p->hits, c->q.max_results);
		c->pending++;
	}
	for (size_t i = 0; i < c->n_parts; i++)
		part_try(&c->parts[i], now);
	/* The outcome always comes from the loop, even when nothing was sent. */
	if (c->pending == 0)
		uv_timer_start(&c->timer, call_first_cb, 0, 0);
	else
		call_schedule(c);
	if (ret)
		*ret = c;
	return 0;
}

void search_cancel(struct search_call *c)
{
	if (c == NULL || c->completed)
		return;
	c->completed = true;
	call_destroy(c);
}
