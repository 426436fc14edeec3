/* The research runner's state, shared by its files: research.c (batches,
 * barrier, publish), research-parent.c (a follow-up's parent), and
 * research-wait.c (waiting for a person). Not for anyone else. */
#ifndef RESEARCHD_RESEARCH_INTERNAL_H
#define RESEARCHD_RESEARCH_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "job.h"

struct daemon;
struct job_run;
struct planner;
struct planner_req;
struct effect_call;

#define RESEARCH_MAX_BATCH 64
#define RESEARCH_ANSWER_TIMEOUT_S 600	/* default of option "answer_timeout" */
#define RESEARCH_GIVE_UP_TRIES 3	/* of a search, fetch or extraction */
#define RESEARCH_BACKOFF_MAX_MS 60000
#define RESEARCH_MAX_TEXT (16 * 1024 * 1024)
#define RESEARCH_MAX_REPORT_DATA (64 * 1024 * 1024)	/* a parent's report data */

struct research;

struct research_slot {
	struct research *rs;
	size_t i;
	struct effect_call *call;
	json_t *result;
	int r;
	bool done, replayed;
	bool gave_up;		/* failed for good: the planner sees a failure */
	unsigned tries;
};

struct research {
	struct job_run *run;
	struct daemon *d;
	struct planner *p;
	const struct planner_req *reqs;
	size_t n, pending;
	unsigned batch;			/* barriers passed: the planner's clock */
	int64_t finish_at;		/* the batch a user's finish applies at, or -1 */
	bool finish_requested;		/* not placed at a batch yet */
	bool finish_live;		/* asked while this run was going */
	bool advancing, again, stopping, waiting_model;
	const char *waiting;		/* for a person: "answer", "approval", or NULL */
	uv_timer_t timer;		/* retries, yields and the answer's deadline */
	bool timer_live;
	struct research_slot slots[RESEARCH_MAX_BATCH];
};

/* research.c */
void research_advance(struct research *rs);
/* jobs_event borrows data: this takes it. */
void research_event(struct research *rs, const char *type, json_t *data);
int research_decide(struct research *rs, const char *name, const json_t *proposed, json_t **ret);
/* Was name decided already? (-ENOENT when not.) */
int research_decided(struct research *rs, const char *name, json_t **ret);
int research_text_get(void *ud, const char *text_hash, char **ret, size_t *ret_len);
void research_end(struct research *rs, enum job_state state, const char *msg);
void research_schedule_cb(struct research *rs, uint64_t ms, uv_timer_cb cb);
void research_schedule(struct research *rs, uint64_t ms);

/* research-parent.c: the parent's report data, ready for the planner */
int research_parent_load(struct research *rs, int64_t parent, json_t **ret);

/* research-wait.c */
bool research_wait(struct research *rs, const char *what);
int research_wait_give(struct research *rs, const char *what, const json_t *input);
/* The job runner's input hook: answer, plan and approve ops. */
int research_input(int64_t job_id, struct job_run *run, const char *op, const json_t *args,
    json_t **ret, char *err, size_t errlen, void *userdata);

#endif
