/* Unit tests: the store (migrations, jobs, events, effects, reports). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "hash.h"
#include "store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/r.db", f->dir);
	if (store_open(f->path, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Raw SQL, for what only a test may do: read pragmas, tamper. */
static int raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t add_job(struct store *s, uid_t owner, const char *q)
{
	struct store_job j = {
		.owner = owner, .kind = "research", .question = (char *)q,
		.state = JOB_QUEUED, .created = 1000,
	};
	int64_t id = 0;

	assert_int_equal(store_job_insert(s, &j, &id), 0);
	assert_true(id > 0);
	return id;
}

static void test_migrations(void **state)
{
	struct fixture *f = *state;
	int v = -1;

	assert_int_equal(store_schema_version(f->s, &v), 0);
	assert_int_equal(v, store_schema_latest());
	assert_true(store_schema_latest() >= 1);
	assert_int_equal(raw_int(f->path, "PRAGMA journal_mode = WAL") >= 0, 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	    "('jobs','job_events','effects','reports')"), 4);

	/* reopening is idempotent */
	store_close(f->s);
	assert_int_equal(store_open(f->path, &f->s), 0);
	assert_int_equal(store_schema_version(f->s, &v), 0);
	assert_int_equal(v, store_schema_latest());

	/* a database from the future is refused, and left as it was */
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, "PRAGMA user_version = 999");
	assert_int_equal(store_open(f->path, &f->s), -EPROTONOSUPPORT);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 999);
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest());
		raw_exec(f->path, sql);
	}
	assert_int_equal(store_open(f->path, &f->s), 0);
}

static void test_migration_is_atomic(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct store *s = NULL;

	/* A table in the way makes migration 1 fail half-way: nothing of it
	 * may remain, and user_version stays 0. */
	snprintf(path, sizeof(path), "%s/blocked.db", f->dir);
	raw_exec(path, "CREATE TABLE job_events (x)");
	assert_true(store_open(path, &s) < 0);
	assert_null(s);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"), 0);
}

static void test_jobs(void **state)
{
	struct fixture *f = *state;
	struct store_job *j = NULL;
	int64_t a = add_job(f->s, 1000, "first"), b = add_job(f->s, 1001, "second");
	int64_t counts[_JOB_STATE_MAX];

	assert_int_equal(store_job_get(f->s, a, &j), 0);
	assert_string_equal(j->question, "first");
	assert_int_equal(j->owner, 1000);
	assert_int_equal(j->state, JOB_QUEUED);
	assert_int_equal(j->started, 0);
	assert_int_equal(j->finished, 0);
	assert_true(json_is_object(j->options));
	j = store_job_free(j);

	assert_int_equal(store_job_set_state(f->s, a, JOB_RUNNING, NULL, 2000), 0);
	assert_int_equal(store_job_set_state(f->s, a, JOB_PAUSED, NULL, 3000), 0);
	assert_int_equal(store_job_set_state(f->s, a, JOB_RUNNING, NULL, 4000), 0);
	assert_int_equal(store_job_set_state(f->s, a, JOB_FAILED, "boom", 5000), 0);
	assert_int_equal(store_job_get(f->s, a, &j), 0);
	assert_int_equal(j->state, JOB_FAILED);
	assert_int_equal(j->started, 2000);	/* the first start is kept */
	assert_int_equal(j->finished, 5000);
	assert_string_equal(j->message, "boom");
	j = store_job_free(j);

	assert_int_equal(store_job_get(f->s, 9999, &j), -ENOENT);
	assert_int_equal(store_job_set_state(f->s, 9999, JOB_DONE, NULL, 1), -ENOENT);

	assert_int_equal(store_job_count(f->s, counts), 0);
	assert_int_equal(counts[JOB_FAILED], 1);
	assert_int_equal(counts[JOB_QUEUED], 1);
	(void)b;
}

struct collect {
	int64_t ids[16];
	int n;
};

static int collect_job(const struct store_job *j, void *userdata)
{
	struct collect *c = userdata;

	c->ids[c->n++] = j->id;
	return 0;
}

static void test_job_list(void **state)
{
	struct fixture *f = *state;
	struct collect c = { 0 };
	int64_t ids[5];
	int64_t queued[8];
	size_t n = 0;

	for (int i = 0; i < 5; i++)
		ids[i] = add_job(f->s, i % 2 ? 7 : 8, "q");
	assert_int_equal(store_job_set_state(f->s, ids[4], JOB_RUNNING, NULL, 1), 0);

	/* owner 8 has jobs 0, 2, 4 */
	assert_int_equal(store_job_list(f->s, 8, -1, 100, collect_job, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ids[0], ids[0]);
	assert_int_equal(c.ids[2], ids[4]);

	/* the newest 2 of everyone's, in ascending order */
	c.n = 0;
	assert_int_equal(store_job_list(f->s, (uid_t)-1, -1, 2, collect_job, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], ids[3]);
	assert_int_equal(c.ids[1], ids[4]);

	c.n = 0;
	assert_int_equal(store_job_list(f->s, (uid_t)-1, JOB_RUNNING, 100, collect_job, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], ids[4]);

	/* owner and state together: owner 8's queued jobs are 0 and 2 */
	c.n = 0;
	assert_int_equal(store_job_list(f->s, 8, JOB_QUEUED, 100, collect_job, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], ids[0]);
	assert_int_equal(c.ids[1], ids[2]);
	c.n = 0;
	assert_int_equal(store_job_list(f->s, 7, JOB_RUNNING, 100, collect_job, &c), 0);
	assert_int_equal(c.n, 0);

	assert_int_equal(store_job_ids(f->s, JOB_QUEUED, NULL, queued, 8, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(queued[0], ids[0]);
	assert_int_equal(store_job_ids(f->s, JOB_QUEUED, NULL, queued, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_job_ids(f->s, JOB_QUEUED, "research", queued, 8, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(store_job_ids(f->s, JOB_QUEUED, "selftest", queued, 8, &n), 0);
	assert_int_equal(n, 0);
	{
		int64_t u = -1;

		assert_int_equal(store_job_count_unfinished(f->s, &u), 0);
		assert_int_equal(u, 5);
	}
}

struct plans {
	char name[64];
	bool searched;		/* the statement reads jobs through an index */
	int statements;
};

static int check_plan_line(const char *name, const char *detail, void *userdata)
{
	struct plans *p = userdata;

	if (strcmp(p->name, name) != 0) {
		if (p->statements > 0 && !p->searched)
			fail_msg("%s: no index search on jobs", p->name);
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->searched = false;
		p->statements++;
	}
	/* "SCAN jobs" (with or without "USING ... INDEX") reads every job. */
	if (strstr(detail, "SCAN jobs") != NULL)
		fail_msg("%s reads every job: %s", name, detail);
	if (strncmp(detail, "SEARCH jobs USING ", 18) == 0)
		p->searched = true;
	return 0;
}

/* Listing and counting must read indexes, not every job: with thousands
 * of jobs a scan per request is what let one client stall the daemon. */
static void test_job_query_plans(void **state)
{
	struct fixture *f = *state;
	struct plans p = { "" };

	for (int i = 0; i < 40; i++)
		add_job(f->s, 1000 + i % 3, "q");
	assert_int_equal(store_job_explain(f->s, check_plan_line, &p), 0);
	if (!p.searched)
		fail_msg("%s: no index search on jobs", p.name);
	assert_int_equal(p.statements, 8);
}

/* Migration 7 rebuilds jobs to allow 'waiting': a database at version 6
 * (jobs with the old CHECK) keeps its job ids, their events and options,
 * and takes the new state afterwards. */
static void test_migration_waiting(void **state)
{
	struct fixture *f = *state;
	int64_t a = add_job(f->s, 5, "first"), b = add_job(f->s, 6, "second"), unfinished = 0;
	int64_t counts[_JOB_STATE_MAX];
	json_t *data = json_pack("{s:s}", "x", "y");
	struct store_job *j = NULL;

	assert_int_equal(store_event_append(f->s, b, 2000, "log", data, NULL), 0);
	json_decref(data);
	store_close(f->s);
	f->s = NULL;
	/* Back to version 6's table, with a gap in the ids. */
	raw_exec(f->path, "PRAGMA foreign_keys = OFF; BEGIN;"
	    "CREATE TABLE jobs_old (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL,"
	    " kind TEXT NOT NULL, question TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}',"
	    " state TEXT NOT NULL CHECK (state IN"
	    " ('queued','running','paused','done','failed','cancelled')), message TEXT,"
	    " usage TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	    " started INTEGER, finished INTEGER);"
	    "INSERT INTO jobs_old SELECT id, owner, kind, question, options, state, message, usage,"
	    " created, updated, started, finished FROM jobs;"
	    "DROP TABLE jobs; ALTER TABLE jobs_old RENAME TO jobs;"
	    "CREATE INDEX jobs_state ON jobs(state, kind, id); CREATE INDEX jobs_owner ON jobs(owner, id);"
	    "CREATE INDEX jobs_state_id ON jobs(state, id);"
	    "CREATE INDEX jobs_owner_state ON jobs(owner, state, id);"
	    "UPDATE jobs SET id = 7 WHERE id = 1; PRAGMA user_version = 6; COMMIT;");
	(void)a;
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(db, "UPDATE jobs SET state = 'waiting'", NULL, NULL,
		    NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(store_open(f->path, &f->s), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), store_schema_latest());
	assert_int_equal(store_job_get(f->s, 7, &j), 0);
	assert_string_equal(j->question, "first");
	store_job_free(j);
	assert_int_equal(store_job_get(f->s, b, &j), 0);
	assert_string_equal(j->question, "second");
	assert_int_equal(j->owner, 6);
	assert_int_equal(j->events, 1);
	store_job_free(j);
	assert_int_equal(raw_int(f->path, "PRAGMA foreign_key_check"), -1);	/* no row */
	assert_int_equal(store_job_set_state(f->s, b, JOB_WAITING, "waiting for answers", 3), 0);
	assert_int_equal(store_job_count(f->s, counts), 0);
	assert_int_equal(counts[JOB_WAITING], 1);
	assert_int_equal(counts[JOB_QUEUED], 1);
	assert_int_equal(store_job_count_unfinished(f->s, &unfinished), 0);
	assert_int_equal(unfinished, 2);
}

static void test_job_counts(void **state)
{
	struct fixture *f = *state;
	int64_t counts[_JOB_STATE_MAX], ids[6];

	for (int i = 0; i < 6; i++)
		ids[i] = add_job(f->s, 5, "q");
	assert_int_equal(store_job_set_state(f->s, ids[0], JOB_RUNNING, NULL, 1), 0);
	assert_int_equal(store_job_set_state(f->s, ids[1], JOB_RUNNING, NULL, 1), 0);
	assert_int_equal(store_job_set_state(f->s, ids[1], JOB_DONE, NULL, 2), 0);
	assert_int_equal(store_job_set_state(f->s, ids[2], JOB_CANCELLED, NULL, 2), 0);
	assert_int_equal(store_job_count(f->s, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], 3);
	assert_int_equal(counts[JOB_RUNNING], 1);
	assert_int_equal(counts[JOB_PAUSED], 0);
	assert_int_equal(counts[JOB_DONE], 1);
	assert_int_equal(counts[JOB_FAILED], 0);
	assert_int_equal(counts[JOB_CANCELLED], 1);
}

static void test_usage(void **state)
{
	struct fixture *f = *state;
	int64_t a = add_job(f->s, 1, "q");
	struct store_job *j = NULL;
	json_t *cost = json_pack("{s:i, s:i, s:s}", "tokens", 100, "fetches", 1, "note", "ignored");

	assert_int_equal(store_job_add_usage(f->s, a, cost, 10), 0);
	assert_int_equal(store_job_add_usage(f->s, a, cost, 11), 0);
	json_decref(cost);
	assert_int_equal(store_job_get(f->s, a, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "tokens")), 200);
	assert_int_equal(json_integer_value(json_object_get(j->usage, "fetches")), 2);
	assert_null(json_object_get(j->usage, "note"));
	store_job_free(j);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	int64_t a = add_job(f->s, 1, "q"), b = add_job(f->s, 1, "q"), seq = 0, bad = 0;
	json_t *d = json_pack("{s:s}", "k", "v");
	struct store_job *j = NULL;

	for (int i = 1; i <= 5; i++) {
		assert_int_equal(store_event_append(f->s, a, 100 + i, "log", d, &seq), 0);
		assert_int_equal(seq, i);
	}
	assert_int_equal(store_event_append(f->s, b, 1, "log", d, &seq), 0);
	assert_int_equal(seq, 1);	/* per job */
	json_decref(d);
	assert_int_equal(store_job_get(f->s, a, &j), 0);
	assert_int_equal(j->events, 5);
	store_job_free(j);
	assert_int_equal(store_event_verify(f->s, a, &bad), 0);

	/* append-only: the schema refuses updates and deletes */
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(db, "UPDATE job_events SET data = '{}'", NULL, NULL, NULL), SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(db, "DELETE FROM job_events", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}

	/* a forged event breaks the chain exactly there */
	raw_exec(f->path, "DROP TRIGGER job_events_append_only_update;"
	    "UPDATE job_events SET data = '{\"k\":\"forged\"}' WHERE seq = 3 AND job_id = 1");
	assert_int_equal(store_event_verify(f->s, a, &bad), -EBADMSG);
	assert_int_equal(bad, 3);
}

static void test_effects_and_reports(void **state)
{
	struct fixture *f = *state;
	int64_t a = add_job(f->s, 1, "q"), b = add_job(f->s, 1, "q"), n = -1;
	uint8_t key[HASH_BYTES];
	json_t *res = json_pack("{s:s, s:i}", "text", "hello", "n", 3), *got = NULL;
	const char *res_text = "{\"text\":\"hello\",\"n\":3}";
	char *body = NULL;

	hash_bytes("k", 1, key);
	assert_int_equal(store_effect_get(f->s, a, key, &got), -ENOENT);
	assert_int_equal(store_effect_put(f->s, a, key, "t.kind", "{}", res_text, 12, 1), 0);
	assert_int_equal(store_effect_put(f->s, a, key, "t.kind", "{}", res_text, 12, 1), -EEXIST);
	assert_int_equal(store_effect_get(f->s, a, key, &got), 0);
	assert_true(json_equal(got, res));
	json_decref(got);
	/* per job: b has not got it */
	assert_int_equal(store_effect_get(f->s, b, key, &got), -ENOENT);
	assert_int_equal(store_effect_count(f->s, a, &n), 0);
	assert_int_equal(n, 1);
	json_decref(res);

	assert_int_equal(store_report_get(f->s, a, "markdown", &body), -ENOENT);
	assert_int_equal(store_report_put(f->s, a, "markdown", "# R\n", 1), 0);
	assert_int_equal(store_report_put(f->s, a, "markdown", "# R2\n", 2), 0);
	assert_int_equal(store_report_get(f->s, a, "markdown", &body), 0);
	assert_string_equal(body, "# R2\n");
	free(body);
	/* foreign keys are on: no effect for a job that does not exist */
	assert_int_not_equal(store_effect_put(f->s, 4242, key, "t.kind", "{}", "null", 1, 1), 0);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct store_job *j = NULL;
	int64_t a;

	assert_int_equal(store_begin(f->s), 0);
	a = add_job(f->s, 1, "rolled back");
	assert_int_equal(store_begin(f->s), 0);	/* nested */
	assert_int_equal(store_commit(f->s), 0);	/* inner: nothing yet */
	store_rollback(f->s);
	assert_int_equal(store_job_get(f->s, a, &j), -ENOENT);

	assert_int_equal(store_begin(f->s), 0);
	a = add_job(f->s, 1, "kept");
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_job_get(f->s, a, &j), 0);
	store_job_free(j);
	assert_int_equal(store_commit(f->s), -EINVAL);
}

static void test_nested_rollback(void **state)
{
	struct fixture *f = *state;
	struct store_job *j = NULL;
	int64_t outer1, inner, deep, outer2;

	/* an inner level rolls back; the outer goes on and commits */
	assert_int_equal(store_begin(f->s), 0);
	outer1 = add_job(f->s, 1, "outer, before");
	assert_int_equal(store_begin(f->s), 0);
	inner = add_job(f->s, 1, "inner, rolled back");
	assert_int_equal(store_begin(f->s), 0);
	deep = add_job(f->s, 1, "deeper, committed into the inner");
	assert_int_equal(store_commit(f->s), 0);
	store_rollback(f->s);
	outer2 = add_job(f->s, 1, "outer, after");
	/* still inside the outer transaction: another handle sees nothing */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM jobs"), 0);
	assert_int_equal(store_commit(f->s), 0);

	/* (the rolled-back rows' ids may be reused: check by question) */
	assert_int_equal(store_job_get(f->s, outer1, &j), 0);
	assert_string_equal(j->question, "outer, before");
	store_job_free(j);
	assert_int_equal(store_job_get(f->s, outer2, &j), 0);
	assert_string_equal(j->question, "outer, after");
	store_job_free(j);
	assert_true(inner > outer1 && deep > inner);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM jobs WHERE question LIKE 'inner%'"
	    " OR question LIKE 'deeper%'"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM jobs"), 2);
	/* every level was closed */
	assert_int_equal(store_commit(f->s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_is_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_query_plans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_effects_and_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_rollback, setup, teardown),
	};
	hash_init();
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
