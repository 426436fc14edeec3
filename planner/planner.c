/* The research loop's state machine: brief, plan, rounds of search, fetch,
 * text, read and reflect, then outline and write. Each phase builds one
 * batch of effect requests; results are folded in slot order at the
 * barrier, and ids (sub-questions, sources, findings) come from that fold,
 * so a replay assigns the same ones. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "planner-internal.h"
#include "quote.h"
#include "str.h"
#include "xmalloc.h"

char *pl_strdup_capped(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		/* Back off to a UTF-8 boundary. */
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return xstrndup(s, n);
}

int pl_language_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 12)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

char *planner_query_norm(const char *q)
{
	struct buf b;
	bool space = false;

	buf_init(&b, strlen(q) + 1);
	for (const unsigned char *c = (const unsigned char *)q; *c; c++) {
		if (isalnum(*c) || *c >= 0x80) {
			if (space && b.len > 0)
				buf_putc(&b, ' ');
			space = false;
			buf_putc(&b, (char)tolower(*c));
		} else
			space = true;
	}
	return b.data ? buf_steal(&b) : xstrdup("");
}

/* Words of at least three letters or digits, lower-cased ASCII. */
static size_t words(const char *s, size_t len, char (*out)[32], size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		size_t k = 0;

		while (i < len && !isalnum((unsigned char)s[i]))
			i++;
		while (i < len && isalnum((unsigned char)s[i])) {
			if (k < 31)
				out[n][k++] = (char)tolower((unsigned char)s[i]);
			i++;
		}
		out[n][k] = '\0';
		if (k >= 3)
			n++;
	}
	return n;
}

double planner_overlap(const char *query, const char *text, size_t len)
{
	char (*qw)[32] = xcalloc(64, sizeof(*qw));
	char (*tw)[32] = xcalloc(4096, sizeof(*tw));
	size_t nq = words(query, strlen(query), qw, 64);
	size_t nt = words(text, len, tw, 4096);
	double score = 0;

	for (size_t i = 0; i < nq; i++) {
		size_t tf = 0;
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(qw[i], qw[j]) == 0;
		if (dup)
			continue;
		for (size_t j = 0; j < nt; j++)
			tf += strcmp(qw[i], tw[j]) == 0;
		/* BM25's saturation with k1 = 1.2 and length normalisation
		 * against a 120-word passage. */
		if (tf > 0)
			score += (double)tf * 2.2 / ((double)tf + 1.2 * (0.25 + 0.75 * (double)nt / 120.0));
	}
	free(qw);
	free(tw);
	return score;
}

static int64_t opt_int(const json_t *o, const char *key, int64_t def, int64_t min, int64_t max)
{
	int64_t v;

	if (json_get_int(o, key, &v) < 0)
		return def;
	return v < min ? min : v > max ? max : v;
}

int planner_new(int64_t job_id, const char *question, const json_t *options,
    const struct planner_env *env, struct planner **ret)
{
	struct planner *p;
	const char *s;

	if (question == NULL || question[0] == '\0' || env == NULL || env->text_get == NULL)
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	p->job_id = job_id;
	p->question = xstrdup(question);
	p->env = *env;
	p->max_tokens = opt_int(options, "max_tokens", 2000000, 1, INT64_MAX / 4);
	p->max_time_ms = opt_int(options, "max_time", 3600, 1, 30LL * 86400) * 1000;
	p->max_fetches = opt_int(options, "max_fetches", 200, 0, 1000000);
	p->depth = (int)opt_int(options, "max_depth", 3, 1, PL_MAX_ROUNDS);
	p->breadth = (int)opt_int(options, "max_breadth", 5, 1, 8);
	p->context = (int)opt_int(options, "context", 8192, PL_MIN_CONTEXT, PL_MAX_CONTEXT);
	if (json_get_string(options, "language", &s) == 0 && pl_language_ok(s))
		p->language = xstrdup(s);
	if (json_is_array(json_object_get(options, "backends")))
		p->backends = json_incref(json_object_get(options, "backends"));
	p->f = xcalloc(PL_MAX_FINDINGS, sizeof(*p->f));
	p->sec = xcalloc(PL_MAX_SECTIONS, sizeof(*p->sec));
	p->phase = PL_START;
	*ret = p;
	return 0;
}

static void batch_clear(struct planner *p)
{
	for (size_t i = 0; i < p->nreq; i++)
		json_decref(p->req[i].request);
	p->nreq = 0;
}

void pl_sentence_drop(struct pl_sentence *s)
{
	free(s->text);
	memset(s, 0, sizeof(*s));
}

struct planner *planner_free(struct planner *p)
{
	if (p == NULL)
		return NULL;
	batch_clear(p);
	for (size_t i = 0; i < p->nq; i++)
		free(p->q[i].text);
	for (size_t i = 0; i < p->nqr; i++) {
		free(p->qr[i].text);
		free(p->qr[i].norm);
	}
	for (size_t i = 0; i < p->ns; i++) {
		struct pl_source *s = &p->s[i];

		free(s->url);
		free(s->final_url);
		free(s->title);
		free(s->snippet);
		free(s->hash);
		free(s->text_hash);
		free(s->content_type);
		free(s->error);
		free(s->text);
		free(s->pass);
	}
	for (size_t i = 0; i < p->nf; i++) {
		free(p->f[i].claim);
		free(p->f[i].quote);
	}
	free(p->f);
	for (size_t i = 0; i < p->nsec; i++) {
		free(p->sec[i].heading);
		for (size_t k = 0; k < p->sec[i].nsent; k++)
			pl_sentence_drop(&p->sec[i].sent[k]);
	}
	free(p->sec);
	for (size_t i = 0; i < p->nanswer; i++)
		pl_sentence_drop(&p->answer[i]);
	free(p->question);
	free(p->language);
	json_decref(p->backends);
	free(p->scope);
	free(p->complete);
	free(p->lang);
	json_decref(p->key_terms);
	free(p->gaps_prev);
	free(p->finish_why);
	free(p->model);
	free(p->endpoint);
	free(p->title);
	free(p->report);
	json_decref(p->report_data);
	free(p);
	return NULL;
}

void planner_finish_now(struct planner *p, const char *why)
{
	if (p->finish_why == NULL)
		p->finish_why = pl_strdup_capped(why && why[0] ? why : "finish requested", 200);
}

/* ---- building batches ---------------------------------------------- */

static void add_req(struct planner *p, const char *kind, json_t *request, int what, int a, int b,
    int shrink)
{
	if (request == NULL)
		return;
	if (p->nreq == PL_MAX_BATCH) {
		json_decref(request);
		return;
	}
	p->req[p->nreq] = (struct planner_req){ .kind = kind, .request = request,
	    .priority = what == PL_WRITE || what == PL_OUTLINE ? 1 : 0 };
	p->slot[p->nreq] = (struct pl_slot){ .what = what, .a = a, .b = b, .shrink = shrink };
	p->nreq++;
}

static int add_question(struct planner *p, const char *text, int parent, bool gap)
{
	char *norm = planner_query_norm(text);
	int r = -1;

	for (size_t i = 0; i < p->nq && r < 0; i++) {
		char *n2 = planner_query_norm(p->q[i].text);

		if (strcmp(norm, n2) == 0)
			r = (int)i;
		free(n2);
	}
	free(norm);
	if (r >= 0 || p->nq == PL_MAX_QUESTIONS)
		return r >= 0 ? -r - 2 : -1;	/* -2 - i: already there */
	p->q[p->nq] = (struct pl_question){ .text = pl_strdup_capped(text, PL_MAX_STR),
	    .parent = parent, .round = p->round, .state = PLQ_OPEN, .gap_added = gap };
	return (int)p->nq++;
}

static bool add_query(struct planner *p, const char *text, int question)
{
	char *norm = planner_query_norm(text);

	if (norm[0] == '\0' || p->nqr == PL_MAX_QUERIES) {
		free(norm);
		p->dropped_queries++;
		return false;
	}
	for (size_t i = 0; i < p->nqr; i++)
		if (strcmp(p->qr[i].norm, norm) == 0) {
			free(norm);
			p->dropped_queries++;
			return false;
		}
	p->qr[p->nqr++] = (struct pl_query){ .text = pl_strdup_capped(text, 200), .norm = norm,
	    .question = question, .round = p->round };
	return true;
}

/* Questions and queries from a plan or a reflection's "new" list. */
static void add_plan(struct planner *p, const json_t *list, bool gap)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		const char *text;
		json_t *qs = json_object_get(v, "queries"), *q;
		size_t k;
		int qi;

		if (json_get_string(v, "question", &text) < 0)
			continue;
		qi = add_question(p, text, -1, gap);
		if (qi < -1)
			qi = -qi - 2;	/* known question: its new queries still count */
		if (qi < 0)
			continue;
		json_array_foreach(qs, k, q)
			if (json_is_string(q))
				add_query(p, json_string_value(q), qi);
		if (json_array_size(qs) == 0)
			add_query(p, text, qi);
	}
}

static int64_t tokens_left(const struct planner *p)
{
	return p->max_tokens - p->tokens;
}

/* Tokens kept for outline and writing. */
static int64_t writing_reserve(const struct planner *p)
{
	int64_t want = (int64_t)(PL_MAX_SECTIONS + 1) * p->context / 2;
	int64_t third = p->max_tokens / 3;

	return want < third ? want : third;
}

static bool budget_low(struct planner *p)
{
	if (p->finish_why) {
		p->ended_by = p->finish_why;
		return true;
	}
	if (tokens_left(p) <= writing_reserve(p)) {
		p->ended_by = "the token budget (max_tokens) ran low";
		return true;
	}
	if (p->now > 0 && p->now - p->t0 >= p->max_time_ms * 3 / 4) {
		p->ended_by = "the time budget (max_time) ran low";
		return true;
	}
	return false;
}

static void build_search(struct planner *p)
{
	for (size_t i = 0; i < p->nqr; i++) {
		json_t *rq;

		if (p->qr[i].searched)
			continue;
		rq = json_pack("{s:s, s:i}", "q", p->qr[i].text, "max_results", 8);
		if (p->backends)
			json_object_set(rq, "backends", p->backends);
		add_req(p, "web.search", rq, PL_SEARCH, (int)i, 0, 0);
	}
}

static void build_fetch(struct planner *p)
{
	for (size_t i = 0; i < p->ns; i++) {
		struct pl_source *s = &p->s[i];

		if (s->state != PLS_NEW || s->local)
			continue;
		if (p->fetches >= p->max_fetches) {
			s->state = PLS_FAILED;
			s->error = xstrdup("not fetched: the fetch budget (max_fetches) was spent");
			p->dropped_urls++;
			if (p->ended_by == NULL)
				p->ended_by = "the fetch budget (max_fetches) ran out";
			continue;
		}
		p->fetches++;
		add_req(p, "web.fetch", json_pack("{s:s}", "url", s->url), PL_FETCH, (int)i, 0, 0);
	}
}

static void build_text(struct planner *p)
{
	for (size_t i = 0; i < p->ns; i++) {
		struct pl_source *s = &p->s[i];

		if (s->local && s->state == PLS_NEW)
			add_req(p, "doc.text", json_pack("{s:s}", "local", s->url), PL_TEXT, (int)i, 0, 0);
		else if (s->state == PLS_FETCHED)
			add_req(p, "doc.text", json_pack("{s:s, s:s, s:s}", "hash", s->hash,
			    "content_type", s->content_type ? s->content_type : "",
			    "url", s->final_url ? s->final_url : s->url), PL_TEXT, (int)i, 0, 0);
	}
}

static void build_read(struct planner *p)
{
	if (budget_low(p))
		return;
	for (size_t q = 0; q < p->nq; q++) {
		int reads = 0;

		if (p->q[q].state == PLQ_ANSWERED)
			continue;
		for (size_t i = 0; i < p->ns && reads < PL_READS_PER_QUESTION; i++) {
			struct pl_source *s = &p->s[i];

			if (s->state != PLS_TEXT || s->npass == 0 || q >= 64 ||
			    !(s->questions & (UINT64_C(1) << q)) || (s->read & (UINT64_C(1) << q)))
				continue;
			s->read |= UINT64_C(1) << q;
			add_req(p, "llm.chat", pl_call_read(p, (int)q, (int)i, 0), PL_READ, (int)q, (int)i, 0);
			reads++;
		}
	}
}

static void build_write(struct planner *p)
{
	for (size_t i = 0; i < p->nsec; i++)
		if (p->sec[i].nfindings > 0 && !p->sec[i].written)
			add_req(p, "llm.chat", pl_call_write(p, (int)i, 0), PL_WRITE, (int)i, 0, 0);
}

static size_t verified_count(const struct planner *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nf; i++)
		n += p->f[i].verified;
	return n;
}

static void build(struct planner *p)
{
	switch (p->phase) {
	case PL_START:
	case PL_CLOCK:
	case PL_END:
		add_req(p, "clock.now", json_pack("{s:s, s:i}", "for",
		    p->phase == PL_START ? "start" : p->phase == PL_END ? "end" : "round",
		    "round", p->phase == PL_CLOCK ? p->round : 0), p->phase, 0, 0, 0);
		break;
	case PL_BRIEF:
		add_req(p, "llm.chat", pl_call_brief(p), PL_BRIEF, 0, 0, 0);
		break;
	case PL_PLAN:
		add_req(p, "llm.chat", pl_call_plan(p), PL_PLAN, 0, 0, 0);
		break;
	case PL_SEARCH:
		if (!budget_low(p))
			build_search(p);
		break;
	case PL_FETCH:
		if (!budget_low(p))
			build_fetch(p);
		break;
	case PL_TEXT:
		build_text(p);
		break;
	case PL_READ:
		build_read(p);
		break;
	case PL_REFLECT:
		if (!budget_low(p))
			add_req(p, "llm.chat", pl_call_reflect(p), PL_REFLECT, 0, 0, 0);
		break;
	case PL_OUTLINE:
		if (verified_count(p) > 0)
			add_req(p, "llm.chat", pl_call_outline(p, 0), PL_OUTLINE, 0, 0, 0);
		break;
	case PL_WRITE:
		build_write(p);
		break;
	case PL_DONE:
		break;
	}
}

/* The phase after p->phase when its batch was empty or folded. */
static void advance(struct planner *p);

int planner_next(struct planner *p, const struct planner_req **ret, size_t *ret_n)
{
	/* A batch that was handed out and not folded yet is handed out
	 * again (the runner restarted it). */
	while (p->nreq == 0 && p->phase != PL_DONE) {
		build(p);
		if (p->nreq == 0)
			advance(p);
	}
	if (p->phase == PL_DONE && p->report == NULL) {
		int r = pl_report_build(p);

		if (r < 0)
			return r;
	}
	*ret = p->req;
	*ret_n = p->nreq;
	return 0;
}

/* ---- folding results ------------------------------------------------ */

static void count_usage(struct planner *p, const json_t *res)
{
	json_t *u = json_object_get(res, "usage");
	int64_t pt = 0, ct = 0;
	const char *s;

	json_get_int(u, "prompt_tokens", &pt);
	json_get_int(u, "completion_tokens", &ct);
	p->prompt_tokens += pt;
	p->completion_tokens += ct;
	p->tokens += pt + ct;
	p->model_calls++;
	if (json_get_string(res, "model", &s) == 0 && s[0] && p->model == NULL)
		p->model = pl_strdup_capped(s, 200);
	if (json_get_string(res, "endpoint", &s) == 0 && s[0] && p->endpoint == NULL)
		p->endpoint = pl_strdup_capped(s, 300);
}

/* The validated answer of a model call, or NULL (counted as an error).
 * *retry is set when the prompt did not fit and a smaller one may. */
static const json_t *llm_answer(struct planner *p, int r, const json_t *res, bool *retry)
{
	json_t *err, *v;
	const char *code;

	*retry = false;
	if (r < 0 || res == NULL) {
		p->model_errors++;
		return NULL;
	}
	count_usage(p, res);
	err = json_object_get(res, "error");
	if (err) {
		if (json_get_string(err, "code", &code) == 0 && strcmp(code, "context") == 0)
			*retry = true;
		p->model_errors++;
		return NULL;
	}
	v = json_object_get(res, "json");
	if (!json_is_object(v)) {
		p->model_errors++;
		return NULL;
	}
	return v;
}

static void apply_brief(struct planner *p, const json_t *v)
{
	const char *s;

	if (v == NULL)
		return;
	if (json_get_string(v, "scope", &s) == 0)
		p->scope = pl_strdup_capped(s, PL_MAX_STR);
	if (json_get_string(v, "complete_answer", &s) == 0)
		p->complete = pl_strdup_capped(s, PL_MAX_STR);
	if (json_get_string(v, "language", &s) == 0 && pl_language_ok(s))
		p->lang = xstrdup(s);
	if (json_is_array(json_object_get(v, "key_terms")))
		p->key_terms = json_incref(json_object_get(v, "key_terms"));
}

static void apply_plan(struct planner *p, const json_t *v)
{
	json_t *list = v ? json_object_get(v, "subquestions") : NULL;

	if (json_array_size(list) > (size_t)p->breadth) {
		/* The schema caps it; a server that ignores maxItems must not
		 * widen the job. */
		list = json_deep_copy(list);
		while (json_array_size(list) > (size_t)p->breadth)
			json_array_remove(list, json_array_size(list) - 1);
		add_plan(p, list, false);
		json_decref(list);
	} else
		add_plan(p, list, false);
	if (p->nq == 0) {
		/* No usable plan: the question is its own sub-question. */
		int qi = add_question(p, p->question, -1, false);

		if (qi >= 0)
			add_query(p, p->question, qi);
	}
}

static int source_find(struct planner *p, const char *url)
{
	for (size_t i = 0; i < p->ns; i++)
		if (strcmp(p->s[i].url, url) == 0)
			return (int)i;
	return -1;
}

static void apply_search(struct planner *p, int qi, int r, const json_t *res)
{
	struct pl_query *q = &p->qr[qi];
	json_t *results = res ? json_object_get(res, "results") : NULL, *v;
	int question = q->question, taken = 0;
	size_t i;

	q->searched = true;
	p->searches++;
	if (r < 0)
		return;
	q->results = (int)json_array_size(results);
	/* Sources already known from another query count for this question
	 * too; new ones are taken up to the per-question share. */
	for (size_t k = 0; k < p->ns; k++)
		if (p->s[k].questions & (UINT64_C(1) << question))
			taken++;
	json_array_foreach(results, i, v) {
		const char *url, *title = "", *snippet = "";
		int si;

		if (json_get_string(v, "url", &url) < 0 || strlen(url) > 2000)
			continue;
		json_get_string(v, "title", &title);
		json_get_string(v, "snippet", &snippet);
		si = source_find(p, url);
		if (si < 0) {
			if (taken >= PL_URLS_PER_QUESTION * (p->round + 1) || p->ns == PL_MAX_SOURCES) {
				p->dropped_urls++;
				continue;
			}
			si = (int)p->ns++;
			p->s[si] = (struct pl_source){ .url = xstrdup(url),
			    .title = pl_strdup_capped(title, 300), .snippet = pl_strdup_capped(snippet, 500),
			    .local = str_startswith(url, "file://"), .state = PLS_NEW };
			taken++;
		} else if (!(p->s[si].questions & (UINT64_C(1) << question)))
			taken++;
		if (question < 64)
			p->s[si].questions |= UINT64_C(1) << question;
	}
}

static void source_fail(struct pl_source *s, const char *why)
{
	s->state = PLS_FAILED;
	free(s->error);
	s->error = pl_strdup_capped(why, 300);
}

static void apply_fetch(struct planner *p, int si, int r, const json_t *res)
{
	struct pl_source *s = &p->s[si];
	const char *str;
	int64_t status = 0;

	if (r < 0 || res == NULL) {
		source_fail(s, "the fetch failed and was given up");
		return;
	}
	if (json_get_string(res, "error", &str) == 0) {
		source_fail(s, str);
		return;
	}
	json_get_int(res, "status", &status);
	if (status < 200 || status >= 300 || json_get_string(res, "hash", &str) < 0) {
		char why[64];

		snprintf(why, sizeof(why), "HTTP status %lld", (long long)status);
		source_fail(s, why);
		return;
	}
	s->hash = xstrdup(str);
	if (json_get_string(res, "final_url", &str) == 0)
		s->final_url = pl_strdup_capped(str, 2000);
	if (json_get_string(res, "content_type", &str) == 0)
		s->content_type = pl_strdup_capped(str, 200);
	json_get_int(res, "fetched", &s->fetched);
	s->state = PLS_FETCHED;
}

static void apply_text(struct planner *p, int si, int r, const json_t *res)
{
	struct pl_source *s = &p->s[si];
	json_t *pass, *v;
	const char *th, *title, *err;
	char *text = NULL;
	size_t len = 0, i;

	if (r < 0 || res == NULL) {
		source_fail(s, "its text could not be extracted");
		return;
	}
	if (json_get_string(res, "error", &err) == 0) {
		source_fail(s, err);
		return;
	}
	if (json_get_string(res, "text_hash", &th) < 0 ||
	    p->env.text_get(p->env.ud, th, &text, &len) < 0) {
		source_fail(s, "its extracted text is missing");
		return;
	}
	if (len > PL_MAX_TEXT)
		len = PL_MAX_TEXT;
	s->text = text;
	s->len = len;
	s->text_hash = xstrdup(th);
	if (json_get_string(res, "title", &title) == 0 && title[0]) {
		free(s->title);
		s->title = pl_strdup_capped(title, 300);
	}
	if (s->local && s->hash == NULL)
		s->hash = xstrdup(th);
	pass = json_object_get(res, "passages");
	s->pass = xcalloc(json_array_size(pass) + 1, sizeof(*s->pass));
	json_array_foreach(pass, i, v) {
		json_int_t a = json_integer_value(json_array_get(v, 0));
		json_int_t b = json_integer_value(json_array_get(v, 1));

		if (a < 0 || b <= a || (size_t)b > len)
			continue;
		s->pass[s->npass][0] = (size_t)a;
		s->pass[s->npass][1] = (size_t)b;
		s->npass++;
	}
	s->state = PLS_TEXT;
}

static bool finding_known(const struct planner *p, int si, size_t start, size_t end)
{
	for (size_t i = 0; i < p->nf; i++)
		if (p->f[i].verified && p->f[i].source == si && p->f[i].start == start &&
		    p->f[i].end == end)
			return true;
	return false;
}

static void apply_read(struct planner *p, int qi, int si, const json_t *v)
{
	struct pl_source *s = &p->s[si];
	json_t *list = v ? json_object_get(v, "findings") : NULL, *f;
	size_t i;

	json_array_foreach(list, i, f) {
		const char *claim, *quote;
		struct pl_finding *nf;
		size_t start = 0, end = 0;
		int r;

		if (p->nf == PL_MAX_FINDINGS)
			break;
		if (json_get_string(f, "claim", &claim) < 0 || json_get_string(f, "quote", &quote) < 0)
			continue;
		nf = &p->f[p->nf];
		*nf = (struct pl_finding){ .id = (int)p->nf + 1, .question = qi, .source = si,
		    .claim = pl_strdup_capped(claim, PL_MAX_STR),
		    .quote = pl_strdup_capped(quote, PL_MAX_QUOTE) };
		r = quote_find(s->text, s->len, nf->quote, strlen(nf->quote), &start, &end);
		if (r == 0 && finding_known(p, si, start, end)) {
			/* The same quote read again (for another sub-question):
			 * one finding is enough. */
			free(nf->claim);
			free(nf->quote);
			p->duplicates++;
			continue;
		}
		if (r == 0) {
			nf->verified = true;
			nf->start = start;
			nf->end = end;
		} else if (r == -EMSGSIZE) {
			nf->reason = "quote too short (under 8 words and 40 characters)";
			p->rejected_short++;
		} else if (r == -ENOENT) {
			nf->reason = "quote not found in the source's text";
			p->rejected_not_found++;
		} else {
			nf->reason = "quote is not valid text";
			p->rejected_other++;
		}
		p->nf++;
	}
}

static void apply_reflect(struct planner *p, const json_t *v)
{
	json_t *states = v ? json_object_get(v, "states") : NULL, *st;
	struct buf gaps;
	size_t i;

	/* Without an answer from the model, code judges: a sub-question with
	 * a verified finding is answered, one without is missing. */
	for (size_t q = 0; q < p->nq; q++) {
		bool any = false;

		for (size_t k = 0; k < p->nf && !any; k++)
			any = p->f[k].verified && p->f[k].question == (int)q;
		p->q[q].state = any ? PLQ_ANSWERED : PLQ_MISSING;
	}
	json_array_foreach(states, i, st) {
		const char *id, *state;
		long q;

		if (json_get_string(st, "id", &id) < 0 || json_get_string(st, "state", &state) < 0 ||
		    id[0] != 'Q')
			continue;
		q = strtol(id + 1, NULL, 10) - 1;
		if (q < 0 || (size_t)q >= p->nq)
			continue;
		if (strcmp(state, "answered") == 0) {
			/* Answered needs a verified finding behind it. */
			if (p->q[q].state == PLQ_ANSWERED)
				continue;
		} else if (strcmp(state, "contradicted") == 0)
			p->q[q].state = PLQ_CONTRADICTED;
		else if (strcmp(state, "missing") == 0)
			p->q[q].state = PLQ_MISSING;
	}
	buf_init(&gaps, 4096);
	for (size_t q = 0; q < p->nq; q++)
		if (p->q[q].state == PLQ_MISSING || p->q[q].state == PLQ_CONTRADICTED) {
			buf_printf(&gaps, "%zu,", q);
			p->q[q].tried++;
		}
	p->gaps_same = p->gaps_prev && strcmp(p->gaps_prev, gaps.data ? gaps.data : "") == 0;
	free(p->gaps_prev);
	p->gaps_prev = gaps.data ? buf_steal(&gaps) : xstrdup("");
	buf_free(&gaps);
	if (v && json_is_array(json_object_get(v, "new"))) {
		json_t *list = json_deep_copy(json_object_get(v, "new"));

		while (json_array_size(list) > 2)
			json_array_remove(list, json_array_size(list) - 1);
		p->round++;	/* new questions belong to the next round */
		add_plan(p, list, true);
		p->round--;
		json_decref(list);
	}
}

static bool cite_ok(const struct planner *p, json_int_t id, const int *only, size_t nonly)
{
	bool in = only == NULL;

	if (id < 1 || (size_t)id > p->nf || !p->f[id - 1].verified)
		return false;
	for (size_t i = 0; i < nonly && !in; i++)
		in = only[i] == (int)id;
	return in;
}

/* Sentences from a model's list; cites outside the legal set are kept in
 * the sentence (the verifier counts and removes them), capped. */
static size_t take_sentences(const json_t *list, struct pl_sentence *out, size_t max)
{
	size_t n = 0, i;
	json_t *v;

	json_array_foreach(list, i, v) {
		const char *text;
		json_t *cites = json_object_get(v, "cites"), *c;
		size_t k;

		if (n == max)
			break;
		if (json_get_string(v, "text", &text) < 0 || text[0] == '\0')
			continue;
		out[n] = (struct pl_sentence){ .text = pl_strdup_capped(text, PL_MAX_STR) };
		json_array_foreach(cites, k, c)
			if (json_is_integer(c) && out[n].ncites < 8)
				out[n].cites[out[n].ncites++] = (int)json_integer_value(c);
		n++;
	}
	return n;
}

static void section_add(struct planner *p, const char *heading, const json_t *ids,
    const int *idv, size_t nidv)
{
	struct pl_section *sec;
	size_t i;
	json_t *v;

	if (p->nsec == PL_MAX_SECTIONS)
		return;
	sec = &p->sec[p->nsec];
	memset(sec, 0, sizeof(*sec));
	sec->heading = pl_strdup_capped(heading, 200);
	json_array_foreach(ids, i, v) {
		bool dup = false;

		if (!json_is_integer(v) || !cite_ok(p, json_integer_value(v), NULL, 0))
			continue;
		for (size_t k = 0; k < sec->nfindings && !dup; k++)
			dup = sec->findings[k] == (int)json_integer_value(v);
		if (!dup && sec->nfindings < PL_MAX_FINDINGS)
			sec->findings[sec->nfindings++] = (int)json_integer_value(v);
	}
	for (size_t k = 0; k < nidv && sec->nfindings < PL_MAX_FINDINGS; k++)
		sec->findings[sec->nfindings++] = idv[k];
	if (sec->nfindings == 0) {
		free(sec->heading);
		memset(sec, 0, sizeof(*sec));
		return;	/* no writing call for a section without findings */
	}
	p->nsec++;
}

/* No usable outline: one section per sub-question with verified findings. */
static void outline_fallback(struct planner *p)
{
	int *ids = xcalloc(PL_MAX_FINDINGS, sizeof(*ids));

	for (size_t q = 0; q < p->nq; q++) {
		size_t n = 0;

		for (size_t k = 0; k < p->nf; k++)
			if (p->f[k].verified && p->f[k].question == (int)q)
				ids[n++] = p->f[k].id;
		if (n > 0)
			section_add(p, p->q[q].text, NULL, ids, n);
	}
	free(ids);
	if (p->title == NULL)
		p->title = pl_strdup_capped(p->question, 200);
}

static void apply_outline(struct planner *p, const json_t *v)
{
	json_t *secs, *sec;
	const char *s;
	size_t i;

	if (v == NULL) {
		outline_fallback(p);
		return;
	}
	if (json_get_string(v, "title", &s) == 0)
		p->title = pl_strdup_capped(s, 200);
	p->nanswer = take_sentences(json_object_get(v, "short_answer"), p->answer, 3);
	secs = json_object_get(v, "sections");
	json_array_foreach(secs, i, sec) {
		const char *heading;

		if (json_get_string(sec, "heading", &heading) == 0)
			section_add(p, heading, json_object_get(sec, "findings"), NULL, 0);
	}
	if (p->nsec == 0)
		outline_fallback(p);
}

/* A section the model could not write: the findings' own verified claims,
 * each citing itself. */
static void write_fallback(struct planner *p, struct pl_section *sec)
{
	for (size_t k = 0; k < sec->nfindings && sec->nsent < PL_MAX_SENTENCES; k++) {
		struct pl_finding *f = &p->f[sec->findings[k] - 1];

		sec->sent[sec->nsent] = (struct pl_sentence){ .text = xstrdup(f->claim),
		    .cites = { f->id }, .ncites = 1 };
		sec->nsent++;
	}
}

static void apply_write(struct planner *p, int si, const json_t *v)
{
	struct pl_section *sec = &p->sec[si];

	sec->written = true;
	if (v)
		sec->nsent = take_sentences(json_object_get(v, "sentences"), sec->sent, PL_MAX_SENTENCES);
	if (sec->nsent == 0)
		write_fallback(p, sec);
}

int planner_apply(struct planner *p, size_t i, int r, const json_t *res)
{
	struct pl_slot *sl;
	const json_t *v = NULL;
	bool retry = false;
	int64_t ms;

	if (i >= p->nreq)
		return -EINVAL;
	sl = &p->slot[i];
	if (strcmp(p->req[i].kind, "llm.chat") == 0) {
		v = llm_answer(p, r, res, &retry);
		if (retry && sl->shrink < PL_MAX_SHRINKS) {
			/* Same call with half the evidence, in the next batch. */
			sl->shrink++;
			sl->what = -sl->what - 1;	/* marked: rerun */
			return 0;
		}
	}
	switch (sl->what) {
	case PL_START:
	case PL_CLOCK:
	case PL_END:
		if (r == 0 && json_get_int(res, "ms", &ms) == 0) {
			if (sl->what == PL_START)
				p->t0 = ms;
			p->now = ms;
		}
		break;
	case PL_BRIEF: apply_brief(p, v); break;
	case PL_PLAN: apply_plan(p, v); break;
	case PL_SEARCH: apply_search(p, sl->a, r, res); break;
	case PL_FETCH: apply_fetch(p, sl->a, r, res); break;
	case PL_TEXT: apply_text(p, sl->a, r, res); break;
	case PL_READ: apply_read(p, sl->a, sl->b, v); break;
	case PL_REFLECT: apply_reflect(p, v); break;
	case PL_OUTLINE: apply_outline(p, v); break;
	case PL_WRITE: apply_write(p, sl->a, v); break;
	default: break;
	}
	return 0;
}

/* Calls whose prompt did not fit go again, smaller. */
static bool rerun_shrunk(struct planner *p)
{
	struct pl_slot keep[PL_MAX_BATCH];
	size_t n = 0;

	for (size_t i = 0; i < p->nreq; i++)
		if (p->slot[i].what < 0) {
			keep[n] = p->slot[i];
			keep[n].what = -keep[n].what - 1;
			n++;
		}
	batch_clear(p);
	for (size_t i = 0; i < n; i++) {
		struct pl_slot *s = &keep[i];
		json_t *rq = NULL;

		/* Brief, plan and reflect carry no evidence to shrink: their
		 * fallbacks take over, as they do for a call that cannot be
		 * made smaller. */
		if (s->what == PL_READ)
			rq = pl_call_read(p, s->a, s->b, s->shrink);
		else if (s->what == PL_OUTLINE)
			rq = pl_call_outline(p, s->shrink);
		else if (s->what == PL_WRITE)
			rq = pl_call_write(p, s->a, s->shrink);
		if (rq) {
			add_req(p, "llm.chat", rq, s->what, s->a, s->b, s->shrink);
			continue;
		}
		switch (s->what) {
		case PL_PLAN: apply_plan(p, NULL); break;
		case PL_REFLECT: apply_reflect(p, NULL); break;
		case PL_OUTLINE: apply_outline(p, NULL); break;
		case PL_WRITE: apply_write(p, s->a, NULL); break;
		default: break;
		}
	}
	return p->nreq > 0;
}

static bool should_stop(struct planner *p)
{
	bool all_tried = true, any_gap = false, new_queries = false;

	if (budget_low(p))
		return true;
	if (p->round + 1 >= p->depth) {
		p->ended_by = "the depth budget (max_depth) was reached";
		return true;
	}
	if (p->round + 1 >= PL_MAX_ROUNDS) {
		p->ended_by = "the hard cap on research rounds was reached";
		return true;
	}
	if (p->gaps_same) {
		p->ended_by = "the list of gaps stopped changing";
		return true;
	}
	if (verified_count(p) == p->kept_round && p->round > 0) {
		p->ended_by = "a round added no new verified finding";
		return true;
	}
	for (size_t q = 0; q < p->nq; q++)
		if (p->q[q].state == PLQ_MISSING || p->q[q].state == PLQ_CONTRADICTED) {
			any_gap = true;
			all_tried = all_tried && p->q[q].tried >= 2;
		}
	if (!any_gap) {
		p->ended_by = "every sub-question was answered";
		return true;
	}
	if (all_tried) {
		p->ended_by = "every gap was tried twice";
		return true;
	}
	for (size_t i = 0; i < p->nqr; i++)
		new_queries = new_queries || !p->qr[i].searched;
	if (!new_queries) {
		p->ended_by = "no new search was left to try for the gaps";
		return true;
	}
	return false;
}

static void advance(struct planner *p)
{
	switch (p->phase) {
	case PL_START: p->phase = PL_BRIEF; break;
	case PL_BRIEF: p->phase = PL_PLAN; break;
	case PL_PLAN: p->phase = PL_SEARCH; p->kept_round = 0; break;
	case PL_SEARCH: p->phase = PL_FETCH; break;
	case PL_FETCH: p->phase = PL_TEXT; break;
	case PL_TEXT: p->phase = PL_READ; break;
	case PL_READ: p->phase = PL_CLOCK; break;
	case PL_CLOCK:
		p->phase = budget_low(p) ? PL_OUTLINE : PL_REFLECT;
		break;
	case PL_REFLECT:
		if (should_stop(p))
			p->phase = PL_OUTLINE;
		else {
			p->round++;
			p->kept_round = verified_count(p);
			p->phase = PL_SEARCH;
		}
		break;
	case PL_OUTLINE:
		if (p->nsec == 0 && verified_count(p) > 0)
			outline_fallback(p);
		p->phase = PL_WRITE;
		break;
	case PL_WRITE: p->phase = PL_END; break;
	case PL_END: p->phase = PL_DONE; break;
	case PL_DONE: break;
	}
}

int planner_barrier(struct planner *p)
{
	if (rerun_shrunk(p))
		return 0;
	advance(p);
	return 0;
}

static const char *phase_name(enum pl_phase ph)
{
	static const char *const names[] = {
		"starting", "brief", "plan", "search", "fetch", "extract", "read", "clock",
		"reflect", "outline", "write", "publish", "done",
	};

	return names[ph];
}

json_t *planner_progress(const struct planner *p)
{
	size_t open = 0, done = 0, kept = 0, rejected = 0, fetched = 0;

	for (size_t q = 0; q < p->nq; q++) {
		if (p->q[q].state == PLQ_ANSWERED)
			done++;
		else
			open++;
	}
	for (size_t i = 0; i < p->nf; i++) {
		kept += p->f[i].verified;
		rejected += !p->f[i].verified;
	}
	for (size_t i = 0; i < p->ns; i++)
		fetched += p->s[i].state == PLS_TEXT;
	return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "phase", phase_name(p->phase), "round", p->round + 1,
	    "questions_open", (json_int_t)open, "questions_done", (json_int_t)done,
	    "sources", (json_int_t)fetched, "findings_kept", (json_int_t)kept,
	    "findings_rejected", (json_int_t)rejected, "tokens", (json_int_t)p->tokens,
	    "max_tokens", (json_int_t)p->max_tokens, "model_calls", (json_int_t)p->model_calls);
}

const char *planner_report(const struct planner *p)
{
	return p->report;
}

const json_t *planner_report_data(const struct planner *p)
{
	return p->report_data;
}
