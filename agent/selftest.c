/* The "selftest" job kind and its "selftest.step" effect (see selftest.h).
 * A step's executor appends the step's name to <state_dir>/selftest.log
 * (outside the database, so tests can count real executions), waits ms +
 * hold_ms and returns {"name", "ran_at"}. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "job.h"
#include "json.h"
#include "selftest.h"
#include "store.h"
#include "str.h"
#include "xmalloc.h"

struct selftest_step {
	struct selftest *t;
	struct effect_call *call;	/* NULL when not in flight */
	json_t *result;
	bool replayed;
};

struct selftest {
	struct job_run *run;
	json_t *steps;			/* borrowed from the job's options */
	bool parallel;
	size_t n, next, pending;
	bool advancing, again, stopping, failed;
	char failure[256];
	struct selftest_step slots[SELFTEST_MAX_STEPS];
};

static char *selftest_log_path;

/* --- the effect ------------------------------------------------------ */

struct selftest_exec {
	struct effect_exec *x;
	uv_timer_t timer;
	int r;
	json_t *result;
};

static void selftest_exec_close_cb(uv_handle_t *h)
{
	struct selftest_exec *se = h->data;

	if (se->result)
		json_decref(se->result);
	free(se);
}

static void selftest_exec_timer_cb(uv_timer_t *t)
{
	struct selftest_exec *se = t->data;
	json_t *result = se->result;

	se->result = NULL;
	effect_exec_done(se->x, se->r, result, se->r == 0 ?
	    json_pack("{s:I}", "selftest_steps", (json_int_t)1) : NULL);
	uv_close((uv_handle_t *)&se->timer, selftest_exec_close_cb);
}

static int selftest_exec_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	struct selftest_exec *se;
	const char *name;
	int64_t ms = 0, hold = 0;
	bool fail = false;
	char line[128];
	int fd, n;

	if (json_get_string(request, "name", &name) < 0)
		return -EINVAL;
	json_get_int(request, "ms", &ms);
	json_get_int(request, "hold_ms", &hold);
	json_get_bool(request, "fail", &fail);

	/* The side effect that costs something: counted outside the store. */
	fd = open(selftest_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%s\n", name);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);

	se = xcalloc(1, sizeof(*se));
	se->x = x;
	se->r = fail ? -EIO : 0;
	if (!fail)
		se->result = json_pack("{s:s, s:I}", "name", name, "ran_at", (json_int_t)time_now_ms());
	uv_timer_init(effect_exec_loop(x), &se->timer);
	se->timer.data = se;
	uv_timer_start(&se->timer, selftest_exec_timer_cb, (uint64_t)(ms + hold), 0);
	effect_exec_set_data(x, se);
	return 0;
}

static void selftest_exec_cancel(struct effect_exec *x, void *userdata)
{
	struct selftest_exec *se = effect_exec_get_data(x);

	uv_timer_stop(&se->timer);
	uv_close((uv_handle_t *)&se->timer, selftest_exec_close_cb);
}

static const struct effect_kind selftest_effect = {
	.name = "selftest.step",
	.start = selftest_exec_start,
	.cancel = selftest_exec_cancel,
};

/* --- the job --------------------------------------------------------- */

static void selftest_free(struct selftest *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->slots[i].result)
			json_decref(t->slots[i].result);
	free(t);
}

static void selftest_report(struct selftest *t)
{
	struct daemon *d = job_run_daemon(t->run);
	const struct store_job *job = job_run_job(t->run);
	int64_t now = time_now_ms();
	json_t *json = json_object(), *steps = json_array(), *data;
	struct buf md;
	char *text;

	buf_init(&md, 1024 * 1024);
	buf_printf(&md, "# Selftest report for job %lld\n\n", (long long)job->id);
	buf_printf(&md, "| step | ran at (ms) | replayed |\n|---|---|---|\n");
	for (size_t i = 0; i < t->n; i++) {
		const char *name = "";
		int64_t ran_at = 0;

		json_t *step = json_array_get(t->steps, i), *o;

		json_get_string(step, "name", &name);
		json_get_int(t->slots[i].result, "ran_at", &ran_at);
		buf_printf(&md, "| %s | %lld | %s |\n", name, (long long)ran_at,
		    t->slots[i].replayed ? "yes" : "no");
		o = json_pack("{s:s, s:I, s:b}", "name", name, "ran_at", (json_int_t)ran_at,
		    "replayed", t->slots[i].replayed);
		if (json_object_get(step, "effect"))
			json_object_set(o, "result", t->slots[i].result);
		json_array_append_new(steps, o);
	}
	json_object_set_new(json, "job", json_integer(job->id));
	json_object_set_new(json, "steps", steps);
	text = json_compact(json);
	store_report_put(d->store, job->id, "markdown", md.data ? md.data : "", now);
	store_report_put(d->store, job->id, "json", text, now);
	data = json_pack("{s:s, s:I}", "format", "markdown", "bytes", (json_int_t)md.len);
	jobs_event(d->jobs, job->id, "report", data);
	json_decref(data);
	free(text);
	json_decref(json);
	buf_free(&md);
}

static void selftest_advance(struct selftest *t);

static void selftest_step_done(struct effect_call *c, int r, const json_t *result,
    bool replayed, void *userdata)
{
	struct selftest_step *slot = userdata;
	struct selftest *t = slot->t;

	slot->call = NULL;
	t->pending--;
	if (t->stopping || r == -ECANCELED || r == -ESHUTDOWN)
		return;
	if (r < 0) {
		if (!t->failed)
			snprintf(t->failure, sizeof(t->failure), "step %zu failed: %s",
			    (size_t)(slot - t->slots) + 1, strerror(-r));
		t->failed = true;
	} else {
		slot->result = json_deep_copy(result);
		slot->replayed = replayed;
	}
	selftest_advance(t);
}

static void selftest_advance(struct selftest *t)
{
	struct daemon *d = job_run_daemon(t->run);
	int r;

	/* Replays complete inside effect_run: loop instead of recursing. */
	if (t->advancing) {
		t->again = true;
		return;
	}
	t->advancing = true;
	do {
		t->again = false;
		while (!t->failed && t->next < t->n && (t->parallel || t->pending == 0)) {
			size_t i = t->next++;
			json_t *step = json_array_get(t->steps, i);
			json_t *effect = json_object_get(step, "effect");
			struct effect_call *call = NULL;

			t->pending++;
			/* A step names either its own test effect or any registered
			 * kind with its request (how the test suite drives a tool
			 * through the daemon without a research job). */
			if (effect)
				r = effect_run(d->effects, job_run_id(t->run),
				    json_string_value(json_object_get(effect, "kind")),
				    json_object_get(effect, "request"), selftest_step_done, &t->slots[i], &call);
			else
				r = effect_run(d->effects, job_run_id(t->run), "selftest.step", step,
				    selftest_step_done, &t->slots[i], &call);
			if (r < 0) {
				t->pending--;
				if (r == -ESHUTDOWN) {
					t->advancing = false;
					return;
				}
				snprintf(t->failure, sizeof(t->failure), "step %zu could not start: %s",
				    i + 1, strerror(-r));
				t->failed = true;
				break;
			}
			if (t->slots[i].result == NULL && call != NULL)
				t->slots[i].call = call;
		}
	} while (t->again);
	t->advancing = false;

	if (t->pending > 0)
		return;
	if (t->failed) {
		struct job_run *run = t->run;
		char msg[sizeof(t->failure)];

		memcpy(msg, t->failure, sizeof(msg));
		selftest_free(t);
		job_run_finish(run, JOB_FAILED, msg);
		return;
	}
	if (t->next == t->n) {
		struct job_run *run = t->run;

		selftest_report(t);
		selftest_free(t);
		job_run_finish(run, JOB_DONE, NULL);
	}
}

static int selftest_start(struct job_run *run, void *userdata)
{
	const struct store_job *job = job_run_job(run);
	struct selftest *t = xcalloc(1, sizeof(*t));
	bool parallel = false;

	t->run = run;
	t->steps = json_object_get(job->options, "steps");
	t->n = json_array_size(t->steps);
	json_get_bool(job->options, "parallel", &parallel);
	t->parallel = parallel;
	for (size_t i = 0; i < t->n; i++)
		t->slots[i].t = t;
	job_run_set_data(run, t);
	selftest_advance(t);
	return 0;
}

static void selftest_stop(struct job_run *run, void *userdata)
{
	struct selftest *t = job_run_get_data(run);

	if (t == NULL)
		return;
	t->stopping = true;
	for (size_t i = 0; i < t->n; i++)
		if (t->slots[i].call)
			effect_call_cancel(t->slots[i].call);
	selftest_free(t);
	job_run_set_data(run, NULL);
}

static int selftest_check(const json_t *options, char *err, size_t errlen, void *userdata)
{
	json_t *steps = json_object_get(options, "steps"), *v;
	const char *key;
	size_t i;

	json_object_foreach((json_t *)options, key, v) {
		if (strcmp(key, "steps") != 0 && strcmp(key, "parallel") != 0) {
			snprintf(err, errlen, "unknown option \"%.40s\" for a selftest job", key);
			return -EINVAL;
		}
	}
	if (json_object_get(options, "parallel") && !json_is_boolean(json_object_get(options, "parallel"))) {
		snprintf(err, errlen, "option \"parallel\" must be a boolean");
		return -EINVAL;
	}
	if (!json_is_array(steps) || json_array_size(steps) < 1 ||
	    json_array_size(steps) > SELFTEST_MAX_STEPS) {
		snprintf(err, errlen, "a selftest job needs \"steps\": an array of 1 to %d objects",
		    SELFTEST_MAX_STEPS);
		return -EINVAL;
	}
	json_array_foreach(steps, i, v) {
		json_t *f;
		int64_t n;
		const char *name;

		if (!json_is_object(v) || json_get_string(v, "name", &name) < 0 ||
		    name[0] == '\0' || strlen(name) > 64 || strchr(name, '\n')) {
			snprintf(err, errlen, "step %zu needs a \"name\" of 1 to 64 bytes on one line", i + 1);
			return -EINVAL;
		}
		json_object_foreach(v, key, f) {
			const char *kind;

			if (strcmp(key, "name") == 0)
				continue;
			if (strcmp(key, "effect") == 0 && json_is_object(f) &&
			    json_get_string(f, "kind", &kind) == 0 &&
			    json_object_get(f, "request") != NULL && json_object_size(f) == 2)
				continue;
			if (strcmp(key, "fail") == 0 && json_is_boolean(f))
				continue;
			if ((strcmp(key, "ms") == 0 || strcmp(key, "hold_ms") == 0) &&
			    json_get_int(v, key, &n) == 0 && n >= 0 && n <= 600000)
				continue;
			snprintf(err, errlen, "step %zu: bad field \"%.40s\" (ms and hold_ms take "
			    "0 to 600000, fail a boolean, effect {\"kind\", \"request\"})", i + 1, key);
			return -EINVAL;
		}
	}
	return 0;
}

int selftest_register(struct daemon *d)
{
	static const struct job_runner runner = {
		.kind = "selftest",
		.start = selftest_start,
		.stop = selftest_stop,
		.check = selftest_check,
	};
	int r;

	free(selftest_log_path);
	selftest_log_path = xasprintf("%s/selftest.log", d->config->state_dir);
	r = effects_register(d->effects, &selftest_effect);
	if (r < 0)
		return r;
	return jobs_register_runner(d->jobs, &runner);
}

void selftest_unregister(void)
{
	selftest_log_path = mfree(selftest_log_path);
}
