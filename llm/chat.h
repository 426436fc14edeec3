/* OpenAI chat-completions, the pure part: request bodies, stream chunks and
 * response bodies of llama-server, Ollama (/v1), vLLM and the like, and a
 * reply that a stream or a body accumulates into; the same for Ollama's
 * native /api/chat (NDJSON lines). No I/O here. */
#ifndef RESEARCHD_LLM_CHAT_H
#define RESEARCHD_LLM_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "think.h"

/* Token counts are -1 when the server did not report them. */
struct llm_usage {
	int64_t prompt_tokens;
	int64_t completion_tokens;
	int64_t cached_tokens;		/* prompt_tokens_details.cached_tokens, or llama-server's cache_n */
	int64_t reasoning_tokens;	/* completion_tokens_details.reasoning_tokens */
	/* llama-server "timings"; -1 when absent. */
	int64_t timings_prompt_n;
	int64_t timings_predicted_n;
	double timings_prompt_ms;
	double timings_predicted_ms;
};

void llm_usage_init(struct llm_usage *u);

/* What one chunk (or one response body) says. Strings point into the JSON
 * value and live as long as it; content and reasoning may hold NUL bytes. */
struct chat_delta {
	const char *content;		/* NULL when absent */
	size_t content_len;
	const char *reasoning;		/* reasoning_content, else reasoning */
	size_t reasoning_len;
	const char *finish_reason;	/* NULL until the last choice chunk */
	const char *model;
	const char *error;		/* the server's error message, if any */
	bool has_usage;
	struct llm_usage usage;
};

/* One streaming chunk: choices[0].delta, finish_reason, usage, timings, or
 * an {"error": ...} object (delta.error set, still 0). -EBADMSG when the
 * chunk is not what the protocol allows. */
int chat_chunk_parse(const json_t *chunk, struct chat_delta *ret);
/* The same for a non-streaming body: choices[0].message instead of delta. */
int chat_body_parse(const json_t *body, struct chat_delta *ret);

struct chat_message {
	const char *role;	/* "system", "user" or "assistant" */
	const char *content;	/* UTF-8 */
};

struct chat_request {
	const char *model;			/* NULL: omitted (llama-server serves one) */
	const struct chat_message *messages;
	size_t n_messages;
	bool stream;				/* also asks for the usage chunk */
	int64_t max_tokens;			/* <= 0: omitted */
	double temperature;			/* < 0: omitted (zeroed: 0, greedy) */
	const json_t *schema;			/* NULL: free text */
	const char *schema_name;		/* NULL: "reply"; [A-Za-z0-9_-]{1,64} */
	bool strict;
	bool cache_prompt;			/* llama-server: reuse the KV cache */
	bool use_slot;				/* llama-server slot affinity: send id_slot */
	int id_slot;				/* (a zeroed request must not pin slot 0) */
	int64_t num_ctx;			/* Ollama: options.num_ctx; <= 0: omitted */
};

/* Build the JSON body. -EINVAL for no messages, an unknown role, content
 * that is not UTF-8, a bad schema name, or a schema outside our subset. */
int chat_request_build(const struct chat_request *req, json_t **ret);
/* The body of Ollama's native /api/chat: model (required), messages,
 * stream, "format" (the schema), options num_ctx, num_predict (max_tokens)
 * and temperature. Same errors. */
int chat_request_build_ollama(const struct chat_request *req, json_t **ret);

/* A reply accumulated from a stream or a body. */
struct chat_reply {
	struct think think;		/* think.answer and think.reasoning */
	char *finish_reason;
	char *model;
	char *error;			/* the server's error message */
	struct llm_usage usage;
	bool has_usage;
	bool done;			/* "data: [DONE]" (Ollama: "done": true) seen */
	uint64_t chunks;
};

void chat_reply_init(struct chat_reply *r, size_t max_reasoning, size_t max_answer);
void chat_reply_done(struct chat_reply *r);
/* One SSE event's data: "[DONE]" or a chunk. -EBADMSG for invalid JSON or
 * a malformed chunk, -EREMOTEIO for an error chunk (message in r->error),
 * -ENOBUFS when the answer or reasoning is over its cap. */
int chat_reply_feed_event(struct chat_reply *r, const char *data, size_t len);
int chat_reply_feed_chunk(struct chat_reply *r, const json_t *chunk);
/* One SSE event as the parser gives it: type "message" is fed as above,
 * type "error" (llama-server) sets r->error and is -EREMOTEIO, other
 * types are ignored. */
int chat_reply_feed_sse(struct chat_reply *r, const char *type, const char *data, size_t len);
/* A whole non-streaming response body; same errors. */
int chat_reply_feed_body(struct chat_reply *r, const char *body, size_t len);
/* One line of Ollama's /api/chat reply (or its whole non-streaming body):
 * content through the think splitter, "thinking" as reasoning, done_reason
 * as finish_reason (absent: "stop"), prompt_eval_count and eval_count as
 * usage; an {"error": ...} line sets r->error and is -EREMOTEIO; -EBADMSG
 * for invalid JSON or a line after the last. */
int chat_reply_feed_ollama(struct chat_reply *r, const char *line, size_t len);
/* End of the reply: 0 only for finish_reason "stop". -ENOSPC for "length"
 * (cut at max_tokens or the context: never a success), -EPIPE when no
 * finish_reason came (stream cut), -EREMOTEIO after a server error,
 * -EPROTO for any other reason (tool_calls, content_filter, ...). */
int chat_reply_finish(struct chat_reply *r);
/* The answer and the reasoning so far ("" when none). */
const char *chat_reply_answer(const struct chat_reply *r);
const char *chat_reply_reasoning(const struct chat_reply *r);

/* Parse the (finished) answer as JSON and validate it against schema
 * (NULL: any JSON). A ```json fence around the answer is removed first;
 * duplicate keys are refused. 0 and *ret; -EBADMSG with messages in errors
 * (may be NULL) when it is not JSON or not valid; -EINVAL or -E2BIG as
 * schema_validate(). */
int chat_reply_json(const struct chat_reply *r, const json_t *schema,
		    struct schema_errors *errors, json_t **ret);
/* The user message of a repair round: what was wrong, and what to do. */
int chat_repair_prompt(const struct schema_errors *errors, struct buf *out);

#endif
