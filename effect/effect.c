/* The effects layer: durable execution of costly side effects (see
 * effect.h). Everything runs on the loop thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "effect.h"
#include "json.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

/* Where a call is: waiting on its execution, queued for delivery of a
 * finished one (its done not called yet), or done (inside or past its
 * callback; cancelling it then is a no-op). */
enum call_state { CALL_PENDING, CALL_WAITING, CALL_DELIVERY, CALL_DONE };

struct effect_call {
	struct effects *e;
	struct effect_exec *x;	/* CALL_WAITING, CALL_DELIVERY */
	int64_t job_id;
	uint64_t seq;		/* creation order, so a job cancel spares later calls */
	enum call_state state;
	effect_done_fn done;
	void *userdata;
	/* What to run, until an execution takes it (a deferred call keeps it
	 * until the loop looks it up). */
	const struct effect_kind *kind;
	uint8_t key[HASH_BYTES];
	char *request_text;
	json_t *request, *hints;
	struct effect_call *next;
};

struct effect_exec {
	struct effects *e;
	const struct effect_kind *kind;
	uint8_t key[HASH_BYTES];
	char *request_text;	/* canonical JSON, as hashed and stored */
	json_t *request;
	json_t *hints;		/* the starting call's, or NULL; never hashed */
	struct effect_call *waiters;
	/* Callers still to hear a finished execution's outcome. Callbacks may
	 * cancel any of them, or the whole job, while the list is walked. */
	struct effect_call *delivery;
	int64_t job_id;		/* the job whose call started it */
	int64_t start_ms;	/* monotonic */
	void *data;		/* the executor's */
	/* An outcome reported while start() is still on the stack. */
	bool starting, has_outcome;
	int outcome_r;
	json_t *outcome_result, *outcome_cost;
	struct effect_exec *next;
};

struct effects {
	uv_loop_t *loop;
	struct store *store;
	struct effect_kind kinds[EFFECT_MAX_KINDS];
	size_t nkinds;
	struct effect_exec *inflight;
	struct effect_exec *delivering;	/* finished, callbacks running */
	unsigned n_inflight;
	uint64_t call_seq;
	/* Deferred calls, looked up from the loop a batch per iteration. */
	struct effect_call *pending, **pending_tail;
	uv_idle_t *idle;	/* allocated: it outlives e while closing */
	size_t max_result;	/* bytes of one stored result's JSON */
	struct effects_stats stats;
	effects_stored_fn stored;
	void *stored_userdata;
	bool draining;
};

static int clock_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	effect_exec_done(x, 0, json_pack("{s:I}", "ms", (json_int_t)time_now_ms()), NULL);
	return 0;
}

static void clock_cancel(struct effect_exec *x, void *userdata)
{
}

/* The clock is an effect so that deadline decisions replay identically. */
static const struct effect_kind effect_kind_clock = {
	.name = "clock.now",
	.start = clock_start,
	.cancel = clock_cancel,
};

int effects_new(uv_loop_t *loop, struct store *store, struct effects **ret)
{
	struct effects *e = xcalloc(1, sizeof(*e));
	int r;

	e->loop = loop;
	e->store = store;
	e->max_result = EFFECT_MAX_RESULT;
	e->pending_tail = &e->pending;
	r = effects_register(e, &effect_kind_clock);
	if (r < 0) {
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

static void effect_exec_free(struct effect_exec *x)
{
	free(x->request_text);
	if (x->request)
		json_decref(x->request);
	if (x->hints)
		json_decref(x->hints);
	if (x->outcome_result)
		json_decref(x->outcome_result);
	if (x->outcome_cost)
		json_decref(x->outcome_cost);
	free(x);
}

static void effects_unlink(struct effects *e, struct effect_exec *x)
{
	for (struct effect_exec **p = &e->inflight; *p; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			e->n_inflight--;
			return;
		}
	}
}

static void call_free(struct effect_call *c)
{
	free(c->request_text);
	if (c->request)
		json_decref(c->request);
	if (c->hints)
		json_decref(c->hints);
	free(c);
}

static void effects_idle_closed(uv_handle_t *h)
{
	struct effects *e = h->data;

	if (e)
		e->idle = NULL;
	free(h);
}

void effects_close_handles(struct effects *e)
{
	/* The handle's memory goes in its close callback, so the loop must
	 * run once more after this. */
	if (e->idle && !uv_is_closing((uv_handle_t *)e->idle))
		uv_close((uv_handle_t *)e->idle, effects_idle_closed);
}

struct effects *effects_free(struct effects *e)
{
	if (e == NULL)
		return NULL;
	while (e->pending)
		effect_call_cancel(e->pending);
	effects_close_handles(e);
	while (e->inflight) {
		struct effect_exec *x = e->inflight;

		/* Waiters get -ECANCELED; the last one cancels and frees x. */
		effect_call_cancel(x->waiters);
	}
	if (e->idle)
		e->idle->data = NULL;	/* closing: its callback must not touch e */
	free(e);
	return NULL;
}

int effects_register(struct effects *e, const struct effect_kind *kind)
{
	if (kind->name == NULL || strlen(kind->name) > EFFECT_MAX_KIND_LEN ||
	    kind->start == NULL || kind->cancel == NULL)
		return -EINVAL;
	for (size_t i = 0; i < e->nkinds; i++)
		if (strcmp(e->kinds[i].name, kind->name) == 0)
			return -EEXIST;
	if (e->nkinds == EFFECT_MAX_KINDS)
		return -ENOSPC;
	e->kinds[e->nkinds++] = *kind;
	return 0;
}

void effects_set_stored_hook(struct effects *e, effects_stored_fn fn, void *userdata)
{
	e->stored = fn;
	e->stored_userdata = userdata;
}

void effects_get_stats(const struct effects *e, struct effects_stats *ret)
{
	*ret = e->stats;
}

unsigned effects_in_flight(const struct effects *e)
{
	return e->n_inflight;
}

void effects_drain(struct effects *e)
{
	e->draining = true;
}

static const struct effect_kind *effects_kind(struct effects *e, const char *name)
{
	for (size_t i = 0; i < e->nkinds; i++)
		if (strcmp(e->kinds[i].name, name) == 0)
			return &e->kinds[i];
	return NULL;
}

static void effect_key_text(const char *kind, const char *request_text, uint8_t out[HASH_BYTES])
{
	struct hash_state *h = hash_new();

	hash_part(h, kind, strlen(kind));
	hash_part(h, request_text, strlen(request_text));
	hash_final(h, out);
}

/* The canonical text of a request, as hashed and stored. json_canonical()
 * would fall back to "null" for a value it cannot encode (a string that is
 * not UTF-8, say), giving every such request one key: refuse it instead.
 * The flags must stay those of json_canonical(), or stored keys change. */
static int effect_canonical(const json_t *request, char **ret)
{
	char *text;

	if (request == NULL)
		return -EINVAL;
	text = json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
	if (text == NULL)
		return -EINVAL;
	*ret = text;
	return 0;
}

int effect_key(const char *kind, const json_t *request, uint8_t ret[HASH_BYTES])
{
	char *text;
	int r;

	r = effect_canonical(request, &text);
	if (r < 0)
		return r;
	effect_key_text(kind, text, ret);
	free(text);
	return 0;
}

void effect_exec_set_data(struct effect_exec *x, void *data)
{
	x->data = data;
}

void *effect_exec_get_data(struct effect_exec *x)
{
	return x->data;
}

uv_loop_t *effect_exec_loop(struct effect_exec *x)
{
	return x->e->loop;
}

int64_t effect_exec_job_id(const struct effect_exec *x)
{
	return x->job_id;
}

static json_t *effect_event_data(const struct effect_exec *x, const char *kind,
    const uint8_t key[HASH_BYTES], bool replayed, int64_t ms)
{
	char hex[HASH_HEX_LEN + 1];

	hash_hex(key, hex);
	hex[16] = '\0';
	return json_pack("{s:s, s:s, s:b, s:I}", "kind", kind, "key", hex,
	    "replayed", replayed, "ms", (json_int_t)ms);
}

/* A result too big to keep: what is stored and handed to callers instead,
 * so that a replay does not pay for the run again to learn the same. */
static json_t *effect_too_big(size_t bytes, size_t max)
{
	return json_pack("{s:s, s:I, s:I}", "error", "too_big", "bytes", (json_int_t)bytes,
	    "max", (json_int_t)max);
}

/* Store the result (its text) for every job waiting on x, with the job's
 * progress, in one transaction. */
static int effect_store(struct effects *e, struct effect_exec *x, const char *result,
    const json_t *cost, int64_t ms)
{
	int64_t now = time_now_ms();
	int r;

	r = store_begin(e->store);
	if (r < 0)
		return r;
	for (struct effect_call *c = x->waiters; c; c = c->next) {
		json_t *usage, *data;
		bool seen = false;

		for (struct effect_call *p = x->waiters; p != c; p = p->next)
			seen = seen || p->job_id == c->job_id;
		if (seen)
			continue;
		r = store_effect_put(e->store, c->job_id, x->key, x->kind->name, x->request_text,
		    result, ms, now);
		if (r < 0)
			goto fail;
		usage = cost ? json_deep_copy(cost) : json_object();
		json_object_set_new(usage, "effects", json_integer(1));
		r = store_job_add_usage(e->store, c->job_id, usage, now);
		json_decref(usage);
		if (r < 0)
			goto fail;
		data = effect_event_data(x, x->kind->name, x->key, false, ms);
		r = store_event_append(e->store, c->job_id, now, "effect", data, NULL);
		json_decref(data);
		if (r < 0)
			goto fail;
	}
	return store_commit(e->store);
fail:
	store_rollback(e->store);
	return r;
}

/* Encode the result once for every job; one past the cap becomes a stored
 * too_big outcome (*result is replaced). An unencodable result is the
 * executor's bug: nothing is stored. */
static int effect_encode_result(struct effects *e, json_t **result, char **ret_text)
{
	char *text;
	size_t n;

	text = json_dumps(*result, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		return -EINVAL;
	n = strlen(text);
	if (n > e->max_result) {
		free(text);
		json_decref(*result);
		*result = effect_too_big(n, e->max_result);
		text = json_dumps(*result, JSON_COMPACT);
	}
	*ret_text = text;
	return 0;
}

static void call_list_remove(struct effect_call **head, struct effect_call *c)
{
	for (struct effect_call **p = head; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

static void exec_list_remove(struct effect_exec **head, struct effect_exec *x)
{
	for (struct effect_exec **p = head; *p; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			return;
		}
	}
}

static void effect_exec_complete(struct effect_exec *x, int r, json_t *result, json_t *cost)
{
	struct effects *e = x->e;
	struct effect_call *c;
	int64_t ms = time_mono_ms() - x->start_ms;
	char *text = NULL;

	effects_unlink(e, x);
	if (r == 0 && result == NULL)
		r = -EINVAL;
	if (r == 0)
		r = effect_encode_result(e, &result, &text);
	if (r == 0) {
		r = effect_store(e, x, text, cost, ms);
		free(text);
	}
	if (r < 0)
		e->stats.failed++;
	/* The callbacks may start effects, cancel siblings still queued here or
	 * cancel the whole job: take one call at a time off a list that
	 * effect_call_cancel and effects_cancel_job know about, and keep x
	 * alive (off the in-flight list, so nobody joins it) until the end. */
	x->delivery = x->waiters;
	x->waiters = NULL;
	for (c = x->delivery; c; c = c->next)
		c->state = CALL_DELIVERY;
	x->next = e->delivering;
	e->delivering = x;
	while ((c = x->delivery) != NULL) {
		int64_t job = c->job_id;

		x->delivery = c->next;
		c->state = CALL_DONE;
		c->done(c, r, r == 0 ? result : NULL, false, c->userdata);
		call_free(c);
		if (r == 0 && e->stored)
			e->stored(job, e->stored_userdata);
	}
	exec_list_remove(&e->delivering, x);
	if (result)
		json_decref(result);
	if (cost)
		json_decref(cost);
	effect_exec_free(x);
}

void effect_exec_done(struct effect_exec *x, int r, json_t *result, json_t *cost)
{
	if (x->starting) {
		x->has_outcome = true;
		x->outcome_r = r;
		x->outcome_result = result;
		x->outcome_cost = cost;
		return;
	}
	effect_exec_complete(x, r, result, cost);
}

const json_t *effect_exec_hints(const struct effect_exec *x)
{
	return x->hints;
}

static struct effect_call *call_new(struct effects *e, int64_t job_id, const struct effect_kind *k,
    const uint8_t key[HASH_BYTES], char *request_text, const json_t *request, const json_t *hints,
    effect_done_fn done, void *userdata)
{
	struct effect_call *c = xcalloc(1, sizeof(*c));

	c->e = e;
	c->job_id = job_id;
	c->seq = e->call_seq++;
	c->done = done;
	c->userdata = userdata;
	c->kind = k;
	memcpy(c->key, key, HASH_BYTES);
	c->request_text = request_text;
	c->request = json_deep_copy(request);
	c->hints = hints ? json_deep_copy(hints) : NULL;
	return c;
}

/* Join an identical execution in flight, or start one for c (a miss). On
 * failure nothing ran and c is untouched: the caller frees it. *ret is c
 * while it waits, NULL when it completed before this returned. */
static int effect_call_attach(struct effects *e, struct effect_call *c, struct effect_call **ret)
{
	const struct effect_kind *k = c->kind;
	struct effect_exec *x;
	int r;

	for (x = e->inflight; x; x = x->next) {
		if (x->kind == k && memcmp(x->key, c->key, HASH_BYTES) == 0) {
			c->x = x;
			c->state = CALL_WAITING;
			c->next = x->waiters;
			x->waiters = c;
			e->stats.shared++;
			*ret = c;
			return 0;
		}
	}

	x = xcalloc(1, sizeof(*x));
	x->e = e;
	x->kind = k;
	memcpy(x->key, c->key, HASH_BYTES);
	x->job_id = c->job_id;
	x->start_ms = time_mono_ms();
	x->next = e->inflight;
	e->inflight = x;
	e->n_inflight++;
	e->stats.run++;
	/* The execution owns what it runs from now on. */
	x->request_text = c->request_text;
	x->request = c->request;
	x->hints = c->hints;
	c->request_text = NULL;
	c->request = c->hints = NULL;

	x->starting = true;
	r = k->start(x, x->request, k->userdata);
	x->starting = false;
	if (r < 0 && !x->has_outcome) {
		/* Nothing ran: the caller hears it from the return value. */
		effects_unlink(e, x);
		e->stats.failed++;
		effect_exec_free(x);
		return r;
	}
	c->x = x;
	c->state = CALL_WAITING;
	x->waiters = c;
	if (x->has_outcome) {
		json_t *result = x->outcome_result, *cost = x->outcome_cost;

		x->outcome_result = x->outcome_cost = NULL;
		*ret = NULL;
		effect_exec_complete(x, x->outcome_r, result, cost);
		return 0;
	}
	*ret = c;
	return 0;
}

static void effects_pending_run(uv_idle_t *h);

/* Queue a deferred call; the loop looks it up (see effects_pending_run). */
static void effects_pending_add(struct effects *e, struct effect_call *c)
{
	c->state = CALL_PENDING;
	c->next = NULL;
	*e->pending_tail = c;
	e->pending_tail = &c->next;
	if (e->idle == NULL) {
		e->idle = xcalloc(1, sizeof(*e->idle));
		uv_idle_init(e->loop, e->idle);
		e->idle->data = e;
	}
	if (!uv_is_active((uv_handle_t *)e->idle))
		uv_idle_start(e->idle, effects_pending_run);
}

static void effects_pending_remove(struct effects *e, struct effect_call *c)
{
	call_list_remove(&e->pending, c);
	e->pending_tail = &e->pending;
	while (*e->pending_tail)
		e->pending_tail = &(*e->pending_tail)->next;
}

static void call_finish(struct effect_call *c, int r, const json_t *result, bool replayed)
{
	c->state = CALL_DONE;
	c->done(c, r, result, replayed, c->userdata);
	call_free(c);
}

/* One loop iteration's share of deferred calls: replays are delivered, a
 * miss joins or starts its execution. Callbacks may queue more; those wait
 * for the rest of this batch or the next iteration, so a job replaying
 * thousands of effects lets the loop serve everyone else in between. */
static void effects_pending_run(uv_idle_t *h)
{
	struct effects *e = h->data;

	for (unsigned n = 0; n < EFFECT_REPLAY_BATCH && e->pending; n++) {
		struct effect_call *c = e->pending, *ret;
		json_t *stored = NULL;
		int r;

		effects_pending_remove(e, c);
		c->next = NULL;
		r = store_effect_get(e->store, c->job_id, c->key, &stored);
		if (r == 0) {
			e->stats.replayed++;
			call_finish(c, 0, stored, true);
			json_decref(stored);
			continue;
		}
		if (r == -ENOENT)
			r = e->draining ? -ESHUTDOWN : effect_call_attach(e, c, &ret);
		if (r < 0)
			call_finish(c, r, NULL, false);
	}
	if (e->pending == NULL)
		uv_idle_stop(h);
}

int effect_run_opts(struct effects *e, int64_t job_id, const char *kind, const json_t *request,
    const struct effect_opts *opts, effect_done_fn done, void *userdata, struct effect_call **ret)
{
	const struct effect_kind *k = effects_kind(e, kind);
	const json_t *hints = opts ? opts->hints : NULL;
	struct effect_call *c, *out;
	uint8_t key[HASH_BYTES];
	json_t *stored = NULL;
	char *text;
	int r;

	if (k == NULL)
		return -EOPNOTSUPP;
	if (hints && !json_is_object(hints))
		return -EINVAL;
	if (opts && (opts->flags & ~EFFECT_RUN_DEFERRED))
		return -EINVAL;
	r = effect_canonical(request, &text);
	if (r < 0)
		return r;
	effect_key_text(kind, text, key);

	if (opts && (opts->flags & EFFECT_RUN_DEFERRED)) {
		c = call_new(e, job_id, k, key, text, request, hints, done, userdata);
		effects_pending_add(e, c);
		*ret = c;
		return 0;
	}

	/* A replay adds no job event: a job resuming after a restart would
	 * otherwise append one per effect it had already paid for. */
	r = store_effect_get(e->store, job_id, key, &stored);
	if (r == 0) {
		free(text);
		e->stats.replayed++;
		*ret = NULL;
		done(NULL, 0, stored, true, userdata);
		json_decref(stored);
		return 0;
	}
	if (r != -ENOENT) {
		free(text);
		return r;
	}
	if (e->draining) {
		free(text);
		return -ESHUTDOWN;
	}
	c = call_new(e, job_id, k, key, text, request, hints, done, userdata);
	r = effect_call_attach(e, c, &out);
	if (r < 0) {
		call_free(c);
		return r;
	}
	*ret = out;
	return 0;
}

int effect_run(struct effects *e, int64_t job_id, const char *kind, const json_t *request,
    effect_done_fn done, void *userdata, struct effect_call **ret)
{
	return effect_run_opts(e, job_id, kind, request, NULL, done, userdata, ret);
}

int effect_decide(struct effects *e, int64_t job_id, const char *name, const json_t *proposed,
    json_t **ret)
{
	uint8_t key[HASH_BYTES];
	char *request_text = NULL, *text = NULL;
	json_t *request = NULL, *stored = NULL, *data;
	int r;

	if (name == NULL || name[0] == '\0' || strlen(name) > EFFECT_MAX_DECISION_NAME ||
	    proposed == NULL)
		return -EINVAL;
	request = json_pack("{s:s}", "name", name);	/* NULL if name is not UTF-8 */
	r = effect_canonical(request, &request_text);
	if (r < 0)
		goto out;
	effect_key_text(EFFECT_DECISION_KIND, request_text, key);
	r = store_effect_get(e->store, job_id, key, &stored);
	if (r == 0) {
		e->stats.replayed++;
		*ret = stored;
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	text = json_dumps(proposed, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL) {
		r = -EINVAL;
		goto out;
	}
	if (strlen(text) > e->max_result) {
		r = -EFBIG;
		goto out;
	}
	/* Stored with an event, so the job's log shows the choice once. */
	r = store_begin(e->store);
	if (r < 0)
		goto out;
	r = store_effect_put(e->store, job_id, key, EFFECT_DECISION_KIND, request_text, text, 0,
	    time_now_ms());
	if (r == 0) {
		data = json_pack("{s:s, s:O}", "name", name, "value", proposed);
		r = store_event_append(e->store, job_id, time_now_ms(), "decision", data, NULL);
		json_decref(data);
	}
	if (r == 0)
		r = store_commit(e->store);
	else
		store_rollback(e->store);
	if (r < 0)
		goto out;
	if (e->stored)
		e->stored(job_id, e->stored_userdata);
	*ret = json_deep_copy(proposed);
out:
	free(text);
	free(request_text);
	if (request)
		json_decref(request);
	return r;
}

void effect_call_cancel(struct effect_call *c)
{
	struct effect_exec *x = c->x;
	struct effects *e = c->e;

	if (c->state == CALL_DONE)
		return;
	if (c->state == CALL_PENDING) {
		effects_pending_remove(c->e, c);
		call_finish(c, -ECANCELED, NULL, false);
		return;
	}
	if (c->state == CALL_DELIVERY) {
		/* x finished and is delivering: it needs no cancel and frees
		 * itself when its delivery loop ends. */
		call_list_remove(&x->delivery, c);
		call_finish(c, -ECANCELED, NULL, false);
		return;
	}
	call_list_remove(&x->waiters, c);
	call_finish(c, -ECANCELED, NULL, false);
	if (x->waiters == NULL) {
		effects_unlink(e, x);
		x->kind->cancel(x, x->kind->userdata);
		effect_exec_free(x);
	}
}

/* The job's oldest call older than seq, waiting or queued for delivery. */
static struct effect_call *effects_find_job_call(struct effects *e, int64_t job_id, uint64_t seq)
{
	struct effect_exec *lists[2] = { e->inflight, e->delivering };

	for (struct effect_call *c = e->pending; c; c = c->next)
		if (c->job_id == job_id && c->seq < seq)
			return c;
	for (int i = 0; i < 2; i++) {
		for (struct effect_exec *x = lists[i]; x; x = x->next) {
			struct effect_call *c = i == 0 ? x->waiters : x->delivery;

			for (; c; c = c->next)
				if (c->job_id == job_id && c->seq < seq)
					return c;
		}
	}
	return NULL;
}

void effects_cancel_job(struct effects *e, int64_t job_id)
{
	uint64_t seq = e->call_seq;
	struct effect_call *c;

	/* Each cancel runs a callback that may change any list: search again
	 * from the top each time. Calls made by those callbacks (seq at or
	 * past the start) are left alone, so this always ends. */
	while ((c = effects_find_job_call(e, job_id, seq)) != NULL)
		effect_call_cancel(c);
}
