/* The runner of "research" jobs: glue between the job queue and the
 * planner. It hands each batch of the planner's effect requests to the
 * effects layer, waits at the barrier, folds the results in slot order,
 * and publishes the report. Transient failures are retried here; giving
 * up on one is written once as a decision record so a replay takes the
 * same path. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "chunk.h"
#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "hash.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "planner.h"
#include "pool.h"
#include "provenance.h"
#include "research.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

#include "research-internal.h"

/* jobs_event borrows data: this takes it. */
void research_event(struct research *rs, const char *type, json_t *data)
{
	jobs_event(rs->d->jobs, job_run_id(rs->run), type, data);
	json_decref(data);
}

/* ---- decision records ---------------------------------------------- */

/* Get-or-put (effect_decide): *ret (new reference) is what was decided
 * under name, the first time proposed. */
static int decide(struct daemon *d, int64_t job_id, const char *name, const json_t *proposed,
    json_t **ret)
{
	return effect_decide(d->effects, job_id, name, proposed, ret);
}

int research_decide(struct research *rs, const char *name, const json_t *proposed,
    json_t **ret)
{
	return decide(rs->d, job_run_id(rs->run), name, proposed, ret);
}

/* Was name decided already? (-ENOENT when not.) */
int research_decided(struct research *rs, const char *name, json_t **ret)
{
	json_t *rq = json_pack("{s:s}", "name", name);
	uint8_t key[HASH_BYTES];
	json_t *v = NULL;
	int r;

	r = effect_key("decision", rq, key);
	json_decref(rq);
	if (r < 0)
		return r;
	/* effect_decide stores the value itself as the result. */
	r = store_effect_get(rs->d->store, job_run_id(rs->run), key, &v);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

static char *giveup_name(const char *kind, const json_t *request)
{
	uint8_t key[HASH_BYTES];
	char hex[HASH_HEX_LEN + 1];

	if (effect_key(kind, request, key) < 0)
		memset(key, 0, sizeof(key));
	hash_hex(key, hex);
	return xasprintf("gave-up:%s", hex);
}

/* ---- the content-addressed text the planner reads ------------------- */

int research_text_get(void *ud, const char *text_hash, char **ret, size_t *ret_len)
{
	struct research *rs = ud;
	uint8_t h[HASH_BYTES];
	size_t n = 0;

	if (strlen(text_hash) != HASH_HEX_LEN ||
	    sodium_hex2bin(h, sizeof(h), text_hash, HASH_HEX_LEN, NULL, &n, NULL) != 0 ||
	    n != HASH_BYTES)
		return -EINVAL;
	return store_snapshot_get(rs->d->store, h, RESEARCH_MAX_TEXT, ret, ret_len);
}

/* ---- a follow-up's parent ------------------------------------------ */

static void slot_clear(struct research_slot *s)
{
	json_decref(s->result);
	s->result = NULL;
	s->call = NULL;
	s->done = s->replayed = s->gave_up = false;
	s->r = 0;
	s->tries = 0;
}

static void research_free(struct research *rs)
{
	for (size_t i = 0; i < RESEARCH_MAX_BATCH; i++)
		json_decref(rs->slots[i].result);
	planner_free(rs->p);
	free(rs);
}

static void timer_close_cb(uv_handle_t *h)
{
	research_free(h->data);
}

/* Free now, or once the timer handle is closed. */
static void research_release(struct research *rs)
{
	if (rs->timer_live) {
		uv_timer_stop(&rs->timer);
		uv_close((uv_handle_t *)&rs->timer, timer_close_cb);
	} else
		research_free(rs);
}

void research_end(struct research *rs, enum job_state state, const char *msg)
{
	struct job_run *run = rs->run;

	job_run_set_data(run, NULL);
	research_release(rs);
	job_run_finish(run, state, msg);
}

static void slot_done(struct effect_call *c, int r, const json_t *result, bool replayed,
    void *userdata);

static int slot_start(struct research *rs, struct research_slot *s)
{
	const struct planner_req *q = &rs->reqs[s->i];
	struct effect_call *call = NULL;
	int r;

	json_t *hints = json_pack("{s:i, s:I}", "priority", q->priority,
	    "owner", (json_int_t)job_run_job(rs->run)->owner);
	struct effect_opts o = { .hints = hints, .flags = EFFECT_RUN_DEFERRED };

	s->done = false;
	rs->pending++;
	/* Deferred: a resumed job's thousands of replays are spread over
	 * loop turns instead of blocking the daemon. */
	r = effect_run_opts(rs->d->effects, job_run_id(rs->run), q->kind, q->request, &o,
	    slot_done, s, &call);
	json_decref(hints);
	if (r < 0) {
		rs->pending--;
		return r;
	}
	if (!s->done)
		s->call = call;
	return 0;
}

static void research_timer_cb(uv_timer_t *t)
{
	struct research *rs = t->data;

	/* Slots waiting to retry start again; the rest of the batch is as it
	 * was. */
	for (size_t i = 0; i < rs->n; i++) {
		struct research_slot *s = &rs->slots[i];

		if (s->done && s->r < 0 && !s->gave_up && s->r != -ECANCELED) {
			int r = slot_start(rs, s);

			if (r < 0 && r != -ESHUTDOWN) {
				s->done = true;
				s->r = r;
			}
		}
	}
	research_advance(rs);
}

void research_schedule_cb(struct research *rs, uint64_t ms, uv_timer_cb cb)
{
	if (!rs->timer_live) {
		uv_timer_init(rs->d->loop, &rs->timer);
		rs->timer.data = rs;
		rs->timer_live = true;
	}
	uv_timer_start(&rs->timer, cb, ms, 0);
}

void research_schedule(struct research *rs, uint64_t ms)
{
	research_schedule_cb(rs, ms, research_timer_cb);
}

/* A transient failure: try again later, or give up for good (searches,
 * fetches, extraction) and record that, so a replay gives up too. */
static bool slot_retry(struct research *rs, struct research_slot *s)
{
	const struct planner_req *q = &rs->reqs[s->i];
	/* The verifier's calls give up like searches: without them the job
	 * still ends with the deterministic check. */
	bool model = strcmp(q->kind, "llm.chat") == 0;
	json_t *v = NULL;
	char *name;

	s->tries++;
	if (model) {
		/* Without a model the job cannot go on: it waits, saying so,
		 * until an endpoint answers. */
		if (!rs->waiting_model) {
			rs->waiting_model = true;
			research_event(rs, "waiting", json_pack("{s:s, s:s}", "for", "model", "message",
			    "no model endpoint answered; the job waits and tries again"));
		}
		return true;
	}
	/* The verifier's pool has waited and retried already. */
	if (s->tries < (strcmp(q->kind, "llm.verify") == 0 ? 1 : RESEARCH_GIVE_UP_TRIES))
		return true;
	name = giveup_name(q->kind, q->request);
	if (research_decide(rs, name, json_true(), &v) == 0)
		json_decref(v);
	free(name);
	return false;
}

static void slot_done(struct effect_call *c, int r, const json_t *result, bool replayed,
    void *userdata)
{
	struct research_slot *s = userdata;
	struct research *rs = s->rs;

	s->call = NULL;
	s->done = true;
	rs->pending--;
	if (r == -ECANCELED || r == -ESHUTDOWN || rs->stopping) {
		s->r = r;
		return;
	}
	s->r = r;
	s->replayed = replayed;
	if (r == 0)
		s->result = json_incref((json_t *)result);
	research_advance(rs);
}

static uint64_t batch_retry_ms(struct research *rs)
{
	uint64_t ms = 0;

	for (size_t i = 0; i < rs->n; i++) {
		struct research_slot *s = &rs->slots[i];

		if (s->done && s->r < 0 && !s->gave_up && s->r != -ECANCELED && s->r != -ESHUTDOWN) {
			uint64_t m = 500u << (s->tries < 7 ? s->tries : 7);

			if (m > RESEARCH_BACKOFF_MAX_MS)
				m = RESEARCH_BACKOFF_MAX_MS;
			if (m > ms)
				ms = m;
		}
	}
	return ms;
}

static void research_publish(struct research *rs)
{
	const json_t *data = planner_report_data(rs->p);
	const char *md = planner_report(rs->p);
	int64_t id = job_run_id(rs->run), now = time_now_ms();
	char *text = data ? json_compact(data) : NULL;
	int r;

	r = store_report_put(rs->d->store, id, "markdown", md ? md : "", now);
	if (r == 0 && text)
		r = store_report_put(rs->d->store, id, "json", text, now);
	if (r == 0 && data)
		r = store_research_put(rs->d->store, id, data);
	if (r == 0 && text)
		r = provenance_publish(rs->d, job_run_job(rs->run), md ? md : "", text, data, now);
	free(text);
	if (r < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "the report could not be stored: %s", strerror(-r));
		research_end(rs, JOB_FAILED, msg);
		return;
	}
	research_event(rs, "report", json_pack("{s:s, s:I}", "format", "markdown",
	    "bytes", (json_int_t)strlen(md ? md : "")));
	research_end(rs, JOB_DONE, NULL);
}

static void research_progress(struct research *rs)
{
	research_event(rs, "progress", planner_progress(rs->p));
}

/* A finish the user asked for takes effect at the barrier where the run
 * first sees it; that barrier's number is decided once, so a replay
 * finishes at the same point. */
static void research_place_finish(struct research *rs, bool fresh)
{
	json_t *at, *v = NULL;

	/* Asked before this run: not before the replay has caught up, or
	 * work already done would be thrown away. */
	if (!rs->finish_requested || rs->finish_at >= 0 || (!fresh && !rs->finish_live))
		return;
	at = json_integer((json_int_t)rs->batch);
	if (research_decide(rs, "finish", at, &v) == 0 && json_is_integer(v))
		rs->finish_at = json_integer_value(v);
	json_decref(at);
	json_decref(v);
	rs->finish_requested = false;
}

/* Waiting for a person is in research-wait.c. */

void research_advance(struct research *rs)
{
	int r;

	if (rs->advancing) {
		rs->again = true;
		return;
	}
	rs->advancing = true;
	do {
		bool fresh = false;
		uint64_t retry;

		rs->again = false;
		if (rs->pending > 0)
			break;
		/* Transient failures of this batch: retry or give up. */
		retry = 0;
		for (size_t i = 0; i < rs->n; i++) {
			struct research_slot *s = &rs->slots[i];

			if (s->done && s->r < 0 && !s->gave_up && s->r != -ECANCELED &&
			    s->r != -ESHUTDOWN) {
				if (slot_retry(rs, s))
					retry = 1;
				else
					s->gave_up = true;
			}
		}
		if (retry) {
			research_schedule(rs, batch_retry_ms(rs));
			break;
		}
		if (rs->n > 0) {
			/* The barrier: fold in slot order. */
			for (size_t i = 0; i < rs->n; i++) {
				struct research_slot *s = &rs->slots[i];

				fresh = fresh || !s->replayed;
				planner_apply(rs->p, i, s->r < 0 || s->gave_up ? -EIO : 0, s->result);
				slot_clear(s);
			}
			rs->batch++;
			research_place_finish(rs, fresh);
			if (rs->finish_at >= 0 && (int64_t)rs->batch >= rs->finish_at)
				planner_finish_now(rs->p, "the user asked to finish (research finish)");
			planner_barrier(rs->p);
			if (rs->waiting_model)
				rs->waiting_model = false;
			if (fresh)
				research_progress(rs);
		}
		r = planner_next(rs->p, &rs->reqs, &rs->n);
		if (r < 0) {
			char msg[128];

			rs->advancing = false;
			snprintf(msg, sizeof(msg), "the planner failed: %s", strerror(-r));
			research_end(rs, JOB_FAILED, msg);
			return;
		}
		if (rs->n == 0 && planner_waiting(rs->p)) {
			if (research_wait(rs, planner_waiting(rs->p)))
				continue;
			break;
		}
		if (rs->n == 0) {
			rs->advancing = false;
			research_publish(rs);
			return;
		}
		if (rs->n > RESEARCH_MAX_BATCH)
			rs->n = RESEARCH_MAX_BATCH;
		for (size_t i = 0; i < rs->n; i++) {
			struct research_slot *s = &rs->slots[i];
			const struct planner_req *q = &rs->reqs[i];
			json_t *gave = NULL;
			char *name;

			s->rs = rs;
			s->i = i;
			if (strcmp(q->kind, "llm.chat") != 0 && strcmp(q->kind, "clock.now") != 0) {
				/* Given up before: the same outcome without asking again. */
				name = giveup_name(q->kind, q->request);
				if (research_decided(rs, name, &gave) == 0) {
					json_decref(gave);
					free(name);
					s->done = true;
					s->replayed = true;
					s->gave_up = true;
					s->r = -EIO;
					continue;
				}
				free(name);
			}
			r = slot_start(rs, s);
			if (r == -ESHUTDOWN) {
				rs->advancing = false;
				return;
			}
			if (r < 0) {
				s->done = true;
				s->r = r;
			}
		}
	} while (rs->pending == 0 || rs->again);
	rs->advancing = false;
}

/* ---- the runner ----------------------------------------------------- */

static int research_start(struct job_run *run, void *userdata)
{
	struct daemon *d = job_run_daemon(run);
	const struct store_job *job = job_run_job(run);
	struct research *rs = xcalloc(1, sizeof(*rs));
	struct planner_env env = { .text_get = research_text_get, .ud = rs };
	json_t *opts = job->options ? json_deep_copy(job->options) : json_object();
	json_t *v = NULL, *proposed;
	int64_t ctx = d->llm ? llm_pool_context(d->llm) : 0;
	int64_t parent;
	int r;

	rs->run = run;
	rs->d = d;
	rs->finish_at = -1;
	json_object_set_new(opts, "owner", json_integer((json_int_t)job->owner));
	/* The model's context shapes every prompt: decided once, so a
	 * restart against another server replays the same prompts. */
	if (!json_object_get(opts, "context")) {
		proposed = json_integer(ctx > 0 ? ctx : 8192);
		r = research_decide(rs, "context", proposed, &v);
		json_decref(proposed);
		if (r == 0 && json_is_integer(v))
			json_object_set(opts, "context", v);
		json_decref(v);
		v = NULL;
	}
	if (research_decided(rs, "finish", &v) == 0) {
		if (json_is_integer(v))
			rs->finish_at = json_integer_value(v);
		json_decref(v);
	} else if (research_decided(rs, "finish-requested", &v) == 0) {
		rs->finish_requested = true;
		json_decref(v);
	}
	r = planner_new(job->id, job->question, opts, &env, &rs->p);
	json_decref(opts);
	if (r < 0) {
		free(rs);
		return r;
	}
	if (json_get_int(job->options, "parent", &parent) == 0) {
		json_t *data = NULL;

		r = research_parent_load(rs, parent, &data);
		if (r == 0)
			r = planner_set_parent(rs->p, parent, data);
		json_decref(data);
		if (r < 0) {
			char msg[160];

			snprintf(msg, sizeof(msg), "the report of job %lld, which this job follows up, "
			    "could not be read: %s", (long long)parent, strerror(-r));
			research_free(rs);
			job_run_finish(run, JOB_FAILED, msg);
			return 0;
		}
	}
	job_run_set_data(run, rs);
	research_advance(rs);
	return 0;
}

static void research_stop(struct job_run *run, void *userdata)
{
	struct research *rs = job_run_get_data(run);

	if (rs == NULL)
		return;
	rs->stopping = true;
	for (size_t i = 0; i < rs->n; i++)
		if (rs->slots[i].call)
			effect_call_cancel(rs->slots[i].call);
	job_run_set_data(run, NULL);
	research_release(rs);
}

static int research_finish(int64_t job_id, struct job_run *run, void *userdata)
{
	struct research *rs = run ? job_run_get_data(run) : NULL;
	json_t *v = NULL;
	int r;

	/* Recorded as the job's input first, so a crash before the next
	 * barrier does not lose it. */
	r = decide(userdata, job_id, "finish-requested", json_true(), &v);
	json_decref(v);
	if (r < 0)
		return r;
	if (rs && rs->finish_at < 0)
		rs->finish_requested = rs->finish_live = true;
	/* A job waiting for a person goes on without the input. */
	if (rs && rs->waiting) {
		json_t *in = json_pack("{s:s}", "skipped", "the user asked to finish (research finish)");

		r = research_wait_give(rs, rs->waiting, in);
		json_decref(in);
	}
	return r;
}

/* Research jobs start only while a model endpoint answers; until then
 * they stay queued and say so. */
static uv_timer_t research_probe_timer;
static bool research_probe_live, research_was_ready;

static bool research_ready(const char **why, void *userdata)
{
	struct daemon *d = userdata;

	if (d->llm && llm_pool_reachable(d->llm))
		return true;
	*why = d->llm ? "waiting for a model endpoint: none answers yet ([llm] url, serve or "
	    "probe; research doctor says more)" :
	    "waiting for a model endpoint: none is configured ([llm] url, serve or probe)";
	return false;
}

static void research_probe_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;
	bool ready = d->llm && llm_pool_reachable(d->llm);

	if (!ready && d->llm)
		llm_pool_probe(d->llm);
	else if (ready && !research_was_ready)
		jobs_schedule(d->jobs);
	research_was_ready = ready;
}

static int research_check(const json_t *options, char *err, size_t errlen, void *userdata)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)options, key, v) {
		if (strcmp(key, "context") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 2048 ||
			    json_integer_value(v) > 131072) {
				snprintf(err, errlen, "option \"context\" takes 2048 to 131072 tokens");
				return -EINVAL;
			}
		} else if (strcmp(key, "verifier") == 0) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "option \"verifier\" must be a boolean");
				return -EINVAL;
			}
		} else if (strcmp(key, "language") == 0) {
			if (!json_is_string(v) || json_string_length(v) < 2 || json_string_length(v) > 12) {
				snprintf(err, errlen, "option \"language\" takes a language code such as \"en\"");
				return -EINVAL;
			}
		} else if (strcmp(key, "review_plan") == 0) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "option \"review_plan\" must be a boolean");
				return -EINVAL;
			}
		} else if (strcmp(key, "answer_timeout") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 7 * 86400) {
				snprintf(err, errlen, "option \"answer_timeout\" takes 1 to 604800 seconds");
				return -EINVAL;
			}
		} else if (strcmp(key, "backends") == 0) {
			size_t i;
			json_t *b;

			if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 8) {
				snprintf(err, errlen, "option \"backends\" takes 1 to 8 backend names");
				return -EINVAL;
			}
			json_array_foreach(v, i, b)
				if (!json_is_string(b) || json_string_length(b) > 32) {
					snprintf(err, errlen, "option \"backends\" takes backend names");
					return -EINVAL;
				}
		} else if (strcmp(key, "parent") == 0) {
			/* Whose job it is and its state are checked at submit
			 * (research_parent_check), where the user is known. */
			if (!json_is_integer(v) || json_integer_value(v) < 1) {
				snprintf(err, errlen, "option \"parent\" takes the id of a done research job");
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "unknown option \"%.40s\" for a research job", key);
			return -EINVAL;
		}
	}
	return 0;
}

int research_register(struct daemon *d)
{
	static const struct job_runner runner = {
		.kind = "research",
		.start = research_start,
		.stop = research_stop,
		.check = research_check,
		.ready = research_ready,
		.finish = research_finish,
		.input = research_input,
	};
	struct job_runner reg = runner;
	int r;

	reg.userdata = d;
	r = jobs_register_runner(d->jobs, &reg);
	if (r < 0)
		return r;
	if (!research_probe_live) {
		uv_timer_init(d->loop, &research_probe_timer);
		research_probe_timer.data = d;
		research_probe_live = true;
		/* The first look comes soon after start-up (a job resumed by a
		 * restart waits for it), then every second. */
		uv_timer_start(&research_probe_timer, research_probe_cb, 100, 1000);
		uv_unref((uv_handle_t *)&research_probe_timer);
	}
	return 0;
}

void research_unregister(void)
{
	if (research_probe_live) {
		uv_timer_stop(&research_probe_timer);
		uv_close((uv_handle_t *)&research_probe_timer, NULL);
		research_probe_live = false;
	}
}
