/* Unit tests of a person in the research loop (planner/hitl.c): clarifying
 * questions (none, answered, skipped) and plan review (as it is, edited),
 * through the fake-effects driver, which hands the person's input over the
 * way agent/research.c does. Expected values come from the world's script
 * (world.h) and the input given here. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "world.h"

#define Q_NECTAR "Where do bees find nectar?"

static json_t *answer_two(struct world *w, const char *what)
{
	assert_string_equal(what, "answer");
	/* While it waits the planner shows its questions and asks nothing. */
	json_t *qs = planner_questions(w->p);
	assert_int_equal(json_array_size(qs), 2);
	assert_string_equal(json_string_value(json_array_get(qs, 1)), "Which season?");
	json_decref(qs);
	assert_int_equal(count(w, "llm.chat", "brief"), 0);
	return jl("{'answers':['Only forager bees','Summer']}");
}

static json_t *skip_answer(struct world *w, const char *what)
{
	assert_string_equal(what, "answer");
	return jl("{'skipped':'no answer came within 600 s'}");
}

static json_t *approve_as_is(struct world *w, const char *what)
{
	assert_string_equal(what, "approval");
	assert_true(planner_has_plan(w->p));
	assert_int_equal(count(w, "web.search", NULL), 0);
	return jl("{}");
}

/* Q_SUN removed, Q_DANCE kept with one query, Q_NECTAR added. */
static json_t *approve_edited(struct world *w, const char *what)
{
	json_t *plan = planner_plan(w->p);
	char err[160];

	assert_string_equal(what, "approval");
	assert_int_equal(json_array_size(json_object_get(plan, "subquestions")), 2);
	json_decref(plan);
	plan = jl("{'subquestions':[{'question':'bad','queries':[7]}]}");
	assert_int_equal(planner_plan_check(plan, err, sizeof(err)), -EINVAL);
	json_decref(plan);
	return jl("{'plan':{'subquestions':["
	    "{'question':'" Q_DANCE "','queries':['waggle dance']},"
	    "{'question':'" Q_NECTAR "','queries':['nectar map']}]}}");
}

/* Writes fall back to the findings' own claims: the sections depend on
 * what the edited plan found. */
static json_t *raw_write(struct world *w, const char *kind, const char *schema, const json_t *rq)
{
	if (strcmp(schema, "write") == 0)
		return llm_ok(jl("{'sentences':[]}"), 100);
	return NULL;
}

static void test_clarify_none(void **state)
{
	struct world *w = bee_world();

	/* No question: it goes on at once, without waiting. */
	w->options = "{'interactive':true}";
	world_run(w, BEE_QUESTION);
	assert_int_equal(w->waits, 0);
	assert_int_equal(count(w, "llm.chat", "clarify"), 1);
	assert_int_equal(count(w, "llm.chat", "brief"), 1);
	assert_string_equal(nth_call(w, "clarify", 0)->schema, "clarify");
	assert_null(strstr(nth_call(w, "brief", 0)->prompt, "ASKED:"));
	expect_in(planner_report(w->p), "- Clarifying questions: none were needed.\n");
	world_free(w);
}

static void test_clarify_answered(void **state)
{
	struct world *w = bee_world();
	const char *brief;

	w->options = "{'interactive':true}";
	w->clarify = "{'questions':['Which bees?','Which season?']}";
	w->input = answer_two;
	world_run(w, BEE_QUESTION);
	assert_int_equal(w->waits, 1);
	assert_int_equal(count(w, "llm.chat", "clarify"), 1);
	brief = nth_call(w, "brief", 0)->prompt;
	assert_non_null(strstr(brief, "ASKED: Which bees?\nASKED: Which season?\n"));
	assert_non_null(strstr(brief, "ANSWER: Only forager bees\nANSWER: Summer\n"));
	expect_in(planner_report(w->p), "- Clarifying questions (2) and the user's answers:\n"
	    "  - Asked: Which bees?\n  - Asked: Which season?\n"
	    "  - Answer: Only forager bees\n  - Answer: Summer\n");
	expect_not_in(planner_report(w->p), "Assumptions");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(
	    planner_report_data(w->p), "human"), "answers"), 0)), "Only forager bees");
	world_free(w);
}

static void test_clarify_skipped(void **state)
{
	struct world *w = bee_world();

	w->options = "{'interactive':true}";
	w->clarify = "{'questions':['Which bees?']}";
	w->input = skip_answer;
	world_run(w, BEE_QUESTION);
	assert_int_equal(w->waits, 1);
	assert_non_null(strstr(nth_call(w, "brief", 0)->prompt, "did not answer"));
	expect_in(planner_report(w->p), "- Assumptions: the clarifying questions were not answered "
	    "(no answer came within 600 s), so the research went on with its own assumptions: "
	    "the question as asked\n  - Unanswered: Which bees?\n");
	world_free(w);
}

static void test_review_as_is(void **state)
{
	struct world *w = bee_world();

	w->options = "{'review_plan':true}";
	w->input = approve_as_is;
	world_run(w, BEE_QUESTION);
	assert_int_equal(w->waits, 1);
	assert_int_equal(count(w, "llm.chat", "clarify"), 0);
	expect_in(planner_report(w->p), "- Plan review: the user approved the plan as it was.\n"
	    "- Sub-questions researched:\n  1. " Q_SUN " (in the reviewed plan)\n"
	    "  2. " Q_DANCE " (in the reviewed plan)\n");
	world_free(w);
}

static void test_review_edited(void **state)
{
	struct world *w = bee_world();

	w->options = "{'review_plan':true}";
	w->input = approve_edited;
	w->raw = raw_write;
	world_run(w, BEE_QUESTION);
	assert_int_equal(w->waits, 1);
	/* Q_SUN's own query is never searched; the added one is. */
	for (size_t i = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].kind, "web.search") == 0)
			assert_true(strcmp(w->calls[i].arg, "waggle dance") == 0 ||
			    strcmp(w->calls[i].arg, "nectar map") == 0);
	assert_int_equal(count(w, "web.search", NULL), 2);
	for (size_t i = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].schema, "read") == 0)
			assert_null(strstr(w->calls[i].prompt, "SUBQUESTION: " Q_SUN));
	expect_in(planner_report(w->p), "- Plan review: the user edited the plan (1 sub-question "
	    "removed).\n  - Removed by the user, not researched: " Q_SUN "\n"
	    "- Sub-questions researched:\n  1. " Q_DANCE " (in the reviewed plan)\n"
	    "  2. " Q_NECTAR " (added by the user)\n");
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clarify_none),
		cmocka_unit_test(test_clarify_answered),
		cmocka_unit_test(test_clarify_skipped),
		cmocka_unit_test(test_review_as_is),
		cmocka_unit_test(test_review_edited),
	};

	return cmocka_run_group_tests_name("planner-hitl", tests, NULL, NULL);
}
