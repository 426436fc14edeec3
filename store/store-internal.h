/* Shared between the store's files: the handle and its prepared statements. */
#ifndef RESEARCHD_STORE_INTERNAL_H
#define RESEARCHD_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store.h"

enum store_stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_JOB_INSERT,
	STMT_JOB_GET,
	STMT_JOB_SET_STATE,
	STMT_JOB_GET_USAGE,
	STMT_JOB_SET_USAGE,
	STMT_JOB_LIST_ALL,
	STMT_JOB_LIST_OWNER,
	STMT_JOB_LIST_STATE,
	STMT_JOB_LIST_OWNER_STATE,
	STMT_JOB_IDS_STATE,
	STMT_JOB_IDS_KIND,
	STMT_JOB_UNFINISHED,
	STMT_JOB_COUNT_STATE,
	STMT_EVENT_LAST,
	STMT_EVENT_INSERT,
	STMT_EVENT_LIST,
	STMT_EFFECT_GET,
	STMT_EFFECT_PUT,
	STMT_EFFECT_COUNT,
	STMT_EFFECT_LIST_KIND,
	STMT_REPORT_PUT,
	STMT_REPORT_GET,
	STMT_SOURCE_GET,
	STMT_SOURCE_GET_ID,
	STMT_SOURCE_PUT,
	STMT_SOURCE_TOUCH,
	STMT_SNAPSHOT_PUT,
	STMT_SNAPSHOT_GET,
	STMT_SNAPSHOT_EXISTS,
	STMT_SOURCE_COUNT,
	STMT_INDEX_DOC_GET,
	STMT_INDEX_DOC_PUT,
	STMT_INDEX_DOC_DELETE,
	STMT_INDEX_FTS_DELETE,
	STMT_INDEX_FTS_INSERT,
	STMT_INDEX_PASSAGE_DELETE,
	STMT_INDEX_PASSAGE_PUT,
	STMT_INDEX_QUERY,
	STMT_INDEX_QUERY_SNIPPET,
	STMT_INDEX_QUERY_JOB,
	STMT_INDEX_LOCAL_GET,
	STMT_INDEX_DF,
	STMT_INDEX_PASSAGES,
	STMT_INDEX_COUNT,
	STMT_INDEX_CHECK,
	STMT_RESEARCH_CLEAR_Q,
	STMT_RESEARCH_CLEAR_F,
	STMT_RESEARCH_CLEAR_C,
	STMT_RESEARCH_QUESTION,
	STMT_RESEARCH_FINDING,
	STMT_RESEARCH_CITATION,
	STMT_RESEARCH_COUNT,
	_STMT_MAX,
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[_STMT_MAX];
	int txn_depth;
	/* The error that ended the last transaction, kept across its
	 * ROLLBACK so that the caller logs the cause, not the cleanup. */
	char txn_error[256];
	bool txn_failed;
};

/* The statement, prepared on first use and reset for reuse; NULL on error. */
sqlite3_stmt *store_stmt(struct store *s, enum store_stmt_id id);
/* Map an SQLite result code to a negative errno. */
int store_errno(int rc);
int store_bind_text(sqlite3_stmt *st, const char *name, const char *v);
int store_bind_int(sqlite3_stmt *st, const char *name, int64_t v);
int store_bind_blob(sqlite3_stmt *st, const char *name, const void *p, size_t n);
/* Step a statement expected to finish (no rows); resets it. */
int store_step_done(sqlite3_stmt *st);
/* Step a query of one row: its first n integer columns into ret[0..n);
 * resets it. -ENOENT when there is no row. */
int store_step_ints(sqlite3_stmt *st, int64_t *ret, size_t n);
/* Step a write with RETURNING id: *ret_id (may be NULL) gets the id when a
 * row came back, and is untouched when none did; resets it. */
int store_step_returning(sqlite3_stmt *st, int64_t *ret_id);

#endif
