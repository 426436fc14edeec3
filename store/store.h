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

/* Transactions nest: the outermost level is a transaction, inner levels are
 * savepoints. An inner rollback undoes that level only; the outer one goes
 * on and its commit keeps its own writes. Only the outermost commit is
 * durable. */
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
/* Jobs queued, running, paused or waiting. */
int store_job_count_unfinished(struct store *s, int64_t *ret);
/* Jobs in each state. Reads an index per state: agent/job.c calls it once
 * at start and keeps the counts in memory from then on. */
int store_job_count(struct store *s, int64_t counts[_JOB_STATE_MAX]);
/* The query plan SQLite chose for each statement that lists or counts jobs,
 * one call per plan line (name of the statement, detail), for the tests
 * that check no statement reads every job. */
typedef int (*store_explain_fn)(const char *name, const char *detail, void *userdata);
int store_job_explain(struct store *s, store_explain_fn fn, void *userdata);

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
/* result is the result's JSON text (the effects layer encodes it once for
 * every job that stores it, and checks its size). */
int store_effect_put(struct store *s, int64_t job_id, const uint8_t key[HASH_BYTES],
    const char *kind, const char *request, const char *result, int64_t ms, int64_t now_ms);
int store_effect_count(struct store *s, int64_t job_id, int64_t *ret);
typedef int (*store_effect_fn)(int64_t job_id, const char *request, const char *result,
    int64_t ms, int64_t created, void *userdata);
/* Stored results of one kind, of job_id (all jobs when <= 0) of owner (any
 * when (uid_t)-1), oldest first, at most limit. */
int store_effect_list_kind(struct store *s, const char *kind, uid_t owner, int64_t job_id,
    int64_t limit, store_effect_fn fn, void *userdata);

/* Reports, one per job and format ("markdown", "json"). */
int store_report_put(struct store *s, int64_t job_id, const char *format, const char *body,
    int64_t now_ms);
int store_report_get(struct store *s, int64_t job_id, const char *format, char **ret_body);

/* A research job's sub-questions, findings and citations (store-research.c),
 * from the planner's report data ({"questions", "findings", "sources"}):
 * the job's rows are replaced whole in one transaction, so writing the same
 * data again leaves the same rows. */
int store_research_put(struct store *s, int64_t job_id, const json_t *data);
struct store_research_counts {
	int64_t questions, findings_kept, findings_rejected, citations;
};
int store_research_count(struct store *s, int64_t job_id, struct store_research_counts *ret);

/* The source cache, global to all jobs: one row per canonical URL with the
 * outcome of its last fetch; bodies are snapshots addressed by the BLAKE2b
 * hash of their bytes and stored zlib-compressed. */
#define STORE_MAX_SNAPSHOT (256 * 1024 * 1024)

struct store_source {
	int64_t id;
	char *url;		/* canonical URL: the key */
	char *final_url;	/* after redirects */
	int64_t status;		/* HTTP status */
	char *content_type, *etag, *last_modified;	/* NULL when not sent */
	bool has_hash;		/* false: no body */
	uint8_t hash[HASH_BYTES];
	int64_t bytes;		/* body bytes (uncompressed) */
	int64_t fetched;	/* ms since epoch of the last fetch or revalidation */
	int64_t created;
};

struct store_source *store_source_free(struct store_source *src);
/* -ENOENT when the URL was never fetched. */
int store_source_get(struct store *s, const char *url, struct store_source **ret);
int store_source_get_by_id(struct store *s, int64_t id, struct store_source **ret);
/* Insert or replace the row of src->url (id and created are ignored);
 * *ret_id (may be NULL) gets its id. */
int store_source_put(struct store *s, const struct store_source *src, int64_t *ret_id);
/* A 304 Not Modified: the cached body is still current. */
int store_source_touch(struct store *s, const char *url, int64_t fetched_ms);
int store_source_count(struct store *s, int64_t *ret_sources, int64_t *ret_snapshots);
/* Store a body under its hash (nothing happens when it is there already). */
int store_snapshot_put(struct store *s, const uint8_t hash[HASH_BYTES], const void *body,
    size_t len, int64_t now_ms);
/* The body of hash, decompressed and checked against the hash; -ENOENT,
 * -EFBIG when it is larger than max, -EBADMSG when corrupt. The body is
 * NUL-terminated (not counted in *ret_len). */
int store_snapshot_get(struct store *s, const uint8_t hash[HASH_BYTES], size_t max,
    char **ret_body, size_t *ret_len);
bool store_snapshot_exists(struct store *s, const uint8_t hash[HASH_BYTES]);

/* A snapshot as stored: its encoding ("zlib" or "identity"), its stored
 * bytes and its body's length. Compressing and decompressing are the costly
 * parts of storing and reading a snapshot (up to a 10 MiB page), so they
 * are split from the SQL: store_snapshot_encode and store_snapshot_decode
 * touch no store and may run on the thread pool; the loop does the rest. */
struct store_blob {
	const char *encoding;
	const void *data;
	size_t len;		/* bytes of data */
	size_t bytes;		/* of the body */
	void *owned;		/* freed by store_blob_clear */
};
void store_blob_clear(struct store_blob *b);
/* Compress body; "identity" blobs point into body, which must outlive it. */
int store_snapshot_encode(const void *body, size_t len, struct store_blob *ret);
int store_snapshot_put_encoded(struct store *s, const uint8_t hash[HASH_BYTES],
    const struct store_blob *b, int64_t now_ms);
/* The stored blob of hash (a copy); errors as store_snapshot_get. */
int store_snapshot_get_encoded(struct store *s, const uint8_t hash[HASH_BYTES], size_t max,
    struct store_blob *ret);
/* Decompress and check against hash: -EBADMSG when corrupt. */
int store_snapshot_decode(const uint8_t hash[HASH_BYTES], const struct store_blob *b,
    char **ret_body, size_t *ret_len);

/* The full-text index (store-index.c): documents, either web sources keyed
 * by canonical URL, the user's files keyed by file:// URL (owned by the uid
 * that indexed them; root's, owner 0, are shared), or a job's extracted
 * texts keyed by "text:" and their hash (see store_index_query_job), split into
 * passages with their byte offsets in the document's text; FTS5 with
 * porter stemming over unicode61 without diacritics, BM25 with the title
 * weighted above headings above text. */
#define STORE_INDEX_MAX_KEY	4096
#define STORE_INDEX_MAX_PASSAGES	100000
#define STORE_INDEX_MAX_QUERY	(64 * 1024)	/* bytes of a query */
#define STORE_INDEX_MAX_TERMS	128	/* distinct terms kept of a query */
#define STORE_INDEX_MAX_TERM_BYTES	64	/* longer terms are never looked up */
#define STORE_INDEX_MAX_LIMIT	10000	/* results of one query */
#define STORE_INDEX_MAX_SCAN	200000	/* passages looked at per query */

struct store_index_doc {
	uid_t owner;		/* 0 for "web" and "text" */
	const char *key;	/* canonical URL, file:// URL or "text:HEX" */
	const char *kind;	/* "web", "local" or "text" */
	const char *title;	/* "" when none */
	const char *text;	/* the passages' offsets point into it */
	size_t text_len;
};

/* text[start, end) and its heading text[heading_start, heading_end). */
struct store_passage {
	size_t start, end;
	size_t heading_start, heading_end;
};

/* Replace the document's passages (in order, non-overlapping, inside the
 * text) in one transaction; keys are per owner. When title and text hash
 * as they did last time nothing is written and *ret_unchanged is true; so
 * too for any "text" document already there, which never changes once
 * indexed. -EINVAL for bad arguments or offsets, -E2BIG over the caps. */
int store_index_put(struct store *s, const struct store_index_doc *doc,
    const struct store_passage *p, size_t n, int64_t now_ms, int64_t *ret_id,
    bool *ret_unchanged);
/* Remove owner's document and its passages; -ENOENT when absent. */
int store_index_delete(struct store *s, uid_t owner, const char *key);
/* The text of the local document key as owner sees it (their own, else
 * the shared one), rebuilt from its passages at their offsets with '\n'
 * in the gaps (whitespace only, by chunk.h's contract); NUL-terminated.
 * -ENOENT, -EFBIG over max. */
int store_index_local_text(struct store *s, uid_t owner, const char *key, size_t max,
    char **ret_title, char **ret_text, size_t *ret_len);
int store_index_count(struct store *s, int64_t *ret_docs, int64_t *ret_passages);
/* FTS5's integrity check of passages_fts against the passages; -EBADMSG
 * when they disagree. */
int store_index_check(struct store *s);
/* The hash store_index_put compares: BLAKE2b of title and text. */
void store_index_doc_hash(const char *title, const char *text, size_t text_len,
    uint8_t out[HASH_BYTES]);

enum {
	STORE_INDEX_PER_DOC = 1 << 0,	/* only the best passage of each document */
	STORE_INDEX_SNIPPET = 1 << 1,	/* fill hit->snippet */
	STORE_INDEX_ALL_TERMS = 1 << 2,	/* keep English stopwords in the query */
	STORE_INDEX_NO_FEEDBACK = 1 << 3,	/* the query's own terms only */
};

/* The safe FTS5 expression for a user's query: each distinct run of
 * letters and digits quoted, OR-ed; English stopwords dropped when other
 * terms remain (unless STORE_INDEX_ALL_TERMS); past STORE_INDEX_MAX_TERMS
 * distinct terms, the most informative ones (longer, with digits or
 * capitals, repeated), deterministically. -ENODATA when there is no term,
 * -EINVAL for invalid UTF-8, -E2BIG over STORE_INDEX_MAX_QUERY. */
int store_index_match(const char *query, unsigned flags, char **ret);

struct store_index_hit {
	int64_t passage_id, doc_id, seq;
	int64_t start, end;		/* of the passage in the document's text */
	const char *key, *kind, *title, *heading, *text;
	const char *snippet;		/* NULL unless asked for */
	const char *text_hash;		/* job queries: hex hash of the text; else NULL */
	double score;			/* BM25, higher is better */
};

/* fn gets each hit, best first; valid during the call only. A negative
 * return from fn stops and is returned, a positive one stops with 0. */
typedef int (*store_index_fn)(const struct store_index_hit *h, void *userdata);
/* The best limit passages for a user query (any text; it is made safe
 * with store_index_match, except that the terms kept of a long query are
 * those of its first 4,096 candidates with the highest idf in the index,
 * and none that no passage holds) among the web sources and the shared local
 * documents; a query without terms finds nothing. Unless flags has
 * STORE_INDEX_NO_FEEDBACK, the query is expanded by pseudo-relevance
 * feedback: the rarer frequent terms of its five best passages join it,
 * weighted below its own (bench/rank: +0.03 nDCG@10, +0.04 MAP on
 * Cranfield's held-out queries). */
int store_index_query(struct store *s, const char *query, unsigned flags, size_t limit,
    store_index_fn fn, void *userdata);
/* The same, and owner's own local documents too. */
int store_index_query_owner(struct store *s, uid_t owner, const char *query, unsigned flags,
    size_t limit, store_index_fn fn, void *userdata);
/* The best passages of job_id's own texts only: those its stored "doc.text"
 * effects name. hit->key is the URL the text was read from (the smallest
 * when several gave the same text), hit->text_hash the text's hash; best
 * score first, then text_hash, then start. No snippets. */
int store_index_query_job(struct store *s, int64_t job_id, const char *query, unsigned flags,
    size_t limit, store_index_fn fn, void *userdata);

#endif
