/* A follow-up job's start: its parent job's sources (their stored text,
 * never fetched or extracted again) and verified findings (their quotes
 * found again in that text) seed the planner, under a stand-in
 * sub-question that is never researched. A (sub-question, source) pair the
 * parent read is not read again: the parent's findings from that read
 * count for the follow-up's sub-question of the same text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "planner-internal.h"
#include "str.h"
#include "xmalloc.h"

/* At most half of a job's sources come from its parent: the rest is left
 * for what the follow-up finds itself. */
#define PL_PARENT_SOURCES (PL_MAX_SOURCES / 2)
/* A parent's report data lists at most this many of each (its own caps
 * are lower; a bigger list is not data this planner wrote). */
#define PL_PARENT_MAX_LIST 4096

static bool parent_source_has_finding(const json_t *findings, json_int_t id)
{
	size_t i;
	json_t *f;

	json_array_foreach(findings, i, f)
		if (json_is_true(json_object_get(f, "verified")) &&
		    json_integer_value(json_object_get(f, "source")) == id)
			return true;
	return false;
}

/* The parent's source so as source p->ns, in state PLS_TEXT. -ENOENT when
 * it has no text to take (failed, or its text is gone from the store). */
static int seed_source(struct planner *p, const json_t *so)
{
	json_t *pass = json_object_get(so, "passages"), *v;
	const char *url, *th, *title = "", *snap = NULL;
	struct pl_source *s;
	char *text = NULL;
	size_t len = 0, i;
	int64_t fetched = 0;

	if (json_get_string(so, "url", &url) < 0 || strlen(url) > 2000 ||
	    json_get_string(so, "text_hash", &th) < 0 || !json_is_array(pass))
		return -ENOENT;
	if (p->env.text_get(p->env.ud, th, &text, &len) < 0)
		return -ENOENT;
	json_get_string(so, "title", &title);
	json_get_string(so, "snapshot", &snap);
	json_get_int(so, "fetched", &fetched);
	s = &p->s[p->ns];
	*s = (struct pl_source){ .url = xstrdup(url), .title = pl_strdup_capped(title, 300),
	    .snippet = xstrdup(""), .hash = xstrdup(snap ? snap : th), .text_hash = xstrdup(th),
	    .local = str_startswith(url, "file://"), .state = PLS_TEXT, .fetched = fetched,
	    .from_parent = true };
	/* Cut as the parent's was: it read the same first part. */
	pl_source_set_text(s, text, len);
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
	p->ns++;
	return 0;
}

/* Verified findings of the parent on a seeded source, under question qi. */
static void seed_findings(struct planner *p, const json_t *findings, const int *map,
    size_t nmap, int qi)
{
	size_t i;
	json_t *fo;

	json_array_foreach(findings, i, fo) {
		json_int_t src = json_integer_value(json_object_get(fo, "source"));
		const char *claim, *quote;
		struct pl_finding *f;
		size_t start, end;
		int64_t pq = 0;

		if (p->nf == PL_MAX_FINDINGS)
			break;
		if (!json_is_true(json_object_get(fo, "verified")) || src < 1 || (size_t)src > nmap ||
		    map[src - 1] < 0 || json_get_string(fo, "claim", &claim) < 0 ||
		    json_get_string(fo, "quote", &quote) < 0)
			continue;
		json_get_int(fo, "question", &pq);
		f = &p->f[p->nf];
		*f = (struct pl_finding){ .id = (int)p->nf + 1, .question = qi, .source = map[src - 1],
		    .claim = pl_strdup_capped(claim, PL_MAX_STR),
		    .quote = pl_strdup_capped(quote, PL_MAX_QUOTE),
		    .parent_q = pq > 0 && pq <= PL_MAX_QUESTIONS ? (int)pq : 0 };
		/* Checked again here against the text this job holds: the
		 * parent's word is not taken for it. */
		if (pl_quote_find(&p->s[f->source], f->quote, &start, &end) < 0) {
			free(f->claim);
			free(f->quote);
			continue;
		}
		f->verified = true;
		f->start = start;
		f->end = end;
		p->nf++;
	}
}

int planner_set_parent(struct planner *p, int64_t parent_id, const json_t *data)
{
	json_t *sources = json_object_get(data, "sources");
	json_t *findings = json_object_get(data, "findings");
	json_t *reads = json_object_get(data, "reads"), *so;
	const char *question;
	size_t nmap, i, nf0;
	int *map, qi;

	if (p->phase != PL_START || p->nreq > 0 || p->ns > 0 || p->nq > 0 || p->parent_data)
		return -EBUSY;
	if (parent_id <= 0 || !json_is_object(data) || !json_is_array(sources) ||
	    !json_is_array(findings) || (reads && !json_is_array(reads)) ||
	    json_get_string(data, "question", &question) < 0 ||
	    json_array_size(sources) > PL_PARENT_MAX_LIST ||
	    json_array_size(findings) > PL_PARENT_MAX_LIST ||
	    json_array_size(reads) > PL_PARENT_MAX_LIST)
		return -EINVAL;
	p->parent = parent_id;
	p->parent_data = json_incref((json_t *)data);
	nmap = json_array_size(sources);
	map = xcalloc(nmap + 1, sizeof(*map));
	/* Sources behind verified findings first, then the rest with text. */
	for (int pass = 0; pass < 2; pass++)
		json_array_foreach(sources, i, so) {
			bool useful = parent_source_has_finding(findings, (json_int_t)i + 1);

			if (pass == 0)
				map[i] = -1;
			if (useful != (pass == 0) || p->ns == PL_PARENT_SOURCES)
				continue;
			if (seed_source(p, so) == 0)
				map[i] = (int)p->ns - 1;
		}
	p->parent_sources = p->ns;
	qi = pl_add_question(p, question, -1, false);
	if (qi >= 0) {
		nf0 = p->nf;
		seed_findings(p, findings, map, nmap, qi);
		p->parent_findings = p->nf - nf0;
		if (p->parent_findings == 0) {
			/* Nothing to stand for: no stand-in sub-question. */
			free(p->q[qi].text);
			p->nq--;
		} else {
			p->q[qi].from_parent = true;
			p->q[qi].state = PLQ_ANSWERED;
			/* Found for it and read for it: it is never read again. */
			for (size_t k = 0; k < p->ns; k++)
				p->s[k].questions = p->s[k].read = UINT64_C(1) << qi;
		}
	}
	free(map);
	return 0;
}

/* The text of the parent's sub-question id (1-based), or NULL. */
static const char *parent_question(const struct planner *p, int id)
{
	json_t *qo;
	const char *text;

	if (id < 1)
		return NULL;
	qo = json_array_get(json_object_get(p->parent_data, "questions"), (size_t)id - 1);
	if (json_get_string(qo, "text", &text) < 0)
		return NULL;
	return text;
}

static bool same_question(const char *a, const char *b)
{
	char *na, *nb;
	bool same;

	if (a == NULL || b == NULL)
		return false;
	na = planner_query_norm(a);
	nb = planner_query_norm(b);
	same = strcmp(na, nb) == 0;
	free(na);
	free(nb);
	return same;
}

bool pl_parent_read(struct planner *p, size_t q, size_t si)
{
	json_t *reads = json_object_get(p->parent_data, "reads"), *pair;
	struct pl_source *s = &p->s[si];
	bool found = false, moved = false;
	size_t i;

	/* Only a source taken from the parent: one fetched anew may hold
	 * other text, and the parent's findings on it were not taken. */
	if (!s->from_parent)
		return false;
	json_array_foreach(reads, i, pair) {
		const char *url = json_string_value(json_array_get(pair, 1));

		if (url && strcmp(url, s->url) == 0 &&
		    same_question(json_string_value(json_array_get(pair, 0)), p->q[q].text)) {
			found = true;
			break;
		}
	}
	if (!found)
		return false;
	/* The parent's findings of that read count for q. The parent kept one
	 * finding for a quote it read for several sub-questions, under the
	 * first: when none of the source's names q, those it has stand in. */
	for (int pass = 0; pass < 2 && !moved; pass++)
		for (size_t k = 0; k < p->nf; k++) {
			struct pl_finding *f = &p->f[k];

			if (f->source != (int)si || !p->q[f->question].from_parent)
				continue;
			if (pass == 1 || same_question(parent_question(p, f->parent_q), p->q[q].text)) {
				f->question = (int)q;
				moved = true;
			}
		}
	return true;
}
