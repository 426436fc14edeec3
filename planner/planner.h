/* The research loop of one job, as a pure state machine.
 *
 * The planner never runs anything itself: planner_next() hands the runner a
 * batch of effect requests (model calls, searches, fetches, text
 * extraction, clock readings); the runner runs or replays them and gives
 * every result back with planner_apply(), then calls planner_next() again.
 * Results are applied in slot order whatever order they completed in, and
 * the planner reads nothing but its spec, those results and immutable
 * content addressed by hash (a source's extracted text, through env), so a
 * job that runs again after a crash takes exactly the same path. */
#ifndef RESEARCHD_PLANNER_H
#define RESEARCHD_PLANNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct planner;

/* What the planner may read besides effect results: immutable text by its
 * content hash (hex BLAKE2b). *ret is malloc'd and NUL-terminated. */
struct planner_env {
	int (*text_get)(void *ud, const char *text_hash, char **ret, size_t *ret_len);
	void *ud;
};

/* The job: its question and options as stored at submit ("max_tokens",
 * "max_time" (s), "max_fetches", "max_depth", "max_breadth", "context"
 * (tokens per model slot), "language", "backends"; and "owner", the uid
 * of the job's user, which the runner adds). */
int planner_new(int64_t job_id, const char *question, const json_t *options,
    const struct planner_env *env, struct planner **ret);
struct planner *planner_free(struct planner *p);

/* A follow-up job: before the first planner_next, seed the planner with its
 * parent job's report data (planner_report_data's form; every source with
 * text also carries "passages", [[start, end], ...] of that text). Sources
 * with text are taken as they are (no fetch, no extraction), verified
 * findings once their quotes are found again in that text; a sub-question
 * and source the parent read ("reads") are not read again. -EBUSY after
 * the first batch, -EINVAL for data of another form. */
int planner_set_parent(struct planner *p, int64_t parent_id, const json_t *data);

/* One effect the planner needs. */
struct planner_req {
	const char *kind;	/* "llm.chat", "web.search", "web.fetch", "doc.text", "clock.now" */
	json_t *request;	/* borrowed: valid until the next planner_next/free */
	int priority;		/* a scheduling hint, never part of the request */
};

/* The next batch. *ret_n == 0 means the planner is finished: take the
 * report with planner_report(). The array belongs to the planner. */
int planner_next(struct planner *p, const struct planner_req **ret, size_t *ret_n);
/* The outcome of slot i of the current batch: r == 0 with result, or r < 0
 * when the effect failed for good (the runner gave up on it). */
int planner_apply(struct planner *p, size_t slot, int r, const json_t *result);
/* All slots of the batch applied: decide what comes next. */
int planner_barrier(struct planner *p);

/* Ask the planner to stop researching and write with what it has (the
 * user's `research finish`); given as the job's input, so replays agree. */
void planner_finish_now(struct planner *p, const char *why);

/* ---- a person in the loop (options "interactive", "review_plan") ----
 * When planner_next gives an empty batch and planner_waiting() is not
 * NULL, the planner waits for a person's input, which the runner records
 * as the job's input (a decision) and hands over with planner_set_*();
 * then planner_next goes on. */
#define PLANNER_MAX_ANSWER 2000		/* bytes of one answer */

/* "answer" (to planner_questions()), "approval" (of planner_plan()) or NULL. */
const char *planner_waiting(const struct planner *p);
/* The clarifying questions asked: an array of strings (new reference). */
json_t *planner_questions(const struct planner *p);
/* Is there a plan (planning is done)? */
bool planner_has_plan(const struct planner *p);
/* The plan: {"subquestions":[{"question":S,"queries":[S,...],"origin":O}]},
 * origin "plan", "user" or "gap" (added by reflection). A new reference. */
json_t *planner_plan(const struct planner *p);
/* Check a plan a person edited ({"subquestions":[...]} as above, origin
 * ignored): 0, or -EINVAL with a sentence in err. */
int planner_plan_check(const json_t *plan, char *err, size_t errlen);
/* The answers: {"answers":[S,...]} or {"skipped":WHY}. -EINVAL when the
 * planner does not wait for answers or in is neither. */
int planner_set_answers(struct planner *p, const json_t *in);
/* The approval: {} (the plan as it is), {"plan":PLAN} (edited: removed
 * sub-questions are never researched, added ones are) or {"skipped":WHY}
 * (no approval came: the plan as it is). */
int planner_set_plan(struct planner *p, const json_t *in);

/* Progress for watchers: phase, open/done sub-questions, sources fetched,
 * findings kept/rejected, tokens used. A new reference. */
json_t *planner_progress(const struct planner *p);

/* When finished: the Markdown report and the data behind it (sub-questions,
 * findings, citations, figures); borrowed. */
const char *planner_report(const struct planner *p);
const json_t *planner_report_data(const struct planner *p);

/* ---- pure helpers, exposed for tests ---- */

/* Lower-case ASCII, letters and digits only, single spaces: the form under
 * which two search queries count as the same. */
char *planner_query_norm(const char *q);
/* Term-overlap score of text against the words of query (BM25-like,
 * without collection statistics). */
double planner_overlap(const char *query, const char *text, size_t len);

#endif
