/* Stored effect results and reports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "store-internal.h"
#include "xmalloc.h"

int store_effect_get(struct store *s, int64_t job_id, const uint8_t key[HASH_BYTES],
    json_t **ret_result)
{
	sqlite3_stmt *st = store_stmt(s, STMT_EFFECT_GET);
	json_t *result = NULL;
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_blob(st, ":key", key, HASH_BYTES);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);

		result = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
		r = result ? 0 : -EBADMSG;
	} else
		r = rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	sqlite3_reset(st);
	if (r == 0)
		*ret_result = result;
	return r;
}

int store_effect_put(struct store *s, int64_t job_id, const uint8_t key[HASH_BYTES],
    const char *kind, const char *request, const char *result, int64_t ms, int64_t now_ms)
{
	sqlite3_stmt *st = store_stmt(s, STMT_EFFECT_PUT);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_blob(st, ":key", key, HASH_BYTES);
	if (r == 0) r = store_bind_text(st, ":kind", kind);
	if (r == 0) r = store_bind_text(st, ":request", request);
	if (r == 0) r = store_bind_text(st, ":result", result);
	if (r == 0) r = store_bind_int(st, ":ms", ms);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r == 0) r = store_step_done(st);
	return r;
}

int store_effect_count(struct store *s, int64_t job_id, int64_t *ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_EFFECT_COUNT);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r < 0)
		return r;
	return store_step_ints(st, ret, 1);
}

int store_effect_list_kind(struct store *s, const char *kind, uid_t owner, int64_t job_id,
    int64_t limit, store_effect_fn fn, void *userdata)
{
	sqlite3_stmt *st = store_stmt(s, STMT_EFFECT_LIST_KIND);
	int rc = SQLITE_DONE, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":kind", kind);
	if (r == 0) r = store_bind_int(st, ":owner", owner == (uid_t)-1 ? -1 : (int64_t)owner);
	if (r == 0) r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_int(st, ":limit", limit);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *request = (const char *)sqlite3_column_text(st, 1);
		const char *result = (const char *)sqlite3_column_text(st, 2);

		r = fn(sqlite3_column_int64(st, 0), request ? request : "null", result ? result : "null",
		    sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4), userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_errno(rc);
	sqlite3_reset(st);
	return r;
}

int store_report_put(struct store *s, int64_t job_id, const char *format, const char *body,
    int64_t now_ms)
{
	sqlite3_stmt *st = store_stmt(s, STMT_REPORT_PUT);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_text(st, ":format", format);
	if (r == 0) r = store_bind_text(st, ":body", body);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r == 0) r = store_step_done(st);
	return r;
}

int store_report_get(struct store *s, int64_t job_id, const char *format, char **ret_body)
{
	sqlite3_stmt *st = store_stmt(s, STMT_REPORT_GET);
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_text(st, ":format", format);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		*ret_body = xstrdup(text ? text : "");
		r = 0;
	} else
		r = rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	sqlite3_reset(st);
	return r;
}
