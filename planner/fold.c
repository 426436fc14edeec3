/* Folding effect results into the planner's state, in slot order: what
 * each step's answer adds (sub-questions, sources, findings, sections),
 * with code's own fallback wherever a model answer is missing. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "planner-internal.h"
#include "quote.h"
#include "str.h"
#include "xmalloc.h"

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

void pl_apply_plan(struct planner *p, const json_t *v)
{
	json_t *list = v ? json_object_get(v, "subquestions") : NULL;

	if (json_array_size(list) > (size_t)p->breadth) {
		/* The schema caps it; a server that ignores maxItems must not
		 * widen the job. */
		list = json_deep_copy(list);
		while (json_array_size(list) > (size_t)p->breadth)
			json_array_remove(list, json_array_size(list) - 1);
		pl_add_plan(p, list, false);
		json_decref(list);
	} else
		pl_add_plan(p, list, false);
	if (p->nq == 0) {
		/* No usable plan: the question is its own sub-question. */
		int qi = pl_add_question(p, p->question, -1, false);

		if (qi >= 0)
			pl_add_query(p, p->question, qi);
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

/* The fetch result's "fetched": "YYYY-MM-DDTHH:MM:SSZ" (UTC), or ms since
 * the epoch; 0 when it is neither. */
/* When web.fetch fetched: "YYYY-MM-DDTHH:MM:SSZ" (time_format), or ms. */
static int64_t fetched_ms(const json_t *res)
{
	const char *s;
	int64_t ms = 0;

	if (json_get_int(res, "fetched", &ms) == 0)
		return ms > 0 ? ms : 0;
	if (json_get_string(res, "fetched", &s) < 0 || time_parse(s, &ms) < 0)
		return 0;
	return ms;
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
	s->fetched = fetched_ms(res);
	s->state = PLS_FETCHED;
}

void pl_source_set_text(struct pl_source *s, char *text, size_t len)
{
	if (len > PL_MAX_TEXT) {
		/* Cut on a character boundary: text cut inside a UTF-8
		 * sequence is not valid, and no quote would be found in it. */
		len = PL_MAX_TEXT;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
		s->cut = true;
	}
	s->text = text;
	s->len = len;
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
	pl_source_set_text(s, text, len);
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
		r = pl_quote_find(s, nf->quote, &start, &end);
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

void pl_apply_reflect(struct planner *p, const json_t *v)
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
	/* The parent's stand-in is never researched, so never a gap. */
	for (size_t q = 0; q < p->nq; q++)
		if (p->q[q].from_parent)
			p->q[q].state = PLQ_ANSWERED;
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
		pl_add_plan(p, list, true);
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
		json_array_foreach(cites, k, c) {
			json_int_t id = json_integer_value(c);
			int v2 = id > 0 && id <= INT_MAX ? (int)id : -1;
			bool dup = false;

			/* An id past int is no finding: -1 keeps it unknown
			 * instead of wrapping onto a real one. The same id twice
			 * is one citation. */
			for (size_t j = 0; j < out[n].ncites && !dup; j++)
				dup = out[n].cites[j] == v2;
			if (json_is_integer(c) && !dup && out[n].ncites < 8)
				out[n].cites[out[n].ncites++] = v2;
		}
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
void pl_outline_fallback(struct planner *p)
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

void pl_apply_outline(struct planner *p, const json_t *v)
{
	json_t *secs, *sec;
	const char *s;
	size_t i;

	if (v == NULL) {
		pl_outline_fallback(p);
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
		pl_outline_fallback(p);
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

void pl_apply_write(struct planner *p, int si, const json_t *v)
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
	if (strcmp(p->req[i].kind, "llm.verify") == 0) {
		/* The verifier's calls: a failure leaves the sentences unjudged
		 * (the deterministic check still applies); no retry. */
		v = llm_answer(p, r, res, &retry);
		if (sl->what == PL_REWRITE)
			pl_apply_rewrite(p, sl->a, v);
		else
			pl_apply_judge(p, sl->a, r, v);
		return 0;
	}
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
	case PL_CLARIFY: pl_apply_clarify(p, v); break;
	case PL_PLAN: pl_apply_plan(p, v); break;
	case PL_SEARCH: apply_search(p, sl->a, r, res); break;
	case PL_FETCH: apply_fetch(p, sl->a, r, res); break;
	case PL_TEXT: apply_text(p, sl->a, r, res); break;
	case PL_READ: apply_read(p, sl->a, sl->b, v); break;
	case PL_REFLECT: pl_apply_reflect(p, v); break;
	case PL_OUTLINE: pl_apply_outline(p, v); break;
	case PL_WRITE: pl_apply_write(p, sl->a, v); break;
	default: break;
	}
	return 0;
}

