/* The store: one SQLite database holding jobs, their append-only event log,
 * stored effects and reports. All SQL of the project lives in store/. */
#ifndef RESEARCHD_STORE_H
#define RESEARCHD_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "protocol.h"

struct store;

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_MAX_QUESTION PROTOCOL_MAX_QUESTION

/* Open (creating if needed) and migrate the database at path. A database
 * written by a newer researchd is refused with -EPROTONOSUPPORT. */
int store_open(const char *path, struct store **ret);
struct store *store_close(struct store *s);
/* The last SQLite error message, for the caller's log line. */
const char *store_errmsg(struct store *s);
int store_schema_version(struct store *s, int *ret);
/* The number of migrations this build knows. */
int store_schema_latest(void);
int64_t store_db_bytes(struct store *s);

/* Transactions nest by counting: only the outermost commits. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

struct store_job {
	int64_t id;
	uid_t owner;
	char *kind;
	char *question;
	json_t *options;	/* object */
	enum job_state state;
	char *message;		/* NULL or why it failed / was cancelled */
	json_t *usage;		/* object of integer counters */
	int64_t created, updated, started, finished;	/* ms since epoch; 0 = never */
	int64_t events;		/* number of events */
};

struct store_job *store_job_free(struct store_job *j);
/* Insert a new job (id, usage, events ignored); *ret_id gets its id. */
int store_job_insert(struct store *s, const struct store_job *j, int64_t *ret_id);
/* -ENOENT if no such job. */
int store_job_get(struct store *s, int64_t id, struct store_job **ret);
/* Set state, message (may be NULL) and timestamps: started is set when
 * entering running for the first time, finished when entering a final
 * state. No checking of the transition: agent/job.c decides. */
int store_job_set_state(struct store *s, int64_t id, enum job_state state,
    const char *message, int64_t now_ms);
/* Add each integer counter of cost (an object) to the job's usage. */
int store_job_add_usage(struct store *s, int64_t id, const json_t *cost, int64_t now_ms);

typedef int (*store_job_fn)(const struct store_job *j, void *userdata);
/* Jobs of owner (or every owner when owner == (uid_t)-1) in state (or any
 * when state < 0), the newest limit of them, in ascending id order. */
int store_job_list(struct store *s, uid_t owner, int state, int64_t limit,
    store_job_fn fn, void *userdata);
/* Ids of the jobs in a given state (and kind, unless NULL), ascending, at
 * most max. */
int store_job_ids(struct store *s, enum job_state state, const char *kind, int64_t *ids,
    size_t max, size_t *ret_n);
/* Jobs queued, running or paused. */
int store_job_count_unfinished(struct store *s, int64_t *ret);
int store_job_count(struct store *s, int64_t counts[_JOB_STATE_MAX]);

struct store_event {
	int64_t job_id;
	int64_t seq;
	int64_t time;		/* ms since epoch */
	const char *type;
	const char *data;	/* JSON text */
	uint8_t hash[HASH_BYTES];
};

/* Append an event; its hash chains the previous event's hash, seq, time,
 * type and data. *ret_seq (may be NULL) gets its sequence number. */
int store_event_append(struct store *s, int64_t job_id, int64_t time_ms, const char *type,
    const json_t *data, int64_t *ret_seq);
typedef int (*store_event_fn)(const struct store_event *e, void *userdata);
/* Events with seq > since, ascending, at most limit. */
int store_event_list(struct store *s, int64_t job_id, int64_t since, int64_t limit,
    store_event_fn fn, void *userdata);
/* Recompute the chain; -EBADMSG at the first event that does not match. */
int store_event_verify(struct store *s, int64_t job_id, int64_t *ret_bad_seq);

/* Stored effect results, per job and key. -ENOENT when absent. */
int store_effect_get(struct store *s, int64_t job_id, const uint8_t key[HASH_BYTES],
    json_t **ret_result);
int store_effect_put(struct store *s, int64_t job_id, const uint8_t key[HASH_BYTES],
    const char *kind, const char *request, const json_t *result, int64_t ms, int64_t now_ms);
int store_effect_count(struct store *s, int64_t job_id, int64_t *ret);

/* Reports, one per job and format ("markdown", "json"). */
int store_report_put(struct store *s, int64_t job_id, const char *format, const char *body,
    int64_t now_ms);
int store_report_get(struct store *s, int64_t job_id, const char *format, char **ret_body);

#endif
