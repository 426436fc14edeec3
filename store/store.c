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
	/* 4 (retrieval): documents get an owner (the uid that indexed them;
	 * 0, root's, are shared with everyone), keys are unique per owner, and
	 * a third kind, 'text': a job's extracted text keyed by its hash
	 * ("text:HEX"), immutable, which a job reaches through its stored
	 * doc.text effects. The table is rebuilt with the same ids, so
	 * passages and passages_fts stay valid (foreign keys are off while
	 * migrating, see store_migrate). Documents indexed before this
	 * migration become shared: nothing says who indexed them. */
	"DROP VIEW passages_content;"
	"CREATE TABLE index_docs_new ("
	"  id INTEGER PRIMARY KEY,"
	"  owner INTEGER NOT NULL DEFAULT 0,"
	"  key TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('web','local','text')),"
	"  title TEXT NOT NULL,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 32),"
	"  bytes INTEGER NOT NULL,"
	"  passages INTEGER NOT NULL,"
	"  indexed INTEGER NOT NULL,"
	"  UNIQUE (owner, key)"
	");"
	"INSERT INTO index_docs_new (id, owner, key, kind, title, hash, bytes, passages, indexed)"
	"  SELECT id, 0, key, kind, title, hash, bytes, passages, indexed FROM index_docs;"
	"DROP TABLE index_docs;"
	"ALTER TABLE index_docs_new RENAME TO index_docs;"
	"CREATE VIEW passages_content AS"
	"  SELECT p.id AS id, d.title AS title, p.heading AS heading, p.text AS text"
	"  FROM passages p JOIN index_docs d ON d.id = p.doc_id;",
	/* 5: what a research job found, derived from its effects and written
	 * again whole (the same rows) whenever it is replayed */
	"CREATE TABLE job_questions ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  id INTEGER NOT NULL,"
	"  text TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  gap INTEGER NOT NULL,"
	"  round INTEGER NOT NULL,"
	"  PRIMARY KEY (job_id, id)"
	");"
	"CREATE TABLE job_findings ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  id INTEGER NOT NULL,"
	"  question INTEGER NOT NULL,"
	"  url TEXT NOT NULL,"
	"  text_hash TEXT,"
	"  claim TEXT NOT NULL,"
	"  quote TEXT NOT NULL,"
	"  byte_start INTEGER,"
	"  byte_end INTEGER,"
	"  verified INTEGER NOT NULL,"
	"  reason TEXT,"
	"  PRIMARY KEY (job_id, id)"
	");"
	"CREATE TABLE job_citations ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  n INTEGER NOT NULL,"
	"  url TEXT NOT NULL,"
	"  title TEXT NOT NULL,"
	"  snapshot TEXT,"
	"  text_hash TEXT,"
	"  fetched INTEGER,"
	"  PRIMARY KEY (job_id, n)"
	");",
	/* 6: indexes for listing and counting jobs without reading every row:
	 * by state newest first, and by owner and state (jobs_owner and
	 * jobs_state stay for by-owner lists and the scheduler's by-kind ids) */
	"CREATE INDEX jobs_state_id ON jobs(state, id);"
	"CREATE INDEX jobs_owner_state ON jobs(owner, state, id);",
	/* 7 (human in the loop): a job may wait for a person's input, state
	 * 'waiting'. SQLite cannot change a CHECK in place: the table is
	 * rebuilt with the same ids, so job_events and the job_* tables stay
	 * valid (foreign keys are off while migrating, see store_migrate). */
	"CREATE TABLE jobs_new ("
	"  id INTEGER PRIMARY KEY,"
	"  owner INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  question TEXT NOT NULL,"
	"  options TEXT NOT NULL DEFAULT '{}',"
	"  state TEXT NOT NULL CHECK (state IN"
	"    ('queued','running','paused','waiting','done','failed','cancelled')),"
	"  message TEXT,"
	"  usage TEXT NOT NULL DEFAULT '{}',"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  started INTEGER,"
	"  finished INTEGER"
	");"
	"INSERT INTO jobs_new (id, owner, kind, question, options, state, message, usage,"
	"  created, updated, started, finished)"
	"  SELECT id, owner, kind, question, options, state, message, usage,"
	"  created, updated, started, finished FROM jobs;"
	"DROP TABLE jobs;"
	"ALTER TABLE jobs_new RENAME TO jobs;"
	"CREATE INDEX jobs_state ON jobs(state, kind, id);"
	"CREATE INDEX jobs_owner ON jobs(owner, id);"
	"CREATE INDEX jobs_state_id ON jobs(state, id);"
	"CREATE INDEX jobs_owner_state ON jobs(owner, state, id);",
};

#define STORE_MIGRATIONS ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

/* The ranking function of every index query: BM25 over (title, heading,
 * text); on Cranfield's odd queries with feedback, title weights 2, 4 and
 * 8 are within 0.005 nDCG@10 of each other (its abstracts repeat their
 * title). */
#define INDEX_RANK "'bm25(4.0, 2.0, 1.0)'"
#define INDEX_QUERY_FROM \
	" FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid" \
	" JOIN index_docs d ON d.id = p.doc_id" \
	" WHERE passages_fts MATCH :match AND passages_fts.rank MATCH " INDEX_RANK \
	" AND (d.kind = 'web' OR (d.kind = 'local' AND d.owner IN (0, :owner)))"

static const char *const store_sql[_STMT_MAX] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	/* Nested levels: SQLite resolves a repeated name to the innermost. */
	[STMT_SAVEPOINT] = "SAVEPOINT nested",
	[STMT_RELEASE] = "RELEASE nested",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO nested",
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
	    "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running', 'paused', 'waiting')",
	[STMT_JOB_COUNT_STATE] = "SELECT count(*) FROM jobs WHERE state = :state",
	[STMT_EVENT_LAST] =
	    "SELECT seq, hash FROM job_events WHERE job_id = :job ORDER BY seq DESC LIMIT 1",
	[STMT_EVENT_INSERT] =
	    "INSERT INTO job_events (job_id, seq, time, type, data, hash)"
	    " VALUES (:job, :seq, :time, :type, :data, :hash)",
	[STMT_EVENT_LIST] =
	    "SELECT seq, time, type, data, hash FROM job_events"
	    " WHERE job_id = :job AND seq > :since ORDER BY seq ASC LIMIT :limit",
	[STMT_RESEARCH_CLEAR_Q] = "DELETE FROM job_questions WHERE job_id = :job",
	[STMT_RESEARCH_CLEAR_F] = "DELETE FROM job_findings WHERE job_id = :job",
	[STMT_RESEARCH_CLEAR_C] = "DELETE FROM job_citations WHERE job_id = :job",
	[STMT_RESEARCH_QUESTION] =
	    "INSERT INTO job_questions (job_id, id, text, state, gap, round)"
	    " VALUES (:job, :id, :text, :state, :gap, :round)",
	[STMT_RESEARCH_FINDING] =
	    "INSERT INTO job_findings (job_id, id, question, url, text_hash, claim, quote,"
	    " byte_start, byte_end, verified, reason)"
	    " VALUES (:job, :id, :question, :url, :text_hash, :claim, :quote, :start, :end,"
	    " :verified, :reason)",
	[STMT_RESEARCH_CITATION] =
	    "INSERT INTO job_citations (job_id, n, url, title, snapshot, text_hash, fetched)"
	    " VALUES (:job, :n, :url, :title, :snapshot, :text_hash, :fetched)",
	[STMT_RESEARCH_COUNT] =
	    "SELECT (SELECT count(*) FROM job_questions WHERE job_id = :job),"
	    " (SELECT count(*) FROM job_findings WHERE job_id = :job AND verified),"
	    " (SELECT count(*) FROM job_findings WHERE job_id = :job AND NOT verified),"
	    " (SELECT count(*) FROM job_citations WHERE job_id = :job)",
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
	[STMT_INDEX_DOC_GET] =
	    "SELECT id, hash, kind FROM index_docs WHERE owner = :owner AND key = :key",
	[STMT_INDEX_DOC_PUT] =
	    "INSERT INTO index_docs (owner, key, kind, title, hash, bytes, passages, indexed)"
	    " VALUES (:owner, :key, :kind, :title, :hash, :bytes, :passages, :now)"
	    " ON CONFLICT (owner, key) DO UPDATE SET kind = excluded.kind, title = excluded.title,"
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
	/* The ORDER BY is FTS5's own (no sort): rows stream best first and snippet()
	 * runs only for the rows stepped to. A user sees the web sources, the
	 * shared documents (owner 0) and their own; never a job's texts. */
	[STMT_INDEX_QUERY] =
	    "SELECT passages_fts.rowid, p.doc_id, p.seq, p.byte_start, p.byte_end, p.heading,"
	    " p.text, d.key, d.kind, d.title, -passages_fts.rank"
	    INDEX_QUERY_FROM
	    " ORDER BY passages_fts.rank LIMIT :limit",
	[STMT_INDEX_QUERY_SNIPPET] =
	    "SELECT passages_fts.rowid, p.doc_id, p.seq, p.byte_start, p.byte_end, p.heading,"
	    " p.text, d.key, d.kind, d.title, -passages_fts.rank,"
	    " snippet(passages_fts, 2, '', '', '…', 24)"
	    INDEX_QUERY_FROM
	    " ORDER BY passages_fts.rank LIMIT :limit",
	/* A job's documents are the texts its stored doc.text effects name:
	 * derived from what is durable, so a job shares nothing mutable with
	 * another, and a result shared between jobs in flight (one execution,
	 * one stored row per job) links every one of them. The same text read
	 * from two URLs counts once, under the smaller URL. Ties in score go
	 * by text hash, then offset: a fixed order. */
	[STMT_INDEX_QUERY_JOB] =
	    "WITH jd (th, url) AS (SELECT json_extract(result, '$.text_hash'),"
	    "   min(coalesce(json_extract(request, '$.url'), json_extract(request, '$.local')))"
	    "   FROM effects WHERE job_id = :job AND kind = 'doc.text'"
	    "   AND json_extract(result, '$.text_hash') IS NOT NULL GROUP BY 1),"
	    " jdoc (doc_id, th, url) AS (SELECT d.id, jd.th, jd.url FROM jd"
	    "   JOIN index_docs d ON d.owner = 0 AND d.key = 'text:' || jd.th)"
	    " SELECT passages_fts.rowid, p.doc_id, p.seq, p.byte_start, p.byte_end, p.heading,"
	    " p.text, jdoc.url, d.kind, d.title, -passages_fts.rank, jdoc.th"
	    " FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid"
	    " JOIN jdoc ON jdoc.doc_id = p.doc_id JOIN index_docs d ON d.id = p.doc_id"
	    " WHERE passages_fts MATCH :match AND passages_fts.rank MATCH " INDEX_RANK
	    " ORDER BY passages_fts.rank, jdoc.th, p.byte_start LIMIT :limit",
	[STMT_INDEX_DF] =
	    "SELECT count(*) FROM (SELECT 1 FROM passages_fts WHERE passages_fts MATCH :match"
	    " LIMIT :cap)",
	[STMT_INDEX_LOCAL_GET] =
	    "SELECT id, title, bytes FROM index_docs WHERE kind = 'local' AND key = :key"
	    " AND owner IN (0, :owner) ORDER BY owner = :owner DESC LIMIT 1",
	[STMT_INDEX_PASSAGES] =
	    "SELECT byte_start, byte_end, text FROM passages WHERE doc_id = :doc ORDER BY seq",
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

int store_step_ints(sqlite3_stmt *st, int64_t *ret, size_t n)
{
	int rc;

	if (st == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		for (size_t i = 0; i < n; i++)
			ret[i] = sqlite3_column_int64(st, (int)i);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
}

int store_step_returning(sqlite3_stmt *st, int64_t *ret_id)
{
	int rc;

	if (st == NULL)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (ret_id)
			*ret_id = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

const char *store_errmsg(struct store *s)
{
	if (s == NULL || s->db == NULL)
		return "no database";
	/* After a failed transaction the last call is its ROLLBACK (or none
	 * was needed): the error worth telling is the one that ended it. */
	if (s->txn_failed && sqlite3_errcode(s->db) == SQLITE_OK)
		return s->txn_error;
	return sqlite3_errmsg(s->db);
}

/* Keep the error that fails the transaction, then roll back what is left
 * of it: SQLite has already rolled back by itself after some errors
 * (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM), and a ROLLBACK then would
 * only replace the real error with "no transaction is active". */
static void store_txn_abort(struct store *s)
{
	snprintf(s->txn_error, sizeof(s->txn_error), "%s", sqlite3_errmsg(s->db));
	s->txn_failed = true;
	if (!sqlite3_get_autocommit(s->db))
		store_step_done(store_stmt(s, STMT_ROLLBACK));
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

/* Foreign keys are off while migrating (the pragma is a no-op inside a
 * transaction): a migration that rebuilds a parent table, as 4 does with
 * index_docs, must be able to drop the old one. */
static int store_migrate_txn(struct store *s);

static int store_migrate(struct store *s)
{
	int r, k;

	r = store_exec(s, "PRAGMA foreign_keys = OFF");
	if (r < 0)
		return r;
	r = store_migrate_txn(s);
	k = store_exec(s, "PRAGMA foreign_keys = ON");
	return r < 0 ? r : k;
}

static int store_migrate_txn(struct store *s)
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

	if (s->txn_depth == 0)
		s->txn_failed = false;
	r = store_step_done(store_stmt(s, s->txn_depth > 0 ? STMT_SAVEPOINT : STMT_BEGIN));
	if (r < 0)
		return r;
	s->txn_depth++;
	return 0;
}

int store_commit(struct store *s)
{
	int r;

	if (s->txn_depth == 0)
		return -EINVAL;
	if (s->txn_depth > 1) {
		r = store_step_done(store_stmt(s, STMT_RELEASE));
		if (r < 0)
			return r;	/* the level stays open: the caller rolls it back */
		s->txn_depth--;
		return 0;
	}
	s->txn_depth = 0;
	r = store_step_done(store_stmt(s, STMT_COMMIT));
	if (r < 0)
		store_txn_abort(s);
	return r;
}

void store_rollback(struct store *s)
{
	if (s->txn_depth == 0)
		return;
	if (s->txn_depth > 1) {
		/* Undo this level only; RELEASE then closes it, so the outer
		 * level's later writes and commit go on as if it never began. */
		store_step_done(store_stmt(s, STMT_ROLLBACK_TO));
		store_step_done(store_stmt(s, STMT_RELEASE));
		s->txn_depth--;
		return;
	}
	s->txn_depth = 0;
	store_txn_abort(s);
}
