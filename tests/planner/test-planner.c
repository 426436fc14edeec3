/* Unit tests for the research loop (planner/): a fake-effects driver plays
 * scripted worlds (search hits, pages, extracted texts, model replies)
 * against the state machine, the way agent/research.c drives it: next,
 * answer every slot, apply in slot order, barrier. Every expected value
 * is worked out by hand from the world's script. */
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

#include "planner.h"

#define T0	INT64_C(1709208000000)	/* 2024-02-29 12:00:00 UTC: the first clock reading */
#define DAY_A	INT64_C(1704110400000)	/* 2024-01-01 12:00:00 UTC */
#define DAY_B	INT64_C(1709208000000)	/* 2024-02-29 12:00:00 UTC */
#define DAY_C	INT64_C(1735646400000)	/* 2024-12-31 12:00:00 UTC */
#define MAX_BATCHES	200	/* far past any job here: the driver fails, never hangs */
#define MAX_CALLS	2000

struct page {
	const char *url, *final_url, *title, *hash, *text_hash, *text;
	int64_t fetched;
	int lines;		/* each line a passage; otherwise one passage */
};

struct hits {
	const char *q;
	const char *urls[4];
};

/* A read of the source titled title for sub-question subq (NULL: any)
 * finds claim with quote. */
struct read_script {
	const char *title, *subq, *claim, *quote;
};

struct write_script {
	const char *heading, *reply;
};

struct call {
	int batch;
	char kind[16], schema[16];
	char *prompt;		/* llm.chat: the user message */
	char *arg;		/* web.search: q; web.fetch: url */
};

struct world {
	const struct page *pages;
	size_t npages;
	const struct hits *hits;
	size_t nhits;
	const struct read_script *reads;
	size_t nreads;
	const char *plan, *outline;
	const struct write_script *writes;
	size_t nwrites;
	/* Optional: the reply of the n-th reflect (from 0). */
	json_t *(*reflect)(struct world *w, int n);
	/* Optional: the whole result of the n-th read (an error included). */
	json_t *(*read)(struct world *w, int n, const char *prompt);
	/* Optional: any result, before the script (NULL: the script answers). */
	json_t *(*raw)(struct world *w, const char *kind, const char *schema, const json_t *request);
	int64_t read_tokens;	/* prompt tokens a read reports; 0: 100 */
	const char *finish_after;	/* schema of the batch after which the user finishes */
	const char *options;
	/* what happened */
	struct call calls[MAX_CALLS];
	size_t ncalls;
	int batches;
	int64_t clock;
	struct planner *p;
	bool finished;
};

/* JSON written with single quotes, for readability. */
static json_t *jl(const char *s)
{
	char *c = strdup(s);
	json_error_t e;
	json_t *v;

	assert_non_null(c);
	for (char *x = c; *x; x++)
		if (*x == '\'')
			*x = '"';
	v = json_loads(c, 0, &e);
	if (v == NULL)
		fail_msg("bad JSON in the script: %s: %s", e.text, c);
	free(c);
	return v;
}

static const struct page *page_by(const struct world *w, const char *field, const char *v)
{
	for (size_t i = 0; i < w->npages; i++) {
		const struct page *pg = &w->pages[i];
		const char *f = strcmp(field, "url") == 0 ? pg->url :
		    strcmp(field, "hash") == 0 ? pg->hash : pg->text_hash;

		if (f && strcmp(f, v) == 0)
			return pg;
	}
	return NULL;
}

static int world_text_get(void *ud, const char *text_hash, char **ret, size_t *ret_len)
{
	const struct page *pg = page_by(ud, "text_hash", text_hash);

	if (pg == NULL)
		return -ENOENT;
	*ret = strdup(pg->text);
	assert_non_null(*ret);
	*ret_len = strlen(pg->text);
	return 0;
}

/* The rest of the line of prompt that starts with marker, or "". */
static void prompt_line(const char *prompt, const char *marker, char *out, size_t max)
{
	size_t ml = strlen(marker);

	out[0] = '\0';
	for (const char *l = prompt; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, marker, ml) == 0) {
			size_t n = strcspn(l + ml, "\n");

			if (n >= max)
				n = max - 1;
			memcpy(out, l + ml, n);
			out[n] = '\0';
			return;
		}
}

static size_t count(const struct world *w, const char *kind, const char *schema)
{
	size_t n = 0;

	for (size_t i = 0; i < w->ncalls; i++)
		n += strcmp(w->calls[i].kind, kind) == 0 &&
		    (schema == NULL || strcmp(w->calls[i].schema, schema) == 0);
	return n;
}

static json_t *llm_ok(json_t *reply, int64_t prompt_tokens)
{
	return json_pack("{s:o, s:{s:I, s:i}, s:s, s:s}", "json", reply, "usage",
	    "prompt_tokens", (json_int_t)prompt_tokens, "completion_tokens", 20,
	    "model", "m", "endpoint", "e");
}

static json_t *scripted_read(struct world *w, const char *prompt)
{
	char src[256], subq[256], *title;
	json_t *list = json_array();

	prompt_line(prompt, "SOURCE: ", src, sizeof(src));
	prompt_line(prompt, "SUBQUESTION: ", subq, sizeof(subq));
	/* "S<n> <title>" */
	title = strchr(src, ' ');
	assert_non_null(title);
	title++;
	for (size_t i = 0; i < w->nreads; i++) {
		const struct read_script *rs = &w->reads[i];

		if (strcmp(rs->title, title) == 0 && (rs->subq == NULL || strcmp(rs->subq, subq) == 0))
			json_array_append_new(list, json_pack("{s:i, s:s, s:s}", "passage", 1,
			    "claim", rs->claim, "quote", rs->quote));
	}
	return json_pack("{s:o}", "findings", list);
}

static json_t *answer_llm(struct world *w, const char *schema, const char *prompt)
{
	int n = (int)count(w, "llm.chat", schema) - 1;	/* this call is logged already */

	if (strcmp(schema, "brief") == 0)
		return llm_ok(jl("{'scope':'the question as asked','key_terms':['bees'],"
		    "'complete_answer':'a cited answer','language':'en'}"), 100);
	if (strcmp(schema, "plan") == 0)
		return llm_ok(jl(w->plan), 100);
	if (strcmp(schema, "read") == 0) {
		if (w->read)
			return w->read(w, n, prompt);
		return llm_ok(scripted_read(w, prompt), w->read_tokens ? w->read_tokens : 100);
	}
	if (strcmp(schema, "reflect") == 0)
		return llm_ok(w->reflect ? w->reflect(w, n) : jl("{'states':[],'new':[]}"), 100);
	if (strcmp(schema, "outline") == 0) {
		assert_non_null(w->outline);
		return llm_ok(jl(w->outline), 100);
	}
	if (strcmp(schema, "write") == 0) {
		char heading[256];

		prompt_line(prompt, "SECTION: ", heading, sizeof(heading));
		for (size_t i = 0; i < w->nwrites; i++)
			if (strcmp(w->writes[i].heading, heading) == 0)
				return llm_ok(jl(w->writes[i].reply), 100);
		fail_msg("no scripted write for section \"%s\"", heading);
	}
	fail_msg("unknown schema %s", schema);
	return NULL;
}

static json_t *answer(struct world *w, const struct planner_req *rq)
{
	struct call *c;
	const char *s = NULL;

	if (w->ncalls == MAX_CALLS)
		fail_msg("more than %d effect requests", MAX_CALLS);
	c = &w->calls[w->ncalls++];
	memset(c, 0, sizeof(*c));
	c->batch = w->batches;
	snprintf(c->kind, sizeof(c->kind), "%s", rq->kind);

	if (strcmp(rq->kind, "llm.chat") == 0)
		snprintf(c->schema, sizeof(c->schema), "%s",
		    json_string_value(json_object_get(rq->request, "schema_name")));
	if (w->raw) {
		json_t *res = w->raw(w, rq->kind, c->schema, rq->request);

		if (res)
			return res;
	}
	if (strcmp(rq->kind, "clock.now") == 0) {
		json_t *res = json_pack("{s:I}", "ms", (json_int_t)w->clock);

		w->clock += 1000;
		return res;
	}
	if (strcmp(rq->kind, "web.search") == 0) {
		json_t *results = json_array();

		s = json_string_value(json_object_get(rq->request, "q"));
		assert_non_null(s);
		c->arg = strdup(s);
		for (size_t i = 0; i < w->nhits; i++) {
			if (strcmp(w->hits[i].q, s) != 0)
				continue;
			for (size_t k = 0; k < 4 && w->hits[i].urls[k]; k++) {
				const struct page *pg = page_by(w, "url", w->hits[i].urls[k]);

				assert_non_null(pg);
				json_array_append_new(results, json_pack("{s:s, s:s, s:s}", "url", pg->url,
				    "title", pg->title, "snippet", "a snippet"));
			}
		}
		return json_pack("{s:o}", "results", results);
	}
	if (strcmp(rq->kind, "web.fetch") == 0) {
		const struct page *pg;

		s = json_string_value(json_object_get(rq->request, "url"));
		assert_non_null(s);
		c->arg = strdup(s);
		pg = page_by(w, "url", s);
		if (pg == NULL)
			return json_pack("{s:s, s:s}", "url", s, "error", "not in the test world");
		return json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "url", pg->url,
		    "final_url", pg->final_url ? pg->final_url : pg->url, "status", 200,
		    "content_type", "text/html", "hash", pg->hash, "fetched", (json_int_t)pg->fetched);
	}
	if (strcmp(rq->kind, "doc.text") == 0) {
		const struct page *pg;
		json_t *pass = json_array();

		s = json_string_value(json_object_get(rq->request, "hash"));
		assert_non_null(s);
		pg = page_by(w, "hash", s);
		assert_non_null(pg);
		if (pg->lines) {
			size_t a = 0, len = strlen(pg->text);

			while (a < len) {
				size_t e = a + strcspn(pg->text + a, "\n");

				json_array_append_new(pass, json_pack("[I, I]", (json_int_t)a, (json_int_t)e));
				a = e + 1;
			}
		} else
			json_array_append_new(pass, json_pack("[i, I]", 0, (json_int_t)strlen(pg->text)));
		return json_pack("{s:s, s:s, s:I, s:o}", "text_hash", pg->text_hash, "title", pg->title,
		    "bytes", (json_int_t)strlen(pg->text), "passages", pass);
	}
	if (strcmp(rq->kind, "llm.chat") == 0) {
		json_t *msgs = json_object_get(rq->request, "messages");

		s = json_string_value(json_object_get(rq->request, "schema_name"));
		assert_non_null(s);
		snprintf(c->schema, sizeof(c->schema), "%s", s);
		c->prompt = strdup(json_string_value(json_object_get(json_array_get(msgs, 1), "content")));
		assert_non_null(c->prompt);
		return answer_llm(w, s, c->prompt);
	}
	fail_msg("unknown effect kind %s", rq->kind);
	return NULL;
}

/* Run the job to its report; w->p holds the planner. */
static void world_run(struct world *w, const char *question)
{
	struct planner_env env = { .text_get = world_text_get, .ud = w };
	json_t *opts = jl(w->options ? w->options : "{}");

	w->clock = T0;
	assert_int_equal(planner_new(7, question, opts, &env, &w->p), 0);
	json_decref(opts);
	for (;;) {
		const struct planner_req *reqs;
		json_t *res[64];
		size_t n;
		bool finish = false;

		if (w->batches == MAX_BATCHES)
			fail_msg("the planner is still asking after %d batches", MAX_BATCHES);
		assert_int_equal(planner_next(w->p, &reqs, &n), 0);
		if (n == 0)
			break;
		assert_true(n <= 64);
		for (size_t i = 0; i < n; i++) {
			res[i] = answer(w, &reqs[i]);
			finish = finish || (w->finish_after && !w->finished &&
			    strcmp(w->calls[w->ncalls - 1].schema, w->finish_after) == 0);
		}
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(planner_apply(w->p, i, 0, res[i]), 0);
			json_decref(res[i]);
		}
		if (finish) {
			/* As the runner does: between the fold and the barrier. */
			planner_finish_now(w->p, "the user asked to finish (research finish)");
			w->finished = true;
		}
		assert_int_equal(planner_barrier(w->p), 0);
		w->batches++;
	}
	assert_non_null(planner_report(w->p));
	assert_non_null(planner_report_data(w->p));
}

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->ncalls; i++) {
		free(w->calls[i].prompt);
		free(w->calls[i].arg);
	}
	w->ncalls = 0;
	w->p = planner_free(w->p);
	free(w);
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	return w;
}

static void expect_in(const char *report, const char *want)
{
	if (report == NULL)
		report = "(no report)";
	if (strstr(report, want) == NULL)
		fail_msg("report lacks:\n%s\n---- report ----\n%s", want, report);
}

static void expect_not_in(const char *report, const char *bad)
{
	if (report != NULL && strstr(report, bad) != NULL)
		fail_msg("report has:\n%s\n---- report ----\n%s", bad, report);
}

/* ---- the bees world: three pages, two sub-questions ----------------- */

#define TEXT_A "Honeybees use the sun as a compass and correct for its movement across the sky."
#define TEXT_B "Foragers keep their heading on cloudy days by reading polarised light in blue sky. " \
	"The waggle dance tells nestmates the direction of food relative to the sun."
#define TEXT_C "The duration of the waggle run grows with the distance from the hive to the flowers."

static const struct page bee_pages[] = {
	{ .url = "https://sun.example/a", .title = "The sun compass",
	  .hash = "a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2",
	  .text_hash = "7a01", .text = TEXT_A, .fetched = DAY_A },
	{ .url = "http://bees.example/b", .final_url = "https://bees.example/b",
	  .title = "Polarised light and the dance",
	  .hash = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000",
	  .text_hash = "7b02", .text = TEXT_B, .fetched = DAY_B },
	{ .url = "https://hive.example/c/run.html", .title = "Measuring the waggle run",
	  .hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  .text_hash = "7c03", .text = TEXT_C, .fetched = DAY_C },
};

#define Q_SUN "How do bees use the sun?"
#define Q_DANCE "What does the waggle dance encode?"

/* Three spellings of one query in the plan: one search. */
static const char bee_plan[] =
	"{'subquestions':["
	"{'question':'" Q_SUN "','queries':['bee sun compass','Bee Sun-Compass!']},"
	"{'question':'" Q_DANCE "','queries':['  BEE   sun compass ','waggle dance']}]}";

static const struct hits bee_hits[] = {
	{ "bee sun compass", { "https://sun.example/a", "http://bees.example/b" } },
	/* b again: one fetch for both queries */
	{ "waggle dance", { "http://bees.example/b", "https://hive.example/c/run.html" } },
};

static const struct read_script bee_reads[] = {
	{ "The sun compass", Q_SUN, "Bees use the sun as a compass.",
	  "Honeybees use the sun as a compass and correct for its movement" },
	{ "Polarised light and the dance", Q_SUN, "Polarised light helps on cloudy days.",
	  "Foragers keep their heading on cloudy days by reading polarised light" },
	{ "Polarised light and the dance", Q_DANCE, "The dance encodes direction.",
	  "The waggle dance tells nestmates the direction of food relative to the sun" },
	{ "Measuring the waggle run", Q_DANCE, "Run duration encodes distance.",
	  "The duration of the waggle run grows with the distance from the hive" },
};

/* The reads fold in slot order: (sun, a) F1, (sun, b) F2, (dance, b) F3,
 * (dance, c) F4. The short answer cites F3 (page b) first. */
static const char bee_outline[] =
	"{'title':'How honeybees navigate',"
	"'short_answer':[{'text':'Bees steer by the sun and share directions by dancing.','cites':[3]}],"
	"'sections':[{'heading':'The sun compass','findings':[1,2]},"
	"{'heading':'The dance','findings':[3,4]}]}";

static const struct write_script bee_writes[] = {
	{ "The sun compass", "{'sentences':["
	  "{'text':'The sun serves as a compass.','cites':[1]},"
	  "{'text':'On cloudy days polarised light takes over.','cites':[2,1]}]}" },
	{ "The dance", "{'sentences':["
	  "{'text':'The waggle dance encodes direction and distance.','cites':[3,4]},"
	  "{'text':'Direction is given relative to the sun.','cites':[3]}]}" },
};

#define BEE_QUESTION "How do honeybees find their way?"

static struct world *bee_world(void)
{
	struct world *w = world_new();

	w->pages = bee_pages;
	w->npages = 3;
	w->hits = bee_hits;
	w->nhits = 2;
	w->reads = bee_reads;
	w->nreads = 4;
	w->plan = bee_plan;
	w->outline = bee_outline;
	w->writes = bee_writes;
	w->nwrites = 2;
	return w;
}

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
	"- Budgets used: 1200 of 2000000 tokens; 3 of 200 fetches; 2 s of 3600 s; depth 1 of 3.\n"
	"- Sources: 3 consulted, 3 cited; 2 searches.\n"
	"- Findings: 4 kept, 0 rejected (quote not found in the source: 0; too short: 0; other: 0).\n"
	"- Citations verified: 7/7; sentences kept 5 of 5 (removed: 0 citing unknown findings, "
	"0 citing nothing, 0 with a URL).\n"
	"- Model: m at e; 10 calls, 0 failed.\n"
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

/* ---- stop rules ------------------------------------------------------ */

/* A world of numbered pages: page k holds one verified fact, found by the
 * query "query k". */
struct gen {
	struct page pages[24];
	struct hits hits[24];
	struct read_script reads[24];
	char text[24][160], url[24][64], title[24][32], hash[24][72], th[24][16];
	char quote[24][128], claim[24][64], q[24][32];
};

static const struct write_script gen_writes[] = {
	{ "All", "{'sentences':[{'text':'Quantity 0 was measured.','cites':[1]}]}" },
};

static struct gen *gen_new(struct world *w, size_t n)
{
	struct gen *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	assert_true(n <= 24);
	for (size_t k = 0; k < n; k++) {
		snprintf(g->quote[k], sizeof(g->quote[k]),
		    "the measured value of quantity %zu was confirmed by three separate teams", k);
		snprintf(g->text[k], sizeof(g->text[k]), "Report %zu: %s.", k, g->quote[k]);
		snprintf(g->url[k], sizeof(g->url[k]), "https://facts.example/%zu", k);
		snprintf(g->title[k], sizeof(g->title[k]), "Page %zu", k);
		snprintf(g->hash[k], sizeof(g->hash[k]), "%064zx", k + 1);
		snprintf(g->th[k], sizeof(g->th[k]), "t%zu", k);
		snprintf(g->claim[k], sizeof(g->claim[k]), "Quantity %zu was measured.", k);
		snprintf(g->q[k], sizeof(g->q[k]), "query %zu", k);
		g->pages[k] = (struct page){ .url = g->url[k], .title = g->title[k], .hash = g->hash[k],
		    .text_hash = g->th[k], .text = g->text[k], .fetched = DAY_A };
		g->hits[k] = (struct hits){ .q = g->q[k], .urls = { g->url[k] } };
		g->reads[k] = (struct read_script){ .title = g->title[k], .claim = g->claim[k],
		    .quote = g->quote[k] };
	}
	w->pages = g->pages;
	w->npages = n;
	w->hits = g->hits;
	w->nhits = n;
	w->reads = g->reads;
	w->nreads = n;
	w->outline = "{'title':'Facts','short_answer':[{'text':'Quantity 0 was measured.','cites':[1]}],"
	    "'sections':[{'heading':'All','findings':[1]}]}";
	w->writes = gen_writes;
	w->nwrites = 1;
	return g;
}

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
	w->options = "{'max_tokens':30000}";
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
	 * outline, write and end. */
	assert_true(w->batches <= 6 * 6 + 6);
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
	w->options = "{'context':2048}";
	return w;
}

static const struct call *nth_call(const struct world *w, const char *schema, size_t n)
{
	for (size_t i = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].schema, schema) == 0 && n-- == 0)
			return &w->calls[i];
	fail_msg("no %s call number %zu", schema, n);
	return NULL;
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
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_query_norm),
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_citations),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_stop_gaps_same),
		cmocka_unit_test(test_stop_no_new_finding),
		cmocka_unit_test(test_stop_tokens),
		cmocka_unit_test(test_stop_fetches),
		cmocka_unit_test(test_stop_depth),
		cmocka_unit_test(test_stop_forever),
		cmocka_unit_test(test_context_retry),
		cmocka_unit_test(test_context_always),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_big_text_cut),
		cmocka_unit_test(test_no_finding),
		cmocka_unit_test(test_finish_now),
	};

	return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
