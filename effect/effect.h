/* The effects layer: durable execution of costly side effects.
 *
 * An effect (a model call, a search, a page fetch, a sandbox run, a clock
 * reading) is identified by key = BLAKE2b(kind, canonical request JSON).
 * effect_run() first looks the key up in the job's stored effects: a hit
 * replays the stored result without running anything. A miss runs the kind's
 * registered executor; its result is stored in the same transaction as the
 * job's progress (an event and the usage counters), then handed to the
 * caller. Identical requests in flight at once run once and every caller
 * gets the result. After a crash a job's planner runs again from the start
 * and only the effects that never stored a result run again. */
#ifndef RESEARCHD_EFFECT_H
#define RESEARCHD_EFFECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hash.h"

struct effects;
struct effect_exec;
struct store;
struct uv_loop_s;

#define EFFECT_MAX_KINDS 32
#define EFFECT_MAX_KIND_LEN 32
/* Bytes of one stored result's JSON. A bigger result is not stored: the
 * effect's result becomes {"error":"too_big","bytes":N,"max":M}, stored and
 * replayed like any permanent failure, and callers get that. */
#define EFFECT_MAX_RESULT (64 * 1024 * 1024)

/* An executor runs one effect. start() begins the work (asynchronously, on
 * the loop) and later calls effect_exec_done() exactly once, unless
 * cancel() was called first; cancel() must stop the work and not call done.
 * A result (a JSON value) is stored and replayed forever: encode permanent
 * failures such as an HTTP 404 inside it. A negative errno instead means a
 * transient failure (timeout, server down): nothing is stored and the next
 * run tries again. */
struct effect_kind {
	const char *name;	/* "llm.chat", "web.fetch", "sandbox.run", ... */
	int (*start)(struct effect_exec *x, const json_t *request, void *userdata);
	void (*cancel)(struct effect_exec *x, void *userdata);
	void *userdata;
};

/* Per-executor-run state for the executor's own use. */
void effect_exec_set_data(struct effect_exec *x, void *data);
void *effect_exec_get_data(struct effect_exec *x);
struct uv_loop_s *effect_exec_loop(struct effect_exec *x);
/* The job that started this execution (others may have joined it since),
 * for executors that schedule fairly across jobs. */
int64_t effect_exec_job_id(const struct effect_exec *x);
/* Report the outcome: r == 0 with a result (reference stolen), or r < 0.
 * cost, optional (stolen), is an object of integer counters ({"tokens":N,
 * "fetches":1, ...}) added to the job's usage in the same transaction. */
void effect_exec_done(struct effect_exec *x, int r, json_t *result, json_t *cost);

/* A caller's handle for one effect_run(). */
struct effect_call;

/* Called once with r == 0 and a borrowed result, or a negative errno
 * (-ECANCELED after effect_call_cancel). replayed tells whether the result
 * came from the store. */
typedef void (*effect_done_fn)(struct effect_call *c, int r, const json_t *result,
    bool replayed, void *userdata);

struct effects_stats {
	uint64_t run;		/* executors started */
	uint64_t replayed;	/* results served from the store */
	uint64_t shared;	/* callers that joined an identical effect in flight */
	uint64_t failed;	/* executors that ended in an error */
};

int effects_new(struct uv_loop_s *loop, struct store *store, struct effects **ret);
struct effects *effects_free(struct effects *e);
/* Close the layer's own loop handles (the deferred-replay idle handle); the
 * loop must run once more afterwards for their memory to go. The daemon
 * calls it before it closes every other handle; effects_free does it too. */
void effects_close_handles(struct effects *e);
int effects_register(struct effects *e, const struct effect_kind *kind);
/* Called after results (and their events) for job_id were committed. */
typedef void (*effects_stored_fn)(int64_t job_id, void *userdata);
void effects_set_stored_hook(struct effects *e, effects_stored_fn fn, void *userdata);
/* Shutdown: effects in flight finish and store; new ones get -ESHUTDOWN. */
void effects_drain(struct effects *e);
void effects_get_stats(const struct effects *e, struct effects_stats *ret);
/* In-flight executions (not counting waiters). */
unsigned effects_in_flight(const struct effects *e);

/* Compute the effect id of (kind, request): -EINVAL when the request has no
 * canonical encoding (NULL, or a string that is not UTF-8). */
int effect_key(const char *kind, const json_t *request, uint8_t ret[HASH_BYTES]);

/* Options of effect_run_opts(); none of them is part of the effect's key,
 * so changing them never makes a replay pay again. */
struct effect_opts {
	/* Scheduling hints handed to the executor (effect_exec_hints), an
	 * object or NULL. The model pool reads {"priority": N (-1000..1000,
	 * higher first), "slot": N (a llama-server slot, -1 for any)}. When
	 * identical requests share one execution, the starting call's hints
	 * apply. */
	const json_t *hints;
	unsigned flags;		/* EFFECT_RUN_* */
};

/* Deferred: done is never called from inside effect_run_opts. The key is
 * looked up from the loop, at most EFFECT_REPLAY_BATCH deferred calls per
 * loop iteration; a hit is delivered there (replayed == true), a miss joins
 * or starts its execution as usual (an executor that cannot start reports
 * through done). *ret is always set, and effect_call_cancel and
 * effects_cancel_job work on the call while it waits. A planner resuming a
 * long job after a restart runs its effects deferred, so its thousands of
 * replays do not block the daemon and do not recurse through its callbacks
 * (a done that runs the next effect deferred returns at once). */
#define EFFECT_RUN_DEFERRED 0x1u
#define EFFECT_REPLAY_BATCH 256

/* The hints of the call that started this execution (borrowed), or NULL. */
const json_t *effect_exec_hints(const struct effect_exec *x);

/* Run (or replay) an effect for job_id. A replay completes synchronously:
 * done is called before effect_run returns, with *ret set to NULL. A replay
 * appends no job event (a run appends one, with its result): resuming a job
 * leaves its event log as it was. -EINVAL
 * when the request has no canonical encoding (see effect_key). */
int effect_run(struct effects *e, int64_t job_id, const char *kind, const json_t *request,
    effect_done_fn done, void *userdata, struct effect_call **ret);
/* effect_run with options (NULL: none); -EINVAL for hints that are not an
 * object or unknown flags. */
int effect_run_opts(struct effects *e, int64_t job_id, const char *kind, const json_t *request,
    const struct effect_opts *opts, effect_done_fn done, void *userdata, struct effect_call **ret);
/* A decision record: a get-or-put effect for the few choices that depend on
 * timing (a deadline reached mid-batch, giving up on a source after
 * retries, a user's answer), so a replay cannot take another path. The
 * first call for (job_id, name) stores proposed and returns a copy of it;
 * every later call, after a restart too, returns the stored value and
 * ignores its proposal. Synchronous. *ret is a new reference. -EINVAL for an
 * empty, overlong or non-UTF-8 name or an unencodable value, -EFBIG past
 * EFFECT_MAX_RESULT. The key is that of kind "decision", {"name": name}. */
#define EFFECT_DECISION_KIND "decision"
#define EFFECT_MAX_DECISION_NAME 256
int effect_decide(struct effects *e, int64_t job_id, const char *name, const json_t *proposed,
    json_t **ret);

/* Stop waiting: done is called with -ECANCELED before this returns. The
 * executor is cancelled once no caller waits for it. Safe from inside any
 * done callback, on any call whose done has not yet run (a sibling waiting
 * on the same finished execution gets -ECANCELED instead of the result);
 * on a call whose done has run or is running (itself) it does nothing. The
 * handle must not be used after its done callback returns. */
void effect_call_cancel(struct effect_call *c);
/* Cancel every call of a job (job cancelled, paused, or daemon stopping),
 * including calls queued for the result of an execution that just finished.
 * Safe from inside a done callback; calls started by the callbacks it runs
 * are not cancelled. */
void effects_cancel_job(struct effects *e, int64_t job_id);

#endif
