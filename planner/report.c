/* Verify and publish: every sentence's citations are checked against the
 * verified findings and their quotes against the sources' stored text;
 * finding ids become [n] numbered by first use; the Markdown report and
 * the data behind it are rendered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner-internal.h"
#include "quote.h"
#include "xmalloc.h"

#define REPORT_MAX (8 * 1024 * 1024)

struct verify {
	size_t sentences, kept, removed_unknown, removed_uncited, removed_url;
	size_t citations, citations_ok;
	/* the verifier pass, over the sentences that passed the check above */
	size_t judged, supported, partly, rewritten, removed_unsupported;
};

enum fault { FAULT_NONE, FAULT_URL, FAULT_UNCITED, FAULT_UNKNOWN };

static void put_line(struct buf *b, const char *s)
{
	bool space = false;

	for (; *s; s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t' || *s == ' ') {
			space = true;
			continue;
		}
		if (space && b->len > 0 && b->data[b->len - 1] != ' ' && b->data[b->len - 1] != '\n')
			buf_putc(b, ' ');
		space = false;
		/* Text from pages and the model must not become markup in a
		 * viewer that renders HTML inside Markdown. */
		if (*s == '<')
			buf_puts(b, "&lt;");
		else if (*s == '>')
			buf_puts(b, "&gt;");
		else
			buf_putc(b, *s);
	}
}

static void date_of(int64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, 16, "unknown");
		return;
	}
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static void site_of(const char *url, char *out, size_t max)
{
	const char *h = strstr(url, "://");
	size_t n;

	if (strncmp(url, "file:", 5) == 0) {
		snprintf(out, max, "local document");
		return;
	}
	h = h ? h + 3 : url;
	n = strcspn(h, "/?#");
	if (n >= max)
		n = max - 1;
	memcpy(out, h, n);
	out[n] = '\0';
}

/* Is this id a verified finding (of the given set, when there is one)? */
static bool cite_known(const struct planner *p, int id, const int *only, size_t nonly)
{
	bool in = only == NULL;

	if (id < 1 || (size_t)id > p->nf || !p->f[id - 1].verified)
		return false;
	for (size_t i = 0; i < nonly && !in; i++)
		in = only[i] == id;
	return in;
}

/* Any scheme with "//" (ftp, file, ...) and any Markdown link target: a
 * link written by the model would bypass the checked citations. */
static bool has_url(const char *s)
{
	return strstr(s, "://") || strstr(s, "www.") || strstr(s, "](");
}

/* What the deterministic check finds wrong with a sentence: a URL, no
 * citation, or a citation of anything but a verified finding (of its
 * section, when only is set). */
static enum fault sentence_fault(const struct planner *p, const struct pl_sentence *s,
    const int *only, size_t nonly)
{
	if (has_url(s->text))
		return FAULT_URL;
	if (s->ncites == 0)
		return FAULT_UNCITED;
	for (size_t i = 0; i < s->ncites; i++)
		if (!cite_known(p, s->cites[i], only, nonly))
			return FAULT_UNKNOWN;
	return FAULT_NONE;
}

bool pl_sentence_ok(const struct planner *p, const struct pl_sentence *s, int sec)
{
	if (sec < 0)
		return sentence_fault(p, s, NULL, 0) == FAULT_NONE;
	return sentence_fault(p, s, p->sec[sec].findings, p->sec[sec].nfindings) == FAULT_NONE;
}

/* Keep a sentence only when it cites, and cites only verified findings
 * (of its section), and the verifier did not find it unsupported; a quote
 * is checked again against its source's text. */
static bool sentence_check(struct planner *p, struct pl_sentence *s, const int *only,
    size_t nonly, struct verify *v)
{
	v->sentences++;
	switch (sentence_fault(p, s, only, nonly)) {
	case FAULT_URL: v->removed_url++; return false;
	case FAULT_UNCITED: v->removed_uncited++; return false;
	case FAULT_UNKNOWN: v->removed_unknown++; return false;
	case FAULT_NONE: break;
	}
	v->judged += s->judged;
	v->supported += s->judged && s->verdict == PLV_SUPPORTED;
	v->partly += s->judged && s->verdict == PLV_PARTLY;
	v->rewritten += s->rewritten;
	if (s->verdict == PLV_UNSUPPORTED) {
		/* Unsupported after its one rewrite, or its rewrite failed. */
		v->removed_unsupported++;
		return false;
	}
	for (size_t i = 0; i < s->ncites; i++) {
		struct pl_finding *f = &p->f[s->cites[i] - 1];
		struct pl_source *src = &p->s[f->source];
		size_t a, b;

		v->citations++;
		if (pl_quote_find(src, f->quote, &a, &b) == 0 &&
		    a == f->start && b == f->end)
			v->citations_ok++;
	}
	v->kept++;
	return true;
}

/* Drop the "[F3]" or "[12]" markers a model may type into its text: code
 * writes the citations. */
static void strip_markers(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (*r == '[') {
			char *e = r + 1;

			if (*e == 'F')
				e++;
			while (*e >= '0' && *e <= '9')
				e++;
			if (*e == ']' && e > r + 1) {
				r = e + 1;
				if (w > s && w[-1] == ' ' && (*r == '.' || *r == ',' || *r == ' '))
					w--;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
}

static void put_sentence(struct planner *p, struct buf *b, struct pl_sentence *s, int *next)
{
	int seen[8];
	size_t nseen = 0;
	size_t len;

	strip_markers(s->text);
	put_line(b, s->text);
	/* The citation goes before the sentence's final full stop. */
	len = b->len;
	if (len > 0 && (b->data[len - 1] == '.' || b->data[len - 1] == '!' || b->data[len - 1] == '?'))
		b->len--, b->data[b->len] = '\0';
	for (size_t i = 0; i < s->ncites; i++) {
		struct pl_source *src = &p->s[p->f[s->cites[i] - 1].source];
		bool dup = false;

		if (src->cite == 0)
			src->cite = (*next)++;
		for (size_t k = 0; k < nseen && !dup; k++)
			dup = seen[k] == src->cite;
		if (dup)
			continue;
		seen[nseen++] = src->cite;
		buf_printf(b, nseen == 1 ? " [%d]" : "[%d]", src->cite);
	}
	buf_putc(b, len > 0 && b->len < len ? '.' : '.');
	buf_putc(b, ' ');
}

static const char *qstate(enum pl_qstate st)
{
	return st == PLQ_ANSWERED ? "answered" : st == PLQ_MISSING ? "missing" :
	    st == PLQ_CONTRADICTED ? "contradicted" : "open";
}

/* The (sub-question, source) pairs this job read, or took as read from its
 * parent: a follow-up of this job does not read them again. */
static json_t *report_reads(const struct planner *p)
{
	json_t *reads = json_array();

	for (size_t i = 0; i < p->ns; i++)
		for (size_t q = 0; q < p->nq && q < 64; q++)
			if ((p->s[i].read & (UINT64_C(1) << q)) && !p->q[q].from_parent)
				json_array_append_new(reads, json_pack("[s, s]", p->q[q].text, p->s[i].url));
	return reads;
}

static json_t *report_json(struct planner *p, const struct verify *v, size_t cited)
{
	json_t *o = json_object(), *qs = json_array(), *ss = json_array(), *fs = json_array();

	for (size_t i = 0; i < p->nq; i++)
		json_array_append_new(qs, json_pack("{s:i, s:s, s:s, s:b, s:i}", "id", (int)i + 1,
		    "text", p->q[i].text, "state", qstate(p->q[i].state), "gap", p->q[i].gap_added,
		    "round", p->q[i].round + 1));
	for (size_t i = 0; i < p->nq; i++)
		if (p->q[i].from_parent)
			json_object_set_new(json_array_get(qs, i), "parent", json_true());
	for (size_t i = 0; i < p->ns; i++) {
		struct pl_source *s = &p->s[i];
		json_t *so = json_pack("{s:i, s:s, s:s, s:i, s:I}", "id", (int)i + 1, "url", s->url,
		    "title", s->title ? s->title : "", "cite", s->cite, "fetched", (json_int_t)s->fetched);

		if (s->hash)
			json_object_set_new(so, "snapshot", json_string(s->hash));
		if (s->text_hash)
			json_object_set_new(so, "text_hash", json_string(s->text_hash));
		if (s->error)
			json_object_set_new(so, "error", json_string(s->error));
		json_array_append_new(ss, so);
	}
	for (size_t i = 0; i < p->nf; i++) {
		struct pl_finding *f = &p->f[i];
		json_t *fo = json_pack("{s:i, s:i, s:i, s:s, s:s, s:b}", "id", f->id,
		    "question", f->question + 1, "source", f->source + 1, "claim", f->claim,
		    "quote", f->quote, "verified", f->verified);

		if (f->verified) {
			json_object_set_new(fo, "start", json_integer((json_int_t)f->start));
			json_object_set_new(fo, "end", json_integer((json_int_t)f->end));
		} else
			json_object_set_new(fo, "reason", json_string(f->reason ? f->reason : ""));
		json_array_append_new(fs, fo);
	}
	json_object_set_new(o, "question", json_string(p->question));
	json_object_set_new(o, "title", json_string(p->title ? p->title : p->question));
	json_object_set_new(o, "questions", qs);
	json_object_set_new(o, "sources", ss);
	json_object_set_new(o, "findings", fs);
	json_object_set_new(o, "figures", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "tokens", (json_int_t)p->tokens, "model_calls", (json_int_t)p->model_calls,
	    "model_errors", (json_int_t)p->model_errors, "fetches", (json_int_t)p->fetches,
	    "searches", (json_int_t)p->searches, "sources_cited", (json_int_t)cited,
	    "sentences", (json_int_t)v->sentences, "sentences_kept", (json_int_t)v->kept,
	    "citations", (json_int_t)v->citations, "citations_verified", (json_int_t)v->citations_ok,
	    "rejected_quotes", (json_int_t)(p->rejected_not_found + p->rejected_short + p->rejected_other),
	    "rounds", (json_int_t)p->round + 1));
	json_object_set_new(o, "ended_by", json_string(p->ended_by ? p->ended_by : ""));
	json_object_set_new(o, "reads", report_reads(p));
	if (p->parent > 0)
		json_object_set_new(o, "parent", json_integer((json_int_t)p->parent));
	return o;
}

/* ---- the sidecar's text, brief and budgets (docs/PROTOCOL.md) ------- */

#define REPORT_SIDECAR_VERSION 1

/* One sentence as the report shows it: its text with whitespace runs as
 * one space, the finding ids it cites and their [n] numbers. */
static json_t *report_json_sentence(const struct planner *p, const struct pl_sentence *s)
{
	json_t *o = json_object(), *fids = json_array(), *cites = json_array();
	struct buf b;

	buf_init(&b, REPORT_MAX);
	put_line(&b, s->text);
	for (size_t i = 0; i < s->ncites; i++) {
		const struct pl_source *src = &p->s[p->f[s->cites[i] - 1].source];
		bool dup = false;
		size_t k;
		json_t *v;

		json_array_append_new(fids, json_integer(s->cites[i]));
		json_array_foreach(cites, k, v)
			dup = dup || json_integer_value(v) == src->cite;
		if (!dup && src->cite > 0)
			json_array_append_new(cites, json_integer(src->cite));
	}
	json_object_set_new(o, "text", json_string(b.data ? b.data : ""));
	json_object_set_new(o, "findings", fids);
	json_object_set_new(o, "cites", cites);
	buf_free(&b);
	return o;
}

/* What the Markdown shows as data: the short answer (as rendered: when no
 * sentence of its own survived, the first of each section stands in), the
 * sections, the brief, the model and the budgets. */
static void report_json_text(const struct planner *p, json_t *o)
{
	json_t *answer = json_array(), *sections = json_array(), *brief;
	bool from_sections = false;

	for (size_t i = 0; i < p->nanswer; i++)
		if (p->answer[i].text)
			json_array_append_new(answer, report_json_sentence(p, &p->answer[i]));
	for (size_t s = 0; s < p->nsec; s++) {
		json_t *sents = json_array();

		for (size_t i = 0; i < p->sec[s].nsent; i++)
			if (p->sec[s].sent[i].text)
				json_array_append_new(sents, report_json_sentence(p, &p->sec[s].sent[i]));
		if (json_array_size(sents) == 0) {
			json_decref(sents);
			continue;
		}
		if (json_array_size(answer) == 0 || from_sections) {
			from_sections = true;
			json_array_append(answer, json_array_get(sents, 0));
		}
		json_array_append_new(sections, json_pack("{s:s, s:o}", "heading",
		    p->sec[s].heading ? p->sec[s].heading : "", "sentences", sents));
	}
	brief = json_pack("{s:s?, s:s?, s:s?}", "scope", p->scope, "complete", p->complete,
	    "language", p->language ? p->language : p->lang);
	if (brief && p->key_terms)
		json_object_set(brief, "key_terms", p->key_terms);
	json_object_set_new(o, "version", json_integer(REPORT_SIDECAR_VERSION));
	json_object_set_new(o, "job", json_integer(p->job_id));
	json_object_set_new(o, "answer", answer);
	json_object_set_new(o, "answer_from_sections", json_boolean(from_sections));
	json_object_set_new(o, "sections", sections);
	json_object_set_new(o, "brief", brief ? brief : json_object());
	json_object_set_new(o, "model", json_pack("{s:s?, s:s?}", "model", p->model,
	    "endpoint", p->endpoint));
	json_object_set_new(o, "budgets", json_pack("{s:I, s:I, s:I, s:i, s:i}",
	    "max_tokens", (json_int_t)p->max_tokens, "max_fetches", (json_int_t)p->max_fetches,
	    "max_time", (json_int_t)(p->max_time_ms / 1000), "depth", p->depth,
	    "breadth", p->breadth));
	json_object_set_new(o, "usage", json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "tokens", (json_int_t)p->tokens, "prompt_tokens", (json_int_t)p->prompt_tokens,
	    "completion_tokens", (json_int_t)p->completion_tokens,
	    "elapsed", (json_int_t)((p->now - p->t0) / 1000), "fetches", (json_int_t)p->fetches));
}

int pl_report_build(struct planner *p)
{
	struct verify v = { 0 };
	struct buf b, body;
	char date[16], site[256];
	size_t kept = 0, rejected, consulted = 0, cited = 0, cut = 0;
	int next = 1;
	bool answered;

	if (p->ended_by == NULL)
		p->ended_by = "the research plan was completed";
	buf_init(&body, REPORT_MAX);
	/* Verify first: numbering follows the sentences that stay. */
	for (size_t i = 0; i < p->nanswer; i++)
		if (!sentence_check(p, &p->answer[i], NULL, 0, &v))
			pl_sentence_drop(&p->answer[i]);
	for (size_t s = 0; s < p->nsec; s++)
		for (size_t i = 0; i < p->sec[s].nsent; i++)
			if (!sentence_check(p, &p->sec[s].sent[i], p->sec[s].findings, p->sec[s].nfindings, &v))
				pl_sentence_drop(&p->sec[s].sent[i]);
	answered = v.kept > 0;

	buf_puts(&body, "## Short answer\n\n");
	if (answered) {
		size_t shown = 0;

		for (size_t i = 0; i < p->nanswer; i++)
			if (p->answer[i].text) {
				put_sentence(p, &body, &p->answer[i], &next);
				shown++;
			}
		/* No short answer survived: the first sentence of each section
		 * stands in. */
		for (size_t s = 0; s < p->nsec && shown == 0; s++)
			for (size_t i = 0; i < p->sec[s].nsent; i++)
				if (p->sec[s].sent[i].text) {
					struct pl_sentence copy = p->sec[s].sent[i];

					put_sentence(p, &body, &copy, &next);
					break;
				}
		body.len > 0 && body.data[body.len - 1] == ' ' ? (void)(body.data[--body.len] = '\0') : (void)0;
		buf_puts(&body, "\n\n");
		for (size_t s = 0; s < p->nsec; s++) {
			bool any = false;

			for (size_t i = 0; i < p->sec[s].nsent; i++)
				any = any || p->sec[s].sent[i].text;
			if (!any)
				continue;
			buf_puts(&body, "## ");
			put_line(&body, p->sec[s].heading);
			buf_puts(&body, "\n\n");
			for (size_t i = 0; i < p->sec[s].nsent; i++)
				if (p->sec[s].sent[i].text)
					put_sentence(p, &body, &p->sec[s].sent[i], &next);
			if (body.len > 0 && body.data[body.len - 1] == ' ')
				body.data[--body.len] = '\0';
			buf_puts(&body, "\n\n");
		}
	} else {
		buf_puts(&body, "The evidence gathered does not answer this question: no source that was "
		    "found and read gave a verified statement that answers it, so this report gives no "
		    "answer rather than a guess. The sub-questions and sources below show what was "
		    "tried.\n\n## What was searched\n\n");
		for (size_t q = 0; q < p->nq; q++) {
			buf_puts(&body, "- ");
			put_line(&body, p->q[q].text);
			buf_printf(&body, " (%s)\n", qstate(p->q[q].state));
		}
		buf_puts(&body, "\n");
	}

	for (size_t i = 0; i < p->nf; i++)
		kept += p->f[i].verified;
	rejected = p->nf - kept;
	for (size_t i = 0; i < p->ns; i++) {
		consulted += p->s[i].state == PLS_TEXT;
		cut += p->s[i].state == PLS_TEXT && p->s[i].cut;
		cited += p->s[i].cite > 0;
	}

	buf_init(&b, REPORT_MAX);
	date_of(p->now, date);
	buf_puts(&b, "# ");
	put_line(&b, p->title && answered ? p->title : p->question);
	buf_puts(&b, "\n\n**Question:** ");
	put_line(&b, p->question);
	buf_printf(&b, "\n\n**Date:** %s\n\n", date);
	if (p->parent > 0) {
		const char *pq = json_string_value(json_object_get(p->parent_data, "question"));

		buf_printf(&b, "**Follow-up to job %lld:** ", (long long)p->parent);
		put_line(&b, pq ? pq : "");
		buf_printf(&b, " (%zu of its sources and %zu of its verified findings are used here.)\n\n",
		    p->parent_sources, p->parent_findings);
	}
	buf_append(&b, body.data ? body.data : "", body.len);
	buf_free(&body);

	buf_puts(&b, "## Method and limits\n\n");
	buf_printf(&b, "- Research ended because %s, after %d round%s.\n", p->ended_by,
	    p->round + 1, p->round ? "s" : "");
	buf_printf(&b, "- Budgets used: %lld of %lld tokens; %lld of %lld fetches; %lld s of %lld s; "
	    "depth %d of %d.\n", (long long)p->tokens, (long long)p->max_tokens,
	    (long long)p->fetches, (long long)p->max_fetches,
	    (long long)((p->now - p->t0) / 1000), (long long)(p->max_time_ms / 1000),
	    p->round + 1, p->depth_asked);
	buf_printf(&b, "- Sources: %zu consulted, %zu cited; %lld search%s.\n", consulted, cited,
	    (long long)p->searches, p->searches == 1 ? "" : "es");
	if (cut > 0)
		buf_printf(&b, "- %zu source%s longer than %d MiB %s read in %s first %d MiB only.\n",
		    cut, cut == 1 ? "" : "s", PL_MAX_TEXT >> 20, cut == 1 ? "was" : "were",
		    cut == 1 ? "its" : "their", PL_MAX_TEXT >> 20);
	buf_printf(&b, "- Findings: %zu kept, %zu rejected (quote not found in the source: %zu; "
	    "too short: %zu; other: %zu).\n", kept, rejected, p->rejected_not_found,
	    p->rejected_short, p->rejected_other);
	buf_printf(&b, "- Citations verified: %zu/%zu; sentences kept %zu of %zu (removed: %zu citing "
	    "unknown findings, %zu citing nothing, %zu with a URL).\n", v.citations_ok, v.citations,
	    v.kept, v.sentences, v.removed_unknown, v.removed_uncited, v.removed_url);
	if (!p->verifier)
		buf_puts(&b, "- Verifier pass: skipped (the job was submitted with --no-verifier).\n");
	else if (p->judge_calls == 0)
		buf_puts(&b, "- Verifier pass: no sentence to judge.\n");
	else if (p->judge_failed == p->judge_calls)
		buf_puts(&b, "- Verifier pass: did not run (its model endpoint gave no answer); only "
		    "the quote check above applies.\n");
	else
		buf_printf(&b, "- Verifier pass: sentences judged supported %zu/%zu (partly %zu), "
		    "rewritten %zu, removed %zu%s.\n", v.supported, v.judged, v.partly, v.rewritten,
		    v.removed_unsupported, p->judge_failed ? "; some judgements got no answer" : "");
	buf_printf(&b, "- Model: %s at %s; %lld calls, %lld failed.\n",
	    p->model ? p->model : "none", p->endpoint ? p->endpoint : "no endpoint",
	    (long long)p->model_calls, (long long)p->model_errors);
	pl_hitl_report(p, &b);

	buf_puts(&b, "\n## References\n\n");
	for (int n = 1; n < next; n++)
		for (size_t i = 0; i < p->ns; i++) {
			struct pl_source *s = &p->s[i];
			char acc[16];

			if (s->cite != n)
				continue;
			site_of(s->url, site, sizeof(site));
			date_of(s->fetched > 0 ? s->fetched : p->now, acc);
			buf_printf(&b, "[%d] ", n);
			put_line(&b, s->title && s->title[0] ? s->title : s->url);
			buf_printf(&b, ". %s. <%s>. Accessed %s. Snapshot %.12s.\n", site,
			    s->final_url ? s->final_url : s->url, acc, s->hash ? s->hash : "none");
		}
	if (next == 1)
		buf_puts(&b, "No source is cited.\n");
	if (b.data == NULL || b.len >= REPORT_MAX - 1) {
		buf_free(&b);
		return -ENOBUFS;
	}
	p->report = buf_steal(&b);
	p->report_data = report_json(p, &v, cited);
	report_json_text(p, p->report_data);
	return 0;
}
