/* The model client: one chat-completions call against one OpenAI-compatible
 * endpoint over tools/http, streamed (SSE) with a non-streaming fallback, or
 * against Ollama's native /api/chat (NDJSON), the only way to set num_ctx;
 * with schema validation by our own validator and a bounded repair loop.
 * Reasoning is kept apart from the answer. Scheduling, retries and breakers
 * across endpoints are llm/pool's. */
#ifndef RESEARCHD_LLM_CLIENT_H
#define RESEARCHD_LLM_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"

struct http;
struct llm_client;
struct llm_call;

#define LLM_DEFAULT_MAX_ANSWER (1024 * 1024)
#define LLM_DEFAULT_MAX_REASONING (4 * 1024 * 1024)
#define LLM_MAX_API_KEY 4096
#define LLM_DEFAULT_TIMEOUT_MS (600 * 1000)

struct llm_client_options {
	const char *api_key_file;	/* NULL: no Authorization header */
	const char *model;		/* NULL: omitted (llama-server serves one) */
	const char *user_agent;		/* NULL: "researchd" */
	size_t max_answer;		/* bytes; 0 = LLM_DEFAULT_MAX_ANSWER */
	size_t max_reasoning;		/* bytes; 0 = LLM_DEFAULT_MAX_REASONING */
};

/* The API key file is read once here (at most LLM_MAX_API_KEY bytes, one
 * line) into locked memory. */
int llm_client_new(struct http *http, const struct llm_client_options *o, struct llm_client **ret);
struct llm_client *llm_client_free(struct llm_client *c);
struct http *llm_client_http(const struct llm_client *c);
/* The "Authorization: Bearer ..." header line, or NULL. */
const char *llm_client_auth_header(const struct llm_client *c);

struct llm_call_options {
	const char *base_url;		/* "http://127.0.0.1:8080/v1" */
	const json_t *messages;		/* [{"role":..., "content":...}, ...] */
	const json_t *schema;		/* NULL: free text */
	const char *schema_name;	/* NULL: "reply"; [A-Za-z0-9_-]{1,64} */
	int64_t max_tokens;		/* <= 0: omitted */
	double temperature;		/* < 0: omitted */
	int max_repairs;		/* extra attempts after an invalid reply */
	long timeout_ms;		/* per HTTP attempt; 0 = LLM_DEFAULT_TIMEOUT_MS */
	bool no_stream;			/* ask for a plain JSON body */
	bool cache_prompt;		/* llama-server */
	int id_slot;			/* >= 0: llama-server slot; < 0: any */
	bool ollama;			/* POST {base without /v1}/api/chat (needs a model) */
	int64_t num_ctx;		/* Ollama: options.num_ctx; <= 0: omitted */
	const char *model;		/* NULL: the client's */
};

/* The outcome of a call. error is 0 or a negative errno:
 *  -EBADMSG   the reply never satisfied the schema (or was not JSON)
 *  -ENOSPC    finish_reason "length" on the last attempt
 *  -E2BIG     the prompt does not fit the server's context (HTTP 400)
 *  -EPROTO    another finish_reason (content_filter, tool_calls, ...)
 *  -EPIPE     the stream ended without a finish_reason (cut)
 *  -EREMOTEIO the server reported an error (HTTP 5xx, or in the stream)
 *  -EBUSY     HTTP 429 or 503 (retry_after_ms may say when to come back)
 *  -EACCES    HTTP 401/403; -EINVAL other 4xx
 *  anything tools/http reports: -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, ...
 * transient tells whether trying again later (or elsewhere) may succeed. */
struct llm_result {
	int error;
	bool transient;
	char *error_msg;		/* a sentence, when error < 0 */
	char *answer;			/* never holds reasoning */
	char *reasoning;		/* all attempts' reasoning, for the trace */
	char *finish_reason;
	char *model;
	json_t *json;			/* the validated value, with a schema */
	struct llm_usage usage;		/* summed over attempts */
	int attempts;			/* HTTP attempts made by this call */
	long http_status;
	int64_t retry_after_ms;		/* -1: not sent */
	int64_t ms;			/* wall time of the call */
	bool streamed;			/* the last reply came as SSE */
};

void llm_result_init(struct llm_result *r);
void llm_result_clear(struct llm_result *r);
/* Add b's token counts to a's (unreported counts stay -1 only when both are). */
void llm_usage_add(struct llm_usage *a, const struct llm_usage *b);

/* Called once per call, never after llm_call_cancel(); res may be stolen
 * from (set fields to NULL); the call is freed after it returns. */
typedef void (*llm_done_fn)(struct llm_call *call, struct llm_result *res, void *ud);

/* Start a call; everything in o is copied. -EINVAL for bad messages or a
 * schema outside our subset; -EAGAIN when the HTTP queue is full. */
int llm_call_start(struct llm_client *c, const struct llm_call_options *o, llm_done_fn done,
    void *ud, struct llm_call **ret);
/* Abort the transfer and free the call; done is not called. */
void llm_call_cancel(struct llm_call *call);

/* Parse a Retry-After value (seconds, or an HTTP date) into milliseconds
 * from now; -1 when absent or unreadable. Capped at one hour. */
int64_t llm_retry_after_ms(const char *v, int64_t now_epoch_ms);

#endif
