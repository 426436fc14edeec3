/* Fetching web pages politely and safely, through the source cache.
 *
 * fetch_start() canonicalises the URL, answers from the source cache while
 * the entry is fresh (cache_ttl), joins a fetch of the same URL already in
 * flight, and otherwise queues the page at its host: per-host concurrency
 * and minimum delay, robots.txt (fetched once per host and cached),
 * Retry-After on 429/503, a circuit breaker after consecutive failures.
 * A stale entry is revalidated with If-None-Match / If-Modified-Since.
 * Redirects are followed here, hop by hop (max_redirects), each hop through
 * its own host's queue and robots.txt. The SSRF guard checks every address
 * connected to (tools/ssrf.h), so every hop is checked too. */
#ifndef RESEARCHD_FETCH_H
#define RESEARCHD_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hash.h"

struct effects;
struct fetch;
struct fetch_req;
struct http;
struct store;
struct uv_loop_s;

/* The product token robots.txt groups are matched against: the first word
 * of the User-Agent, or this. */
#define FETCH_ROBOTS_AGENT "researchd"

struct fetch_config {
	const char *user_agent;		/* NULL: FETCH_DEFAULT_USER_AGENT */
	const char *const *allow_hosts;	/* names or CIDRs the guard lets through */
	size_t n_allow_hosts;
	bool robots;			/* honour robots.txt */
	int64_t max_body;		/* bytes, after decompression */
	int64_t timeout_ms;		/* whole transfer */
	int64_t connect_timeout_ms;
	long low_speed_limit;		/* bytes/s ... */
	long low_speed_time;		/* ... for this many seconds, else it fails */
	long max_redirects;
	int64_t cache_ttl_ms;		/* fresh for this long; then revalidated */
	unsigned host_max_active;	/* transfers at once per host */
	int64_t host_delay_ms;		/* between the starts of two requests to a host */
	unsigned breaker_threshold;	/* consecutive failures that open the breaker */
	int64_t breaker_cooldown_ms;
	int64_t robots_ttl_ms;
	int64_t retry_max_wait_ms;	/* a Retry-After up to this is waited for and retried */
	unsigned max_hosts;		/* hosts remembered */
};

#define FETCH_DEFAULT_USER_AGENT \
	"researchd/" RESEARCHD_VERSION " (+https://github.com/researchd/researchd)"

/* Defaults: robots on, 10 MiB, 30 s, 2 per host, 1 s apart, ... */
void fetch_config_init(struct fetch_config *c);

/* The outcome of a fetch. An HTTP error status, a robots.txt refusal, an
 * address the guard refused, a body over the cap, a redirect loop are
 * permanent outcomes: r == 0 and error/error_code set. */
struct fetch_result {
	const char *url;		/* canonical URL (the cache key) */
	const char *final_url;		/* NULL when there was no response */
	long status;			/* 0 when there was no response */
	const char *content_type;	/* may be NULL */
	bool has_body;
	uint8_t hash[HASH_BYTES];	/* of the body, its snapshot's address */
	int64_t bytes;
	int64_t fetched;		/* ms since the epoch */
	int64_t source_id;		/* 0 when nothing was stored */
	bool from_cache;		/* no request was made */
	bool revalidated;		/* a 304 confirmed the cached body */
	const char *error;		/* a sentence, or NULL */
	int error_code;			/* negative errno of error, or 0 */
};

/* r == 0 with res, or a transient failure r < 0 (timeout, host down,
 * 5xx, 429, breaker open) with a sentence in msg: worth trying later. */
typedef void (*fetch_done_fn)(struct fetch_req *req, int r, const struct fetch_result *res,
    const char *msg, void *ud);

int fetch_new(struct uv_loop_s *loop, struct http *http, struct store *store,
    const struct fetch_config *c, struct fetch **ret);
/* Cancels everything (no callbacks); memory goes once the loop has run. */
struct fetch *fetch_free(struct fetch *f);
/* done is always called later, from the loop, never from inside this. */
int fetch_start(struct fetch *f, const char *url, fetch_done_fn done, void *ud,
    struct fetch_req **ret);
/* No callback after this; the transfer stops when nobody else waits for it. */
void fetch_cancel(struct fetch_req *req);

struct fetch_stats {
	uint64_t requests;	/* fetch_start calls */
	uint64_t network;	/* page requests sent */
	uint64_t cache_hits;	/* answered from a fresh cache entry */
	uint64_t revalidated;	/* 304s */
	uint64_t joined;	/* joined a fetch in flight */
	uint64_t robots_fetched;
	uint64_t robots_denied;
	uint64_t guard_denied;
	uint64_t retried;	/* after a Retry-After */
	uint64_t breaker_open;	/* refused while a host's breaker was open */
};
void fetch_get_stats(const struct fetch *f, struct fetch_stats *ret);

/* The effect request for url: {"url": canonical URL}. */
int fetch_effect_request(const char *url, json_t **ret);
/* Register the "web.fetch" effect kind: request {"url"}, result {"url",
 * "final_url", "status", "content_type", "hash", "bytes", "fetched",
 * "error"?}; the body is in the source cache under "hash". */
int fetch_register(struct effects *e, struct fetch *f);

#endif
