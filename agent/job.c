/* Jobs: submission, the state machine, the scheduler, runners, watchers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "str.h"
#include "xmalloc.h"

#define JOBS_MAX_RUNNERS 8

struct job_run {
	struct jobs *jobs;
	const struct job_runner *runner;
	struct store_job *job;
	void *data;
	bool finished;
	/* finish() called while start() is on the stack: done after it. */
	bool starting, pending;
	enum job_state pending_state;
	char *pending_message;
	const char *waiting_for;	/* static: "answer", "approval"; NULL when not */
	struct job_run *next;
};

struct job_watch {
	struct jobs *jobs;
	int64_t job_id;
	job_watch_fn fn;
	void *userdata;
	struct job_watch *next;
};

struct jobs {
	struct daemon *d;
	struct job_runner runners[JOBS_MAX_RUNNERS];
	size_t nrunners;
	struct job_run *runs;
	unsigned nruns;
	struct job_watch *watches;
	unsigned nwatches;
	bool shutting_down;
	bool scheduling;
	/* Jobs per state, read from the store once and kept up to date by
	 * every change made here: stats and the max_queued check cost nothing
	 * however many jobs the store holds. */
	int64_t counts[_JOB_STATE_MAX];
};

/* The state machine. A job that the daemon stops (pause, shutdown, crash)
 * goes back from running to paused or queued and later resumes. */
bool job_state_change_allowed(enum job_state from, enum job_state to)
{
	switch (from) {
	case JOB_QUEUED:
		return to == JOB_RUNNING || to == JOB_PAUSED || to == JOB_CANCELLED || to == JOB_FAILED;
	case JOB_RUNNING:
		return to == JOB_DONE || to == JOB_FAILED || to == JOB_CANCELLED ||
		    to == JOB_PAUSED || to == JOB_QUEUED || to == JOB_WAITING;
	case JOB_PAUSED:
		return to == JOB_QUEUED || to == JOB_CANCELLED;
	/* A waiting job is not paused: it resumes when its input comes, not
	 * by resume; a restart queues it, and its replay waits again. */
	case JOB_WAITING:
		return to == JOB_RUNNING || to == JOB_CANCELLED || to == JOB_QUEUED ||
		    to == JOB_FAILED;
	default:
		return false;
	}
}

static void jobs_stored_hook(int64_t job_id, void *userdata)
{
	jobs_notify(userdata, job_id);
}

int jobs_new(struct daemon *d, struct jobs **ret)
{
	struct jobs *j = xcalloc(1, sizeof(*j));
	int r;

	j->d = d;
	r = store_job_count(d->store, j->counts);
	if (r < 0) {
		free(j);
		return r;
	}
	if (d->effects)
		effects_set_stored_hook(d->effects, jobs_stored_hook, j);
	*ret = j;
	return 0;
}

struct jobs *jobs_free(struct jobs *j)
{
	if (j == NULL)
		return NULL;
	while (j->runs) {
		struct job_run *r = j->runs;

		j->runs = r->next;
		store_job_free(r->job);
		free(r);
	}
	while (j->watches)
		job_watch_free(j->watches);
	free(j);
	return NULL;
}

int jobs_register_runner(struct jobs *j, const struct job_runner *runner)
{
	if (runner->kind == NULL || runner->start == NULL || runner->stop == NULL)
		return -EINVAL;
	for (size_t i = 0; i < j->nrunners; i++)
		if (strcmp(j->runners[i].kind, runner->kind) == 0)
			return -EEXIST;
	if (j->nrunners == JOBS_MAX_RUNNERS)
		return -ENOSPC;
	j->runners[j->nrunners++] = *runner;
	return 0;
}

static const struct job_runner *jobs_runner(struct jobs *j, const char *kind)
{
	for (size_t i = 0; i < j->nrunners; i++)
		if (strcmp(j->runners[i].kind, kind) == 0)
			return &j->runners[i];
	return NULL;
}

static struct job_run *jobs_find_run(struct jobs *j, int64_t id)
{
	for (struct job_run *r = j->runs; r; r = r->next)
		if (r->job->id == id)
			return r;
	return NULL;
}

unsigned jobs_running(const struct jobs *j)
{
	return j->nruns;
}

void jobs_counts(const struct jobs *j, int64_t ret[_JOB_STATE_MAX])
{
	memcpy(ret, j->counts, sizeof(j->counts));
}

static void jobs_count_move(struct jobs *j, int from, enum job_state to)
{
	if (from >= 0 && j->counts[from] > 0)
		j->counts[from]--;
	j->counts[to]++;
}

void jobs_notify(struct jobs *j, int64_t id)
{
	struct job_watch *w, *next;

	/* A callback may free its own watch (the job ended): keep next first. */
	for (w = j->watches; w; w = next) {
		next = w->next;
		if (w->job_id == id)
			w->fn(w, id, w->userdata);
	}
}

int jobs_event(struct jobs *j, int64_t id, const char *type, json_t *data)
{
	int r = store_event_append(j->d->store, id, time_now_ms(), type, data, NULL);

	if (r == 0)
		jobs_notify(j, id);
	return r;
}

/* Change state with its event in one transaction, then tell watchers. */
static int jobs_set_state(struct jobs *j, int64_t id, enum job_state from, enum job_state to,
    const char *reason, const char *message)
{
	struct store *s = j->d->store;
	int64_t now = time_now_ms();
	json_t *data;
	int r;

	if (!job_state_change_allowed(from, to))
		return -EBUSY;
	r = store_begin(s);
	if (r < 0)
		return r;
	r = store_job_set_state(s, id, to, message, now);
	if (r < 0)
		goto fail;
	data = json_pack("{s:s, s:s}", "from", job_state_to_string(from), "to", job_state_to_string(to));
	if (reason)
		json_object_set_new(data, "reason", json_string(reason));
	r = store_event_append(s, id, now, "state", data, NULL);
	json_decref(data);
	if (r < 0)
		goto fail;
	r = store_commit(s);
	if (r < 0)
		return r;
	jobs_count_move(j, (int)from, to);
	jobs_notify(j, id);
	return 0;
fail:
	store_rollback(s);
	return r;
}

static void jobs_run_remove(struct jobs *j, struct job_run *run)
{
	for (struct job_run **p = &j->runs; *p; p = &(*p)->next) {
		if (*p == run) {
			*p = run->next;
			j->nruns--;
			break;
		}
	}
}

/* Stop a running job's runner and forget the run. */
static void jobs_run_stop(struct jobs *j, struct job_run *run)
{
	int64_t id = run->job->id;

	jobs_run_remove(j, run);
	run->runner->stop(run, run->runner->userdata);
	effects_cancel_job(j->d->effects, id);
	store_job_free(run->job);
	free(run);
}

static int jobs_start_one(struct jobs *j, int64_t id)
{
	struct store_job *job = NULL;
	const struct job_runner *runner;
	struct job_run *run;
	int r;

	r = store_job_get(j->d->store, id, &job);
	if (r < 0)
		return r;
	runner = jobs_runner(j, job->kind);
	if (runner == NULL || job->state != JOB_QUEUED) {
		store_job_free(job);
		return -EAGAIN;
	}
	r = jobs_set_state(j, id, JOB_QUEUED, JOB_RUNNING, "scheduled", NULL);
	if (r < 0) {
		store_job_free(job);
		return r;
	}
	job->state = JOB_RUNNING;
	run = xcalloc(1, sizeof(*run));
	run->jobs = j;
	run->runner = runner;
	run->job = job;
	run->next = j->runs;
	j->runs = run;
	j->nruns++;
	run->starting = true;
	r = runner->start(run, runner->userdata);
	run->starting = false;
	if (run->pending) {
		char *msg = run->pending_message;

		job_run_finish(run, run->pending_state, msg);
		free(msg);
	} else if (r < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "the %s runner could not start: %s", job->kind, strerror(-r));
		job_run_finish(run, JOB_FAILED, msg);
	}
	return 0;
}

static int jobs_id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void jobs_schedule(struct jobs *j)
{
	int64_t ids[JOBS_MAX_RUNNING * JOBS_MAX_RUNNERS];
	size_t n, got, free_slots, started;
	int r;

	/* start() may finish a job at once, which schedules again: no nesting. */
	if (j->scheduling || j->shutting_down || j->d->stopping)
		return;
	j->scheduling = true;
	for (;;) {
		free_slots = j->d->config->max_jobs > (int64_t)j->nruns ?
		    (size_t)j->d->config->max_jobs - j->nruns : 0;
		if (free_slots > JOBS_MAX_RUNNING - j->nruns)
			free_slots = JOBS_MAX_RUNNING - j->nruns;
		if (free_slots == 0)
			break;
		/* The oldest queued jobs among the kinds that have a runner; jobs
		 * of other kinds wait without costing a look. */
		n = 0;
		for (size_t k = 0; k < j->nrunners; k++) {
			const char *why = NULL;

			if (j->runners[k].ready && !j->runners[k].ready(&why, j->runners[k].userdata))
				continue;
			r = store_job_ids(j->d->store, JOB_QUEUED, j->runners[k].kind, ids + n,
			    free_slots, &got);
			if (r < 0) {
				log_error_errno(r, "listing queued jobs: %s", store_errmsg(j->d->store));
				goto out;
			}
			n += got;
		}
		if (n == 0)
			break;
		qsort(ids, n, sizeof(ids[0]), jobs_id_cmp);
		if (n > free_slots)
			n = free_slots;
		started = 0;
		for (size_t i = 0; i < n; i++) {
			r = jobs_start_one(j, ids[i]);
			if (r == 0)
				started++;
			else if (r != -EAGAIN)
				log_warn_errno(r, "starting job %lld", (long long)ids[i]);
		}
		if (started == 0)
			break;
	}
out:
	j->scheduling = false;
}

const char *jobs_waiting_for(struct jobs *j, const char *kind)
{
	const struct job_runner *runner = jobs_runner(j, kind);
	const char *why = NULL;

	if (runner == NULL || runner->ready == NULL || runner->ready(&why, runner->userdata))
		return NULL;
	return why ? why : "waiting for what its kind needs";
}

/* Every job in state from goes back to the queue with message. */
static int jobs_requeue(struct jobs *j, enum job_state from, const char *message)
{
	int64_t ids[256];
	size_t n;
	int r;

	do {
		r = store_job_ids(j->d->store, from, NULL, ids, sizeof(ids) / sizeof(ids[0]), &n);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			r = jobs_set_state(j, ids[i], from, JOB_QUEUED, message, NULL);
			if (r < 0)
				return r;
			log_info("job %lld: resuming after restart", (long long)ids[i]);
		}
	} while (n == sizeof(ids) / sizeof(ids[0]));
	return 0;
}

int jobs_recover(struct jobs *j)
{
	int r;

	/* A job that waited for input when the daemon stopped replays to the
	 * same point and waits again. */
	r = jobs_requeue(j, JOB_WAITING,
	    "the daemon stopped while it waited for input; it replays and waits again");
	if (r == 0)
		r = jobs_requeue(j, JOB_RUNNING,
		    "the daemon stopped while it ran; resuming: finished effects replay");
	if (r < 0)
		return r;
	jobs_schedule(j);
	return 0;
}

void jobs_shutdown(struct jobs *j)
{
	j->shutting_down = true;
	while (j->runs) {
		struct job_run *run = j->runs;
		int64_t id = run->job->id;

		enum job_state from = run->job->state;

		jobs_run_stop(j, run);
		jobs_set_state(j, id, from, JOB_QUEUED,
		    "the daemon is stopping; the job resumes at its next start", NULL);
	}
}

static int jobs_check_int(json_t *opts, const char *key, int64_t min, int64_t max,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(opts, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "option \"%s\" must be an integer from %lld to %lld",
		    key, (long long)min, (long long)max);
		return -EINVAL;
	}
	return 0;
}

int jobs_options(struct jobs *j, const char *kind, const json_t *given, json_t **ret,
    char *err, size_t errlen)
{
	static const char *const budget_keys[] = {
		"max_time", "max_tokens", "max_fetches", "max_depth", "max_breadth",
	};
	const struct config *c = j->d->config;
	const struct job_runner *runner = jobs_runner(j, kind);
	json_t *opts, *extra;
	const char *key;
	json_t *v;
	int r;

	if (strcmp(kind, "research") != 0 && runner == NULL) {
		snprintf(err, errlen, "unknown job kind \"%.32s\"%s", kind,
		    strcmp(kind, "selftest") == 0 ? " (enable it with [server] selftest = yes)" : "");
		return -EINVAL;
	}
	opts = json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "max_time", (json_int_t)c->budget_max_time,
	    "max_tokens", (json_int_t)c->budget_max_tokens,
	    "max_fetches", (json_int_t)c->budget_max_fetches,
	    "max_depth", (json_int_t)c->budget_max_depth,
	    "max_breadth", (json_int_t)c->budget_max_breadth);
	extra = json_object();
	json_object_foreach((json_t *)given, key, v) {
		bool budget = false;

		for (size_t i = 0; i < sizeof(budget_keys) / sizeof(budget_keys[0]); i++)
			budget = budget || strcmp(key, budget_keys[i]) == 0;
		if (budget || strcmp(key, "interactive") == 0)
			json_object_set(opts, key, v);
		else if (runner && runner->check)
			json_object_set(extra, key, v);
		else {
			snprintf(err, errlen, "unknown option \"%.40s\"", key);
			r = -EINVAL;
			goto fail;
		}
	}
	if ((r = jobs_check_int(opts, "max_time", 1, 30LL * 86400, err, errlen)) < 0 ||
	    (r = jobs_check_int(opts, "max_tokens", 1, 1000000000000LL, err, errlen)) < 0 ||
	    (r = jobs_check_int(opts, "max_fetches", 0, 1000000, err, errlen)) < 0 ||
	    (r = jobs_check_int(opts, "max_depth", 1, 10, err, errlen)) < 0 ||
	    (r = jobs_check_int(opts, "max_breadth", 1, 50, err, errlen)) < 0)
		goto fail;
	v = json_object_get(opts, "interactive");
	if (v && !json_is_boolean(v)) {
		snprintf(err, errlen, "option \"interactive\" must be a boolean");
		r = -EINVAL;
		goto fail;
	}
	if (runner && runner->check) {
		r = runner->check(extra, err, errlen, runner->userdata);
		if (r < 0)
			goto fail;
		json_object_update(opts, extra);
	}
	json_decref(extra);
	*ret = opts;
	return 0;
fail:
	json_decref(extra);
	json_decref(opts);
	return r;
}

int jobs_submit(struct jobs *j, uid_t owner, const char *kind, const char *question,
    const json_t *options, int64_t *ret_id, char *err, size_t errlen)
{
	struct store *s = j->d->store;
	int64_t unfinished, id, now = time_now_ms();
	struct store_job job = { 0 };
	json_t *opts = NULL, *data;
	int r;

	unfinished = j->counts[JOB_QUEUED] + j->counts[JOB_RUNNING] + j->counts[JOB_PAUSED] +
	    j->counts[JOB_WAITING];
	if (unfinished >= j->d->config->max_queued) {
		snprintf(err, errlen, "%lld unfinished jobs already (max_queued); try again later",
		    (long long)j->d->config->max_queued);
		return -EBUSY;
	}
	if (options == NULL) {
		json_t *none = json_object();

		r = jobs_options(j, kind, none, &opts, err, errlen);
		json_decref(none);
	} else
		r = jobs_options(j, kind, options, &opts, err, errlen);
	if (r < 0)
		return r;
	job.owner = owner;
	job.kind = (char *)kind;
	job.question = (char *)question;
	job.options = opts;
	job.state = JOB_QUEUED;
	job.created = now;

	r = store_begin(s);
	if (r < 0)
		goto out;
	r = store_job_insert(s, &job, &id);
	if (r < 0)
		goto fail;
	data = json_pack("{s:s, s:s, s:O}", "question", question, "kind", kind, "options", opts);
	r = store_event_append(s, id, now, "submitted", data, NULL);
	json_decref(data);
	if (r < 0)
		goto fail;
	if (jobs_runner(j, kind) == NULL) {
		data = json_pack("{s:s, s:s}", "level", "info", "message",
		    "this build has no runner for research jobs yet; the job waits in the queue");
		r = store_event_append(s, id, now, "log", data, NULL);
		json_decref(data);
		if (r < 0)
			goto fail;
	}
	r = store_commit(s);
	if (r < 0)
		goto out;
	jobs_count_move(j, -1, JOB_QUEUED);
	*ret_id = id;
	jobs_schedule(j);
	goto out;
fail:
	store_rollback(s);
out:
	json_decref(opts);
	return r;
}

static int jobs_get_state(struct jobs *j, int64_t id, enum job_state *ret)
{
	struct store_job *job;
	int r = store_job_get(j->d->store, id, &job);

	if (r < 0)
		return r;
	*ret = job->state;
	store_job_free(job);
	return 0;
}

/* Cancel or pause: stop the job's run if it has one, then record the new
 * state; its slot goes to the next queued job. */
static int jobs_stop(struct jobs *j, int64_t id, enum job_state to, const char *reason,
    const char *message)
{
	struct job_run *run = jobs_find_run(j, id);
	enum job_state state;
	int r;

	r = jobs_get_state(j, id, &state);
	if (r < 0)
		return r;
	if (!job_state_change_allowed(state, to))
		return -EBUSY;
	if (run)
		jobs_run_stop(j, run);
	r = jobs_set_state(j, id, state, to, reason, message);
	jobs_schedule(j);
	return r;
}

int jobs_cancel(struct jobs *j, int64_t id, const char *reason)
{
	return jobs_stop(j, id, JOB_CANCELLED, reason, reason);
}

int jobs_pause(struct jobs *j, int64_t id)
{
	return jobs_stop(j, id, JOB_PAUSED, "paused by its owner", NULL);
}

int jobs_resume(struct jobs *j, int64_t id)
{
	enum job_state state;
	int r;

	r = jobs_get_state(j, id, &state);
	if (r < 0)
		return r;
	if (state != JOB_PAUSED)
		return -EBUSY;
	r = jobs_set_state(j, id, JOB_PAUSED, JOB_QUEUED, "resumed by its owner", NULL);
	if (r == 0)
		jobs_schedule(j);
	return r;
}

int jobs_finish(struct jobs *j, int64_t id)
{
	struct job_run *run = jobs_find_run(j, id);
	const struct job_runner *runner;
	struct store_job *job = NULL;
	int r;

	r = store_job_get(j->d->store, id, &job);
	if (r < 0)
		return r;
	runner = jobs_runner(j, job->kind);
	if (job->state != JOB_QUEUED && job->state != JOB_RUNNING && job->state != JOB_PAUSED &&
	    job->state != JOB_WAITING)
		r = -EBUSY;
	else if (runner == NULL || runner->finish == NULL)
		r = -ENOTSUP;
	else
		r = runner->finish(id, run, runner->userdata);
	if (r == 0) {
		json_t *ev = json_pack("{s:s}", "message", "asked to stop researching and write the report");

		jobs_event(j, id, "finish", ev);	/* borrows ev */
		json_decref(ev);
	}
	if (r == 0 && job->state == JOB_PAUSED)
		r = jobs_resume(j, id);
	store_job_free(job);
	return r;
}

int jobs_input(struct jobs *j, int64_t id, const char *op, const json_t *args, json_t **ret,
    char *err, size_t errlen)
{
	struct job_run *run = jobs_find_run(j, id);
	const struct job_runner *runner;
	struct store_job *job = NULL;
	int r;

	r = store_job_get(j->d->store, id, &job);
	if (r < 0)
		return r;
	runner = jobs_runner(j, job->kind);
	if (runner == NULL || runner->input == NULL)
		r = -ENOTSUP;
	else if (job_state_is_final(job->state))
		r = -EBUSY;
	else
		r = runner->input(id, run, op, args, ret, err, errlen, runner->userdata);
	store_job_free(job);
	return r;
}

const char *jobs_job_waiting_for(struct jobs *j, int64_t id)
{
	struct job_run *run = jobs_find_run(j, id);

	return run ? run->waiting_for : NULL;
}

struct job_watch *jobs_watch(struct jobs *j, int64_t id, job_watch_fn fn, void *userdata)
{
	struct job_watch *w;

	if (j->nwatches >= JOBS_MAX_WATCHERS)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->jobs = j;
	w->job_id = id;
	w->fn = fn;
	w->userdata = userdata;
	w->next = j->watches;
	j->watches = w;
	j->nwatches++;
	return w;
}

struct job_watch *job_watch_free(struct job_watch *w)
{
	if (w == NULL)
		return NULL;
	for (struct job_watch **p = &w->jobs->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			w->jobs->nwatches--;
			break;
		}
	}
	free(w);
	return NULL;
}

int64_t job_run_id(const struct job_run *r)
{
	return r->job->id;
}

const struct store_job *job_run_job(const struct job_run *r)
{
	return r->job;
}

struct daemon *job_run_daemon(const struct job_run *r)
{
	return r->jobs->d;
}

void job_run_set_data(struct job_run *r, void *data)
{
	r->data = data;
}

void *job_run_get_data(const struct job_run *r)
{
	return r->data;
}

int job_run_wait(struct job_run *run, const char *what, const char *message, json_t *data)
{
	struct jobs *j = run->jobs;
	int64_t id = run->job->id;
	int r;

	if (data == NULL)
		data = json_object();
	json_object_set_new(data, "for", json_string(what));
	if (message)
		json_object_set_new(data, "message", json_string(message));
	r = run->job->state == JOB_WAITING ? 0 :
	    jobs_set_state(j, id, JOB_RUNNING, JOB_WAITING, message, message);
	if (r == 0) {
		run->job->state = JOB_WAITING;
		run->waiting_for = strcmp(what, "answer") == 0 ? "answer" : "approval";
		r = jobs_event(j, id, "waiting", data);
	}
	json_decref(data);
	return r;
}

int job_run_unwait(struct job_run *run)
{
	int r;

	if (run->job->state != JOB_WAITING)
		return 0;
	r = jobs_set_state(run->jobs, run->job->id, JOB_WAITING, JOB_RUNNING, "its input came", NULL);
	if (r == 0) {
		run->job->state = JOB_RUNNING;
		run->waiting_for = NULL;
	}
	return r;
}

void job_run_finish(struct job_run *run, enum job_state state, const char *message)
{
	struct jobs *j = run->jobs;
	int64_t id = run->job->id;
	int r;

	if (run->finished)
		return;
	if (run->starting) {
		if (!run->pending) {
			run->pending = true;
			run->pending_state = state;
			run->pending_message = message ? xstrdup(message) : NULL;
		}
		return;
	}
	run->finished = true;
	jobs_run_remove(j, run);
	r = jobs_set_state(j, id, run->job->state, state,
	    state == JOB_DONE ? "finished" : "failed", message);
	if (r < 0)
		log_error_errno(r, "job %lld: recording its end", (long long)id);
	store_job_free(run->job);
	free(run);
	jobs_schedule(j);
}

void job_run_log(struct job_run *r, const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *data;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	data = json_pack("{s:s, s:s}", "level", level, "message", msg);
	jobs_event(r->jobs, r->job->id, "log", data);
	json_decref(data);
}
