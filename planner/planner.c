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
	p->depth_asked = (int)opt_int(options, "max_depth", 3, 1, 1000000);
	p->depth = p->depth_asked < PL_MAX_ROUNDS ? p->depth_asked : PL_MAX_ROUNDS;
	p->breadth = (int)opt_int(options, "max_breadth", 5, 1, 8);
	p->context = (int)opt_int(options, "context", 8192, PL_MIN_CONTEXT, PL_MAX_CONTEXT);
	p->owner = opt_int(options, "owner", 0, 0, INT32_MAX);
	p->verifier = !json_is_false(json_object_get(options, "verifier"));
	if (json_get_string(options, "language", &s) == 0 && pl_language_ok(s))
		p->language = xstrdup(s);
	if (json_is_array(json_object_get(options, "backends")))
		p->backends = json_incref(json_object_get(options, "backends"));
	p->interactive = json_is_true(json_object_get(options, "interactive"));
	p->review_plan = json_is_true(json_object_get(options, "review_plan"));
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
		quote_text_free(s->qt);
	}
	for (size_t i = 0; i < p->nf; i++) {
		free(p->f[i].claim);
		free(p->f[i].quote);
	}
	pl_hitl_free(p);
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
	json_decref(p->parent_data);
	free(p);
	return NULL;
}

int pl_quote_find(struct pl_source *s, const char *quote, size_t *ret_start, size_t *ret_end)
{
	int r;

	if (s->qt == NULL) {
		r = quote_text_new(s->text, s->len, &s->qt);
		if (r < 0)
			return r;
	}
	return quote_text_find(s->qt, quote, strlen(quote), ret_start, ret_end);
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

void pl_add_request(struct planner *p, const char *kind, json_t *request, int what, int a)
{
	add_req(p, kind, request, what, a, 0, 0);
}

int pl_add_question(struct planner *p, const char *text, int parent, bool gap)
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

bool pl_add_query(struct planner *p, const char *text, int question)
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
void pl_add_plan(struct planner *p, const json_t *list, bool gap)
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
		qi = pl_add_question(p, text, -1, gap);
		if (qi < -1)
			qi = -qi - 2;	/* known question: its new queries still count */
		if (qi < 0)
			continue;
		json_array_foreach(qs, k, q)
			if (json_is_string(q))
				pl_add_query(p, json_string_value(q), qi);
		if (json_array_size(qs) == 0)
			pl_add_query(p, text, qi);
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
		/* The owner names whose local documents the search may see. */
		rq = json_pack("{s:s, s:i, s:I}", "q", p->qr[i].text, "max_results", 8,
		    "owner", (json_int_t)p->owner);
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
			p->fetch_spent = true;
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
			/* A follow-up does not pay again for its parent's reads. */
			if (pl_parent_read(p, q, i))
				continue;
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

size_t pl_verified_count(const struct planner *p)
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
		if (pl_verified_count(p) > 0)
			add_req(p, "llm.chat", pl_call_outline(p, 0), PL_OUTLINE, 0, 0, 0);
		break;
	case PL_WRITE:
		build_write(p);
		break;
	case PL_JUDGE:
		pl_build_judge(p, false);
		break;
	case PL_REWRITE:
		pl_build_rewrite(p);
		break;
	case PL_REJUDGE:
		pl_build_judge(p, true);
		break;
	case PL_CLARIFY:
		add_req(p, "llm.chat", pl_call_clarify(p), PL_CLARIFY, 0, 0, 0);
		break;
	case PL_ASK:
	case PL_REVIEW:
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
	while (p->nreq == 0 && p->phase != PL_DONE && planner_waiting(p) == NULL) {
		build(p);
		if (p->nreq == 0)
			advance(p);
	}
	if (p->phase == PL_DONE && p->report == NULL) {
		int r = pl_report_build(p);

		if (r < 0)
			return r;
		if (p->interactive || p->review_plan)
			json_object_set_new(p->report_data, "human", pl_hitl_report_data(p));
	}
	*ret = p->req;
	*ret_n = p->nreq;
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
		case PL_PLAN: pl_apply_plan(p, NULL); break;
		case PL_REFLECT: pl_apply_reflect(p, NULL); break;
		case PL_OUTLINE: pl_apply_outline(p, NULL); break;
		case PL_WRITE: pl_apply_write(p, s->a, NULL); break;
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
	/* Another round could search but not read what it finds: write with
	 * what this one read, and say which budget ended it. */
	if (p->fetch_spent) {
		p->ended_by = "the fetch budget (max_fetches) ran out";
		return true;
	}
	if (p->round + 1 >= p->depth) {
		p->ended_by = p->depth < p->depth_asked ?
		    "the hard cap on research rounds was reached" :
		    "the depth budget (max_depth) was reached";
		return true;
	}
	if (p->gaps_same) {
		p->ended_by = "the list of gaps stopped changing";
		return true;
	}
	if (pl_verified_count(p) == p->kept_round && p->round > 0) {
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
	case PL_START: p->phase = p->interactive ? PL_CLARIFY : PL_BRIEF; break;
	case PL_CLARIFY:
		p->phase = p->clarify && json_array_size(p->clarify) > 0 ? PL_ASK : PL_BRIEF;
		break;
	case PL_ASK: p->phase = PL_BRIEF; break;
	case PL_BRIEF: p->phase = PL_PLAN; break;
	case PL_PLAN:
		/* Nothing to review when planning gave nothing. */
		if (p->review_plan && p->nq > 0) {
			p->phase = PL_REVIEW;
			break;
		}
		p->phase = PL_SEARCH;
		p->kept_round = 0;
		break;
	case PL_REVIEW: p->phase = PL_SEARCH; p->kept_round = 0; break;
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
			p->kept_round = pl_verified_count(p);
			p->phase = PL_SEARCH;
		}
		break;
	case PL_OUTLINE:
		if (p->nsec == 0 && pl_verified_count(p) > 0)
			pl_outline_fallback(p);
		p->phase = PL_WRITE;
		break;
	case PL_WRITE: p->phase = p->verifier ? PL_JUDGE : PL_END; break;
	case PL_JUDGE: p->phase = PL_REWRITE; break;
	case PL_REWRITE: p->phase = PL_REJUDGE; break;
	case PL_REJUDGE: p->phase = PL_END; break;
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
		"reflect", "outline", "write", "verify", "rewrite", "verify", "publish", "done",
		"clarify", "waiting for answers", "waiting for plan approval",
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
