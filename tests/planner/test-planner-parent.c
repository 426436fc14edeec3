/* Unit tests of follow-ups (planner/parent.c): a job seeded with its
 * parent's report data takes the parent's sources without fetching or
 * extracting them, keeps only findings whose quotes it finds again, does not
 * read a (sub-question, source) pair the parent read, and says whose
 * follow-up it is. The parent is the bees world's own run (world.h). */
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

#define Q_NEW "How far do foragers fly?"

/* The bees world's report data, each source with text given one passage
 * over its whole text (as the runner adds them). */
static json_t *bee_parent(void)
{
	struct world *w = bee_world();
	json_t *data, *so;
	size_t i;

	world_run(w, BEE_QUESTION);
	data = json_deep_copy(planner_report_data(w->p));
	json_array_foreach(json_object_get(data, "sources"), i, so) {
		const char *th = json_string_value(json_object_get(so, "text_hash"));
		char *text = NULL;
		size_t len = 0;

		assert_non_null(th);
		assert_int_equal(world_text_get(w, th, &text, &len), 0);
		json_object_set_new(so, "passages", json_pack("[[i, I]]", 0, (json_int_t)len));
		free(text);
	}
	world_free(w);
	return data;
}

static void test_parent_reads_nothing_again(void **state)
{
	json_t *parent = bee_parent();
	struct world *w = bee_world();
	const json_t *data;

	/* The parent read (sun, a), (sun, b), (dance, b), (dance, c). */
	assert_int_equal(json_array_size(json_object_get(parent, "reads")), 4);
	w->parent = parent;
	world_run(w, BEE_QUESTION);
	/* Same plan, same hits: every page is the parent's, every pair read. */
	assert_int_equal(count(w, "web.search", NULL), 2);
	assert_int_equal(count(w, "web.fetch", NULL), 0);
	assert_int_equal(count(w, "doc.text", NULL), 0);
	assert_int_equal(count(w, "llm.chat", "read"), 0);
	expect_in(planner_report(w->p), "**Question:** How do honeybees find their way?\n\n"
	    "**Date:** 2024-02-29\n\n**Follow-up to job 3:** How do honeybees find their way? "
	    "(3 of its sources and 4 of its verified findings are used here.)\n\n");
	expect_in(planner_report(w->p), "- Citations verified: 7/7;");
	expect_in(planner_report(w->p), "[1] Polarised light and the dance. bees.example. "
	    "<http://bees.example/b>. Accessed 2024-02-29.");
	data = planner_report_data(w->p);
	assert_int_equal(json_integer_value(json_object_get(data, "parent")), 3);
	/* The parent's findings count for the sub-questions they answer: the
	 * stand-in (Q1) keeps none, and both others are answered. */
	for (size_t i = 0; i < 4; i++) {
		const json_t *f = json_array_get(json_object_get(data, "findings"), i);

		assert_true(json_is_true(json_object_get(f, "verified")));
		assert_int_equal(json_integer_value(json_object_get(f, "question")), i < 2 ? 2 : 3);
	}
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(data, "questions"), 0),
	    "parent")));
	/* Its reads are the parent's, so a follow-up of it reads none either. */
	assert_true(json_equal(json_object_get(data, "reads"), json_object_get(parent, "reads")));
	world_free(w);
	json_decref(parent);
}

static void test_parent_new_subquestion(void **state)
{
	json_t *parent = bee_parent();
	struct world *w = bee_world();
	char subq[128];

	w->parent = parent;
	/* One sub-question of the parent's, one new one that finds b and c. */
	w->plan = "{'subquestions':[{'question':'" Q_SUN "','queries':['bee sun compass']},"
	    "{'question':'" Q_NEW "','queries':['waggle dance']}]}";
	world_run(w, "How far and which way do bees fly?");
	assert_int_equal(count(w, "web.fetch", NULL), 0);
	assert_int_equal(count(w, "llm.chat", "read"), 2);
	for (size_t i = 0; i < 2; i++) {
		prompt_line(nth_call(w, "read", i)->prompt, "SUBQUESTION: ", subq, sizeof(subq));
		assert_string_equal(subq, Q_NEW);
	}
	/* The plan prompt says what the parent answered. */
	expect_in(nth_call(w, "plan", 0)->prompt,
	    "Earlier research answered: How do honeybees find their way?\n");
	world_free(w);
	json_decref(parent);
}

static void test_parent_checks_again(void **state)
{
	json_t *parent = bee_parent();
	json_t *f1 = json_array_get(json_object_get(parent, "findings"), 0);
	json_t *sa = json_array_get(json_object_get(parent, "sources"), 0);
	struct world *w = bee_world();

	/* A quote the text does not hold is not taken on the parent's word;
	 * a source without its text is not taken and is fetched again. */
	json_object_set_new(f1, "quote", json_string("Honeybees use the moon as a compass and "
	    "correct for its movement"));
	assert_string_equal(json_string_value(json_object_get(sa, "url")), "https://sun.example/a");
	json_object_del(sa, "text_hash");
	w->parent = parent;
	world_run(w, BEE_QUESTION);
	expect_in(planner_report(w->p), "(2 of its sources and 3 of its verified findings are used "
	    "here.)");
	assert_int_equal(count(w, "web.fetch", NULL), 1);
	assert_string_equal(w->calls[0].kind, "clock.now");
	for (size_t i = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].kind, "web.fetch") == 0)
			assert_string_equal(w->calls[i].arg, "https://sun.example/a");
	/* a is read again for the sun (its pair is the parent's, but not its
	 * text); b and c are not. */
	assert_int_equal(count(w, "llm.chat", "read"), 1);
	world_free(w);
	json_decref(parent);
}

static void test_parent_bad(void **state)
{
	struct planner_env env = { .text_get = world_text_get };
	json_t *parent = bee_parent(), *opts = json_object(), *bad;
	struct world *w = world_new();
	const struct planner_req *reqs;
	struct planner *p;
	size_t n;

	env.ud = w;
	assert_int_equal(planner_new(1, "q", opts, &env, &p), 0);
	assert_int_equal(planner_set_parent(p, 0, parent), -EINVAL);
	bad = json_pack("{s:s, s:[]}", "question", "q", "findings");
	assert_int_equal(planner_set_parent(p, 3, bad), -EINVAL);
	json_decref(bad);
	bad = json_pack("{s:s, s:[], s:[], s:i}", "question", "q", "sources", "findings", "reads", 1);
	assert_int_equal(planner_set_parent(p, 3, bad), -EINVAL);
	json_decref(bad);
	assert_int_equal(planner_set_parent(p, 3, NULL), -EINVAL);
	/* Once the first batch is out it is too late. */
	assert_int_equal(planner_next(p, &reqs, &n), 0);
	assert_int_equal(planner_set_parent(p, 3, parent), -EBUSY);
	planner_free(p);
	json_decref(opts);
	json_decref(parent);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parent_reads_nothing_again),
		cmocka_unit_test(test_parent_new_subquestion),
		cmocka_unit_test(test_parent_checks_again),
		cmocka_unit_test(test_parent_bad),
	};

	return cmocka_run_group_tests_name("planner-parent", tests, NULL, NULL);
}
