/* Waiting for a person: clarifying answers and plan approval given as the
 * job's input (decision records), the answer's deadline, and the ops that
 * bring them. */
#include <errno.h>
#include <string.h>

#include "json.h"
#include "planner.h"
#include "str.h"

#include "research-internal.h"

/* The decision a person's input is recorded under: one per wait point. */
static const char *wait_name(const char *what)
{
	return strcmp(what, "answer") == 0 ? "answer:1" : "approval:1";
}

/* The input decided for what (an answer, a skip, a plan), handed to the
 * planner. false: none yet. */
static bool research_wait_take(struct research *rs, const char *what)
{
	json_t *v = NULL;
	int r;

	if (research_decided(rs, wait_name(what), &v) < 0)
		return false;
	r = strcmp(what, "answer") == 0 ? planner_set_answers(rs->p, v) : planner_set_plan(rs->p, v);
	json_decref(v);
	if (r < 0) {
		/* Checked when it was given; a record that still does not fit
		 * counts as no input rather than stopping the job. */
		json_t *skip = json_pack("{s:s}", "skipped", "the recorded input could not be used");

		if (strcmp(what, "answer") == 0)
			planner_set_answers(rs->p, skip);
		else
			planner_set_plan(rs->p, skip);
		json_decref(skip);
	}
	return true;
}

static void research_wait_resume(struct research *rs)
{
	rs->waiting = NULL;
	job_run_unwait(rs->run);
	/* From the loop, not from the op handler that gave the input. */
	research_schedule(rs, 0);
}

/* Record input under the wait's name (the first input wins: an answer
 * racing the timeout), then go on. */
int research_wait_give(struct research *rs, const char *what, const json_t *input)
{
	json_t *v = NULL;
	int r;

	r = research_decide(rs, wait_name(what), input, &v);
	json_decref(v);
	if (r < 0)
		return r;
	if (rs->waiting && strcmp(rs->waiting, what) == 0)
		research_wait_resume(rs);
	return 0;
}

static void research_deadline_cb(uv_timer_t *t)
{
	struct research *rs = t->data;
	int64_t s = 0;
	char why[96];
	json_t *in;

	if (json_get_int(job_run_job(rs->run)->options, "answer_timeout", &s) < 0)
		s = RESEARCH_ANSWER_TIMEOUT_S;
	snprintf(why, sizeof(why), "no answer came within %lld s", (long long)s);
	in = json_pack("{s:s}", "skipped", why);
	if (research_wait_give(rs, "answer", in) < 0)
		research_end(rs, JOB_FAILED, "the answer's timeout could not be recorded");
	json_decref(in);
}

/* The planner waits for what: take the recorded input, or wait (the job
 * shows "waiting"; an answer has a deadline, decided once so a replay
 * after a restart keeps it). true: the input was there, go on. */
bool research_wait(struct research *rs, const char *what)
{
	json_t *data, *v = NULL, *proposed;
	int64_t timeout_s = RESEARCH_ANSWER_TIMEOUT_S, deadline, now = time_now_ms();
	char msg[200], when[32];
	int64_t id = job_run_id(rs->run);

	if (research_wait_take(rs, what))
		return true;
	/* A finish asked for while (or before) waiting: go on without input,
	 * and the finish applies at the next barrier. */
	if (rs->finish_requested || rs->finish_at >= 0) {
		json_t *in = json_pack("{s:s}", "skipped", "the user asked to finish (research finish)");

		research_decide(rs, wait_name(what), in, &v);
		json_decref(in);
		json_decref(v);
		return research_wait_take(rs, what);
	}
	rs->waiting = strcmp(what, "answer") == 0 ? "answer" : "approval";
	if (strcmp(what, "answer") == 0) {
		json_t *qs = planner_questions(rs->p);

		snprintf(msg, sizeof(msg), "waiting for answers to %zu clarifying question%s: "
		    "research answer %lld TEXT..., or --skip", json_array_size(qs),
		    json_array_size(qs) == 1 ? "" : "s", (long long)id);
		data = json_pack("{s:o}", "questions", qs);
		json_get_int(job_run_job(rs->run)->options, "answer_timeout", &timeout_s);
		proposed = json_integer((json_int_t)(now + timeout_s * 1000));
		if (research_decide(rs, "deadline:answer:1", proposed, &v) == 0 && json_is_integer(v))
			deadline = json_integer_value(v);
		else
			deadline = now + timeout_s * 1000;
		json_decref(proposed);
		json_decref(v);
		time_format(deadline, when);
		json_object_set_new(data, "deadline", json_string(when));
		research_schedule_cb(rs, deadline > now ? (uint64_t)(deadline - now) : 0,
		    research_deadline_cb);
	} else {
		snprintf(msg, sizeof(msg), "waiting for its plan to be approved: research plan %lld, "
		    "then research approve %lld [--plan FILE]", (long long)id, (long long)id);
		data = json_pack("{s:o}", "plan", planner_plan(rs->p));
	}
	job_run_wait(rs->run, rs->waiting, msg, data);
	return false;
}

/* research answer / approve / plan, from ops.c through jobs_input. */
int research_input(int64_t job_id, struct job_run *run, const char *op, const json_t *args,
    json_t **ret, char *err, size_t errlen, void *userdata)
{
	struct research *rs = run ? job_run_get_data(run) : NULL;
	const char *want = strcmp(op, "answer") == 0 ? "answer" : "approval";
	json_t *in, *v;
	size_t i;
	int r;

	(void)job_id;
	(void)userdata;
	if (strcmp(op, "plan") == 0) {
		/* Before planning, what it waits on is its questions. */
		if (rs && rs->waiting && strcmp(rs->waiting, "answer") == 0) {
			*ret = json_pack("{s:o, s:s}", "questions", planner_questions(rs->p),
			    "waiting_for", "answer");
			return 0;
		}
		if (rs == NULL || !planner_has_plan(rs->p)) {
			snprintf(err, errlen, "the job has no plan to show now (it shows one while it "
			    "runs or waits, once planning is done)");
			return -EBUSY;
		}
		*ret = json_pack("{s:o}", "plan", planner_plan(rs->p));
		if (rs->waiting)
			json_object_set_new(*ret, "waiting_for", json_string(rs->waiting));
		return 0;
	}
	if (rs == NULL || rs->waiting == NULL || strcmp(rs->waiting, want) != 0) {
		snprintf(err, errlen, "the job is not waiting for %s", strcmp(want, "answer") == 0 ?
		    "an answer" : "its plan to be approved");
		return -EBUSY;
	}
	if (strcmp(op, "answer") == 0) {
		const json_t *answers = json_object_get(args, "answers");

		if (json_is_true(json_object_get(args, "skip")) == (answers != NULL)) {
			snprintf(err, errlen, "give either answers or skip");
			return -EINVAL;
		}
		if (answers) {
			json_array_foreach(answers, i, v)
				if (!json_is_string(v) || json_string_length(v) == 0 ||
				    json_string_length(v) > PLANNER_MAX_ANSWER) {
					snprintf(err, errlen, "each answer is a text of 1 to %d bytes",
					    PLANNER_MAX_ANSWER);
					return -EINVAL;
				}
			in = json_pack("{s:O}", "answers", answers);
		} else
			in = json_pack("{s:s}", "skipped", "the user skipped the questions (research "
			    "answer --skip)");
	} else {
		const json_t *plan = json_object_get(args, "plan");

		if (plan) {
			r = planner_plan_check(plan, err, errlen);
			if (r < 0)
				return r;
			in = json_pack("{s:O}", "plan", plan);
		} else
			in = json_object();
	}
	r = research_wait_give(rs, want, in);
	json_decref(in);
	return r;
}
