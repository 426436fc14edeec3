/* A research job's derived rows: sub-questions, findings (verified or
 * rejected, with the quote's byte offsets) and the report's citations. */
#include <errno.h>
#include <string.h>

#include "json.h"
#include "store-internal.h"

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s;

	return json_get_string(o, key, &s) == 0 ? s : def;
}

static int64_t int_or(const json_t *o, const char *key, int64_t def)
{
	int64_t v;

	return json_get_int(o, key, &v) == 0 ? v : def;
}

static int clear(struct store *s, enum store_stmt_id id, int64_t job_id)
{
	sqlite3_stmt *st = store_stmt(s, id);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	return r < 0 ? r : store_step_done(st);
}

static int put_questions(struct store *s, int64_t job_id, const json_t *list)
{
	size_t i;
	json_t *q;
	int r = 0;

	json_array_foreach(list, i, q) {
		sqlite3_stmt *st = store_stmt(s, STMT_RESEARCH_QUESTION);
		bool gap = false;

		if (st == NULL)
			return -EIO;
		json_get_bool(q, "gap", &gap);
		r = store_bind_int(st, ":job", job_id);
		if (r == 0) r = store_bind_int(st, ":id", int_or(q, "id", (int64_t)i + 1));
		if (r == 0) r = store_bind_text(st, ":text", str_or(q, "text", ""));
		if (r == 0) r = store_bind_text(st, ":state", str_or(q, "state", "open"));
		if (r == 0) r = store_bind_int(st, ":gap", gap);
		if (r == 0) r = store_bind_int(st, ":round", int_or(q, "round", 1));
		if (r == 0) r = store_step_done(st);
		if (r < 0)
			return r;
	}
	return r;
}

static const json_t *source_of(const json_t *sources, int64_t id)
{
	return id >= 1 ? json_array_get(sources, (size_t)id - 1) : NULL;
}

static int put_findings(struct store *s, int64_t job_id, const json_t *list, const json_t *sources)
{
	size_t i;
	json_t *f;
	int r = 0;

	json_array_foreach(list, i, f) {
		sqlite3_stmt *st = store_stmt(s, STMT_RESEARCH_FINDING);
		const json_t *src = source_of(sources, int_or(f, "source", 0));
		bool verified = false;

		if (st == NULL)
			return -EIO;
		json_get_bool(f, "verified", &verified);
		r = store_bind_int(st, ":job", job_id);
		if (r == 0) r = store_bind_int(st, ":id", int_or(f, "id", (int64_t)i + 1));
		if (r == 0) r = store_bind_int(st, ":question", int_or(f, "question", 0));
		if (r == 0) r = store_bind_text(st, ":url", str_or(src, "url", ""));
		if (r == 0) r = store_bind_text(st, ":text_hash", str_or(src, "text_hash", NULL));
		if (r == 0) r = store_bind_text(st, ":claim", str_or(f, "claim", ""));
		if (r == 0) r = store_bind_text(st, ":quote", str_or(f, "quote", ""));
		if (r == 0) r = verified ? store_bind_int(st, ":start", int_or(f, "start", 0)) :
		    store_bind_text(st, ":start", NULL);
		if (r == 0) r = verified ? store_bind_int(st, ":end", int_or(f, "end", 0)) :
		    store_bind_text(st, ":end", NULL);
		if (r == 0) r = store_bind_int(st, ":verified", verified);
		if (r == 0) r = store_bind_text(st, ":reason", str_or(f, "reason", NULL));
		if (r == 0) r = store_step_done(st);
		if (r < 0)
			return r;
	}
	return r;
}

static int put_citations(struct store *s, int64_t job_id, const json_t *sources)
{
	size_t i;
	json_t *src;
	int r = 0;

	json_array_foreach(sources, i, src) {
		sqlite3_stmt *st;
		int64_t n = int_or(src, "cite", 0);

		if (n <= 0)
			continue;
		st = store_stmt(s, STMT_RESEARCH_CITATION);
		if (st == NULL)
			return -EIO;
		r = store_bind_int(st, ":job", job_id);
		if (r == 0) r = store_bind_int(st, ":n", n);
		if (r == 0) r = store_bind_text(st, ":url", str_or(src, "url", ""));
		if (r == 0) r = store_bind_text(st, ":title", str_or(src, "title", ""));
		if (r == 0) r = store_bind_text(st, ":snapshot", str_or(src, "snapshot", NULL));
		if (r == 0) r = store_bind_text(st, ":text_hash", str_or(src, "text_hash", NULL));
		if (r == 0) r = store_bind_int(st, ":fetched", int_or(src, "fetched", 0));
		if (r == 0) r = store_step_done(st);
		if (r < 0)
			return r;
	}
	return r;
}

int store_research_put(struct store *s, int64_t job_id, const json_t *data)
{
	const json_t *sources = json_object_get(data, "sources");
	int r;

	if (!json_is_object(data))
		return -EINVAL;
	r = store_begin(s);
	if (r < 0)
		return r;
	r = clear(s, STMT_RESEARCH_CLEAR_Q, job_id);
	if (r == 0) r = clear(s, STMT_RESEARCH_CLEAR_F, job_id);
	if (r == 0) r = clear(s, STMT_RESEARCH_CLEAR_C, job_id);
	if (r == 0) r = put_questions(s, job_id, json_object_get(data, "questions"));
	if (r == 0) r = put_findings(s, job_id, json_object_get(data, "findings"), sources);
	if (r == 0) r = put_citations(s, job_id, sources);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}

int store_research_count(struct store *s, int64_t job_id, struct store_research_counts *ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_RESEARCH_COUNT);
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->questions = sqlite3_column_int64(st, 0);
		ret->findings_kept = sqlite3_column_int64(st, 1);
		ret->findings_rejected = sqlite3_column_int64(st, 2);
		ret->citations = sqlite3_column_int64(st, 3);
		r = 0;
	} else
		r = store_errno(rc);
	sqlite3_reset(st);
	return r;
}
