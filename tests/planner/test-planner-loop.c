/* Unit tests of the research loop (planner/), part two: when research
 * stops (gaps, no new finding, tokens, fetches, depth, the hard cap), the
 * retry of a call that overflows the context, a job without an answer, and
 * the user's finish. Every expected value is worked out by hand from the
 * world's script (world.h). */
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

/* Q1 stays missing whatever is found; each reflection asks one more query
 * for it, so the gap list is "Q1" every time. */
static json_t *reflect_same_gap(struct world *w, int n)
{
	char q[32];

	snprintf(q, sizeof(q), "query %d", n + 1);
	return json_pack("{s:[{s:s, s:s}], s:[{s:s, s:[s]}]}", "states", "id", "Q1", "state", "missing",
	    "new", "question", "Q zero", "queries", q);
}

static void test_stop_gaps_same(void **state)
{
	struct world *w = world_new();
	struct gen *g = gen_new(w, 8);

	w->plan = "{'subquestions':[{'question':'Q zero','queries':['query 0']}]}";
	w->reflect = reflect_same_gap;
	w->options = "{'max_depth':6}";
	world_run(w, "What was measured?");
	/* Round 1 adds a finding (page 1), so only the unchanged gap list
	 * can stop it, at the second reflection. */
	assert_int_equal(count(w, "llm.chat", "reflect"), 2);
	assert_int_equal(count(w, "web.search", NULL), 2);
	expect_in(planner_report(w->p), "- Research ended because the list of gaps stopped changing, "
	    "after 2 rounds.\n");
	expect_in(planner_report(w->p), "- Findings: 2 kept, 0 rejected");
	world_free(w);
	free(g);
}

/* Q2 never gets a finding; the first reflection adds Q3, whose page has
 * no finding either. Gaps: "Q2", then "Q2 Q3" (changed). */
static json_t *reflect_new_gap(struct world *w, int n)
{
	if (n == 0)
		return jl("{'states':[],'new':[{'question':'Q three','queries':['query 2']}]}");
	return jl("{'states':[],'new':[]}");
}

static void test_stop_no_new_finding(void **state)
{
	struct world *w = world_new();
	struct gen *g = gen_new(w, 3);

	w->nreads = 1;	/* only page 0 holds a fact */
	w->plan = "{'subquestions':[{'question':'Q one','queries':['query 0']},"
	    "{'question':'Q two','queries':['query 1']}]}";
	w->reflect = reflect_new_gap;
	w->options = "{'max_depth':6}";
	world_run(w, "What was measured?");
	assert_int_equal(count(w, "llm.chat", "reflect"), 2);
	assert_int_equal(count(w, "web.search", NULL), 3);
	expect_in(planner_report(w->p), "- Research ended because a round added no new verified "
	    "finding, after 2 rounds.\n");
	world_free(w);
	free(g);
}

static void test_stop_tokens(void **state)
{
	struct world *w = bee_world();

	/* Keep for writing: min(7 * 8192 / 2, 30000 / 3) = 10000. Brief and
	 * plan take 240, the four reads 4 * 5020: 20320 used, 9680 left. */
	w->options = "{'max_tokens':30000,'verifier':false}";
	w->read_tokens = 5000;
	world_run(w, BEE_QUESTION);
	assert_int_equal(count(w, "llm.chat", "reflect"), 0);
	assert_int_equal(count(w, "llm.chat", "outline"), 1);
	assert_int_equal(count(w, "llm.chat", "write"), 2);
	expect_in(planner_report(w->p), "- Research ended because the token budget (max_tokens) ran "
	    "low, after 1 round.\n");
	/* And outline and two writes, 120 each. */
	expect_in(planner_report(w->p), "- Budgets used: 20680 of 30000 tokens;");
	world_free(w);
}

/* The dance question stays open (its page was not fetched): reflection
 * asks a new query for it every time. */
static json_t *reflect_dance_again(struct world *w, int n)
{
	char q[32];

	snprintf(q, sizeof(q), "dance query %d", n);
	return json_pack("{s:[], s:[{s:s, s:[s]}]}", "states", "new", "question", Q_DANCE, "queries", q);
}

static void test_stop_fetches(void **state)
{
	struct world *w = bee_world();
	static const struct hits hits[] = {
		{ "bee sun compass", { "https://sun.example/a", "http://bees.example/b" } },
		{ "waggle dance", { "https://hive.example/c/run.html" } },
		{ "dance query 0", { "https://hive.example/c/run.html" } },
	};

	w->hits = hits;
	w->nhits = 3;
	w->plan = "{'subquestions':[{'question':'" Q_SUN "','queries':['bee sun compass']},"
	    "{'question':'" Q_DANCE "','queries':['waggle dance']}]}";
	w->outline = "{'title':'t','short_answer':[{'text':'Bees use the sun.','cites':[1]}],"
	    "'sections':[{'heading':'The sun compass','findings':[1,2]}]}";
	w->reflect = reflect_dance_again;
	w->options = "{'max_fetches':2,'max_depth':6}";
	world_run(w, BEE_QUESTION);
	assert_int_equal(count(w, "web.fetch", NULL), 2);
	/* No round can fetch any more: research ends there and says why,
	 * without searching for pages it could not fetch. */
	assert_int_equal(count(w, "web.search", NULL), 2);
	expect_in(planner_report(w->p), "- Research ended because the fetch budget (max_fetches) ran "
	    "out, after 1 round.\n");
	expect_in(planner_report(w->p), "; 2 of 2 fetches;");
	world_free(w);
}

/* Every reflection marks the questions of the previous one missing and
 * proposes two new ones, each with a page holding a new fact: the gap
 * list always changes and every round adds findings. */
static json_t *reflect_forever(struct world *w, int n)
{
	json_t *states = json_array(), *nw = json_array();
	char q[32], text[32];

	if (n == 0)
		json_array_append_new(states, json_pack("{s:s, s:s}", "id", "Q1", "state", "missing"));
	for (int k = 2 * n; n > 0 && k <= 2 * n + 1; k++) {
		snprintf(q, sizeof(q), "Q%d", k);
		json_array_append_new(states, json_pack("{s:s, s:s}", "id", q, "state", "missing"));
	}
	for (int k = 1; k <= 2; k++) {
		snprintf(text, sizeof(text), "Open problem %d", 2 * n + k);
		snprintf(q, sizeof(q), "query %d", 2 * n + k);
		json_array_append_new(nw, json_pack("{s:s, s:[s]}", "question", text, "queries", q));
	}
	return json_pack("{s:o, s:o}", "states", states, "new", nw);
}

static void test_stop_depth(void **state)
{
	struct world *w = world_new();
	struct gen *g = gen_new(w, 24);

	w->plan = "{'subquestions':[{'question':'Q zero','queries':['query 0']}]}";
	w->reflect = reflect_forever;
	w->options = "{'max_depth':2}";
	world_run(w, "What was measured?");
	assert_int_equal(count(w, "llm.chat", "reflect"), 2);
	/* query 0, then query 1 and query 2 */
	assert_int_equal(count(w, "web.search", NULL), 3);
	expect_in(planner_report(w->p), "- Research ended because the depth budget (max_depth) was "
	    "reached, after 2 rounds.\n");
	expect_in(planner_report(w->p), "; depth 2 of 2.\n");
	world_free(w);
	free(g);
}

static void test_stop_forever(void **state)
{
	struct world *w = world_new();
	struct gen *g = gen_new(w, 24);

	w->plan = "{'subquestions':[{'question':'Q zero','queries':['query 0']}]}";
	w->reflect = reflect_forever;
	w->options = "{'max_depth':1000000}";
	world_run(w, "What was measured?");
	/* Six rounds at most (the hard cap); a round is six batches (search,
	 * fetch, text, read, clock, reflect), plus start, brief, plan,
	 * outline, write and end, and at most three of the verifier (judge,
	 * rewrite, judge again). */
	assert_true(w->batches <= 6 * 6 + 6 + 3);
	assert_int_equal(count(w, "llm.chat", "reflect"), 6);
	expect_in(planner_report(w->p), ", after 6 rounds.\n");
	world_free(w);
	free(g);
}

/* ---- context overflow ------------------------------------------------ */

static char long_text[8192];

static const struct page long_pages[] = {
	{ .url = "https://census.example/l", .title = "Hive census", .lines = 1,
	  .hash = "1111111111112222222222222222222222222222222222222222222222222222",
	  .text_hash = "7e05", .text = long_text, .fetched = DAY_A },
};

static const struct hits long_hits[] = {
	{ "hive census", { "https://census.example/l" } },
};

static void long_text_make(void)
{
	size_t n = 0;

	/* 40 lines of about 100 bytes: some 1400 tokens at 3 bytes a token,
	 * more than the 1024 of evidence a 2048-token context leaves. */
	for (int k = 0; k < 40; k++)
		n += (size_t)snprintf(long_text + n, sizeof(long_text) - n,
		    "Line %02d: the survey team counted %d hives in the valley during the spring census.\n",
		    k, 100 + k);
	assert_true(n < sizeof(long_text) - 1);
}

static json_t *read_overflow_once(struct world *w, int n, const char *prompt)
{
	if (n == 0)
		return jl("{'error':{'code':'context','message':'the prompt does not fit'}}");
	return llm_ok(jl("{'findings':[{'passage':1,'claim':'There were 100 hives.',"
	    "'quote':'the survey team counted 100 hives in the valley during the spring census'}]}"), 100);
}

static json_t *read_overflow_always(struct world *w, int n, const char *prompt)
{
	return jl("{'error':{'code':'context','message':'the prompt does not fit'}}");
}

static const struct write_script long_writes[] = {
	{ "Count", "{'sentences':[{'text':'The census found 100 hives.','cites':[1]}]}" },
};

static struct world *long_world(void)
{
	struct world *w = world_new();

	long_text_make();
	w->pages = long_pages;
	w->npages = 1;
	w->hits = long_hits;
	w->nhits = 1;
	w->plan = "{'subquestions':[{'question':'How many hives were counted?','queries':['hive census']}]}";
	w->outline = "{'title':'Hives','short_answer':[{'text':'There were 100 hives.','cites':[1]}],"
	    "'sections':[{'heading':'Count','findings':[1]}]}";
	w->writes = long_writes;
	w->nwrites = 1;
	w->options = "{'context':2048,'verifier':false}";
	return w;
}

static void test_context_retry(void **state)
{
	struct world *w = long_world();
	const struct call *a, *b;
	char sa[128], sb[128], qa[128], qb[128];

	w->read = read_overflow_once;
	world_run(w, "How many hives are in the valley?");
	assert_int_equal(count(w, "llm.chat", "read"), 2);
	a = nth_call(w, "read", 0);
	b = nth_call(w, "read", 1);
	/* The same read, in the very next batch, with less evidence. */
	assert_int_equal(b->batch, a->batch + 1);
	prompt_line(a->prompt, "SOURCE: ", sa, sizeof(sa));
	prompt_line(b->prompt, "SOURCE: ", sb, sizeof(sb));
	prompt_line(a->prompt, "SUBQUESTION: ", qa, sizeof(qa));
	prompt_line(b->prompt, "SUBQUESTION: ", qb, sizeof(qb));
	assert_string_equal(sa, "S1 Hive census");
	assert_string_equal(sb, sa);
	assert_string_equal(qb, qa);
	assert_true(strlen(b->prompt) < strlen(a->prompt));
	/* The job goes on and the retried read's finding is cited. */
	expect_in(planner_report(w->p), "## Count\n\nThe census found 100 hives [1].\n\n");
	expect_in(planner_report(w->p), "- Model: m at e; 7 calls, 1 failed.\n");
	world_free(w);
}

static void test_context_always(void **state)
{
	struct world *w = long_world();

	w->read = read_overflow_always;
	world_run(w, "How many hives are in the valley?");
	/* The first try and three halvings, each in the next batch, never
	 * longer than the one before; then the job ends without an answer. */
	assert_int_equal(count(w, "llm.chat", "read"), 4);
	for (size_t i = 1; i < 4; i++) {
		const struct call *a = nth_call(w, "read", i - 1), *b = nth_call(w, "read", i);

		assert_int_equal(b->batch, a->batch + 1);
		assert_true(strlen(b->prompt) <= strlen(a->prompt));
	}
	assert_true(strlen(nth_call(w, "read", 1)->prompt) < strlen(nth_call(w, "read", 0)->prompt));
	expect_in(planner_report(w->p), "The evidence gathered does not answer this question");
	assert_int_equal(count(w, "llm.chat", "write"), 0);
	world_free(w);
}

/* ---- no answer and finishing early ---------------------------------- */

static void test_no_finding(void **state)
{
	struct world *w = bee_world();
	static const struct read_script bad[] = {
		{ "The sun compass", NULL, "Bees use the moon.",
		  "Honeybees use the moon as a compass and correct for its movement" },
	};
	const char *r;

	w->reads = bad;
	w->nreads = 1;
	world_run(w, BEE_QUESTION);
	r = planner_report(w->p);
	assert_int_equal(count(w, "llm.chat", "write"), 0);
	assert_int_equal(count(w, "llm.chat", "outline"), 0);
	assert_true(strncmp(r, "# " BEE_QUESTION "\n", strlen("# " BEE_QUESTION "\n")) == 0);
	expect_in(r, "## Short answer\n\nThe evidence gathered does not answer this question");
	expect_in(r, "- Findings: 0 kept, 1 rejected (quote not found in the source: 1;");
	expect_in(r, "- Citations verified: 0/0;");
	expect_in(r, "## References\n\nNo source is cited.\n");
	expect_not_in(r, "[1]");
	world_free(w);
}

static void test_finish_now(void **state)
{
	struct world *w = bee_world();

	/* Reflection would open a new question: the user's finish comes
	 * first, right after the reads. */
	w->reflect = reflect_dance_again;
	w->finish_after = "read";
	world_run(w, BEE_QUESTION);
	assert_true(w->finished);
	assert_int_equal(count(w, "llm.chat", "reflect"), 0);
	assert_int_equal(count(w, "llm.chat", "outline"), 1);
	assert_int_equal(count(w, "llm.chat", "write"), 2);
	expect_in(planner_report(w->p), "- Research ended because the user asked to finish (research "
	    "finish), after 1 round.\n");
	expect_in(planner_report(w->p), "## The dance\n\n");
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_gaps_same),
		cmocka_unit_test(test_stop_no_new_finding),
		cmocka_unit_test(test_stop_tokens),
		cmocka_unit_test(test_stop_fetches),
		cmocka_unit_test(test_stop_depth),
		cmocka_unit_test(test_stop_forever),
		cmocka_unit_test(test_context_retry),
		cmocka_unit_test(test_context_always),
		cmocka_unit_test(test_no_finding),
		cmocka_unit_test(test_finish_now),
	};

	return cmocka_run_group_tests_name("planner-loop", tests, NULL, NULL);
}
