/* Unit tests of the research loop (planner/), part one: query and URL
 * dedupe, citation numbering and references, quote checks, verification of
 * the written sentences, bad input, determinism and the runner's side of the
 * API. Every expected value is worked out by hand from the world's script
 * (world.h). */
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

static void test_query_norm(void **state)
{
	static const char *const cases[][2] = {
		{ "Bee Sun-Compass!", "bee sun compass" },
		{ "  BEE   sun compass ", "bee sun compass" },
		{ "bee\tsun\ncompass", "bee sun compass" },
		{ "C++ vs. C#", "c vs c" },
		{ "don't panic", "don t panic" },
		{ "GPT-4o (2024)", "gpt 4o 2024" },
		{ "!!!", "" },
		{ "", "" },
		/* Bytes past ASCII are kept as they are. */
		{ "Caf\xc3\xa9 \xc3\x9c" "ber", "caf\xc3\xa9 \xc3\x9c" "ber" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = planner_query_norm(cases[i][0]);

		assert_non_null(n);
		if (strcmp(n, cases[i][1]) != 0)
			fail_msg("norm(\"%s\") is \"%s\", wanted \"%s\"", cases[i][0], n, cases[i][1]);
		free(n);
	}
}

static void test_dedupe(void **state)
{
	struct world *w = bee_world();
	const char *fetched[3] = { NULL, NULL, NULL };
	size_t nf = 0;

	world_run(w, BEE_QUESTION);
	/* Three spellings of "bee sun compass" and "waggle dance": two
	 * searches, in plan order, with the first spelling. */
	assert_int_equal(count(w, "web.search", NULL), 2);
	for (size_t i = 0, k = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].kind, "web.search") == 0)
			assert_string_equal(w->calls[i].arg, k++ == 0 ? "bee sun compass" : "waggle dance");
	/* b came from both queries: fetched once. */
	assert_int_equal(count(w, "web.fetch", NULL), 3);
	for (size_t i = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].kind, "web.fetch") == 0)
			fetched[nf++] = w->calls[i].arg;
	assert_string_equal(fetched[0], "https://sun.example/a");
	assert_string_equal(fetched[1], "http://bees.example/b");
	assert_string_equal(fetched[2], "https://hive.example/c/run.html");
	/* b is read once per sub-question that found it. */
	assert_int_equal(count(w, "llm.chat", "read"), 4);
	expect_in(planner_report(w->p), "- Sources: 3 consulted, 3 cited; 2 searches.\n");
	world_free(w);
}

/* The whole report of the bees world, worked out by hand: [n] by first
 * use (short answer, then sections), one number per source, references
 * in that order with the snapshot's first 12 hex digits and the date the
 * page was fetched. Ten model calls of 100 + 20 tokens; three clock
 * readings a second apart. */
static const char bee_report[] =
	"# How honeybees navigate\n"
	"\n"
	"**Question:** How do honeybees find their way?\n"
	"\n"
	"**Date:** 2024-02-29\n"
	"\n"
	"## Short answer\n"
	"\n"
	"Bees steer by the sun and share directions by dancing [1].\n"
	"\n"
	"## The sun compass\n"
	"\n"
	"The sun serves as a compass [2]. On cloudy days polarised light takes over [1][2].\n"
	"\n"
	"## The dance\n"
	"\n"
	"The waggle dance encodes direction and distance [1][3]. Direction is given relative "
	"to the sun [1].\n"
	"\n"
	"## Method and limits\n"
	"\n"
	"- Research ended because every sub-question was answered, after 1 round.\n"
	/* 1200, plus three judge calls (the short answer, two sections) of
	 * 50 + 20 tokens each */
	"- Budgets used: 1410 of 2000000 tokens; 3 of 200 fetches; 2 s of 3600 s; depth 1 of 3.\n"
	"- Sources: 3 consulted, 3 cited; 2 searches.\n"
	"- Findings: 4 kept, 0 rejected (quote not found in the source: 0; too short: 0; other: 0).\n"
	"- Citations verified: 7/7; sentences kept 5 of 5 (removed: 0 citing unknown findings, "
	"0 citing nothing, 0 with a URL).\n"
	"- Verifier pass: sentences judged supported 5/5 (partly 0), rewritten 0, removed 0.\n"
	"- Model: m at e; 13 calls, 0 failed.\n"
	"\n"
	"## References\n"
	"\n"
	"[1] Polarised light and the dance. bees.example. <https://bees.example/b>. "
	"Accessed 2024-02-29. Snapshot bbbbbbbbbbbb.\n"
	"[2] The sun compass. sun.example. <https://sun.example/a>. Accessed 2024-01-01. "
	"Snapshot a1a2a3a4a5a6.\n"
	"[3] Measuring the waggle run. hive.example. <https://hive.example/c/run.html>. "
	"Accessed 2024-12-31. Snapshot 0123456789ab.\n";

static void test_citations(void **state)
{
	struct world *w = bee_world();
	const json_t *data, *src;

	world_run(w, BEE_QUESTION);
	assert_string_equal(planner_report(w->p), bee_report);
	/* The data agrees: page b is [1], a [2], c [3]. */
	data = planner_report_data(w->p);
	src = json_object_get(data, "sources");
	assert_int_equal(json_array_size(src), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(src, 0), "cite")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(src, 1), "cite")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(src, 2), "cite")), 3);
	world_free(w);
}

static void test_deterministic(void **state)
{
	struct world *a = bee_world(), *b = bee_world();
	char *ja, *jb;

	world_run(a, BEE_QUESTION);
	world_run(b, BEE_QUESTION);
	assert_string_equal(planner_report(a->p), planner_report(b->p));
	ja = json_dumps(planner_report_data(a->p), JSON_SORT_KEYS | JSON_COMPACT);
	jb = json_dumps(planner_report_data(b->p), JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(ja);
	assert_string_equal(ja, jb);
	assert_int_equal(a->batches, b->batches);
	free(ja);
	free(jb);
	world_free(a);
	world_free(b);
}

/* ---- quotes and verification: one page, one sub-question ------------- */

/* "Alpha beta. " is 12 bytes; the quote's words run to byte 80 across a
 * newline and two spaces (20 + 3 + 45 bytes). */
#define TEXT_Q "Alpha beta. The colony relies on\n  a waggle dance to share the direction of food. " \
	"Gamma delta."
#define Q_SHARE "How do bees share food locations?"

static const struct page q_pages[] = {
	{ .url = "https://dance.example/q", .title = "Dance language",
	  .hash = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
	  .text_hash = "7d04", .text = TEXT_Q, .fetched = DAY_A },
};

static const struct hits q_hits[] = {
	{ "bee food sharing", { "https://dance.example/q" } },
};

static const struct read_script q_reads[] = {
	{ "Dance language", NULL, "Bees dance to show where food is.",
	  "The colony relies on a waggle dance to share the direction of food" },
	{ "Dance language", NULL, "Bees dance to show where water is.",
	  "The colony relies on a waggle dance to share the location of water" },
	{ "Dance language", NULL, "Greek letters appear.", "Gamma delta" },
};

static const struct write_script q_writes[] = {
	{ "Dance", "{'sentences':["
	  "{'text':'The colony relies on a dance.','cites':[1]},"
	  "{'text':'Water is shared the same way.','cites':[2]},"
	  "{'text':'Bees are insects.','cites':[99]},"
	  "{'text':'Everyone knows this.','cites':[]},"
	  "{'text':'Read more at https://bees.example/more today.','cites':[1]},"
	  "{'text':'A mirror is at ftp://files.example/bees.txt for all.','cites':[1]},"
	  "{'text':'See [the notes](javascript:alert(1)) first.','cites':[1]}]}" },
};

static struct world *q_world(void)
{
	struct world *w = world_new();

	w->pages = q_pages;
	w->npages = 1;
	w->hits = q_hits;
	w->nhits = 1;
	w->reads = q_reads;
	w->nreads = 3;
	w->plan = "{'subquestions':[{'question':'" Q_SHARE "','queries':['bee food sharing']}]}";
	w->outline = "{'title':'Sharing food',"
	    "'short_answer':[{'text':'Bees dance to share where food is.','cites':[1]}],"
	    "'sections':[{'heading':'Dance','findings':[1]}]}";
	w->writes = q_writes;
	w->nwrites = 1;
	return w;
}

static void test_quotes(void **state)
{
	struct world *w = q_world();
	const json_t *fs;
	const char *reason;

	world_run(w, "How do bees tell each other where food is?");
	expect_in(planner_report(w->p), "- Findings: 1 kept, 2 rejected (quote not found in the "
	    "source: 1; too short: 1; other: 0).\n");
	fs = json_object_get(planner_report_data(w->p), "findings");
	assert_int_equal(json_array_size(fs), 3);
	assert_true(json_is_true(json_object_get(json_array_get(fs, 0), "verified")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fs, 0), "start")), 12);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(fs, 0), "end")), 80);
	assert_true(json_is_false(json_object_get(json_array_get(fs, 1), "verified")));
	reason = json_string_value(json_object_get(json_array_get(fs, 1), "reason"));
	assert_non_null(reason);
	assert_non_null(strstr(reason, "not found"));
	assert_null(json_object_get(json_array_get(fs, 1), "start"));
	assert_true(json_is_false(json_object_get(json_array_get(fs, 2), "verified")));
	reason = json_string_value(json_object_get(json_array_get(fs, 2), "reason"));
	assert_non_null(reason);
	assert_non_null(strstr(reason, "too short"));
	world_free(w);
}

static void test_verify(void **state)
{
	struct world *w = q_world();
	const char *r;

	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	/* Kept: the short answer and the first sentence, one citation each.
	 * Removed: F2 (rejected) and F99 (never existed) as unknown, the one
	 * citing nothing, the three with a URL or a link (http, ftp, a
	 * Markdown link). */
	expect_in(r, "## Short answer\n\nBees dance to share where food is [1].\n\n");
	expect_in(r, "## Dance\n\nThe colony relies on a dance [1].\n\n## Method and limits");
	expect_in(r, "- Citations verified: 2/2; sentences kept 2 of 8 (removed: 2 citing unknown "
	    "findings, 1 citing nothing, 3 with a URL).\n");
	expect_not_in(r, "Water is shared");
	expect_not_in(r, "Bees are insects");
	expect_not_in(r, "Everyone knows");
	expect_not_in(r, "bees.example/more");
	expect_not_in(r, "ftp:");
	expect_not_in(r, "javascript:");
	expect_in(r, "\n[1] Dance language. dance.example. <https://dance.example/q>. Accessed "
	    "2024-01-01. Snapshot fedcba987654.\n");
	world_free(w);
}

/* Markup from the model is shown as text, and one finding cited three
 * times in a sentence is one citation. */
static void test_markup_and_repeated_cites(void **state)
{
	static const struct write_script writes[] = {
		{ "Dance", "{'sentences':[{'text':'Bees <b>dance</b> <img src=x onerror=alert(1)>.',"
		    "'cites':[1,1,1]}]}" },
	};
	struct world *w = q_world();
	const char *r;

	w->writes = writes;
	w->outline = "{'title':'Sharing <i>food</i>',"
	    "'short_answer':[{'text':'Bees dance.','cites':[1]}],"
	    "'sections':[{'heading':'Dance','findings':[1]}]}";
	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	expect_in(r, "# Sharing &lt;i&gt;food&lt;/i&gt;\n");
	expect_in(r, "## Dance\n\nBees &lt;b&gt;dance&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt; [1].\n");
	expect_not_in(r, "<img");
	expect_not_in(r, "<b>");
	/* The short answer's one citation and the sentence's one. */
	expect_in(r, "- Citations verified: 2/2; sentences kept 2 of 2 ");
	world_free(w);
}

/* ---- the verifier pass ------------------------------------------------ */

/* The id of the sentence line of prompt that contains text, or NULL. */
static const char *sentence_id(const char *prompt, const char *text, char *id, size_t max)
{
	const char *at = strstr(prompt, text), *line;

	if (at == NULL)
		return NULL;
	for (line = at; line > prompt && line[-1] != '\n'; line--)
		;
	if (line[0] != 'S')
		return NULL;
	snprintf(id, max, "%.*s", (int)strcspn(line, ":"), line);
	return id;
}

static int judge_round;

/* "The colony relies on a dance" is unsupported the first time, and,
 * rewritten, supported (judge_round 0) or still unsupported (1). */
static const char *verdict_colony(struct world *w, const char *id, const char *prompt)
{
	char mine[16];

	if (sentence_id(prompt, "The colony relies on a dance", mine, sizeof(mine)) &&
	    strcmp(mine, id) == 0)
		return "unsupported";
	if (sentence_id(prompt, "Bees dance in the hive", mine, sizeof(mine)) &&
	    strcmp(mine, id) == 0)
		return judge_round == 0 ? "supported" : "unsupported";
	return "supported";
}

static json_t *rewrite_colony(struct world *w, const char *prompt)
{
	char id[16];

	assert_non_null(sentence_id(prompt, "The colony relies on a dance", id, sizeof(id)));
	return llm_ok(json_pack("{s:[{s:s, s:s, s:[i]}]}", "sentences", "sentence", id,
	    "text", "Bees dance in the hive.", "cites", 1), 50);
}

static void test_verifier_rewrites(void **state)
{
	struct world *w = q_world();
	const char *r;

	judge_round = 0;
	w->verdict = verdict_colony;
	w->rewrite = rewrite_colony;
	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	/* Two sentences pass the quote check and are judged: the short answer
	 * (supported) and the colony sentence (unsupported, rewritten, then
	 * supported). */
	expect_in(r, "## Dance\n\nBees dance in the hive [1].\n");
	expect_not_in(r, "The colony relies");
	expect_in(r, "- Verifier pass: sentences judged supported 2/2 (partly 0), rewritten 1, "
	    "removed 0.\n");
	assert_int_equal(count(w, "llm.verify", "judge"), 3);	/* answer, Dance, Dance again */
	assert_int_equal(count(w, "llm.verify", "rewrite"), 1);
	world_free(w);
}

static void test_verifier_removes(void **state)
{
	struct world *w = q_world();
	const char *r;

	/* Rewritten, and still unsupported: removed. */
	judge_round = 1;
	w->verdict = verdict_colony;
	w->rewrite = rewrite_colony;
	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	expect_not_in(r, "Bees dance in the hive");
	expect_not_in(r, "The colony relies");
	expect_not_in(r, "## Dance");
	expect_in(r, "- Verifier pass: sentences judged supported 1/2 (partly 0), rewritten 1, "
	    "removed 1.\n");
	world_free(w);

	/* No rewrite comes back: removed as it was judged. */
	w = q_world();
	w->verdict = verdict_colony;
	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	expect_not_in(r, "The colony relies");
	expect_in(r, "- Verifier pass: sentences judged supported 1/2 (partly 0), rewritten 0, "
	    "removed 1.\n");
	world_free(w);
}

static void test_verifier_down_or_off(void **state)
{
	struct world *w = q_world();
	const char *r;

	w->verifier_down = true;
	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	/* The deterministic check alone: the report is written as without a
	 * verifier, and says the verifier did not run. */
	expect_in(r, "## Dance\n\nThe colony relies on a dance [1].\n");
	expect_in(r, "- Verifier pass: did not run (its model endpoint gave no answer); only the "
	    "quote check above applies.\n");
	world_free(w);

	w = q_world();
	w->options = "{'verifier':false}";
	world_run(w, "How do bees tell each other where food is?");
	r = planner_report(w->p);
	expect_in(r, "- Verifier pass: skipped (the job was submitted with --no-verifier).\n");
	assert_int_equal(count(w, "llm.verify", NULL), 0);
	world_free(w);
}

/* ---- bad input from the model and the tools --------------------------- */

/* Wrong types, out-of-range ids and passages, oversized lists: the job
 * still ends with a report built from the one good finding. */
static json_t *raw_garbage(struct world *w, const char *kind, const char *schema,
    const json_t *request)
{
	if (strcmp(kind, "web.search") == 0)
		return jl("{'results':[{'url':5},'x',{'title':'no url'},"
		    "{'url':'https://facts.example/0','title':3,'snippet':[]}]}");
	if (strcmp(kind, "doc.text") == 0)
		return jl("{'text_hash':'t0','title':7,'passages':[[-1,5],[5,2],[0,99999999],"
		    "['a','b'],[3],'x',[0,10],[0,86]]}");
	if (strcmp(schema, "brief") == 0)
		return llm_ok(jl("{'scope':5,'key_terms':'x','language':'english!!'}"), 100);
	if (strcmp(schema, "plan") == 0)
		return llm_ok(jl("{'subquestions':[{'question':7},'str',"
		    "{'question':'Q zero','queries':[1,'','!!!',null,'query 0']}]}"), 100);
	if (strcmp(schema, "read") == 0)
		return llm_ok(jl("{'findings':[{'passage':-4,'claim':'Quantity 0 was measured.',"
		    "'quote':'the measured value of quantity 0 was confirmed by three separate teams'},"
		    "{'passage':'x','claim':5,'quote':'q'},'str',{'claim':'c','quote':12},"
		    "{'claim':'','quote':''}]}"), 100);
	if (strcmp(schema, "reflect") == 0)
		return llm_ok(jl("{'states':[{'id':'Q0'},{'id':'Q99','state':'missing'},"
		    "{'id':'Qx','state':'answered'},{'id':'Q1','state':'bogus'},5],'new':'not a list'}"),
		    100);
	if (strcmp(schema, "outline") == 0)
		return llm_ok(jl("{'title':5,'short_answer':[{'text':5},"
		    "{'text':'It was measured.','cites':['1',1,1.5,null]},"
		    "{'text':'Bad cite.','cites':[-5,1]},{'text':'Wrapped cite.','cites':[4294967297]}],"
		    "'sections':[{'heading':1},{'heading':'H','findings':[1,'2',-1,1,1,77]}]}"), 100);
	if (strcmp(schema, "write") == 0)
		return llm_ok(jl("{'sentences':[{'text':'','cites':[1]},{'cites':[1]},"
		    "{'text':'The value was confirmed three times.','cites':[1,1,1,1,1,1,1,1,1,1]}]}"),
		    100);
	return NULL;
}

static void test_garbage(void **state)
{
	struct world *w = world_new();
	struct gen *g = gen_new(w, 1);
	const char *r;

	w->raw = raw_garbage;
	world_run(w, "What was measured?");
	r = planner_report(w->p);
	/* The empty quote is no text to find. */
	expect_in(r, "- Findings: 1 kept, 1 rejected (quote not found in the source: 0; too short: "
	    "0; other: 1).\n");
	/* The one legal cite survives the junk around it; ten cites of one
	 * source give one [1]. -5 and 2^32 + 1 are no finding of this job. */
	expect_in(r, "# What was measured?\n");
	expect_in(r, "## Short answer\n\nIt was measured [1].\n\n");
	expect_in(r, "## H\n\nThe value was confirmed three times [1].\n\n");
	expect_in(r, "; sentences kept 2 of 4 (removed: 2 citing unknown findings, 0 citing nothing, "
	    "0 with a URL).\n");
	expect_not_in(r, "Wrapped cite");
	/* No title from the search or the text: the URL stands in. */
	expect_in(r, "\n[1] https://facts.example/0. facts.example. <https://facts.example/0>.");
	world_free(w);
	free(g);
}

/* ---- a source past the planner's text cap ---------------------------- */

#define BIG_CAP (4u * 1024 * 1024)	/* the bytes of a source the planner reads */
#define BIG_LINE "Opening: the archive holds forty thousand letters written by the founders.\n"

static void test_big_text_cut(void **state)
{
	struct world *w = world_new();
	size_t n = BIG_CAP + 64, k;
	char *text = malloc(n + 1);
	struct page pages[1];
	static const struct hits hits[] = { { "archive letters", { "https://archive.example/big" } } };
	static const struct read_script reads[] = {
		{ "Archive", NULL, "The archive holds 40000 letters.",
		  "the archive holds forty thousand letters written by the founders" },
	};

	/* One short passage, then filler whose cap falls inside a two-byte
	 * character (U+00E9 at bytes BIG_CAP - 1 and BIG_CAP): what is read
	 * must still be valid text, so the quote is found. */
	assert_non_null(text);
	k = strlen(BIG_LINE);
	memcpy(text, BIG_LINE, k);
	for (; k < BIG_CAP - 1; k++)
		text[k] = k % 2 ? ' ' : 'a';
	text[k++] = '\xc3';
	text[k++] = '\xa9';
	while (k < n)
		text[k++] = 'b';
	text[n] = '\0';
	pages[0] = (struct page){ .url = "https://archive.example/big", .title = "Archive",
	    .hash = "9999999999999999999999999999999999999999999999999999999999999999",
	    .text_hash = "7f06", .text = text, .fetched = DAY_A, .lines = 1 };
	w->pages = pages;
	w->npages = 1;
	w->hits = hits;
	w->nhits = 1;
	w->reads = reads;
	w->nreads = 1;
	w->plan = "{'subquestions':[{'question':'How many letters are kept?','queries':['archive letters']}]}";
	w->outline = "{'title':'Letters','short_answer':[{'text':'The archive keeps 40000 letters.','cites':[1]}],"
	    "'sections':[{'heading':'All','findings':[1]}]}";
	w->writes = gen_writes;
	w->nwrites = 1;
	world_run(w, "How many letters does the archive hold?");
	expect_in(planner_report(w->p), "- Findings: 1 kept, 0 rejected (quote not found in the "
	    "source: 0; too short: 0; other: 0).\n");
	world_free(w);
	free(text);
}

/* The runner's side of the contract: a batch not folded yet is handed out
 * again as it was; a slot past the batch and a job without a question
 * are refused. */
static void test_api(void **state)
{
	struct planner_env env = { .text_get = world_text_get };
	struct planner *p = NULL;
	const struct planner_req *a, *b;
	size_t na, nb;
	char *ja, *jb;

	assert_int_equal(planner_new(1, "", NULL, &env, &p), -EINVAL);
	assert_int_equal(planner_new(1, NULL, NULL, &env, &p), -EINVAL);
	assert_int_equal(planner_new(1, "q", NULL, &(struct planner_env){ 0 }, &p), -EINVAL);
	assert_null(p);
	assert_int_equal(planner_new(1, "Why?", NULL, &env, &p), 0);
	assert_int_equal(planner_next(p, &a, &na), 0);
	assert_int_equal(na, 1);
	assert_string_equal(a[0].kind, "clock.now");
	ja = json_dumps(a[0].request, JSON_SORT_KEYS);
	assert_int_equal(planner_next(p, &b, &nb), 0);
	assert_int_equal(nb, 1);
	jb = json_dumps(b[0].request, JSON_SORT_KEYS);
	assert_string_equal(ja, jb);
	assert_int_equal(planner_apply(p, 1, 0, NULL), -EINVAL);
	free(ja);
	free(jb);
	planner_free(p);
	assert_null(planner_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_norm),
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_citations),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_markup_and_repeated_cites),
		cmocka_unit_test(test_verifier_rewrites),
		cmocka_unit_test(test_verifier_removes),
		cmocka_unit_test(test_verifier_down_or_off),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_big_text_cut),
		cmocka_unit_test(test_api),
	};

	return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
