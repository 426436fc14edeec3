/* A person in the research loop: the clarifying questions asked before the
 * brief and their answers, the plan shown for review and the edited plan
 * taken back, and what the report says about both. The planner only reads
 * this input from the runner (planner_set_*), recorded as the job's input,
 * so a replay takes the same path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "planner-internal.h"
#include "xmalloc.h"

const char *planner_waiting(const struct planner *p)
{
	if (p->phase == PL_ASK && !p->answered)
		return "answer";
	if (p->phase == PL_REVIEW && !p->approved)
		return "approval";
	return NULL;
}

json_t *planner_questions(const struct planner *p)
{
	return p->clarify ? json_deep_copy(p->clarify) : json_array();
}

bool planner_has_plan(const struct planner *p)
{
	return p->nq > 0;
}

static const char *origin(const struct pl_question *q)
{
	return q->gap_added ? "gap" : q->user_added ? "user" : "plan";
}

json_t *planner_plan(const struct planner *p)
{
	json_t *list = json_array();

	for (size_t i = 0; i < p->nq; i++) {
		json_t *qs = json_array();

		for (size_t k = 0; k < p->nqr; k++)
			if (p->qr[k].question == (int)i)
				json_array_append_new(qs, json_string(p->qr[k].text));
		json_array_append_new(list, json_pack("{s:s, s:o, s:s}", "question", p->q[i].text,
		    "queries", qs, "origin", origin(&p->q[i])));
	}
	return json_pack("{s:o}", "subquestions", list);
}

int planner_plan_check(const json_t *plan, char *err, size_t errlen)
{
	const json_t *list = json_object_get(plan, "subquestions"), *v, *q;
	size_t i, k;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > PL_MAX_QUESTIONS) {
		snprintf(err, errlen, "a plan has 1 to %d sub-questions (\"subquestions\")",
		    PL_MAX_QUESTIONS);
		return -EINVAL;
	}
	json_array_foreach(list, i, v) {
		const json_t *qs = json_object_get(v, "queries");
		const char *text;

		if (json_get_string(v, "question", &text) < 0 || text[0] == '\0' ||
		    strlen(text) > PL_MAX_STR) {
			snprintf(err, errlen, "sub-question %zu: a question of 1 to %d bytes is needed",
			    i + 1, PL_MAX_STR);
			return -EINVAL;
		}
		if (qs && (!json_is_array(qs) || json_array_size(qs) > 8)) {
			snprintf(err, errlen, "sub-question %zu: \"queries\" is a list of at most 8 "
			    "search queries", i + 1);
			return -EINVAL;
		}
		json_array_foreach(qs, k, q)
			if (!json_is_string(q) || json_string_length(q) == 0 ||
			    json_string_length(q) > 200) {
				snprintf(err, errlen, "sub-question %zu, query %zu: a query of 1 to 200 "
				    "bytes is needed", i + 1, k + 1);
				return -EINVAL;
			}
	}
	return 0;
}

int planner_set_answers(struct planner *p, const json_t *in)
{
	const json_t *answers = json_object_get(in, "answers"), *v;
	const char *why;
	size_t i;

	if (p->phase != PL_ASK || p->answered)
		return -EINVAL;
	if (json_get_string(in, "skipped", &why) == 0) {
		p->skipped = pl_strdup_capped(why, 200);
		p->answered = true;
		return 0;
	}
	if (!json_is_array(answers) || json_array_size(answers) == 0 ||
	    json_array_size(answers) > PL_MAX_CLARIFY)
		return -EINVAL;
	json_array_foreach(answers, i, v)
		if (!json_is_string(v) || json_string_length(v) > PLANNER_MAX_ANSWER)
			return -EINVAL;
	p->answers = json_deep_copy(answers);
	p->answered = true;
	return 0;
}

static bool plan_has(const json_t *list, const char *text)
{
	char *norm = planner_query_norm(text);
	const json_t *v;
	const char *t;
	bool found = false;
	size_t i;

	json_array_foreach(list, i, v) {
		char *n2;

		if (json_get_string(v, "question", &t) < 0)
			continue;
		n2 = planner_query_norm(t);
		found = found || strcmp(norm, n2) == 0;
		free(n2);
	}
	free(norm);
	return found;
}

int planner_set_plan(struct planner *p, const json_t *in)
{
	const json_t *plan = json_object_get(in, "plan"), *list;
	char err[160];
	const char *why;
	char *was[PL_MAX_QUESTIONS];
	size_t nwas, i;

	if (p->phase != PL_REVIEW || p->approved)
		return -EINVAL;
	if (json_get_string(in, "skipped", &why) == 0)
		p->approval_skipped = pl_strdup_capped(why, 200);
	if (plan == NULL) {
		p->approved = true;
		return 0;
	}
	if (planner_plan_check(plan, err, sizeof(err)) < 0)
		return -EINVAL;
	list = json_object_get(plan, "subquestions");
	/* The edited plan replaces the planner's: its questions and queries
	 * are all there is to research from now on. */
	p->plan_removed = json_array();
	nwas = p->nq;
	for (i = 0; i < p->nq; i++) {
		was[i] = p->q[i].text;
		if (!plan_has(list, was[i]))
			json_array_append_new(p->plan_removed, json_string(was[i]));
	}
	for (i = 0; i < p->nqr; i++) {
		free(p->qr[i].text);
		free(p->qr[i].norm);
	}
	p->nq = p->nqr = 0;
	pl_add_plan(p, list, false);
	for (i = 0; i < p->nq; i++) {
		char *norm = planner_query_norm(p->q[i].text);
		bool known = false;

		for (size_t k = 0; k < nwas && !known; k++) {
			char *n2 = planner_query_norm(was[k]);

			known = strcmp(norm, n2) == 0;
			free(n2);
		}
		free(norm);
		p->q[i].user_added = !known;
	}
	for (i = 0; i < nwas; i++)
		free(was[i]);
	p->plan_edited = true;
	p->approved = true;
	return 0;
}

void pl_apply_clarify(struct planner *p, const json_t *v)
{
	const json_t *qs = json_object_get(v, "questions"), *q;
	size_t i;

	p->clarify = json_array();
	json_array_foreach(qs, i, q) {
		char *text;

		if (!json_is_string(q) || json_string_length(q) == 0 ||
		    json_array_size(p->clarify) == PL_MAX_CLARIFY)
			continue;
		text = pl_strdup_capped(json_string_value(q), PL_MAX_STR);
		json_array_append_new(p->clarify, json_string(text));
		free(text);
	}
}

/* One line of text as it goes into a prompt or the report. */
static void put_line1(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_putc(b, *s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s);
}

void pl_hitl_prompt(struct planner *p, struct buf *b)
{
	size_t i, n = p->clarify ? json_array_size(p->clarify) : 0;
	const json_t *a;

	if (n == 0)
		return;
	if (p->answers == NULL) {
		buf_puts(b, "The user was asked clarifying questions and did not answer: state the "
		    "assumptions you make in the scope.\n");
		return;
	}
	buf_puts(b, "The user answered clarifying questions; the brief follows the answers.\n");
	for (i = 0; i < n; i++) {
		buf_puts(b, "ASKED: ");
		put_line1(b, json_string_value(json_array_get(p->clarify, i)));
		buf_putc(b, '\n');
	}
	json_array_foreach(p->answers, i, a) {
		buf_puts(b, "ANSWER: ");
		put_line1(b, json_string_value(a));
		buf_putc(b, '\n');
	}
}

void pl_hitl_report(struct planner *p, struct buf *b)
{
	size_t n = p->clarify ? json_array_size(p->clarify) : 0, i;
	const json_t *v;

	if (p->interactive && n == 0)
		buf_puts(b, "- Clarifying questions: none were needed.\n");
	if (n > 0 && p->answers) {
		buf_printf(b, "- Clarifying questions (%zu) and the user's answers:\n", n);
		json_array_foreach(p->clarify, i, v) {
			buf_puts(b, "  - Asked: ");
			put_line1(b, json_string_value(v));
			buf_putc(b, '\n');
		}
		json_array_foreach(p->answers, i, v) {
			buf_puts(b, "  - Answer: ");
			put_line1(b, json_string_value(v));
			buf_putc(b, '\n');
		}
	} else if (n > 0) {
		buf_puts(b, "- Assumptions: the clarifying questions were not answered (");
		put_line1(b, p->skipped ? p->skipped : "no answer");
		buf_puts(b, "), so the research went on with its own assumptions: ");
		put_line1(b, p->scope ? p->scope : "the question as written");
		buf_puts(b, "\n");
		json_array_foreach(p->clarify, i, v) {
			buf_puts(b, "  - Unanswered: ");
			put_line1(b, json_string_value(v));
			buf_putc(b, '\n');
		}
	}
	if (!p->review_plan)
		return;
	if (p->approval_skipped) {
		buf_puts(b, "- Plan review: the plan went ahead unreviewed (");
		put_line1(b, p->approval_skipped);
		buf_puts(b, ").\n");
	} else if (p->plan_edited)
		buf_printf(b, "- Plan review: the user edited the plan (%zu sub-question%s removed).\n",
		    json_array_size(p->plan_removed), json_array_size(p->plan_removed) == 1 ? "" : "s");
	else
		buf_puts(b, "- Plan review: the user approved the plan as it was.\n");
	json_array_foreach(p->plan_removed, i, v) {
		buf_puts(b, "  - Removed by the user, not researched: ");
		put_line1(b, json_string_value(v));
		buf_putc(b, '\n');
	}
	buf_puts(b, "- Sub-questions researched:\n");
	for (i = 0; i < p->nq; i++) {
		buf_printf(b, "  %zu. ", i + 1);
		put_line1(b, p->q[i].text);
		buf_puts(b, p->q[i].gap_added ? " (a gap added by reflection after the review)\n" :
		    p->q[i].user_added ? " (added by the user)\n" : " (in the reviewed plan)\n");
	}
}

json_t *pl_hitl_report_data(const struct planner *p)
{
	json_t *o = json_object(), *qs = json_array();

	if (p->clarify)
		json_object_set(o, "clarifying_questions", p->clarify);
	if (p->answers)
		json_object_set(o, "answers", p->answers);
	if (p->skipped)
		json_object_set_new(o, "assumptions", json_pack("{s:s, s:s}", "why", p->skipped,
		    "scope", p->scope ? p->scope : ""));
	if (p->review_plan) {
		json_object_set_new(o, "plan_review", json_string(p->approval_skipped ? "skipped" :
		    p->plan_edited ? "edited" : "approved"));
		if (p->plan_removed)
			json_object_set(o, "removed", p->plan_removed);
		for (size_t i = 0; i < p->nq; i++)
			json_array_append_new(qs, json_pack("{s:i, s:s}", "id", (int)i + 1,
			    "origin", origin(&p->q[i])));
		json_object_set_new(o, "origins", qs);
	} else
		json_decref(qs);
	return o;
}

void pl_hitl_free(struct planner *p)
{
	json_decref(p->clarify);
	json_decref(p->answers);
	json_decref(p->plan_removed);
	free(p->skipped);
	free(p->approval_skipped);
}
