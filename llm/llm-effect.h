/* The "llm.chat" effect: a model call recorded in a job's effects.
 *
 * Request: {"messages":[{"role","content"}...], "schema":{...}?, "schema_name":s?,
 *   "max_tokens":N?, "temperature":X?, "max_repairs":N?, "job":N?}  ("job"
 *   names another job for the pool's fairness, for tests of the queue).
 * Scheduling hints, not part of the key: pass {"priority":N (-1000..1000,
 *   higher first), "slot":N (llama-server slot, -1 any)} as the hints of
 *   effect_run_opts(). (The request fields "priority" and "job_slot_hint"
 *   still work when no hint is given, but they change the key.)
 * Result: {"answer", "json"? (the validated value), "reasoning",
 *   "finish_reason", "model", "usage":{...}, "attempts", "endpoint"}, or, for
 *   a failure that would repeat (schema never satisfied, cut at the length
 *   limit, prompt over the context), the same with "error":{"code","message"}
 *   and no "json". Transient failures (server down, timeouts) are a negative
 *   errno: nothing is stored and the next run tries again. */
#ifndef RESEARCHD_LLM_EFFECT_H
#define RESEARCHD_LLM_EFFECT_H

#include <jansson.h>

struct effects;
struct llm_pool;
struct llm_result;

#define LLM_EFFECT_KIND "llm.chat"

/* Register the "llm.chat" executor; the pool must outlive the effects. */
int llm_register(struct effects *e, struct llm_pool *pool);
/* The same executor under another kind, for a second pool: "llm.verify",
 * the verifier pass's calls, on [llm] verifier_url or the main pool. */
#define LLM_VERIFY_KIND "llm.verify"
int llm_register_kind(struct effects *e, struct llm_pool *pool, const char *name);

/* The stored result for an outcome: NULL for a transient failure (the
 * caller reports res->error); endpoint may be NULL. */
json_t *llm_effect_result(const struct llm_result *res, const char *endpoint);
/* The cost object for the job's usage counters. */
json_t *llm_effect_cost(const struct llm_result *res);

#endif
