/* Jobs: submission, the state machine, the scheduler, runners and event
 * watchers. The research itself is a runner registered for its kind. */
#ifndef RESEARCHD_JOB_H
#define RESEARCHD_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"
#include "store.h"

struct daemon;
struct jobs;
struct job_run;
struct job_watch;

#define JOBS_MAX_RUNNING 64
#define JOBS_MAX_WATCHERS 4096

/* A runner carries out jobs of one kind. start() begins (or, after a
 * restart, resumes from the start: effects replay) and later calls
 * job_run_finish() once. stop() must stop all work at once (the job is being
 * cancelled, paused or the daemon is stopping) and never call finish. */
struct job_runner {
	const char *kind;
	int (*start)(struct job_run *run, void *userdata);
	void (*stop)(struct job_run *run, void *userdata);
	/* Check a submission's options for this kind; write a sentence into
	 * err and return -EINVAL if they are wrong. May be NULL. */
	int (*check)(const json_t *options, char *err, size_t errlen, void *userdata);
	/* Can jobs of this kind start now? NULL: always. When not, *why (may
	 * stay NULL) says what they wait for; the runner calls jobs_schedule
	 * once they can. */
	bool (*ready)(const char **why, void *userdata);
	/* Stop researching and write up what the job has (research finish):
	 * run is NULL when the job is not running now. NULL: not offered. */
	int (*finish)(int64_t job_id, struct job_run *run, void *userdata);
	/* A person's input to a job (op "answer", "approve") or a look at
	 * what it waits on ("plan"): run is NULL when it is not running.
	 * *ret (may stay NULL) is the reply's data; -EINVAL with a sentence
	 * in err for bad input, -EBUSY when the job does not wait for it.
	 * NULL: not offered. */
	int (*input)(int64_t job_id, struct job_run *run, const char *op, const json_t *args,
	    json_t **ret, char *err, size_t errlen, void *userdata);
	void *userdata;
};

int jobs_new(struct daemon *d, struct jobs **ret);
struct jobs *jobs_free(struct jobs *j);
int jobs_register_runner(struct jobs *j, const struct job_runner *runner);

/* Is the transition from -> to one the state machine allows? */
bool job_state_change_allowed(enum job_state from, enum job_state to);

/* Put jobs left running by a crash back in the queue; start the scheduler. */
int jobs_recover(struct jobs *j);
/* Stop every runner (their jobs return to the queue) for shutdown. */
void jobs_shutdown(struct jobs *j);
/* Start queued jobs while slots are free (after submit, resume, finish,
 * reload). */
void jobs_schedule(struct jobs *j);
unsigned jobs_running(const struct jobs *j);
/* Jobs in each state, kept in memory (no query). */
void jobs_counts(const struct jobs *j, int64_t ret[_JOB_STATE_MAX]);

/* Why queued jobs of kind cannot start now (their runner is not ready),
 * or NULL. */
const char *jobs_waiting_for(struct jobs *j, const char *kind);

/* Validate options against the kind and the [budget] defaults; on success
 * *ret gets the effective options (new reference). */
int jobs_options(struct jobs *j, const char *kind, const json_t *given, json_t **ret,
    char *err, size_t errlen);
int jobs_submit(struct jobs *j, uid_t owner, const char *kind, const char *question,
    const json_t *options, int64_t *ret_id, char *err, size_t errlen);
/* -ENOENT no such job, -EBUSY the transition is not allowed now. */
int jobs_cancel(struct jobs *j, int64_t id, const char *reason);
int jobs_pause(struct jobs *j, int64_t id);
int jobs_resume(struct jobs *j, int64_t id);
/* Ask a job to stop researching and publish what it has; a paused job is
 * resumed to do so. -ENOENT no such job, -EBUSY it has ended, -ENOTSUP its
 * kind cannot. */
int jobs_finish(struct jobs *j, int64_t id);

/* Hand a person's input to a job's runner (struct job_runner.input):
 * -ENOENT no such job, -ENOTSUP its kind takes none, -EBUSY it has ended
 * or does not wait for it, -EINVAL bad input (err says why). */
int jobs_input(struct jobs *j, int64_t id, const char *op, const json_t *args, json_t **ret,
    char *err, size_t errlen);
/* What a waiting job waits for ("answer", "approval"), or NULL. */
const char *jobs_job_waiting_for(struct jobs *j, int64_t id);

/* Append an event to a job's log and tell its watchers. */
int jobs_event(struct jobs *j, int64_t id, const char *type, json_t *data);
/* Tell watchers that events up to now were appended (by someone else, e.g.
 * the effects layer inside its own transaction). */
void jobs_notify(struct jobs *j, int64_t id);

/* Watchers: fn is called after new events are stored for the job. */
typedef void (*job_watch_fn)(struct job_watch *w, int64_t job_id, void *userdata);
struct job_watch *jobs_watch(struct jobs *j, int64_t id, job_watch_fn fn, void *userdata);
struct job_watch *job_watch_free(struct job_watch *w);

/* For runners. */
int64_t job_run_id(const struct job_run *r);
const struct store_job *job_run_job(const struct job_run *r);
struct daemon *job_run_daemon(const struct job_run *r);
void job_run_set_data(struct job_run *r, void *data);
void *job_run_get_data(const struct job_run *r);
/* The run waits for a person's input (what: "answer" or "approval"):
 * running -> waiting, with a "waiting" event carrying data (stolen, may
 * be NULL) and message for status. The run keeps its slot. */
int job_run_wait(struct job_run *r, const char *what, const char *message, json_t *data);
/* The input came: waiting -> running. */
int job_run_unwait(struct job_run *r);
/* End the run: state is JOB_DONE or JOB_FAILED; message may be NULL. */
void job_run_finish(struct job_run *r, enum job_state state, const char *message);
void job_run_log(struct job_run *r, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
