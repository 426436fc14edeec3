/* The store: opening, migrations by PRAGMA user_version, statements,
 * transactions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store-internal.h"
#include "xmalloc.h"

/* Migration i brings the schema from version i to i + 1. Never edit one that
 * has shipped: append a new one. */
static const char *const store_migrations[] = {
	/* 1: jobs, their append-only event log, stored effects, reports */
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  owner INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  question TEXT NOT NULL,"
	"  options TEXT NOT NULL DEFAULT '{}',"
	"  state TEXT NOT NULL CHECK (state IN"
	"    ('queued','running','paused','done','failed','cancelled')),"
	"  message TEXT,"
	"  usage TEXT NOT NULL DEFAULT '{}',"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  started INTEGER,"
	"  finished INTEGER"
	");"
	"CREATE INDEX jobs_state ON jobs(state, kind, id);"
	"CREATE INDEX jobs_owner ON jobs(owner, id);"
	"CREATE TABLE job_events ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  seq INTEGER NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  data TEXT NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  PRIMARY KEY (job_id, seq)"
	") WITHOUT ROWID;"
	"CREATE TRIGGER job_events_append_only_update BEFORE UPDATE ON job_events"
	"  BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END;"
	"CREATE TRIGGER job_events_append_only_delete BEFORE DELETE ON job_events"
	"  BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END;"
	"CREATE TABLE effects ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  key BLOB NOT NULL CHECK (length(key) = 32),"
	"  kind TEXT NOT NULL,"
	"  request TEXT NOT NULL,"
	"  result TEXT NOT NULL,"
	"  ms INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (job_id, key)"
	") WITHOUT ROWID;"
	"CREATE TABLE reports ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  format TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (job_id, format)"
	");",
	/* 2: the global source cache: sources by canonical URL, and the bodies
	 * as snapshots addressed by their BLAKE2b hash, zlib-compressed */
	"CREATE TABLE snapshots ("
	"  id INTEGER PRIMARY KEY,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  bytes INTEGER NOT NULL,"
	"  encoding TEXT NOT NULL CHECK (encoding IN ('identity','zlib')),"
	"  data BLOB NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE sources ("
	"  id INTEGER PRIMARY KEY,"
	"  url TEXT NOT NULL UNIQUE,"
	"  final_url TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  content_type TEXT,"
	"  etag TEXT,"
	"  last_modified TEXT,"
	"  hash BLOB REFERENCES snapshots(hash),"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  fetched INTEGER NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE INDEX sources_hash ON sources(hash);",
	/* 3: the full-text index. passages_fts is an external-content FTS5
	 * table reading its columns back from passages_content: the text is
	 * stored once, snippet() works (a contentless table cannot give
	 * snippets, and SQLite 3.40 has no contentless_delete), and
	 * store-index.c deletes rows with the values read from the same view
	 * inside the transaction that changes them. */
	"CREATE TABLE index_docs ("
	"  id INTEGER PRIMARY KEY,"
	"  key TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL CHECK (kind IN ('web','local')),"
	"  title TEXT NOT NULL,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 32),"
	"  bytes INTEGER NOT NULL,"
	"  passages INTEGER NOT NULL,"
	"  indexed INTEGER NOT NULL"
	");"
	"CREATE TABLE passages ("
	"  id INTEGER PRIMARY KEY,"
	"  doc_id INTEGER NOT NULL REFERENCES index_docs(id),"
	"  seq INTEGER NOT NULL,"
	"  byte_start INTEGER NOT NULL,"
	"  byte_end INTEGER NOT NULL,"
	"  heading TEXT NOT NULL,"
	"  text TEXT NOT NULL,"
	"  UNIQUE (doc_id, seq)"
	");"
	"CREATE VIEW passages_content AS"
	"  SELECT p.id AS id, d.title AS title, p.heading AS heading, p.text AS text"
	"  FROM passages p JOIN index_docs d ON d.id = p.doc_id;"
	"CREATE VIRTUAL TABLE passages_fts USING fts5(title, heading, text,"
	"  content = 'passages_content', content_rowid = 'id',"
	"  tokenize = 'porter unicode61 remove_diacritics 2');",
	/* 4: indexes for listing and counting jobs without reading every row:
	 * by state newest first, and by owner and state (jobs_owner and
	 * jobs_state stay for by-owner lists and the scheduler's by-kind ids) */
	"CREATE INDEX jobs_state_id ON jobs(state, id);"
	"CREATE INDEX jobs_owner_state ON jobs(owner, state, id);",
};

#define STORE_MIGRATIONS ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

static const char *const store_sql[_STMT_MAX] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_JOB_INSERT] =
	    "INSERT INTO jobs (owner, kind, question, options, state, created, updated)"
	    " VALUES (:owner, :kind, :question, :options, :state, :now, :now)",
	[STMT_JOB_GET] =
	    "SELECT id, owner, kind, question, options, state, message, usage, created, updated,"
	    " started, finished, (SELECT count(*) FROM job_events e WHERE e.job_id = jobs.id)"
	    " FROM jobs WHERE id = :id",
	[STMT_JOB_SET_STATE] =
	    "UPDATE jobs SET state = :state, message = :message, updated = :now,"
	    " started = CASE WHEN :state = 'running' AND started IS NULL THEN :now ELSE started END,"
	    " finished = CASE WHEN :state IN ('done','failed','cancelled') THEN :now ELSE NULL END"
	    " WHERE id = :id",
	[STMT_JOB_GET_USAGE] = "SELECT usage FROM jobs WHERE id = :id",
	[STMT_JOB_SET_USAGE] = "UPDATE jobs SET usage = :usage, updated = :now WHERE id = :id",
	/* Listing and counting: one statement per case, each reading an index
	 * (store_job_explain shows the plans; tests/unit/test-store.c checks
	 * them). "id > 0" lets the everyone's list walk the primary key from
	 * the newest row; ids start at 1. */
#define STORE_JOB_COLUMNS \
	    "SELECT * FROM (SELECT id, owner, kind, question, options, state, message, usage," \
	    " created, updated, started, finished," \
	    " (SELECT count(*) FROM job_events e WHERE e.job_id = jobs.id) FROM jobs"
#define STORE_JOB_NEWEST " ORDER BY id DESC LIMIT :limit) ORDER BY id ASC"
	[STMT_JOB_LIST_ALL] = STORE_JOB_COLUMNS " WHERE id > 0" STORE_JOB_NEWEST,
	[STMT_JOB_LIST_OWNER] = STORE_JOB_COLUMNS " WHERE owner = :owner" STORE_JOB_NEWEST,
	[STMT_JOB_LIST_STATE] = STORE_JOB_COLUMNS " WHERE state = :state" STORE_JOB_NEWEST,
	[STMT_JOB_LIST_OWNER_STATE] =
	    STORE_JOB_COLUMNS " WHERE owner = :owner AND state = :state" STORE_JOB_NEWEST,
#undef STORE_JOB_COLUMNS
#undef STORE_JOB_NEWEST
	[STMT_JOB_IDS_STATE] =
	    "SELECT id FROM jobs WHERE state = :state ORDER BY id ASC LIMIT :limit",
	[STMT_JOB_IDS_KIND] =
	    "SELECT id FROM jobs WHERE state = :state AND kind = :kind ORDER BY id ASC LIMIT :limit",
	[STMT_JOB_UNFINISHED] =
	    "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running', 'paused')",
	[STMT_JOB_COUNT_STATE] = "SELECT count(*) FROM jobs WHERE state = :state",
	[STMT_EVENT_LAST] =
	    "SELECT seq, hash FROM job_events WHERE job_id = :job ORDER BY seq DESC LIMIT 1",
	[STMT_EVENT_INSERT] =
	    "INSERT INTO job_events (job_id, seq, time, type, data, hash)"
	    " VALUES (:job, :seq, :time, :type, :data, :hash)",
	[STMT_EVENT_LIST] =
	    "SELECT seq, time, type, data, hash FROM job_events"
	    " WHERE job_id = :job AND seq > :since ORDER BY seq ASC LIMIT :limit",
	[STMT_EFFECT_GET] = "SELECT result FROM effects WHERE job_id = :job AND key = :key",
	[STMT_EFFECT_PUT] =
	    "INSERT INTO effects (job_id, key, kind, request, result, ms, created)"
	    " VALUES (:job, :key, :kind, :request, :result, :ms, :now)",
	[STMT_EFFECT_COUNT] = "SELECT count(*) FROM effects WHERE job_id = :job",
	[STMT_EFFECT_LIST_KIND] =
	    "SELECT e.job_id, e.request, e.result, e.ms, e.created FROM effects e JOIN jobs j ON j.id = e.job_id"
	    " WHERE e.kind = :kind AND (:owner < 0 OR j.owner = :owner)"
	    " AND (:job <= 0 OR e.job_id = :job)"
	    " ORDER BY e.created ASC, e.job_id ASC LIMIT :limit",
	[STMT_REPORT_PUT] =
	    "INSERT OR REPLACE INTO reports (job_id, format, body, created)"
	    " VALUES (:job, :format, :body, :now)",
	[STMT_REPORT_GET] = "SELECT body FROM reports WHERE job_id = :job AND format = :format",
	[STMT_SOURCE_GET] =
	    "SELECT id, url, final_url, status, content_type, etag, last_modified, hash, bytes,"
	    " fetched, created FROM sources WHERE url = :url",
	[STMT_SOURCE_GET_ID] =
	    "SELECT id, url, final_url, status, content_type, etag, last_modified, hash, bytes,"
	    " fetched, created FROM sources WHERE id = :id",
	[STMT_SOURCE_PUT] =
	    "INSERT INTO sources (url, final_url, status, content_type, etag, last_modified, hash,"
	    " bytes, fetched, created) VALUES (:url, :final_url, :status, :content_type, :etag,"
	    " :last_modified, :hash, :bytes, :fetched, :fetched)"
	    " ON CONFLICT (url) DO UPDATE SET final_url = excluded.final_url,"
	    " status = excluded.status, content_type = excluded.content_type,"
	    " etag = excluded.etag, last_modified = excluded.last_modified,"
	    " hash = excluded.hash, bytes = excluded.bytes, fetched = excluded.fetched"
	    " RETURNING id",
	[STMT_SOURCE_TOUCH] = "UPDATE sources SET fetched = :fetched WHERE url = :url",
	[STMT_SNAPSHOT_PUT] =
	    "INSERT INTO snapshots (hash, bytes, encoding, data, created)"
	    " VALUES (:hash, :bytes, :encoding, :data, :now) ON CONFLICT (hash) DO NOTHING",
	[STMT_SNAPSHOT_GET] = "SELECT bytes, encoding, data FROM snapshots WHERE hash = :hash",
	[STMT_SNAPSHOT_EXISTS] = "SELECT 1 FROM snapshots WHERE hash = :hash",
	[STMT_SOURCE_COUNT] = "SELECT count(*), (SELECT count(*) FROM snapshots) FROM sources",
	[STMT_INDEX_DOC_GET] = "SELECT id, hash FROM index_docs WHERE key = :key",
	[STMT_INDEX_DOC_PUT] =
	    "INSERT INTO index_docs (key, kind, title, hash, bytes, passages, indexed)"
	    " VALUES (:key, :kind, :title, :hash, :bytes, :passages, :now)"
	    " ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, title = excluded.title,"
	    " hash = excluded.hash, bytes = excluded.bytes, passages = excluded.passages,"
	    " indexed = excluded.indexed RETURNING id",
	[STMT_INDEX_DOC_DELETE] = "DELETE FROM index_docs WHERE id = :doc",
	[STMT_INDEX_FTS_DELETE] =
	    "INSERT INTO passages_fts (passages_fts, rowid, title, heading, text)"
	    " SELECT 'delete', id, title, heading, text FROM passages_content"
	    " WHERE id IN (SELECT id FROM passages WHERE doc_id = :doc)",
	[STMT_INDEX_FTS_INSERT] =
	    "INSERT INTO passages_fts (rowid, title, heading, text)"
	    " SELECT id, title, heading, text FROM passages_content"
	    " WHERE id IN (SELECT id FROM passages WHERE doc_id = :doc)",
	[STMT_INDEX_PASSAGE_DELETE] = "DELETE FROM passages WHERE doc_id = :doc",
	[STMT_INDEX_PASSAGE_PUT] =
	    "INSERT INTO passages (doc_id, seq, byte_start, byte_end, heading, text)"
	    " VALUES (:doc, :seq, :start, :end, :heading, :text)",
	/* Title weighs 4, heading 2, text 1: on Cranfield (bench/rank) equal
	 * weights give nDCG@10 0.369 / MAP 0.309, these 0.371 / 0.312 (its
	 * abstracts repeat the title in the text, which blunts it). The ORDER
	 * BY is FTS5's own (no sort): rows stream best first and snippet()
	 * runs only for the rows stepped to. */
	[STMT_INDEX_QUERY] =
	    "SELECT passages_fts.rowid, p.doc_id, p.seq, p.byte_start, p.byte_end, p.heading,"
	    " p.text, d.key, d.kind, d.title, -passages_fts.rank"
	    " FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid"
	    " JOIN index_docs d ON d.id = p.doc_id"
	    " WHERE passages_fts MATCH :match AND passages_fts.rank MATCH 'bm25(4.0, 2.0, 1.0)'"
	    " ORDER BY passages_fts.rank LIMIT :limit",
	[STMT_INDEX_QUERY_SNIPPET] =
	    "SELECT passages_fts.rowid, p.doc_id, p.seq, p.byte_start, p.byte_end, p.heading,"
	    " p.text, d.key, d.kind, d.title, -passages_fts.rank,"
	    " snippet(passages_fts, 2, '', '', '…', 24)"
	    " FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid"
	    " JOIN index_docs d ON d.id = p.doc_id"
	    " WHERE passages_fts MATCH :match AND passages_fts.rank MATCH 'bm25(4.0, 2.0, 1.0)'"
	    " ORDER BY passages_fts.rank LIMIT :limit",
	[STMT_INDEX_COUNT] =
	    "SELECT (SELECT count(*) FROM index_docs), (SELECT count(*) FROM passages)",
	[STMT_INDEX_CHECK] =
	    "INSERT INTO passages_fts (passages_fts, rank) VALUES ('integrity-check', 1)",
};

int store_job_explain(struct store *s, store_explain_fn fn, void *userdata)
{
	static const struct {
		enum store_stmt_id id;
		const char *name;
	} stmts[] = {
		{ STMT_JOB_LIST_ALL, "list" },
		{ STMT_JOB_LIST_OWNER, "list by owner" },
		{ STMT_JOB_LIST_STATE, "list by state" },
		{ STMT_JOB_LIST_OWNER_STATE, "list by owner and state" },
		{ STMT_JOB_IDS_STATE, "ids by state" },
		{ STMT_JOB_IDS_KIND, "ids by state and kind" },
		{ STMT_JOB_UNFINISHED, "count unfinished" },
		{ STMT_JOB_COUNT_STATE, "count by state" },
	};
	sqlite3_stmt *st = NULL;
	char sql[1024];
	int rc, r = 0;

	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]) && r == 0; i++) {
		if ((size_t)snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", store_sql[stmts[i].id]) >=
		    sizeof(sql))
			return -E2BIG;
		rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
		if (rc != SQLITE_OK)
			return store_errno(rc);
		/* Columns: id, parent, unused, detail. */
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			r = fn(stmts[i].name, (const char *)sqlite3_column_text(st, 3), userdata);
		if (r == 0 && rc != SQLITE_DONE)
			r = store_errno(rc);
		sqlite3_finalize(st);
	}
	return r;
}

int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_TOOBIG: return -E2BIG;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: return -EBADMSG;
	case SQLITE_MISMATCH: case SQLITE_RANGE: return -EINVAL;
	default: return -EIO;
	}
}

sqlite3_stmt *store_stmt(struct store *s, enum store_stmt_id id)
{
	sqlite3_stmt *st = s->stmt[id];

	if (st == NULL) {
		if (sqlite3_prepare_v3(s->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		    &st, NULL) != SQLITE_OK)
			return NULL;
		s->stmt[id] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int store_bind_index(sqlite3_stmt *st, const char *name)
{
	int i = sqlite3_bind_parameter_index(st, name);
	return i > 0 ? i : -EINVAL;
}

int store_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = store_bind_index(st, name);

	if (i < 0)
		return i;
	if (v == NULL)
		return store_errno(sqlite3_bind_null(st, i));
	return store_errno(sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT));
}

int store_bind_int(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = store_bind_index(st, name);
	return i < 0 ? i : store_errno(sqlite3_bind_int64(st, i, v));
}

int store_bind_blob(sqlite3_stmt *st, const char *name, const void *p, size_t n)
{
	int i = store_bind_index(st, name);
	return i < 0 ? i : store_errno(sqlite3_bind_blob64(st, i, p, n, SQLITE_TRANSIENT));
}

int store_step_done(sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : store_errno(rc);

	if (rc == SQLITE_ROW)
		r = -EINVAL;
	sqlite3_reset(st);
	return r;
}

const char *store_errmsg(struct store *s)
{
	return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

static int store_exec(struct store *s, const char *sql)
{
	return store_errno(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

int store_schema_latest(void)
{
	return STORE_MIGRATIONS;
}

int store_schema_version(struct store *s, int *ret)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_errno(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : store_errno(rc);
}

static int store_migrate(struct store *s)
{
	char sql[64];
	int version, r;

	r = store_exec(s, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = store_schema_version(s, &version);
	if (r < 0)
		goto fail;
	if (version > STORE_MIGRATIONS) {
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	for (int v = version; v < STORE_MIGRATIONS; v++) {
		r = store_exec(s, store_migrations[v]);
		if (r < 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_MIGRATIONS);
	r = store_exec(s, sql);
	if (r < 0)
		goto fail;
	return store_exec(s, "COMMIT");
fail:
	store_exec(s, "ROLLBACK");
	return r;
}

int store_open(const char *path, struct store **ret)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int rc, r;

	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		r = store_errno(rc);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	r = store_exec(s, "PRAGMA journal_mode = WAL");
	if (r < 0)
		goto fail;
	r = store_exec(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
	    " PRAGMA trusted_schema = OFF");
	if (r < 0)
		goto fail;
	/* Refuse defensive-off tricks from a planted database file. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	r = store_migrate(s);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

struct store *store_close(struct store *s)
{
	if (s == NULL)
		return NULL;
	for (int i = 0; i < _STMT_MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db)
		sqlite3_close(s->db);
	free(s);
	return NULL;
}

int64_t store_db_bytes(struct store *s)
{
	sqlite3_stmt *st;
	int64_t n = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT page_count * page_size FROM pragma_page_count(),"
	    " pragma_page_size()", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int store_begin(struct store *s)
{
	int r;

	if (s->txn_depth++ > 0)
		return 0;
	r = store_step_done(store_stmt(s, STMT_BEGIN));
	if (r < 0)
		s->txn_depth = 0;
	return r;
}

int store_commit(struct store *s)
{
	int r;

	if (s->txn_depth == 0)
		return -EINVAL;
	if (--s->txn_depth > 0)
		return 0;
	r = store_step_done(store_stmt(s, STMT_COMMIT));
	if (r < 0)
		store_step_done(store_stmt(s, STMT_ROLLBACK));
	return r;
}

void store_rollback(struct store *s)
{
	if (s->txn_depth == 0)
		return;
	s->txn_depth = 0;
	store_step_done(store_stmt(s, STMT_ROLLBACK));
}
