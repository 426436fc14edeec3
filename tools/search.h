/* Web search: one interface over every backend (SearXNG, Wikipedia, arXiv,
 * Brave, the local index), fan-out to all of them at once, merged by
 * reciprocal-rank fusion, deduplicated by canonical URL, and the
 * "web.search" effect.
 *
 * Merging (search_merge):
 *   score(url) = sum over backends b that returned it of 1 / (60 + rank_b),
 *   rank_b counted from 1 (RRF, Cormack et al. 2009, k = SEARCH_RRF_K = 60).
 *   Ties go to the URL more backends agree on, then to the best single
 *   rank, then to the earlier backend in the query's order, then to the URL.
 *   Hits whose URLs canonicalise the same (tools/url), http and https
 *   counting as one (the https form is kept), are one result: the
 *   best-ranked hit gives title and snippet, the first one with a date gives
 *   the date.
 *   file:// URLs (documents of the local index) are keyed as they are.
 * Diversity: walking the fused list, a host that already has
 *   SEARCH_HOST_CAP results in the list is set aside; set-aside results come
 *   after all the others, in their fused order (demoted, never dropped
 *   before the cap on the list is applied).
 * Politeness: each backend has a token bucket (burst, refill rate) and a
 *   minimum interval between two requests; a query that finds the bucket
 *   empty waits for the next token if that is within the query's timeout,
 *   else the backend is reported failed. SEARCH_BREAKER consecutive failures
 *   open a backend's breaker for a cool-down; while open it is reported
 *   failed without a request; after the cool-down one query tries it again. */
#ifndef RESEARCHD_SEARCH_H
#define RESEARCHD_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

struct effects;
struct http;
struct search;
struct search_call;
struct ssrf_policy;
struct store;
struct uv_loop_s;

#define SEARCH_RRF_K 60
#define SEARCH_HOST_CAP 3		/* results per host before the rest are demoted */
#define SEARCH_MAX_RESULTS 100		/* results of one backend and of the merged list */
#define SEARCH_MAX_BACKENDS 8
#define SEARCH_MAX_BODY (4 * 1024 * 1024)	/* bytes of one backend response */
#define SEARCH_MAX_QUERY 1024		/* bytes of the query text */
#define SEARCH_MAX_TITLE 512		/* bytes kept of a title, UTF-8 whole */
#define SEARCH_MAX_SNIPPET 2048		/* bytes kept of a snippet */
#define SEARCH_MAX_DATE 64
#define SEARCH_ERROR_MAX 256

/* ---- queries and results ---- */

struct search_query {
	const char *q;
	unsigned max_results;		/* 0: the configured default */
	const char *lang;		/* "en", "de", "pt-br"...; NULL: the default */
	const char *time_range;		/* "day", "week", "month", "year" or NULL */
	uid_t owner;			/* the local backend searches this uid's own
					 * documents and the shared ones (root's);
					 * 0: the shared ones only */
};

/* One hit of one backend; rank is its index + 1 in the list. */
struct search_hit {
	char *url, *title, *snippet, *date;	/* date may be NULL */
};

struct search_hits {
	struct search_hit *v;
	size_t n, cap;
	size_t max;			/* at most this many are kept */
};

void search_hits_init(struct search_hits *h, size_t max);
void search_hits_clear(struct search_hits *h);
/* Append a hit made from raw backend text: HTML tags stripped and entities
 * decoded when html, whitespace collapsed, invalid UTF-8 replaced, lengths
 * capped. -ENOSPC once max hits are held; -EINVAL for an empty URL. */
int search_hits_add(struct search_hits *h, const char *url, const char *title,
    size_t title_len, const char *snippet, size_t snippet_len, bool html, const char *date);

/* A merged result. */
struct search_result {
	char *url;			/* canonical */
	char *title, *snippet, *date;
	double score;			/* RRF */
	unsigned rank;			/* 1-based in the merged list */
	uint32_t backends;		/* bit i: the i-th input list had it */
	unsigned best_rank;
};

struct search_failure {
	const char *backend;		/* a backend name (static) */
	char error[SEARCH_ERROR_MAX];
};

struct search_response {
	struct search_result *results;
	size_t n;
	const char *lists[SEARCH_MAX_BACKENDS];	/* name of bit i of backends */
	size_t n_lists;
	const char *answered[SEARCH_MAX_BACKENDS];	/* backend names */
	size_t n_answered;
	struct search_failure failed[SEARCH_MAX_BACKENDS];
	size_t n_failed;
};

void search_response_clear(struct search_response *r);

/* Merge lists[0..n) (one per backend, in the query's backend order) into at
 * most max results, as the header comment says. Pure. */
int search_merge(const struct search_hits *const *lists, size_t n, size_t max,
    struct search_result **ret, size_t *ret_n);
void search_results_free(struct search_result *v, size_t n);

/* {"results":[{url,title,snippet,date,backends,rank}],"answered":[...],
 *  "failed":[{"backend","error"}]}; backends names the lists by name. */
json_t *search_response_json(const struct search_response *r);

/* ---- rate limit and breaker (pure; times in ms of a monotonic clock) ---- */

struct search_bucket {
	double tokens, burst, per_ms;	/* per_ms: tokens added per millisecond */
	int64_t min_interval_ms;
	int64_t last_refill, last_take;	/* < 0: never */
};

void search_bucket_init(struct search_bucket *b, double burst, double per_second,
    int64_t min_interval_ms);
/* Take a token at now: 0, or the milliseconds to wait before one may be taken. */
int64_t search_bucket_take(struct search_bucket *b, int64_t now);

struct search_breaker {
	unsigned failures, threshold;
	int64_t cooldown_ms, open_until;
	bool trial;			/* one query is trying an expired breaker */
};

void search_breaker_init(struct search_breaker *b, unsigned threshold, int64_t cooldown_ms);
/* Whether a request may go out at now (an expired breaker lets one through). */
bool search_breaker_allow(struct search_breaker *b, int64_t now);
void search_breaker_record(struct search_breaker *b, bool ok, int64_t now);

/* ---- backends ---- */

/* What a backend's parser needs besides the bytes. */
struct search_parse_args {
	const char *lang;		/* validated language code */
	const char *article_base;	/* wikipedia: the article URL prefix */
	unsigned max_results;
};

/* A request a backend wants sent. url is allocated; headers are static or
 * owned by the search object and live as long as it. */
struct search_http_req {
	char *url;
	const char *headers[4];
};

/* A backend: one const table entry, either a network API (start builds the
 * request, tools/http sends it, parse reads the answer) or in-process
 * (query). */
struct search_backend {
	const char *name;
	/* Build the request for q (lang and time_range already validated). */
	int (*start)(const struct search *s, const struct search_query *q,
	    const struct search_parse_args *a, struct search_http_req *ret);
	/* Called when a request of this backend is cancelled in flight, to
	 * release what start() kept beyond the request (none keeps any yet). */
	void (*cancel)(const struct search *s);
	/* Pure: response bytes in, hits out (appended to out). */
	int (*parse)(const char *data, size_t len, const struct search_parse_args *a,
	    struct search_hits *out);
	/* Instead of start and parse: answer in-process (the local index). */
	int (*query)(const struct search *s, const struct search_query *q,
	    const struct search_parse_args *a, struct search_hits *out);
};

extern const struct search_backend search_backend_searxng;
extern const struct search_backend search_backend_wikipedia;
extern const struct search_backend search_backend_arxiv;
extern const struct search_backend search_backend_brave;
extern const struct search_backend search_backend_local;

/* The parsers, also used by the fuzzers and the tests. */
int search_searxng_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out);
int search_wikipedia_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out);
int search_arxiv_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out);
int search_brave_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out);

/* Helpers for the backends (search.c). */
/* Append s percent-encoded as a query-string value (RFC 3986 unreserved kept). */
int search_url_escape(struct buf *b, const char *s);
/* The base URL the config gives for a backend (a template with "{lang}"). */
const char *search_config_url(const struct search *s, const char *backend);
/* tmpl with every "{lang}" replaced by lang. */
char *search_url_lang(const char *tmpl, const char *lang);
/* Append base without its trailing slashes, then path: a configured URL
 * may end in '/' or not. */
int search_url_join(struct buf *b, const char *base, const char *path);
/* The value of the Brave key header ("X-Subscription-Token: ..."), or NULL. */
const char *search_brave_header(const struct search *s);
/* The store whose index the local backend reads, or NULL. */
struct store *search_store(const struct search *s);
/* Copy text into a fresh string cleaned like search_hits_add() does. */
char *search_text_clean(const char *s, size_t len, bool html, size_t max);

/* ---- the search object ---- */

struct search_config {
	const char *const *backends;	/* names, in order; NULL: wikipedia, arxiv, local */
	size_t n_backends;
	const char *searxng_url;	/* base, e.g. http://127.0.0.1:8888 */
	const char *brave_url;		/* NULL: https://api.search.brave.com/res/v1/web/search */
	const char *brave_key_file;	/* read once at search_new */
	const char *wikipedia_url;	/* API base; NULL: https://{lang}.wikipedia.org */
	const char *wikipedia_article_url;	/* NULL: https://{lang}.wikipedia.org/wiki/ */
	const char *arxiv_url;		/* NULL: https://export.arxiv.org/api/query */
	const char *user_agent;
	const char *default_lang;	/* NULL: "en" */
	unsigned max_results;		/* default per query; 0: 10 */
	int64_t timeout_ms;		/* per backend request; 0: 15 s */
	double rate_burst;		/* 0: 2 */
	double rate_per_second;		/* 0: 1 */
	int64_t min_interval_ms;	/* 0: 500 ms; < 0: none */
	unsigned breaker_threshold;	/* 0: 3 */
	int64_t breaker_cooldown_ms;	/* 0: 60 s */
	const struct ssrf_policy *guard;	/* checked on every connection, if set */
	struct store *store;		/* the local index; NULL: "local" always fails */
};

/* Called once (never after search_cancel) with the merged response; it is
 * freed after the callback returns. */
typedef void (*search_done_fn)(struct search_call *c, const struct search_response *r, void *ud);

/* -EINVAL for an unknown backend or a backend without its setting; the Brave
 * key file's read error. */
int search_new(struct uv_loop_s *loop, struct http *http, const struct search_config *c,
    struct search **ret);
/* Cancels every query in flight (no callbacks: drain the effects first);
 * call it before http_free. The queries' memory is released as the loop
 * closes their timers. */
struct search *search_free(struct search *s);
/* Query the backends named in only[0..n_only) (all configured when n_only is
 * 0; a name not configured is -EINVAL). -EINVAL for an empty or too long
 * query, a bad language or time range. */
int search_start(struct search *s, const struct search_query *q, const char *const *only,
    size_t n_only, search_done_fn done, void *ud, struct search_call **ret);
/* Stop a query: its transfers are cancelled and done is not called. */
void search_cancel(struct search_call *c);

/* The "web.search" effect:
 * request {"q","max_results"?,"lang"?,"time_range"?,"backends"?:[...]}
 * result  search_response_json(). When no backend answered, the effect
 * fails (transient, nothing stored). */
int search_register(struct effects *e, struct search *s);

#endif
