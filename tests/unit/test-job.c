/* Unit tests: the job state machine and the scheduler (agent/job.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <cmocka.h>

#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "job.h"
#include "store.h"

static void test_state_machine(void **state)
{
	/* Every pair, against the table written out by hand. */
	static const char *const allowed[] = {
		"queued>running", "queued>paused", "queued>cancelled", "queued>failed",
		"running>done", "running>failed", "running>cancelled", "running>paused", "running>queued",
		"paused>queued", "paused>cancelled", "running>waiting",
		"waiting>running", "waiting>cancelled", "waiting>queued", "waiting>failed",
	};
	for (int from = 0; from < _JOB_STATE_MAX; from++) {
		for (int to = 0; to < _JOB_STATE_MAX; to++) {
			char pair[64];
			bool want = false;

			snprintf(pair, sizeof(pair), "%s>%s", job_state_to_string(from), job_state_to_string(to));
			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				want = want || strcmp(pair, allowed[i]) == 0;
			if (job_state_change_allowed(from, to) != want)
				fail_msg("%s: wanted %s", pair, want ? "allowed" : "refused");
		}
	}
}

/* A runner whose jobs run until the test finishes them. */
static struct job_run *live[16];
static int starts, stops;

static int trun_start(struct job_run *run, void *userdata)
{
	starts++;
	for (int i = 0; i < 16; i++) {
		if (live[i] == NULL) {
			live[i] = run;
			break;
		}
	}
	/* A question "fail-at-once" finishes inside start(). */
	if (strcmp(job_run_job(run)->question, "fail-at-once") == 0)
		job_run_finish(run, JOB_FAILED, "told to");
	return 0;
}

static void trun_forget(struct job_run *run)
{
	for (int i = 0; i < 16; i++)
		if (live[i] == run)
			live[i] = NULL;
}

static void trun_stop(struct job_run *run, void *userdata)
{
	stops++;
	trun_forget(run);
}

static int trun_check(const json_t *options, char *err, size_t errlen, void *userdata)
{
	json_t *v = json_object_get(options, "color");

	if (v && !json_is_string(v)) {
		snprintf(err, errlen, "color must be a string");
		return -EINVAL;
	}
	return 0;
}

static const struct job_runner trun = {
	.kind = "t", .start = trun_start, .stop = trun_stop, .check = trun_check,
};

struct fixture {
	char dir[64], path[128];
	uv_loop_t loop;
	struct daemon d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test-job-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/r.db", f->dir);
	uv_loop_init(&f->loop);
	f->d.loop = &f->loop;
	f->d.config = config_new();
	f->d.config->max_jobs = 2;
	f->d.config->max_queued = 5;
	if (store_open(f->path, &f->d.store) < 0 || effects_new(&f->loop, f->d.store, &f->d.effects) < 0 ||
	    jobs_new(&f->d, &f->d.jobs) < 0 || jobs_register_runner(f->d.jobs, &trun) < 0)
		return -1;
	memset(live, 0, sizeof(live));
	starts = stops = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	jobs_free(f->d.jobs);
	effects_free(f->d.effects);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	store_close(f->d.store);
	config_free(f->d.config);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int64_t submit(struct fixture *f, const char *kind, const char *q)
{
	char err[256] = "";
	int64_t id = 0;

	if (jobs_submit(f->d.jobs, 1000, kind, q, NULL, &id, err, sizeof(err)) < 0)
		fail_msg("submit: %s", err);
	return id;
}

static enum job_state state_of(struct fixture *f, int64_t id)
{
	struct store_job *j = NULL;
	enum job_state s;

	assert_int_equal(store_job_get(f->d.store, id, &j), 0);
	s = j->state;
	store_job_free(j);
	return s;
}

static void test_scheduler(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, "t", "a"), b = submit(f, "t", "b"), c = submit(f, "t", "c");
	int64_t r = submit(f, "research", "waits: no runner for research in this build");

	/* max_jobs = 2: a and b run, c waits */
	assert_int_equal(starts, 2);
	assert_int_equal(jobs_running(f->d.jobs), 2);
	assert_int_equal(state_of(f, a), JOB_RUNNING);
	assert_int_equal(state_of(f, b), JOB_RUNNING);
	assert_int_equal(state_of(f, c), JOB_QUEUED);
	assert_int_equal(state_of(f, r), JOB_QUEUED);

	/* a finishes: c starts */
	job_run_finish(live[0], JOB_DONE, NULL);
	live[0] = NULL;
	assert_int_equal(state_of(f, a), JOB_DONE);
	assert_int_equal(state_of(f, c), JOB_RUNNING);
	assert_int_equal(starts, 3);

	/* the research job stays queued, whatever frees up */
	for (int i = 0; i < 16; i++) {
		if (live[i]) {
			struct job_run *run = live[i];

			live[i] = NULL;
			job_run_finish(run, JOB_DONE, NULL);
		}
	}
	assert_int_equal(state_of(f, r), JOB_QUEUED);
	assert_int_equal(jobs_running(f->d.jobs), 0);
}

static void test_cancel_pause_resume(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, "t", "a"), b = submit(f, "t", "b"), q = submit(f, "t", "q");
	struct store_job *j = NULL;

	/* cancelling a running job stops its runner and starts the next */
	assert_int_equal(jobs_cancel(f->d.jobs, a, "test"), 0);
	assert_int_equal(stops, 1);
	assert_int_equal(state_of(f, a), JOB_CANCELLED);
	assert_int_equal(state_of(f, q), JOB_RUNNING);
	assert_int_equal(jobs_cancel(f->d.jobs, a, "again"), -EBUSY);
	assert_int_equal(jobs_cancel(f->d.jobs, 999, "none"), -ENOENT);
	assert_int_equal(store_job_get(f->d.store, a, &j), 0);
	assert_string_equal(j->message, "test");
	assert_true(j->finished > 0);
	store_job_free(j);

	/* pause a running job; resume puts it back in the queue, and it runs
	 * again once a slot frees */
	assert_int_equal(jobs_pause(f->d.jobs, b), 0);
	assert_int_equal(state_of(f, b), JOB_PAUSED);
	assert_int_equal(jobs_pause(f->d.jobs, b), -EBUSY);
	assert_int_equal(jobs_resume(f->d.jobs, q), -EBUSY);	/* not paused */
	assert_int_equal(jobs_resume(f->d.jobs, b), 0);
	assert_int_equal(state_of(f, b), JOB_RUNNING);	/* a slot was free */

	/* a paused job can be cancelled; a done one cannot be paused */
	assert_int_equal(jobs_pause(f->d.jobs, q), 0);
	assert_int_equal(jobs_cancel(f->d.jobs, q, "x"), 0);
	assert_int_equal(state_of(f, q), JOB_CANCELLED);
}

static void test_finish_inside_start(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, "t", "fail-at-once");
	struct store_job *j = NULL;

	assert_int_equal(state_of(f, a), JOB_FAILED);
	assert_int_equal(jobs_running(f->d.jobs), 0);
	assert_int_equal(store_job_get(f->d.store, a, &j), 0);
	assert_string_equal(j->message, "told to");
	store_job_free(j);
}

static void test_options_and_limits(void **state)
{
	struct fixture *f = *state;
	json_t *opts = NULL, *given;
	char err[256] = "";
	int64_t id;

	given = json_pack("{s:i, s:s}", "max_depth", 4, "color", "red");
	assert_int_equal(jobs_options(f->d.jobs, "t", given, &opts, err, sizeof(err)), 0);
	assert_int_equal(json_integer_value(json_object_get(opts, "max_depth")), 4);
	assert_int_equal(json_integer_value(json_object_get(opts, "max_time")), 3600);
	assert_string_equal(json_string_value(json_object_get(opts, "color")), "red");
	json_decref(opts);
	json_decref(given);

	given = json_pack("{s:i}", "max_depth", 11);
	assert_int_equal(jobs_options(f->d.jobs, "t", given, &opts, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option \"max_depth\" must be an integer from 1 to 10");
	json_decref(given);
	given = json_pack("{s:i}", "color", 3);
	assert_int_equal(jobs_options(f->d.jobs, "t", given, &opts, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "color must be a string");
	json_decref(given);
	given = json_pack("{s:i}", "colour", 3);
	assert_int_equal(jobs_options(f->d.jobs, "research", given, &opts, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown option \"colour\"");
	json_decref(given);
	given = json_object();
	assert_int_equal(jobs_options(f->d.jobs, "selftest", given, &opts, err, sizeof(err)), -EINVAL);
	json_decref(given);
	assert_non_null(strstr(err, "unknown job kind \"selftest\""));

	/* max_queued = 5 unfinished jobs */
	for (int i = 0; i < 5; i++)
		submit(f, "research", "q");
	assert_int_equal(jobs_submit(f->d.jobs, 1, "research", "one too many", NULL, &id, err, sizeof(err)), -EBUSY);
}

static void test_recover_and_shutdown(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, "t", "a");

	/* shutdown stops the runner and puts the job back in the queue */
	jobs_shutdown(f->d.jobs);
	assert_int_equal(stops, 1);
	assert_int_equal(state_of(f, a), JOB_QUEUED);

	/* a job left "running" by a crash is requeued and started again */
	jobs_free(f->d.jobs);
	assert_int_equal(store_job_set_state(f->d.store, a, JOB_RUNNING, NULL, 1), 0);
	assert_int_equal(jobs_new(&f->d, &f->d.jobs), 0);
	assert_int_equal(jobs_register_runner(f->d.jobs, &trun), 0);
	memset(live, 0, sizeof(live));
	assert_int_equal(jobs_recover(f->d.jobs), 0);
	assert_int_equal(starts, 2);
	assert_int_equal(state_of(f, a), JOB_RUNNING);
}

/* A run that waits for a person: state waiting with what it waits for,
 * not pausable or resumable, cancellable; back to running when its input
 * comes; a restart queues it again. */
static void test_waiting(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, "t", "a"), b = submit(f, "t", "b");
	struct job_run *ra = live[0], *rb = live[1];
	int64_t counts[_JOB_STATE_MAX];

	assert_non_null(ra);
	assert_non_null(rb);
	assert_int_equal(job_run_wait(ra, "answer", "waiting for answers", NULL), 0);
	assert_int_equal(state_of(f, a), JOB_WAITING);
	assert_string_equal(jobs_job_waiting_for(f->d.jobs, a), "answer");
	assert_null(jobs_job_waiting_for(f->d.jobs, b));
	jobs_counts(f->d.jobs, counts);
	assert_int_equal(counts[JOB_WAITING], 1);
	assert_int_equal(jobs_resume(f->d.jobs, a), -EBUSY);
	assert_int_equal(jobs_pause(f->d.jobs, a), -EBUSY);
	assert_int_equal(state_of(f, a), JOB_WAITING);
	assert_int_equal(job_run_unwait(ra), 0);
	assert_int_equal(state_of(f, a), JOB_RUNNING);
	assert_null(jobs_job_waiting_for(f->d.jobs, a));
	/* waiting, then done: the run ends from whatever state it is in */
	assert_int_equal(job_run_wait(ra, "approval", NULL, NULL), 0);
	assert_string_equal(jobs_job_waiting_for(f->d.jobs, a), "approval");
	assert_int_equal(jobs_cancel(f->d.jobs, a, "test"), 0);
	assert_int_equal(state_of(f, a), JOB_CANCELLED);

	/* a job waiting when the daemon died is queued and started again */
	assert_int_equal(job_run_wait(rb, "answer", NULL, NULL), 0);
	jobs_free(f->d.jobs);
	assert_int_equal(jobs_new(&f->d, &f->d.jobs), 0);
	assert_int_equal(jobs_register_runner(f->d.jobs, &trun), 0);
	memset(live, 0, sizeof(live));
	starts = 0;
	assert_int_equal(state_of(f, b), JOB_WAITING);
	assert_int_equal(jobs_recover(f->d.jobs), 0);
	assert_int_equal(starts, 1);
	assert_int_equal(state_of(f, b), JOB_RUNNING);
	/* jobs_shutdown from waiting queues it too */
	assert_int_equal(job_run_wait(live[0], "answer", NULL, NULL), 0);
	jobs_shutdown(f->d.jobs);
	assert_int_equal(state_of(f, b), JOB_QUEUED);
}

/* The in-memory counts agree with the store after every kind of change,
 * and survive a restart (jobs_new reads them back). */
static void assert_counts_match_store(struct fixture *f)
{
	int64_t mem[_JOB_STATE_MAX], db[_JOB_STATE_MAX];

	jobs_counts(f->d.jobs, mem);
	assert_int_equal(store_job_count(f->d.store, db), 0);
	for (int i = 0; i < _JOB_STATE_MAX; i++)
		if (mem[i] != db[i])
			fail_msg("%s: %lld in memory, %lld stored", job_state_to_string((enum job_state)i),
			    (long long)mem[i], (long long)db[i]);
}

static void test_counts(void **state)
{
	struct fixture *f = *state;
	int64_t counts[_JOB_STATE_MAX];
	int64_t a = submit(f, "t", "a"), b = submit(f, "t", "b"), c = submit(f, "t", "c");
	struct job_run *crun = NULL;
	char err[256];
	int64_t id;

	submit(f, "t", "fail-at-once");
	jobs_counts(f->d.jobs, counts);
	/* a, b run (max_jobs = 2); c and fail-at-once queue */
	assert_int_equal(counts[JOB_RUNNING], 2);
	assert_int_equal(counts[JOB_QUEUED], 2);
	assert_counts_match_store(f);
	assert_int_equal(jobs_pause(f->d.jobs, a), 0);		/* c starts */
	for (int i = 0; i < 16; i++)
		if (live[i] && job_run_id(live[i]) == c)
			crun = live[i];
	assert_non_null(crun);
	assert_int_equal(jobs_cancel(f->d.jobs, b, "test"), 0);	/* fail-at-once starts, fails */
	assert_counts_match_store(f);
	jobs_counts(f->d.jobs, counts);
	assert_int_equal(counts[JOB_PAUSED], 1);
	assert_int_equal(counts[JOB_CANCELLED], 1);
	assert_int_equal(counts[JOB_FAILED], 1);
	assert_int_equal(counts[JOB_RUNNING], 1);
	assert_int_equal(counts[JOB_QUEUED], 0);
	/* fail-at-once's run is gone (live[] still names it): finish c by the
	 * pointer taken while it ran */
	trun_forget(crun);
	job_run_finish(crun, JOB_DONE, NULL);
	assert_int_equal(jobs_resume(f->d.jobs, a), 0);
	assert_counts_match_store(f);
	/* max_queued = 5 counts unfinished jobs from memory: a runs, 4 more fit */
	for (int i = 0; i < 4; i++)
		submit(f, "research", "waits");
	assert_int_equal(jobs_submit(f->d.jobs, 1000, "research", "one too many", NULL, &id, err,
	    sizeof(err)), -EBUSY);
	assert_counts_match_store(f);
	jobs_shutdown(f->d.jobs);
	jobs_free(f->d.jobs);
	assert_int_equal(jobs_new(&f->d, &f->d.jobs), 0);
	jobs_counts(f->d.jobs, counts);
	assert_int_equal(counts[JOB_QUEUED], 5);
	assert_int_equal(counts[JOB_DONE], 1);
	assert_counts_match_store(f);
}

static int watch_hits;

static void on_watch(struct job_watch *w, int64_t id, void *userdata)
{
	watch_hits++;
}

static void test_watch(void **state)
{
	struct fixture *f = *state;
	int64_t a = submit(f, "research", "q");
	struct job_watch *w = jobs_watch(f->d.jobs, a, on_watch, NULL);
	json_t *d = json_object();

	watch_hits = 0;
	assert_int_equal(jobs_event(f->d.jobs, a, "log", d), 0);
	assert_int_equal(watch_hits, 1);
	assert_int_equal(jobs_cancel(f->d.jobs, a, "bye"), 0);
	assert_int_equal(watch_hits, 2);
	job_watch_free(w);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test_setup_teardown(test_scheduler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_inside_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_and_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
	};
	hash_init();
	return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
