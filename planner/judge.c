/* The verifier pass: after writing, the model (or a second endpoint, the
 * "llm.verify" effect) judges whether the findings each sentence cites
 * support it. An unsupported sentence is rewritten from the evidence once
 * and judged again; still unsupported, it is removed. The deterministic
 * quote check in report.c stays the first layer: only sentences that pass
 * it are judged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "planner-internal.h"
#include "xmalloc.h"

#define JUDGE_KIND "llm.verify"
#define JUDGE_PROMPT_MAX (1024 * 1024)

struct pl_sentence *pl_sentences(struct planner *p, int sec, size_t *ret_n)
{
	if (sec < 0) {
		*ret_n = p->nanswer;
		return p->answer;
	}
	*ret_n = p->sec[sec].nsent;
	return p->sec[sec].sent;
}

/* The findings cited by the chosen sentences, each once. */
static void put_cited(struct planner *p, struct buf *b, struct pl_sentence *v, size_t n,
    const bool *pick, json_t *ids)
{
	bool *seen = xcalloc(p->nf + 1, sizeof(*seen));

	for (size_t i = 0; i < n; i++) {
		if (!pick[i])
			continue;
		for (size_t k = 0; k < v[i].ncites; k++) {
			int id = v[i].cites[k];
			struct pl_finding *f = &p->f[id - 1];

			if (seen[id])
				continue;
			seen[id] = true;
			buf_printf(b, "[F%d] ", id);
			pl_put_flat(b, f->claim, strlen(f->claim));
			buf_puts(b, " | \"");
			pl_put_flat(b, f->quote, strlen(f->quote));
			buf_puts(b, "\"\n");
			if (ids)
				json_array_append_new(ids, json_integer(id));
		}
	}
	free(seen);
}

static void put_sentence_line(struct buf *b, size_t i, const struct pl_sentence *s)
{
	buf_printf(b, "S%zu: ", i + 1);
	pl_put_flat(b, s->text, strlen(s->text));
	buf_puts(b, " (cites");
	for (size_t k = 0; k < s->ncites; k++)
		buf_printf(b, "%s F%d", k ? "," : "", s->cites[k]);
	buf_puts(b, ")\n");
}

/* Judge the sentences of one section that pass the deterministic check
 * (again: only those rewritten since). */
static json_t *judge_call(struct planner *p, int sec, bool again)
{
	size_t n;
	struct pl_sentence *v = pl_sentences(p, sec, &n);
	bool pick[PL_MAX_SENTENCES] = { false };
	json_t *ids = json_array(), *item, *props, *req = NULL;
	size_t npick = 0;
	struct buf b;

	for (size_t i = 0; i < n && i < PL_MAX_SENTENCES; i++) {
		pick[i] = v[i].text && pl_sentence_ok(p, &v[i], sec) && (!again || v[i].rewritten);
		if (pick[i]) {
			json_array_append_new(ids, json_sprintf("S%zu", i + 1));
			npick++;
		}
	}
	if (npick == 0) {
		json_decref(ids);
		return NULL;
	}
	buf_init(&b, JUDGE_PROMPT_MAX);
	put_cited(p, &b, v, n, pick, NULL);
	buf_putc(&b, '\n');
	for (size_t i = 0; i < n; i++)
		if (pick[i])
			put_sentence_line(&b, i, &v[i]);
	buf_puts(&b, "Task: for each sentence above, judge whether the findings it cites support "
	    "it: supported (everything it says is stated by those findings), partly (some of it "
	    "is), unsupported (it says what the findings do not).\n");
	pl_put_question(p, &b);
	item = json_pack("{s:s, s:{s:{s:s, s:O}, s:{s:s, s:[s,s,s]}}, s:[s,s], s:b}",
	    "type", "object", "properties",
	    "sentence", "type", "string", "enum", ids,
	    "verdict", "type", "string", "enum", "supported", "partly", "unsupported",
	    "required", "sentence", "verdict", "additionalProperties", 0);
	props = json_pack("{s:s, s:{s:{s:s, s:o, s:i, s:i}}, s:[s], s:b}",
	    "type", "object", "properties",
	    "verdicts", "type", "array", "items", item, "minItems", 0, "maxItems", (int)npick,
	    "required", "verdicts", "additionalProperties", 0);
	json_decref(ids);
	if (props)
		req = pl_request(p, "judge", props, &b);
	else
		buf_free(&b);
	return req;
}

void pl_build_judge(struct planner *p, bool again)
{
	for (int sec = -1; sec < (int)p->nsec; sec++) {
		json_t *rq = judge_call(p, sec, again);

		if (rq == NULL)
			continue;
		p->judge_calls++;
		pl_add_request(p, JUDGE_KIND, rq, again ? PL_REJUDGE : PL_JUDGE, sec);
	}
}

static json_t *rewrite_call(struct planner *p, int sec)
{
	size_t n;
	struct pl_sentence *v = pl_sentences(p, sec, &n);
	bool pick[PL_MAX_SENTENCES] = { false };
	json_t *sids = json_array(), *fids = json_array(), *item, *props, *req = NULL;
	size_t npick = 0;
	struct buf b;

	for (size_t i = 0; i < n && i < PL_MAX_SENTENCES; i++) {
		pick[i] = v[i].text && v[i].verdict == PLV_UNSUPPORTED;
		if (pick[i]) {
			json_array_append_new(sids, json_sprintf("S%zu", i + 1));
			npick++;
		}
	}
	if (npick == 0) {
		json_decref(sids);
		json_decref(fids);
		return NULL;
	}
	buf_init(&b, JUDGE_PROMPT_MAX);
	put_cited(p, &b, v, n, pick, fids);
	buf_putc(&b, '\n');
	for (size_t i = 0; i < n; i++)
		if (pick[i])
			put_sentence_line(&b, i, &v[i]);
	buf_puts(&b, "Task: each sentence above says more than the findings it cites. Rewrite it "
	    "so that it states only what those findings say, and cite the findings it rests on. "
	    "Do not write URLs or reference numbers.\n");
	pl_put_question(p, &b);
	item = json_pack("{s:s, s:{s:{s:s, s:O}, s:{s:s, s:i, s:i}, s:{s:s, s:{s:s, s:O}, s:i, s:i}},"
	    " s:[s,s,s], s:b}",
	    "type", "object", "properties",
	    "sentence", "type", "string", "enum", sids,
	    "text", "type", "string", "minLength", 1, "maxLength", 500,
	    "cites", "type", "array", "items", "type", "integer", "enum", fids, "minItems", 1,
	    "maxItems", 6,
	    "required", "sentence", "text", "cites", "additionalProperties", 0);
	props = json_pack("{s:s, s:{s:{s:s, s:o, s:i, s:i}}, s:[s], s:b}",
	    "type", "object", "properties",
	    "sentences", "type", "array", "items", item, "minItems", 0, "maxItems", (int)npick,
	    "required", "sentences", "additionalProperties", 0);
	json_decref(sids);
	json_decref(fids);
	if (props)
		req = pl_request(p, "rewrite", props, &b);
	else
		buf_free(&b);
	return req;
}

void pl_build_rewrite(struct planner *p)
{
	for (int sec = -1; sec < (int)p->nsec; sec++) {
		json_t *rq = rewrite_call(p, sec);

		if (rq)
			pl_add_request(p, JUDGE_KIND, rq, PL_REWRITE, sec);
	}
}

/* "S3" -> 2, or -1. */
static long sentence_index(const char *id, size_t n)
{
	char *end;
	long i;

	if (id == NULL || id[0] != 'S')
		return -1;
	i = strtol(id + 1, &end, 10) - 1;
	return *end == '\0' && i >= 0 && (size_t)i < n ? i : -1;
}

void pl_apply_judge(struct planner *p, int sec, int r, const json_t *v)
{
	size_t n, i;
	struct pl_sentence *s = pl_sentences(p, sec, &n);
	json_t *list = v ? json_object_get(v, "verdicts") : NULL, *x;

	if (v == NULL) {
		p->judge_failed++;
		return;
	}
	json_array_foreach(list, i, x) {
		const char *id = NULL, *verdict = NULL;
		long k;

		json_get_string(x, "sentence", &id);
		json_get_string(x, "verdict", &verdict);
		k = sentence_index(id, n);
		if (k < 0 || verdict == NULL || s[k].text == NULL || s[k].judged)
			continue;
		s[k].judged = true;
		if (strcmp(verdict, "supported") == 0)
			s[k].verdict = PLV_SUPPORTED;
		else if (strcmp(verdict, "partly") == 0)
			s[k].verdict = PLV_PARTLY;
		else if (strcmp(verdict, "unsupported") == 0)
			s[k].verdict = PLV_UNSUPPORTED;
		else
			s[k].judged = false;
	}
}

void pl_apply_rewrite(struct planner *p, int sec, const json_t *v)
{
	size_t n, i;
	struct pl_sentence *s = pl_sentences(p, sec, &n);
	json_t *list = v ? json_object_get(v, "sentences") : NULL, *x;

	json_array_foreach(list, i, x) {
		const char *id = NULL, *text = NULL;
		json_t *cites = json_object_get(x, "cites"), *c;
		long k;
		size_t j;

		json_get_string(x, "sentence", &id);
		json_get_string(x, "text", &text);
		k = sentence_index(id, n);
		if (k < 0 || text == NULL || text[0] == '\0' || s[k].text == NULL ||
		    s[k].verdict != PLV_UNSUPPORTED || s[k].rewritten)
			continue;
		free(s[k].text);
		s[k].text = pl_strdup_capped(text, PL_MAX_STR);
		s[k].ncites = 0;
		json_array_foreach(cites, j, c) {
			json_int_t cid = json_integer_value(c);
			int id2 = json_is_integer(c) && cid > 0 && cid <= INT32_MAX ? (int)cid : -1;
			bool dup = false;

			for (size_t m = 0; m < s[k].ncites && !dup; m++)
				dup = s[k].cites[m] == id2;
			if (!dup && s[k].ncites < 8)
				s[k].cites[s[k].ncites++] = id2;
		}
		s[k].rewritten = true;
		s[k].judged = false;
		s[k].verdict = PLV_NONE;
	}
}
