/* The planner tests' fake-effects driver and shared worlds (see world.h). */
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

/* JSON written with single quotes, for readability. */
static json_t *answer_verify(struct world *w, const char *schema, const json_t *request,
    const char *prompt);

json_t *jl(const char *s)
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

int world_text_get(void *ud, const char *text_hash, char **ret, size_t *ret_len)
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
void prompt_line(const char *prompt, const char *marker, char *out, size_t max)
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

size_t count(const struct world *w, const char *kind, const char *schema)
{
	size_t n = 0;

	for (size_t i = 0; i < w->ncalls; i++)
		n += strcmp(w->calls[i].kind, kind) == 0 &&
		    (schema == NULL || strcmp(w->calls[i].schema, schema) == 0);
	return n;
}

json_t *llm_ok(json_t *reply, int64_t prompt_tokens)
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

	if (strcmp(schema, "clarify") == 0)
		return llm_ok(jl(w->clarify ? w->clarify : "{'questions':[]}"), 50);
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

	if (strcmp(rq->kind, "llm.chat") == 0 || strcmp(rq->kind, "llm.verify") == 0)
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
	if (strcmp(rq->kind, "llm.verify") == 0) {
		json_t *msgs = json_object_get(rq->request, "messages");

		c->prompt = strdup(json_string_value(json_object_get(json_array_get(msgs, 1), "content")));
		assert_non_null(c->prompt);
		if (w->verifier_down)
			return NULL;
		return answer_verify(w, c->schema, rq->request, c->prompt);
	}
	fail_msg("unknown effect kind %s", rq->kind);
	return NULL;
}

/* The verifier's calls: w->verdict says each sentence's verdict (NULL:
 * every one supported); w->rewrite answers a rewrite (NULL: no answer). */
static json_t *answer_verify(struct world *w, const char *schema, const json_t *request,
    const char *prompt)
{
	json_t *props = json_object_get(json_object_get(request, "schema"), "properties");
	json_t *ids, *out;
	size_t i;
	json_t *id;

	if (strcmp(schema, "rewrite") == 0) {
		if (w->rewrite != NULL)
			return w->rewrite(w, prompt);
		return json_pack("{s:{s:s, s:s}, s:{s:i, s:i}}", "error", "code", "schema",
		    "message", "no rewrite scripted", "usage", "prompt_tokens", 50,
		    "completion_tokens", 0);
	}
	assert_string_equal(schema, "judge");
	ids = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(props,
	    "verdicts"), "items"), "properties"), "sentence"), "enum");
	assert_true(json_array_size(ids) > 0);
	out = json_array();
	json_array_foreach(ids, i, id) {
		const char *verdict = w->verdict ? w->verdict(w, json_string_value(id), prompt) : "supported";

		json_array_append_new(out, json_pack("{s:O, s:s}", "sentence", id, "verdict", verdict));
	}
	return llm_ok(json_pack("{s:o}", "verdicts", out), 50);
}

/* Run the job to its report; w->p holds the planner. */
void world_run(struct world *w, const char *question)
{
	struct planner_env env = { .text_get = world_text_get, .ud = w };
	json_t *opts = jl(w->options ? w->options : "{}");

	w->clock = T0;
	assert_int_equal(planner_new(7, question, opts, &env, &w->p), 0);
	json_decref(opts);
	if (w->parent)
		assert_int_equal(planner_set_parent(w->p, 3, w->parent), 0);
	for (;;) {
		const struct planner_req *reqs;
		json_t *res[64];
		size_t n;
		bool finish = false;

		if (w->batches == MAX_BATCHES)
			fail_msg("the planner is still asking after %d batches", MAX_BATCHES);
		assert_int_equal(planner_next(w->p, &reqs, &n), 0);
		if (n == 0 && planner_waiting(w->p) != NULL) {
			const char *what = planner_waiting(w->p);
			json_t *in;

			if (w->input == NULL)
				fail_msg("the planner waits for %s", what);
			in = w->input(w, what);
			assert_int_equal(strcmp(what, "answer") == 0 ? planner_set_answers(w->p, in) :
			    planner_set_plan(w->p, in), 0);
			json_decref(in);
			w->waits++;
			continue;
		}
		if (n == 0)
			break;
		assert_true(n <= 64);
		for (size_t i = 0; i < n; i++) {
			res[i] = answer(w, &reqs[i]);
			finish = finish || (w->finish_after && !w->finished &&
			    strcmp(w->calls[w->ncalls - 1].schema, w->finish_after) == 0);
		}
		for (size_t i = 0; i < n; i++) {
			/* No result: the runner gave up on the effect. */
			assert_int_equal(planner_apply(w->p, i, res[i] ? 0 : -EIO, res[i]), 0);
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

void world_free(struct world *w)
{
	for (size_t i = 0; i < w->ncalls; i++) {
		free(w->calls[i].prompt);
		free(w->calls[i].arg);
	}
	w->ncalls = 0;
	w->p = planner_free(w->p);
	free(w);
}

struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	return w;
}

void expect_in(const char *report, const char *want)
{
	if (report == NULL)
		report = "(no report)";
	if (strstr(report, want) == NULL)
		fail_msg("report lacks:\n%s\n---- report ----\n%s", want, report);
}

void expect_not_in(const char *report, const char *bad)
{
	if (report != NULL && strstr(report, bad) != NULL)
		fail_msg("report has:\n%s\n---- report ----\n%s", bad, report);
}

const struct call *nth_call(const struct world *w, const char *schema, size_t n)
{
	for (size_t i = 0; i < w->ncalls; i++)
		if (strcmp(w->calls[i].schema, schema) == 0 && n-- == 0)
			return &w->calls[i];
	fail_msg("no %s call number %zu", schema, n);
	return NULL;
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

const struct write_script bee_writes[] = {
	{ "The sun compass", "{'sentences':["
	  "{'text':'The sun serves as a compass.','cites':[1]},"
	  "{'text':'On cloudy days polarised light takes over.','cites':[2,1]}]}" },
	{ "The dance", "{'sentences':["
	  "{'text':'The waggle dance encodes direction and distance.','cites':[3,4]},"
	  "{'text':'Direction is given relative to the sun.','cites':[3]}]}" },
};

struct world *bee_world(void)
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

/* ---- numbered pages ------------------------------------------------- */

const struct write_script gen_writes[] = {
	{ "All", "{'sentences':[{'text':'Quantity 0 was measured.','cites':[1]}]}" },
};

struct gen *gen_new(struct world *w, size_t n)
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

