/* Jobs: insert, read, state and usage updates, listing. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "store-internal.h"
#include "xmalloc.h"

struct store_job *store_job_free(struct store_job *j)
{
	if (j == NULL)
		return NULL;
	free(j->kind);
	free(j->question);
	free(j->message);
	if (j->options)
		json_decref(j->options);
	if (j->usage)
		json_decref(j->usage);
	free(j);
	return NULL;
}

int store_job_insert(struct store *s, const struct store_job *j, int64_t *ret_id)
{
	sqlite3_stmt *st = store_stmt(s, STMT_JOB_INSERT);
	char *options;
	int r;

	if (st == NULL)
		return -EIO;
	options = j->options ? json_canonical(j->options) : xstrdup("{}");
	r = store_bind_int(st, ":owner", j->owner);
	if (r == 0) r = store_bind_text(st, ":kind", j->kind);
	if (r == 0) r = store_bind_text(st, ":question", j->question);
	if (r == 0) r = store_bind_text(st, ":options", options);
	if (r == 0) r = store_bind_text(st, ":state", job_state_to_string(j->state));
	if (r == 0) r = store_bind_int(st, ":now", j->created);
	free(options);
	if (r == 0)
		r = store_step_done(st);
	if (r < 0)
		return r;
	*ret_id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static json_t *store_json_column(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	return (v && json_is_object(v)) ? v : (json_decref(v), json_object());
}

static char *store_text_column(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	return text ? xstrdup(text) : NULL;
}

/* Columns as in STMT_JOB_GET and the STMT_JOB_LIST_* statements. */
static struct store_job *store_job_from_row(sqlite3_stmt *st)
{
	struct store_job *j = xcalloc(1, sizeof(*j));
	const char *state = (const char *)sqlite3_column_text(st, 5);

	j->id = sqlite3_column_int64(st, 0);
	j->owner = (uid_t)sqlite3_column_int64(st, 1);
	j->kind = store_text_column(st, 2);
	j->question = store_text_column(st, 3);
	j->options = store_json_column(st, 4);
	if (state == NULL || job_state_from_string(state, &j->state) < 0)
		j->state = JOB_FAILED;
	j->message = store_text_column(st, 6);
	j->usage = store_json_column(st, 7);
	j->created = sqlite3_column_int64(st, 8);
	j->updated = sqlite3_column_int64(st, 9);
	j->started = sqlite3_column_int64(st, 10);
	j->finished = sqlite3_column_int64(st, 11);
	j->events = sqlite3_column_int64(st, 12);
	if (j->kind == NULL)
		j->kind = xstrdup("research");
	if (j->question == NULL)
		j->question = xstrdup("");
	return j;
}

int store_job_get(struct store *s, int64_t id, struct store_job **ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_JOB_GET);
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":id", id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = store_job_from_row(st);
	r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	sqlite3_reset(st);
	return r;
}

int store_job_set_state(struct store *s, int64_t id, enum job_state state,
    const char *message, int64_t now_ms)
{
	sqlite3_stmt *st = store_stmt(s, STMT_JOB_SET_STATE);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":state", job_state_to_string(state));
	if (r == 0) r = store_bind_text(st, ":message", message);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r == 0) r = store_bind_int(st, ":id", id);
	if (r == 0) r = store_step_done(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	return r;
}

int store_job_add_usage(struct store *s, int64_t id, const json_t *cost, int64_t now_ms)
{
	sqlite3_stmt *st = store_stmt(s, STMT_JOB_GET_USAGE);
	json_t *usage = NULL, *v;
	const char *key;
	char *text;
	int rc, r;

	if (st == NULL)
		return -EIO;
	if (!json_is_object(cost))
		return -EINVAL;
	r = store_bind_int(st, ":id", id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
		sqlite3_reset(st);
		return r;
	}
	usage = store_json_column(st, 0);
	sqlite3_reset(st);
	json_object_foreach((json_t *)cost, key, v) {
		json_t *old = json_object_get(usage, key);
		json_int_t add, sum;

		if (!json_is_integer(v))
			continue;
		add = json_integer_value(v);
		sum = json_is_integer(old) ? json_integer_value(old) : 0;
		if ((add > 0 && sum > INT64_MAX - add) || (add < 0 && sum < INT64_MIN - add))
			sum = add > 0 ? INT64_MAX : INT64_MIN;
		else
			sum += add;
		json_object_set_new(usage, key, json_integer(sum));
	}
	text = json_canonical(usage);
	json_decref(usage);
	st = store_stmt(s, STMT_JOB_SET_USAGE);
	if (st == NULL) {
		free(text);
		return -EIO;
	}
	r = store_bind_text(st, ":usage", text);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r == 0) r = store_bind_int(st, ":id", id);
	if (r == 0) r = store_step_done(st);
	free(text);
	return r;
}

int store_job_list(struct store *s, uid_t owner, int state, int64_t limit,
    store_job_fn fn, void *userdata)
{
	bool by_owner = owner != (uid_t)-1, by_state = state >= 0;
	sqlite3_stmt *st = store_stmt(s, by_owner ? (by_state ? STMT_JOB_LIST_OWNER_STATE :
	    STMT_JOB_LIST_OWNER) : (by_state ? STMT_JOB_LIST_STATE : STMT_JOB_LIST_ALL));
	int rc = SQLITE_DONE, r = 0;

	if (st == NULL)
		return -EIO;
	if (by_owner)
		r = store_bind_int(st, ":owner", (int64_t)owner);
	if (r == 0 && by_state)
		r = store_bind_text(st, ":state", job_state_to_string((enum job_state)state));
	if (r == 0)
		r = store_bind_int(st, ":limit", limit);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_job *j = store_job_from_row(st);

		r = fn(j, userdata);
		store_job_free(j);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_errno(rc);
	sqlite3_reset(st);
	return r;
}

int store_job_ids(struct store *s, enum job_state state, const char *kind, int64_t *ids,
    size_t max, size_t *ret_n)
{
	sqlite3_stmt *st = store_stmt(s, kind ? STMT_JOB_IDS_KIND : STMT_JOB_IDS_STATE);
	size_t n = 0;
	int rc = SQLITE_DONE, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":state", job_state_to_string(state));
	if (r == 0 && kind)
		r = store_bind_text(st, ":kind", kind);
	if (r == 0)
		r = store_bind_int(st, ":limit", (int64_t)max);
	if (r < 0)
		return r;
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	if (n < max && rc != SQLITE_DONE)
		r = store_errno(rc);
	sqlite3_reset(st);
	if (r == 0)
		*ret_n = n;
	return r;
}

int store_job_count(struct store *s, int64_t counts[_JOB_STATE_MAX])
{
	int64_t got[_JOB_STATE_MAX];
	sqlite3_stmt *st;
	int rc, r = 0;

	for (int i = 0; i < _JOB_STATE_MAX && r == 0; i++) {
		st = store_stmt(s, STMT_JOB_COUNT_STATE);
		if (st == NULL)
			return -EIO;
		r = store_bind_text(st, ":state", job_state_to_string((enum job_state)i));
		if (r < 0)
			break;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			got[i] = sqlite3_column_int64(st, 0);
		else
			r = store_errno(rc) < 0 ? store_errno(rc) : -EIO;
		sqlite3_reset(st);
	}
	if (r == 0)
		memcpy(counts, got, sizeof(got));
	return r;
}

int store_job_count_unfinished(struct store *s, int64_t *ret)
{
	return store_step_ints(store_stmt(s, STMT_JOB_UNFINISHED), ret, 1);
}
