/* The fake-effects driver of the planner tests: a scripted world (search
 * hits, pages, extracted texts, model replies) answers every request of a
 * batch, the results are applied in slot order and the barrier passed, the
 * way agent/research.c drives the planner; and the worlds the tests share. */
#ifndef RESEARCHD_TEST_PLANNER_WORLD_H
#define RESEARCHD_TEST_PLANNER_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "planner.h"

#define T0	INT64_C(1709208000000)	/* 2024-02-29 12:00:00 UTC: the first clock reading */
#define DAY_A	INT64_C(1704110400000)	/* 2024-01-01 12:00:00 UTC */
#define DAY_B	INT64_C(1709208000000)	/* 2024-02-29 12:00:00 UTC */
#define DAY_C	INT64_C(1735646400000)	/* 2024-12-31 12:00:00 UTC */
#define MAX_BATCHES	200	/* far past any job here: the driver fails, never hangs */
#define MAX_CALLS	2000

struct page {
	const char *url, *final_url, *title, *hash, *text_hash, *text;
	int64_t fetched;
	int lines;		/* each line a passage; otherwise one passage */
};

struct hits {
	const char *q;
	const char *urls[4];
};

/* A read of the source titled title for sub-question subq (NULL: any)
 * finds claim with quote. */
struct read_script {
	const char *title, *subq, *claim, *quote;
};

struct write_script {
	const char *heading, *reply;
};

struct call {
	int batch;
	char kind[16], schema[16];
	char *prompt;		/* llm.chat: the user message */
	char *arg;		/* web.search: q; web.fetch: url */
};

struct world {
	const struct page *pages;
	size_t npages;
	const struct hits *hits;
	size_t nhits;
	const struct read_script *reads;
	size_t nreads;
	const char *plan, *outline;
	const struct write_script *writes;
	size_t nwrites;
	/* Optional: the reply of the n-th reflect (from 0). */
	json_t *(*reflect)(struct world *w, int n);
	/* Optional: the whole result of the n-th read (an error included). */
	json_t *(*read)(struct world *w, int n, const char *prompt);
	/* Optional: any result, before the script (NULL: the script answers). */
	json_t *(*raw)(struct world *w, const char *kind, const char *schema, const json_t *request);
	/* Optional: the verifier's verdict on sentence id ("S1") of a judge
	 * prompt (NULL: supported), and the reply to a rewrite (NULL: none). */
	const char *(*verdict)(struct world *w, const char *id, const char *prompt);
	json_t *(*rewrite)(struct world *w, const char *prompt);
	bool verifier_down;	/* every llm.verify call fails */
	int64_t read_tokens;	/* prompt tokens a read reports; 0: 100 */
	const char *finish_after;	/* schema of the batch after which the user finishes */
	/* The "clarify" reply (NULL: no questions), and a person's input when
	 * the planner waits (NULL: waiting fails the test), handed over with
	 * planner_set_answers or planner_set_plan as the runner does. */
	const char *clarify;
	json_t *(*input)(struct world *w, const char *what);
	int waits;
	const char *options;
	/* Optional: a follow-up's parent (planner_set_parent as job 3). */
	const json_t *parent;
	/* what happened */
	struct call calls[MAX_CALLS];
	size_t ncalls;
	int batches;
	int64_t clock;
	struct planner *p;
	bool finished;
};

/* A world of numbered pages: page k holds one verified fact, found by the
 * query "query k". */
struct gen {
	struct page pages[24];
	struct hits hits[24];
	struct read_script reads[24];
	char text[24][160], url[24][64], title[24][32], hash[24][72], th[24][24];
	char quote[24][128], claim[24][64], q[24][32];
};

/* JSON written with single quotes, for readability. */
json_t *jl(const char *s);
struct world *world_new(void);
/* Run the job to its report; w->p holds the planner. */
void world_run(struct world *w, const char *question);
void world_free(struct world *w);
int world_text_get(void *ud, const char *text_hash, char **ret, size_t *ret_len);
/* The rest of the line of prompt that starts with marker, or "". */
void prompt_line(const char *prompt, const char *marker, char *out, size_t max);
/* Requests of kind (and schema, unless NULL) made so far. */
size_t count(const struct world *w, const char *kind, const char *schema);
/* The n-th llm.chat request of schema (from 0). */
const struct call *nth_call(const struct world *w, const char *schema, size_t n);
/* A model result with usage. */
json_t *llm_ok(json_t *reply, int64_t prompt_tokens);
void expect_in(const char *report, const char *want);
void expect_not_in(const char *report, const char *bad);

/* The bees world: three pages, two sub-questions, four findings. */
#define Q_SUN "How do bees use the sun?"
#define Q_DANCE "What does the waggle dance encode?"
#define BEE_QUESTION "How do honeybees find their way?"
extern const struct write_script bee_writes[];
struct world *bee_world(void);

/* Pages "Page k" of one fact each, found by "query k"; the section "All". */
extern const struct write_script gen_writes[];
struct gen *gen_new(struct world *w, size_t n);

#endif
