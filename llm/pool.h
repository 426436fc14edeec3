/* The endpoint pool: several OpenAI-compatible endpoints, each with its
 * slots (discovered from llama-server's /props or /slots, else configured,
 * else 1) and its context size (/props, /slots, Ollama's /api/show, else
 * configured); one priority queue of requests across all jobs that keeps
 * every slot busy and serves jobs of equal priority round-robin; retries of
 * transient failures with exponential backoff and jitter or Retry-After; a
 * breaker per endpoint; usage per request and per job. */
#ifndef RESEARCHD_LLM_POOL_H
#define RESEARCHD_LLM_POOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"

struct http;
struct llm_pool;
struct llm_req;
struct uv_loop_s;

#define LLM_POOL_MAX_ENDPOINTS 16
#define LLM_POOL_MAX_SLOTS 256

/* The context asked of Ollama (num_ctx) when the config names none. */
#define LLM_OLLAMA_DEFAULT_CTX 8192

struct llm_pool_options {
	const char *urls;		/* comma-separated base URLs (".../v1") */
	const char *api_key_file;	/* NULL: none */
	const char *model;		/* NULL: omitted */
	int slots;			/* > 0: slots per endpoint, not discovered */
	int64_t n_ctx;			/* > 0: context per slot when discovery finds none;
					 * for Ollama, the num_ctx asked (capped at the model's) */
	long timeout_ms;		/* per HTTP attempt; 0 = 600 s */
	int max_retries;		/* of transient failures; < 0: none, 0 = 4 */
	int max_repairs;		/* default repair budget of a request; 0 = 2 */
	int64_t backoff_base_ms;	/* 0 = 500 */
	int64_t backoff_max_ms;		/* 0 = 30 s */
	int breaker_failures;		/* consecutive failures that open it; 0 = 3 */
	int64_t breaker_cooldown_ms;	/* first open period; 0 = 5 s (doubles, max 60 s) */
	int64_t max_wait_ms;		/* waiting while every breaker is open; 0 = 120 s */
	unsigned max_queued;		/* 0 = 10000 */
	bool slot_affinity;		/* llama-server: keep a job on its slot (id_slot) */
	bool no_discovery;		/* do not ask the servers (tests, config only) */
	bool no_stream;			/* plain JSON replies */
	bool probe;			/* the urls are places to look: only an endpoint
					 * whose discovery answered (/props, /slots,
					 * /api/show or /v1/models) gets requests, and one
					 * that stops answering is looked for again */
};

int llm_pool_new(struct uv_loop_s *loop, struct http *http, const struct llm_pool_options *o,
    struct llm_pool **ret);
/* Cancels everything without callbacks. */
struct llm_pool *llm_pool_free(struct llm_pool *p);	/* not from a done callback */
/* True once every endpoint's discovery has ended (ok or not). */
bool llm_pool_ready(const struct llm_pool *p);
/* Has some endpoint answered (discovery connected, breaker not open)? */
bool llm_pool_reachable(const struct llm_pool *p);
/* Run discovery again on the endpoints that never told us what they are
 * (with probe: also on the idle ones found, to notice one that went away). */
void llm_pool_probe(struct llm_pool *p);

struct llm_request {
	int64_t job_id;
	int64_t owner;			/* the job's user, for fairness across users; < 0 unknown */
	int priority;			/* higher first */
	const json_t *messages;		/* [{"role","content"}...] */
	const json_t *schema;		/* NULL: free text */
	const char *schema_name;	/* NULL: "reply" */
	int64_t max_tokens;
	double temperature;		/* < 0: server default */
	int max_repairs;		/* < 0: pool default */
	int slot_hint;			/* >= 0: preferred slot (llama-server); else -1 */
};

/* Called once, never after llm_pool_cancel(). res may be stolen from;
 * endpoint is the base URL that answered (NULL when none was tried). */
typedef void (*llm_pool_done_fn)(struct llm_req *req, struct llm_result *res,
    const char *endpoint, void *ud);

/* Queue a request (copied). -EAGAIN when the queue is full, -EINVAL for bad
 * messages or a schema outside our subset. The done callback always runs
 * from the loop, never inside this call. */
int llm_pool_submit(struct llm_pool *p, const struct llm_request *rq, llm_pool_done_fn done,
    void *ud, struct llm_req **ret);
/* Stop: a queued request leaves the queue, a running one's transfer is
 * aborted (the server frees its slot). done is not called. */
void llm_pool_cancel(struct llm_req *r);

/* A conservative token count for text (bytes / 3, rounded up). */
int64_t llm_estimate_tokens(size_t bytes);
/* The smallest context per slot known across the endpoints, for budgeting
 * prompts; 0 when none is known. */
int64_t llm_pool_context(const struct llm_pool *p);

enum llm_breaker { LLM_BREAKER_CLOSED, LLM_BREAKER_OPEN, LLM_BREAKER_HALF_OPEN };

struct llm_endpoint_info {
	const char *url;
	const char *kind;		/* "llama-server", "ollama", "openai" */
	const char *model;		/* discovered, or NULL */
	int slots, busy;
	int64_t n_ctx;			/* per slot; 0 unknown */
	bool discovered;
	bool has_tokenize;
	enum llm_breaker breaker;
	uint64_t requests, failures;
	int64_t busy_slot_ms;		/* integral of busy slots over time */
	double tokens_per_s;		/* generation speed the server measured; 0 unknown */
	int max_busy;			/* most slots busy at once */
};

struct llm_pool_stats {
	unsigned queued, running;
	uint64_t submitted, completed, failed, retried, cancelled;
	unsigned n_endpoints;
};

void llm_pool_get_stats(const struct llm_pool *p, struct llm_pool_stats *ret);
/* -ENOENT past the last endpoint. */
int llm_pool_endpoint(const struct llm_pool *p, unsigned i, struct llm_endpoint_info *ret);

struct llm_job_usage {
	uint64_t requests, failures, attempts;
	struct llm_usage usage;
	int64_t llm_ms;
};
/* -ENOENT for a job that never submitted (or was forgotten). */
int llm_pool_job_usage(const struct llm_pool *p, int64_t job_id, struct llm_job_usage *ret);
/* Drop a finished job's counters and affinity (they are kept for the
 * MAX_JOBS most recently served jobs otherwise). */
void llm_pool_forget_job(struct llm_pool *p, int64_t job_id);

#endif
