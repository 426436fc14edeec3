/* The planner's state, shared by its files (planner.c drives the loop,
 * prompt.c builds the model calls, report.c verifies and renders). */
#ifndef RESEARCHD_PLANNER_INTERNAL_H
#define RESEARCHD_PLANNER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "planner.h"
#include "quote.h"

/* Every limit of one job's state. */
#define PL_MAX_QUESTIONS	24
#define PL_MAX_QUERIES		64
#define PL_MAX_SOURCES		64
#define PL_MAX_FINDINGS		400
#define PL_MAX_BATCH		64
#define PL_MAX_ROUNDS		6	/* the hard step cap on reflect rounds */
#define PL_MAX_TEXT		(4 * 1024 * 1024)	/* bytes of a source read */
#define PL_URLS_PER_QUESTION	3	/* fetched per sub-question and round */
#define PL_READS_PER_QUESTION	4
#define PL_MAX_SECTIONS		6
#define PL_MAX_SENTENCES	12
#define PL_MIN_CONTEXT		2048
#define PL_MAX_CONTEXT		131072
#define PL_MAX_STR		600	/* characters of a model-written field */
#define PL_MAX_QUOTE		700
#define PL_MAX_SHRINKS		3	/* evidence halvings after a context overflow */

enum pl_phase {
	PL_START, PL_BRIEF, PL_PLAN, PL_SEARCH, PL_FETCH, PL_TEXT, PL_READ, PL_CLOCK,
	PL_REFLECT, PL_OUTLINE, PL_WRITE, PL_JUDGE, PL_REWRITE, PL_REJUDGE, PL_END, PL_DONE,
	/* a person in the loop (hitl.c): questions, the wait for their
	 * answers, the wait for the plan's approval */
	PL_CLARIFY, PL_ASK, PL_REVIEW,
};

#define PL_MAX_CLARIFY 3	/* clarifying questions asked */

enum pl_qstate { PLQ_OPEN, PLQ_ANSWERED, PLQ_MISSING, PLQ_CONTRADICTED };

struct pl_question {
	char *text;
	int parent;		/* -1 for the plan's own */
	int round;		/* added in */
	enum pl_qstate state;
	int tried;		/* rounds it was searched for */
	bool gap_added;		/* came from reflection */
	bool from_parent;	/* a follow-up's stand-in for its parent job's findings */
	bool user_added;	/* added by the person who reviewed the plan */
};

struct pl_query {
	char *text, *norm;
	int question;
	int round;
	bool searched;
	int results;
};

enum pl_sstate { PLS_NEW, PLS_FETCHED, PLS_TEXT, PLS_FAILED };

struct pl_source {
	char *url, *final_url, *title, *snippet;
	char *hash;		/* of the fetched body (its snapshot) */
	char *text_hash;	/* of the extracted text */
	char *content_type;
	char *error;
	bool local;		/* a document of the local index */
	enum pl_sstate state;
	int64_t fetched;	/* ms since the epoch */
	char *text;		/* the extracted text, read through env */
	size_t len;
	bool cut;		/* longer than PL_MAX_TEXT: read in its first part */
	struct quote_text *qt;	/* the text normalised for quote matching, once */
	size_t (*pass)[2];	/* passages [start, end) */
	size_t npass;
	uint64_t questions;	/* bit i: found by a query of question i */
	uint64_t read;		/* bit i: read for question i */
	int cite;		/* [n] in the report, 0 when not cited */
	bool from_parent;	/* taken with its text from a follow-up's parent job */
};

struct pl_finding {
	int id;			/* F<id> in prompts, from 1 */
	int question, source;
	char *claim, *quote;
	size_t start, end;	/* of the quote in the source's text */
	bool verified;
	const char *reason;	/* why rejected */
	int parent_q;		/* the parent job's sub-question id it came from; 0: none */
};

/* What a slot of the current batch is for. */
struct pl_slot {
	int what;		/* enum pl_phase of the call */
	int a, b;		/* question/source/section indexes */
	int shrink;		/* evidence halvings so far */
};

enum pl_verdict { PLV_NONE, PLV_SUPPORTED, PLV_PARTLY, PLV_UNSUPPORTED };

struct pl_sentence {
	char *text;
	int cites[8];
	size_t ncites;
	enum pl_verdict verdict;	/* the verifier's, last judged */
	bool judged, rewritten;
};

struct pl_section {
	char *heading;
	int findings[PL_MAX_FINDINGS];
	size_t nfindings;
	struct pl_sentence sent[PL_MAX_SENTENCES];
	size_t nsent;
	bool written;
};

struct planner {
	int64_t job_id;
	char *question;
	struct planner_env env;
	/* options */
	int64_t max_tokens, max_time_ms, max_fetches;
	int depth, breadth, context;
	int depth_asked;	/* depth is this, capped at PL_MAX_ROUNDS */
	int64_t owner;		/* the job's user: whose local documents it searches */
	char *language;		/* NULL: the brief decides */
	json_t *backends;	/* NULL: every configured one */

	enum pl_phase phase;
	int round;
	int64_t t0, now;
	char *finish_why;	/* set by planner_finish_now */
	const char *ended_by;	/* why research stopped */

	/* brief */
	char *scope, *complete;
	char *lang;
	json_t *key_terms;

	struct pl_question q[PL_MAX_QUESTIONS];
	size_t nq;
	struct pl_query qr[PL_MAX_QUERIES];
	size_t nqr;
	struct pl_source s[PL_MAX_SOURCES];
	size_t ns;
	struct pl_finding *f;	/* PL_MAX_FINDINGS */
	size_t nf;
	size_t kept_round;	/* verified findings at the start of the round */
	char *gaps_prev;	/* the gap list of the previous reflection */
	bool gaps_same;

	/* counters for "Method and limits" */
	int64_t tokens, prompt_tokens, completion_tokens;
	int64_t fetches, model_calls, model_errors, searches;
	size_t rejected_not_found, rejected_short, rejected_other;
	size_t dropped_queries, dropped_urls, duplicates;
	bool fetch_spent;	/* a source went unfetched for max_fetches */
	char *model, *endpoint;

	/* writing */
	char *title;
	struct pl_sentence answer[PL_MAX_SENTENCES];
	size_t nanswer;
	struct pl_section *sec;	/* PL_MAX_SECTIONS */
	size_t nsec;

	/* the current batch */
	struct planner_req req[PL_MAX_BATCH];
	struct pl_slot slot[PL_MAX_BATCH];
	size_t nreq;

	/* a person in the loop (hitl.c) */
	bool interactive, review_plan;
	json_t *clarify;	/* the questions asked (array), NULL before */
	json_t *answers;	/* their answers (array), NULL when none came */
	char *skipped;		/* why no answer (or approval) came */
	bool answered, approved;
	bool plan_edited;
	json_t *plan_removed;	/* sub-questions the reviewer removed */
	char *approval_skipped;
	/* the verifier pass */
	bool verifier;		/* enabled (the job's "verifier" option) */
	size_t judged, supported, partly, rewritten, removed_unsupported;
	size_t judge_failed;	/* judge calls that got no answer */
	size_t judge_calls;

	char *report;
	json_t *report_data;

	/* a follow-up: the parent job and its report data (immutable) */
	int64_t parent;
	json_t *parent_data;
	size_t parent_sources, parent_findings;	/* taken from it */
};

/* prompt.c: the model calls, one schema each. */
void pl_put_flat(struct buf *b, const char *s, size_t n);	/* one line */
void pl_put_question(struct planner *p, struct buf *b);		/* "QUESTION: ..." */
/* A model call's request: the job's system text, user (freed), the schema
 * (stolen) under name, the output budget. */
json_t *pl_request(struct planner *p, const char *name, json_t *schema, struct buf *user);
json_t *pl_call_brief(struct planner *p);
json_t *pl_call_plan(struct planner *p);
json_t *pl_call_read(struct planner *p, int q, int s, int shrink);
json_t *pl_call_reflect(struct planner *p);
json_t *pl_call_outline(struct planner *p, int shrink);
json_t *pl_call_write(struct planner *p, int sec, int shrink);
/* Tokens of evidence one call may carry, after halvings. */
int64_t pl_evidence_budget(const struct planner *p, int shrink);
int64_t pl_output_budget(const struct planner *p);

/* Find a quote in source s's text (normalised once, on first use). */
int pl_quote_find(struct pl_source *s, const char *quote, size_t *ret_start, size_t *ret_end);

/* parent.c: did the parent job read source si for sub-question q? If so
 * its findings from that read count for q. */
bool pl_parent_read(struct planner *p, size_t q, size_t si);
/* judge.c: the verifier pass over the written sentences */
void pl_build_judge(struct planner *p, bool again);
void pl_build_rewrite(struct planner *p);
void pl_apply_judge(struct planner *p, int sec, int r, const json_t *v);
void pl_apply_rewrite(struct planner *p, int sec, const json_t *v);
/* The sentences of section sec (-1: the short answer). */
struct pl_sentence *pl_sentences(struct planner *p, int sec, size_t *ret_n);
/* Does sentence s pass the deterministic checks (cites only verified
 * findings of its section, no URL)? */
bool pl_sentence_ok(const struct planner *p, const struct pl_sentence *s, int sec);

/* report.c */
int pl_report_build(struct planner *p);

/* hitl.c: a person in the loop */
json_t *pl_call_clarify(struct planner *p);
void pl_apply_clarify(struct planner *p, const json_t *v);
/* Lines for the brief's prompt: the questions asked and their answers. */
void pl_hitl_prompt(struct planner *p, struct buf *b);
/* Lines for "Method and limits", and the report data's "human". */
void pl_hitl_report(struct planner *p, struct buf *b);
json_t *pl_hitl_report_data(const struct planner *p);
void pl_hitl_free(struct planner *p);

/* text.c */
char *pl_strdup_capped(const char *s, size_t max);
void pl_sentence_drop(struct pl_sentence *s);
int pl_language_ok(const char *s);

/* planner.c: a request in the current batch (request stolen) */
void pl_add_request(struct planner *p, const char *kind, json_t *request, int what, int a);
/* planner.c: questions and queries, deduplicated in code */
int pl_add_question(struct planner *p, const char *text, int parent, bool gap);
bool pl_add_query(struct planner *p, const char *text, int question);
void pl_add_plan(struct planner *p, const json_t *list, bool gap);
size_t pl_verified_count(const struct planner *p);

/* fold.c: a source's text (taken), cut at PL_MAX_TEXT on a character
 * boundary */
void pl_source_set_text(struct pl_source *s, char *text, size_t len);
/* fold.c: the answers of the steps (NULL: the model gave none) */
void pl_apply_plan(struct planner *p, const json_t *v);
void pl_apply_reflect(struct planner *p, const json_t *v);
void pl_apply_outline(struct planner *p, const json_t *v);
void pl_apply_write(struct planner *p, int si, const json_t *v);
void pl_outline_fallback(struct planner *p);

#endif
