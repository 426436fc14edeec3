/* The model calls of the research loop: one prompt and one named schema per
 * step. Evidence comes first, the task next and the question last (servers
 * that overflow cut from the front); every array and string is capped and
 * every choice of an id is an enum of the ids legal in this call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "planner-internal.h"
#include "xmalloc.h"

#define PROMPT_MAX (2 * 1024 * 1024)

static const char system_text[] =
	"You are the reading and writing engine of researchd, a research assistant. "
	"You answer with exactly one JSON object that matches the given schema, and nothing else. "
	"You use only the evidence shown in the prompt: never invent facts, sources, URLs or quotes. "
	"A quote is copied character for character from one passage shown to you.";

int64_t pl_output_budget(const struct planner *p)
{
	int64_t c = p->context;

	return c / 4 < 1500 ? c / 4 : 1500;
}

int64_t pl_evidence_budget(const struct planner *p, int shrink)
{
	int64_t c = p->context;
	int64_t overhead = c / 4 < 1700 ? c / 4 : 1700;
	int64_t e = c - overhead - pl_output_budget(p);

	e >>= shrink;
	return e < 256 ? 256 : e;
}

/* One line of text: every whitespace run becomes one space. */
void pl_put_flat(struct buf *b, const char *s, size_t n)
{
	bool space = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			space = true;
			continue;
		}
		if (space && b->len > 0 && b->data[b->len - 1] != '\n' && b->data[b->len - 1] != ' ')
			buf_putc(b, ' ');
		space = false;
		buf_putc(b, (char)c);
	}
}

static char *flat(const char *s, size_t n)
{
	struct buf b;

	buf_init(&b, n + 1);
	pl_put_flat(&b, s, n);
	return b.data ? buf_steal(&b) : xstrdup("");
}

static json_t *str_schema(int max)
{
	return json_pack("{s:s, s:i, s:i}", "type", "string", "minLength", 1, "maxLength", max);
}

static json_t *obj_schema(json_t *props, const char *const *required)
{
	json_t *req = json_array();

	for (size_t i = 0; required[i]; i++)
		json_array_append_new(req, json_string(required[i]));
	return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props,
	    "required", req, "additionalProperties", 0);
}

static json_t *array_schema(json_t *items, int min, int max)
{
	return json_pack("{s:s, s:o, s:i, s:i}", "type", "array", "items", items,
	    "minItems", min, "maxItems", max);
}

static json_t *queries_schema(void)
{
	return array_schema(str_schema(120), 1, 3);
}

json_t *pl_request(struct planner *p, const char *name, json_t *schema, struct buf *user)
{
	json_t *msgs = json_pack("[{s:s, s:s}, {s:s, s:s%}]",
	    "role", "system", "content", system_text,
	    "role", "user", "content", user->data ? user->data : "", user->len);

	buf_free(user);
	return json_pack("{s:o, s:o, s:s, s:I, s:f}", "messages", msgs, "schema", schema,
	    "schema_name", name, "max_tokens", (json_int_t)pl_output_budget(p), "temperature", 0.0);
}

void pl_put_question(struct planner *p, struct buf *b)
{
	buf_puts(b, "QUESTION: ");
	pl_put_flat(b, p->question, strlen(p->question));
	buf_putc(b, '\n');
}

static void put_language(struct planner *p, struct buf *b)
{
	const char *l = p->language ? p->language : p->lang;

	if (l && l[0])
		buf_printf(b, "Write every text field in the language with code \"%s\".\n", l);
}

json_t *pl_call_brief(struct planner *p)
{
	json_t *props = json_pack("{s:o, s:o, s:o, s:o}",
	    "scope", str_schema(400),
	    "key_terms", array_schema(str_schema(60), 1, 8),
	    "complete_answer", str_schema(400),
	    "language", json_pack("{s:s, s:s}", "type", "string", "pattern", "^[a-z]{2,3}(-[A-Za-z]{2,4})?$"));
	static const char *const req[] = { "scope", "key_terms", "complete_answer", "language", NULL };
	struct buf b;

	buf_init(&b, PROMPT_MAX);
	pl_hitl_prompt(p, &b);
	buf_puts(&b, "Task: write a research brief for the question below: its scope, the key terms "
	    "to search for, what a complete answer must contain, and the language code of the "
	    "question (for example en, de, fr).\n");
	pl_put_question(p, &b);
	return pl_request(p, "brief", obj_schema(props, req), &b);
}

/* Before the brief of an interactive job: what to ask the user, if
 * anything (hitl.c takes the answer). */
json_t *pl_call_clarify(struct planner *p)
{
	json_t *props = json_pack("{s:o}", "questions", array_schema(str_schema(300), 0, PL_MAX_CLARIFY));
	struct buf b;

	buf_init(&b, PROMPT_MAX);
	buf_printf(&b, "Task: before research starts, ask the user at most %d short clarifying "
	    "questions whose answers would change what to research (an ambiguous term, the scope, "
	    "a time frame or a place). Ask none when the question is clear.\n", PL_MAX_CLARIFY);
	put_language(p, &b);
	pl_put_question(p, &b);
	return pl_request(p, "clarify", obj_schema(props, (const char *const[]){ "questions", NULL }), &b);
}

json_t *pl_call_plan(struct planner *p)
{
	json_t *item = obj_schema(json_pack("{s:o, s:o}", "question", str_schema(300),
	    "queries", queries_schema()), (const char *const[]){ "question", "queries", NULL });
	json_t *props = json_pack("{s:o}", "subquestions", array_schema(item, 1, p->breadth));
	struct buf b;

	buf_init(&b, PROMPT_MAX);
	if (p->scope) {
		buf_puts(&b, "Scope: ");
		pl_put_flat(&b, p->scope, strlen(p->scope));
		buf_putc(&b, '\n');
	}
	if (p->complete) {
		buf_puts(&b, "A complete answer contains: ");
		pl_put_flat(&b, p->complete, strlen(p->complete));
		buf_putc(&b, '\n');
	}
	if (p->parent > 0 && json_is_string(json_object_get(p->parent_data, "question"))) {
		const char *pq = json_string_value(json_object_get(p->parent_data, "question"));

		/* A follow-up: what the earlier job answered need not be planned
		 * again, its findings are at hand. */
		buf_puts(&b, "Earlier research answered: ");
		pl_put_flat(&b, pq, strlen(pq));
		buf_puts(&b, "\nIts findings are known; plan for what the question below adds.\n");
	}
	buf_printf(&b, "Task: split the question below into at most %d sub-questions that together "
	    "answer it; give each one to three short web search queries.\n", p->breadth);
	put_language(p, &b);
	pl_put_question(p, &b);
	return pl_request(p, "plan", obj_schema(props, (const char *const[]){ "subquestions", NULL }), &b);
}

struct ranked {
	size_t i;
	double score;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Ranked evidence items (passages or findings) with their prompt ids,
 * packed into a call's evidence budget: what does not fit is left out
 * whole. */
struct evidence {
	size_t n;
	struct pack_item *items;
	char **texts;		/* owned */
	char (*ids)[24];
	size_t *chosen;
	struct pack_result pr;
};

static void evidence_init(struct evidence *ev, size_t n)
{
	memset(ev, 0, sizeof(*ev));
	ev->n = n;
	ev->items = xcalloc(n + 1, sizeof(*ev->items));
	ev->texts = xcalloc(n + 1, sizeof(*ev->texts));
	ev->ids = xcalloc(n + 1, sizeof(*ev->ids));
	ev->chosen = xcalloc(n + 1, sizeof(*ev->chosen));
}

/* Item i is text (taken) under the id prefix and number given. */
static void evidence_set(struct evidence *ev, size_t i, char prefix, long number, char *text)
{
	ev->texts[i] = text;
	snprintf(ev->ids[i], sizeof(ev->ids[i]), "%c%ld", prefix, number);
	ev->items[i].id = ev->ids[i];
	ev->items[i].text = text;
	ev->items[i].len = strlen(text);
}

static void evidence_pack(const struct planner *p, struct evidence *ev, int shrink)
{
	memset(&ev->pr, 0, sizeof(ev->pr));
	if (ev->n > 0 && pack_evidence(ev->items, ev->n, pl_evidence_budget(p, shrink), pack_estimate,
	    NULL, ev->chosen, &ev->pr) < 0)
		ev->pr.n_chosen = 0;
}

static void evidence_free(struct evidence *ev)
{
	for (size_t i = 0; i < ev->n; i++)
		free(ev->texts[i]);
	free(ev->texts);
	free(ev->ids);
	free(ev->items);
	free(ev->chosen);
}

json_t *pl_call_read(struct planner *p, int qi, int si, int shrink)
{
	struct pl_source *s = &p->s[si];
	size_t n = s->npass;
	struct ranked *rk = xcalloc(n + 1, sizeof(*rk));
	json_t *pass_enum = json_array(), *item, *props;
	const char *title = s->title && s->title[0] ? s->title : s->url;
	struct evidence ev;
	struct buf b;

	for (size_t i = 0; i < n; i++) {
		rk[i].i = i;
		rk[i].score = planner_overlap(p->q[qi].text, s->text + s->pass[i][0],
		    s->pass[i][1] - s->pass[i][0]);
	}
	qsort(rk, n, sizeof(*rk), ranked_cmp);
	evidence_init(&ev, n);
	for (size_t i = 0; i < n; i++) {
		size_t k = rk[i].i;

		evidence_set(&ev, i, 'P', (long)i + 1,
		    flat(s->text + s->pass[k][0], s->pass[k][1] - s->pass[k][0]));
	}
	evidence_pack(p, &ev, shrink);

	buf_init(&b, PROMPT_MAX);
	buf_printf(&b, "SOURCE: S%d ", si + 1);
	pl_put_flat(&b, title, strlen(title));
	buf_putc(&b, '\n');
	for (size_t c = 0; c < ev.pr.n_chosen; c++) {
		size_t i = ev.chosen[c];

		buf_printf(&b, "[%s] %s\n", ev.items[i].id, ev.items[i].text);
		json_array_append_new(pass_enum, json_integer((json_int_t)i + 1));
	}
	if (json_array_size(pass_enum) == 0)
		json_array_append_new(pass_enum, json_integer(1));
	buf_puts(&b, "\nSUBQUESTION: ");
	pl_put_flat(&b, p->q[qi].text, strlen(p->q[qi].text));
	buf_puts(&b, "\nTask: find what the passages above say that answers the sub-question. "
	    "For each finding give the passage number, the claim in one sentence, and a quote "
	    "copied exactly from that passage (at least 8 words) that proves it. "
	    "If the passages do not answer the sub-question, return an empty list.\n");
	put_language(p, &b);
	pl_put_question(p, &b);

	item = obj_schema(json_pack("{s:{s:s, s:o}, s:o, s:o}",
	    "passage", "type", "integer", "enum", pass_enum,
	    "claim", str_schema(400), "quote", str_schema(PL_MAX_QUOTE)),
	    (const char *const[]){ "passage", "claim", "quote", NULL });
	props = json_pack("{s:o}", "findings", array_schema(item, 0, 4));
	evidence_free(&ev);
	free(rk);
	return pl_request(p, "read", obj_schema(props, (const char *const[]){ "findings", NULL }), &b);
}

static const char *qstate_name(enum pl_qstate st)
{
	switch (st) {
	case PLQ_ANSWERED: return "answered";
	case PLQ_MISSING: return "missing";
	case PLQ_CONTRADICTED: return "contradicted";
	default: return "open";
	}
}

json_t *pl_call_reflect(struct planner *p)
{
	json_t *ids = json_array(), *item, *props, *newitem;
	struct buf b;
	int room = (int)(PL_MAX_QUESTIONS - p->nq);

	if (room > 2)
		room = 2;
	buf_init(&b, PROMPT_MAX);
	for (size_t i = 0; i < p->nq; i++) {
		size_t nf = 0;

		for (size_t k = 0; k < p->nf; k++)
			nf += p->f[k].verified && p->f[k].question == (int)i;
		buf_printf(&b, "Q%zu (%s, findings: %zu): ", i + 1, qstate_name(p->q[i].state), nf);
		pl_put_flat(&b, p->q[i].text, strlen(p->q[i].text));
		buf_putc(&b, '\n');
		/* Two claims per sub-question at most: the prompt must not grow
		 * with the job's age. */
		for (size_t k = 0, shown = 0; k < p->nf && shown < 2; k++)
			if (p->f[k].verified && p->f[k].question == (int)i) {
				buf_puts(&b, "  - ");
				pl_put_flat(&b, p->f[k].claim, strlen(p->f[k].claim));
				buf_putc(&b, '\n');
				shown++;
			}
		json_array_append_new(ids, json_sprintf("Q%zu", i + 1));
	}
	/* The latest queries only, with their result counts, so the model
	 * changes angle instead of repeating itself. */
	for (size_t i = p->nqr > 24 ? p->nqr - 24 : 0; i < p->nqr; i++) {
		buf_puts(&b, "TRIED: \"");
		pl_put_flat(&b, p->qr[i].text, strlen(p->qr[i].text));
		buf_printf(&b, "\" (results: %d)\n", p->qr[i].results);
	}
	buf_printf(&b, "Task: for each sub-question say whether the findings answer it (answered), "
	    "leave it open (missing) or disagree (contradicted). Then propose at most %d new "
	    "sub-questions, each with new search queries unlike the ones tried, only for what is "
	    "still missing; none when nothing is missing.\n", room);
	put_language(p, &b);
	pl_put_question(p, &b);

	item = obj_schema(json_pack("{s:{s:s, s:o}, s:{s:s, s:[s,s,s]}}",
	    "id", "type", "string", "enum", ids,
	    "state", "type", "string", "enum", "answered", "missing", "contradicted"),
	    (const char *const[]){ "id", "state", NULL });
	newitem = obj_schema(json_pack("{s:o, s:o}", "question", str_schema(300),
	    "queries", queries_schema()), (const char *const[]){ "question", "queries", NULL });
	props = json_pack("{s:o, s:o}", "states", array_schema(item, 0, (int)p->nq),
	    "new", array_schema(newitem, 0, room));
	return pl_request(p, "reflect", obj_schema(props, (const char *const[]){ "states", "new", NULL }), &b);
}

/* The verified findings, best first for text, packed into the evidence
 * budget; appends their lines to b and their ids to ids. */
static void put_findings(struct planner *p, struct buf *b, const char *text, const int *only,
    size_t nonly, int shrink, json_t *ids)
{
	struct ranked *rk = xcalloc(p->nf + 1, sizeof(*rk));
	struct evidence ev;
	size_t n = 0;

	for (size_t k = 0; k < p->nf; k++) {
		bool in = only == NULL;

		for (size_t j = 0; j < nonly && !in; j++)
			in = only[j] == p->f[k].id;
		if (!p->f[k].verified || !in)
			continue;
		rk[n].i = k;
		rk[n].score = planner_overlap(text, p->f[k].claim, strlen(p->f[k].claim));
		n++;
	}
	qsort(rk, n, sizeof(*rk), ranked_cmp);
	evidence_init(&ev, n);
	for (size_t i = 0; i < n; i++) {
		struct pl_finding *f = &p->f[rk[i].i];
		struct buf l;

		buf_init(&l, 4096);
		pl_put_flat(&l, f->claim, strlen(f->claim));
		buf_puts(&l, " | \"");
		pl_put_flat(&l, f->quote, strlen(f->quote));
		buf_putc(&l, '"');
		evidence_set(&ev, i, 'F', f->id, l.data ? buf_steal(&l) : xstrdup(""));
	}
	evidence_pack(p, &ev, shrink);
	for (size_t c = 0; c < ev.pr.n_chosen; c++) {
		size_t i = ev.chosen[c];

		buf_printf(b, "[%s] %s\n", ev.items[i].id, ev.items[i].text);
		json_array_append_new(ids, json_integer(p->f[rk[i].i].id));
	}
	evidence_free(&ev);
	free(rk);
}

static json_t *cites_schema(json_t *ids, int min)
{
	return array_schema(json_pack("{s:s, s:O}", "type", "integer", "enum", ids), min, 6);
}

json_t *pl_call_outline(struct planner *p, int shrink)
{
	json_t *ids = json_array(), *sent, *sec, *props;
	struct buf b;

	buf_init(&b, PROMPT_MAX);
	put_findings(p, &b, p->question, NULL, 0, shrink, ids);
	if (json_array_size(ids) == 0) {
		buf_free(&b);
		json_decref(ids);
		return NULL;
	}
	buf_printf(&b, "Task: plan the report that answers the question from the findings above: "
	    "a title, a short answer of one to three sentences (each citing the ids of the findings "
	    "it rests on), and one to %d sections, each with a heading and the ids of the findings "
	    "it will present.\n", PL_MAX_SECTIONS);
	put_language(p, &b);
	pl_put_question(p, &b);
	sent = obj_schema(json_pack("{s:o, s:o}", "text", str_schema(500), "cites", cites_schema(ids, 1)),
	    (const char *const[]){ "text", "cites", NULL });
	sec = obj_schema(json_pack("{s:o, s:o}", "heading", str_schema(120),
	    "findings", array_schema(json_pack("{s:s, s:O}", "type", "integer", "enum", ids), 1, 40)),
	    (const char *const[]){ "heading", "findings", NULL });
	props = json_pack("{s:o, s:o, s:o}", "title", str_schema(200),
	    "short_answer", array_schema(sent, 1, 3), "sections", array_schema(sec, 1, PL_MAX_SECTIONS));
	json_decref(ids);
	return pl_request(p, "outline", obj_schema(props,
	    (const char *const[]){ "title", "short_answer", "sections", NULL }), &b);
}

json_t *pl_call_write(struct planner *p, int si, int shrink)
{
	struct pl_section *sec = &p->sec[si];
	json_t *ids = json_array(), *sent, *props;
	struct buf b;

	buf_init(&b, PROMPT_MAX);
	put_findings(p, &b, sec->heading, sec->findings, sec->nfindings, shrink, ids);
	if (json_array_size(ids) == 0) {
		buf_free(&b);
		json_decref(ids);
		return NULL;
	}
	buf_puts(&b, "SECTION: ");
	pl_put_flat(&b, sec->heading, strlen(sec->heading));
	buf_printf(&b, "\nTask: write this section of the report as at most %d sentences. Every "
	    "sentence states only what the findings above support and cites the ids of those "
	    "findings. Do not write URLs or reference numbers.\n", PL_MAX_SENTENCES);
	put_language(p, &b);
	pl_put_question(p, &b);
	sent = obj_schema(json_pack("{s:o, s:o}", "text", str_schema(500), "cites", cites_schema(ids, 1)),
	    (const char *const[]){ "text", "cites", NULL });
	props = json_pack("{s:o}", "sentences", array_schema(sent, 1, PL_MAX_SENTENCES));
	json_decref(ids);
	return pl_request(p, "write", obj_schema(props, (const char *const[]){ "sentences", NULL }), &b);
}
