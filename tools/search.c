/* Web search: the backend table, fan-out over tools/http, reciprocal-rank
 * fusion with dedupe and host diversity, per-backend rate limits and
 * breakers, and the "web.search" effect (see search.h for the rules). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <unistd.h>
#include <uv.h>

#include "effect.h"
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

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t l;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		l = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		l = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		l = 4;
	else
		return 0;
	if (l > n)
		return 0;
	return utf8_valid((const char *)p, l) ? l : 0;
}

static size_t utf8_put(char out[4], uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Decode the entity at s[0] == '&'; returns bytes consumed (0: not one)
 * and the code point. */
static size_t entity_decode(const char *s, size_t n, uint32_t *cp)
{
	static const struct { const char *name; uint32_t cp; } named[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		{ "apos", '\'' }, { "nbsp", ' ' }, { "ndash", 0x2013 }, { "mdash", 0x2014 },
		{ "hellip", 0x2026 },
	};
	size_t end;

	for (end = 1; end < n && end < 12 && s[end] != ';'; end++)
		;
	if (end >= n || s[end] != ';' || end < 2)
		return 0;
	if (s[1] == '#') {
		uint32_t v = 0;
		size_t i = 2;
		bool hex = i < end && (s[i] == 'x' || s[i] == 'X');

		if (hex)
			i++;
		if (i == end)
			return 0;
		for (; i < end; i++) {
			int d;

			if (s[i] >= '0' && s[i] <= '9')
				d = s[i] - '0';
			else if (hex && s[i] >= 'a' && s[i] <= 'f')
				d = s[i] - 'a' + 10;
			else if (hex && s[i] >= 'A' && s[i] <= 'F')
				d = s[i] - 'A' + 10;
			else
				return 0;
			v = v * (hex ? 16 : 10) + (uint32_t)d;
			if (v > 0x10ffff)
				v = 0x110000;
		}
		if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			v = 0xfffd;
		*cp = v;
		return end + 1;
	}
	for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
		if (strlen(named[k].name) == end - 1 && !memcmp(s + 1, named[k].name, end - 1)) {
			*cp = named[k].cp;
			return end + 1;
		}
	return 0;
}

/* Tags that separate words when stripped. */
static bool tag_breaks(const char *s, size_t n)
{
	static const char *const names[] = { "br", "p", "div", "li", "tr", "td", "h1", "h2", "h3" };
	size_t i = 1, l;

	if (i < n && s[i] == '/')
		i++;
	for (l = 0; i + l < n && ((s[i + l] >= 'a' && s[i + l] <= 'z') ||
	    (s[i + l] >= 'A' && s[i + l] <= 'Z') || (s[i + l] >= '0' && s[i + l] <= '9')); l++)
		;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (strlen(names[k]) == l && !strncasecmp(s + i, names[k], l))
			return true;
	return false;
}

char *search_text_clean(const char *s, size_t len, bool html, size_t max)
{
	char *out = xmalloc(max + 1), tmp[4];
	size_t o = 0, i = 0;
	bool space = false;

	while (i < len) {
		const unsigned char c = (unsigned char)s[i];
		const char *emit;
		size_t n;

		if (html && c == '<') {
			const char *gt = memchr(s + i, '>', len - i);

			if (tag_breaks(s + i, len - i))
				space = true;
			i = gt ? (size_t)(gt - s) + 1 : len;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = true;
			i++;
			continue;
		}
		if (html && c == '&') {
			uint32_t cp;
			size_t used = entity_decode(s + i, len - i, &cp);

			if (used) {
				i += used;
				if (cp < 0x20 || cp == ' ' || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
					space = true;
					continue;
				}
				n = utf8_put(tmp, cp);
				emit = tmp;
				goto put;
			}
		}
		n = utf8_seq((const unsigned char *)s + i, len - i);
		if (n == 0) {
			emit = "\xef\xbf\xbd";
			n = 3;
			i++;
		} else {
			emit = s + i;
			i += n;
		}
put:
		if (space && o > 0) {
			if (o + 1 + n > max)
				break;
			out[o++] = ' ';
		} else if (o + n > max)
			break;
		space = false;
		memcpy(out + o, emit, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

/* ---- hits ---- */

void search_hits_init(struct search_hits *h, size_t max)
{
	*h = (struct search_hits){ .max = max ? max : SEARCH_MAX_RESULTS };
}

void search_hits_clear(struct search_hits *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].url);
		free(h->v[i].title);
		free(h->v[i].snippet);
		free(h->v[i].date);
	}
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int search_hits_add(struct search_hits *h, const char *url, const char *title,
    size_t title_len, const char *snippet, size_t snippet_len, bool html, const char *date)
{
	struct search_hit *hit;
	size_t ulen;

	if (h->n >= h->max)
		return -ENOSPC;
	if (url == NULL)
		return -EINVAL;
	ulen = strlen(url);
	if (ulen == 0)
		return -EINVAL;
	if (ulen > URL_MAX)
		return -ENAMETOOLONG;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	hit = &h->v[h->n++];
	hit->url = xstrdup(url);
	hit->title = search_text_clean(title ? title : "", title ? title_len : 0, html,
	    SEARCH_MAX_TITLE);
	hit->snippet = search_text_clean(snippet ? snippet : "", snippet ? snippet_len : 0, html,
	    SEARCH_MAX_SNIPPET);
	hit->date = date && *date ? search_text_clean(date, strlen(date), false, SEARCH_MAX_DATE) : NULL;
	if (hit->date && !*hit->date)
		hit->date = mfree(hit->date);
	return 0;
}

/* ---- merging ---- */

struct agg {
	char *url;		/* canonical */
	char *host;
	const struct search_hit *best;
	const char *date;
	double score;
	uint32_t backends;
	unsigned n_backends, best_rank;
	size_t best_list;
};

/* The dedupe key: the canonical URL without its scheme, so that the http
 * and https forms of a page are one result (the https form is kept). */
static const char *url_key(const char *canon)
{
	const char *p = strstr(canon, "://");

	return p ? p + 3 : canon;
}

static int agg_cmp(const void *a_, const void *b_)
{
	const struct agg *a = a_, *b = b_;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->n_backends != b->n_backends)
		return a->n_backends > b->n_backends ? -1 : 1;
	if (a->best_rank != b->best_rank)
		return a->best_rank < b->best_rank ? -1 : 1;
	if (a->best_list != b->best_list)
		return a->best_list < b->best_list ? -1 : 1;
	return strcmp(a->url, b->url);
}

void search_results_free(struct search_result *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].url);
		free(v[i].title);
		free(v[i].snippet);
		free(v[i].date);
	}
	free(v);
}

int search_merge(const struct search_hits *const *lists, size_t n, size_t max,
    struct search_result **ret, size_t *ret_n)
{
	struct agg *a = NULL, **order = NULL;
	size_t na = 0, total = 0, no = 0;
	struct search_result *out;

	if (n > SEARCH_MAX_BACKENDS || n > 32)
		return -EINVAL;
	for (size_t l = 0; l < n; l++)
		total += lists[l] ? lists[l]->n : 0;
	a = xcalloc(total ? total : 1, sizeof(*a));
	for (size_t l = 0; l < n; l++) {
		if (lists[l] == NULL)
			continue;
		for (size_t i = 0; i < lists[l]->n; i++) {
			const struct search_hit *h = &lists[l]->v[i];
			unsigned rank = (unsigned)i + 1;
			struct url_parts parts = {0};
			char *canon = NULL;
			struct agg *g = NULL;

			/* Only http(s) URLs we can key, and the local index's
			 * file:// documents; the rest are dropped. */
			if (str_startswith(h->url, "file:///"))
				canon = xstrdup(h->url);
			else if (url_canonical(h->url, &canon) < 0)
				continue;
			for (size_t k = 0; k < na; k++)
				if (!strcmp(url_key(a[k].url), url_key(canon))) {
					g = &a[k];
					break;
				}
			if (g == NULL) {
				char *host;

				if (str_startswith(canon, "file:"))
					host = xstrdup("");
				else if (url_parse(canon, &parts) < 0) {
					free(canon);
					continue;
				} else {
					host = parts.host;
					parts.host = NULL;
					url_parts_clear(&parts);
				}
				g = &a[na++];
				g->url = canon;
				g->host = host;
				g->best = h;
				g->best_rank = rank;
				g->best_list = l;
			} else {
				if (str_startswith(canon, "https:") && !str_startswith(g->url, "https:")) {
					free(g->url);
					g->url = canon;
				} else
					free(canon);
				if (rank < g->best_rank) {
					g->best = h;
					g->best_rank = rank;
					g->best_list = l;
				}
			}
			/* The same URL twice in one list counts once, at its best rank. */
			if (!(g->backends & (UINT32_C(1) << l))) {
				g->score += 1.0 / (SEARCH_RRF_K + rank);
				g->backends |= UINT32_C(1) << l;
				g->n_backends++;
			}
			if (g->date == NULL && h->date)
				g->date = h->date;
		}
	}
	qsort(a, na, sizeof(*a), agg_cmp);

	/* Host diversity: at most SEARCH_HOST_CAP per host, the rest after. */
	order = xcalloc(na ? na : 1, sizeof(*order));
	bool *taken = xcalloc(na ? na : 1, sizeof(*taken));
	for (size_t i = 0; i < na; i++) {
		unsigned same = 0;

		for (size_t k = 0; k < no; k++)
			if (!strcmp(order[k]->host, a[i].host))
				same++;
		if (same < SEARCH_HOST_CAP) {
			order[no++] = &a[i];
			taken[i] = true;
		}
	}
	for (size_t i = 0; i < na; i++)
		if (!taken[i])
			order[no++] = &a[i];
	free(taken);

	if (max == 0 || max > SEARCH_MAX_RESULTS)
		max = SEARCH_MAX_RESULTS;
	if (no > max)
		no = max;
	out = xcalloc(no ? no : 1, sizeof(*out));
	for (size_t i = 0; i < no; i++) {
		struct agg *g = order[i];

		out[i].url = g->url;
		g->url = NULL;
		out[i].title = xstrdup(g->best->title);
		out[i].snippet = xstrdup(g->best->snippet);
		out[i].date = g->date ? xstrdup(g->date) : NULL;
		out[i].score = g->score;
		out[i].rank = (unsigned)i + 1;
		out[i].backends = g->backends;
		out[i].best_rank = g->best_rank;
	}
	for (size_t i = 0; i < na; i++) {
		free(a[i].url);
		free(a[i].host);
	}
	free(a);
	free(order);
	*ret = out;
	*ret_n = no;
	return 0;
}

void search_response_clear(struct search_response *r)
{
	search_results_free(r->results, r->n);
	*r = (struct search_response){0};
}

json_t *search_response_json(const struct search_response *r)
{
	json_t *o = json_object(), *results = json_array(), *answered = json_array(),
	    *failed = json_array();

	for (size_t i = 0; i < r->n; i++) {
		const struct search_result *x = &r->results[i];
		json_t *names = json_array();

		for (size_t l = 0; l < r->n_lists; l++)
			if (x->backends & (UINT32_C(1) << l))
				json_array_append_new(names, json_string(r->lists[l]));
		json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}",
		    "url", x->url,
		    "title", x->title,
		    "snippet", x->snippet,
		    "date", x->date ? json_string(x->date) : json_null(),
		    "backends", names,
		    "rank", (json_int_t)x->rank));
	}
	for (size_t i = 0; i < r->n_answered; i++)
		json_array_append_new(answered, json_string(r->answered[i]));
	for (size_t i = 0; i < r->n_failed; i++)
		json_array_append_new(failed, json_pack("{s:s, s:s}",
		    "backend", r->failed[i].backend, "error", r->failed[i].error));
	json_object_set_new(o, "results", results);
	json_object_set_new(o, "answered", answered);
	json_object_set_new(o, "failed", failed);
	return o;
}

/* ---- rate limit and breaker ---- */

void search_bucket_init(struct search_bucket *b, double burst, double per_second,
    int64_t min_interval_ms)
{
	*b = (struct search_bucket){
		.tokens = burst,
		.burst = burst,
		.per_ms = per_second / 1000.0,
		.min_interval_ms = min_interval_ms > 0 ? min_interval_ms : 0,
		.last_refill = -1,
		.last_take = -1,
	};
}

int64_t search_bucket_take(struct search_bucket *b, int64_t now)
{
	int64_t wait = 0;

	if (b->last_refill >= 0 && now > b->last_refill) {
		b->tokens += (double)(now - b->last_refill) * b->per_ms;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
	}
	if (b->last_refill < 0 || now > b->last_refill)
		b->last_refill = now;
	if (b->last_take >= 0 && now - b->last_take < b->min_interval_ms)
		wait = b->min_interval_ms - (now - b->last_take);
	if (b->tokens < 1.0) {
		int64_t w;

		if (b->per_ms <= 0)
			return INT64_MAX;
		w = (int64_t)((1.0 - b->tokens) / b->per_ms);
		if ((double)w * b->per_ms < 1.0 - b->tokens)
			w++;
		if (w < 1)
			w = 1;
		if (w > wait)
			wait = w;
	}
	if (wait > 0)
		return wait;
	b->tokens -= 1.0;
	b->last_take = now;
	return 0;
}

void search_breaker_init(struct search_breaker *b, unsigned threshold, int64_t cooldown_ms)
{
	*b = (struct search_breaker){ .threshold = threshold ? threshold : 1,
	    .cooldown_ms = cooldown_ms };
}

bool search_breaker_allow(struct search_breaker *b, int64_t now)
{
	if (b->failures < b->threshold && now >= b->open_until)
		return true;
	if (b->trial || now < b->open_until)
		return false;
	b->trial = true;
	return true;
}

void search_breaker_record(struct search_breaker *b, bool ok, int64_t now)
{
	b->trial = false;
	if (ok) {
		b->failures = 0;
		b->open_until = 0;
		return;
	}
	b->failures++;
	if (b->failures >= b->threshold)
		b->open_until = now + b->cooldown_ms;
}

/* ---- URLs ---- */

int search_url_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && r == 0; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			r = buf_putc(b, (char)*p);
		else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			r = buf_append(b, e, 3);
		}
	}
	return r;
}

char *search_url_lang(const char *tmpl, const char *lang)
{
	struct buf b;
	const char *p = tmpl, *m;

	buf_init(&b, URL_MAX);
	while ((m = strstr(p, "{lang}")) != NULL) {
		buf_append(&b, p, (size_t)(m - p));
		buf_puts(&b, lang);
		p = m + 6;
	}
	if (buf_puts(&b, p) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

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

/* ---- the "web.search" effect ---- */

static void search_effect_done(struct search_call *c, const struct search_response *r, void *ud)
{
	struct effect_exec *x = ud;
	json_t *result;

	effect_exec_set_data(x, NULL);
	/* Nothing answered: a transient failure, so nothing is stored. */
	if (r->n_answered == 0) {
		effect_exec_done(x, -EHOSTUNREACH, NULL, NULL);
		return;
	}
	result = search_response_json(r);
	effect_exec_done(x, 0, result, json_pack("{s:i}", "searches", 1));
}

/* The owner a web.search request names must be its job's. */
static int search_effect_owner_check(struct search *s, struct effect_exec *x, int64_t owner)
{
	struct store *st = search_store(s);
	struct store_job *j = NULL;
	int r;

	if (owner < 0 || owner >= (int64_t)(uid_t)-1)
		return -EINVAL;
	if (owner == 0)
		return 0;	/* the shared documents are everyone's */
	if (st == NULL)
		return 0;	/* no local index: nothing to see */
	r = store_job_get(st, effect_exec_job_id(x), &j);
	if (r < 0)
		return r;
	r = (int64_t)j->owner == owner ? 0 : -EPERM;
	store_job_free(j);
	return r;
}

static int search_effect_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct search *s = userdata;
	struct search_query q = {0};
	struct search_call *c = NULL;
	const char *only[SEARCH_MAX_BACKENDS];
	size_t n_only = 0;
	json_t *list, *v;
	int64_t max;
	size_t i;
	int r;

	if (!json_is_object(request))
		return -EINVAL;
	r = json_get_string(request, "q", &q.q);
	if (r < 0)
		return r;
	r = json_get_int(request, "max_results", &max);
	if (r == 0) {
		if (max < 1 || max > SEARCH_MAX_RESULTS)
			return -EINVAL;
		q.max_results = (unsigned)max;
	} else if (r != -ENOENT)
		return r;
	r = json_get_string(request, "lang", &q.lang);
	if (r < 0 && r != -ENOENT)
		return r;
	r = json_get_string(request, "time_range", &q.time_range);
	if (r < 0 && r != -ENOENT)
		return r;
	/* Whose local documents: the job's owner, named in the request so that
	 * jobs of two users never share one search in flight; checked. */
	r = json_get_int(request, "owner", &max);
	if (r == 0) {
		r = search_effect_owner_check(s, x, max);
		if (r < 0)
			return r;
		q.owner = (uid_t)max;
	} else if (r != -ENOENT)
		return r;
	list = json_object_get(request, "backends");
	if (list && !json_is_null(list)) {
		if (!json_is_array(list) || json_array_size(list) > SEARCH_MAX_BACKENDS)
			return -EINVAL;
		json_array_foreach(list, i, v) {
			if (!json_is_string(v))
				return -EINVAL;
			only[n_only++] = json_string_value(v);
		}
	}
	r = search_start(s, &q, only, n_only, search_effect_done, x, &c);
	if (r < 0)
		return r;
	effect_exec_set_data(x, c);
	return 0;
}

static void search_effect_cancel(struct effect_exec *x, void *userdata)
{
	search_cancel(effect_exec_get_data(x));
}

int search_register(struct effects *e, struct search *s)
{
	const struct effect_kind kind = {
		.name = "web.search",
		.start = search_effect_start,
		.cancel = search_effect_cancel,
		.userdata = s,
	};

	return effects_register(e, &kind);
}
