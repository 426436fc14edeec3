/* The job event log: append-only, each event's hash chaining the previous. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "store-internal.h"
#include "xmalloc.h"

#define STORE_EVENT_MAX_DATA (1024 * 1024)

static void store_event_hash(const uint8_t prev[HASH_BYTES], int64_t seq, int64_t time_ms,
    const char *type, const char *data, uint8_t out[HASH_BYTES])
{
	struct hash_state *h = hash_new();
	uint8_t num[16];

	for (int i = 0; i < 8; i++) {
		num[i] = (uint8_t)((uint64_t)seq >> (8 * i));
		num[8 + i] = (uint8_t)((uint64_t)time_ms >> (8 * i));
	}
	hash_part(h, prev, HASH_BYTES);
	hash_part(h, num, sizeof(num));
	hash_part(h, type, strlen(type));
	hash_part(h, data, strlen(data));
	hash_final(h, out);
}

int store_event_append(struct store *s, int64_t job_id, int64_t time_ms, const char *type,
    const json_t *data, int64_t *ret_seq)
{
	sqlite3_stmt *st = store_stmt(s, STMT_EVENT_LAST);
	uint8_t prev[HASH_BYTES] = { 0 }, hash[HASH_BYTES];
	int64_t seq = 1;
	char *text = NULL;
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0) + 1;
		if (sqlite3_column_bytes(st, 1) == HASH_BYTES)
			memcpy(prev, sqlite3_column_blob(st, 1), HASH_BYTES);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_errno(rc);

	text = json_canonical(data ? data : json_object());
	if (strlen(text) > STORE_EVENT_MAX_DATA) {
		free(text);
		return -E2BIG;
	}
	store_event_hash(prev, seq, time_ms, type, text, hash);
	st = store_stmt(s, STMT_EVENT_INSERT);
	if (st == NULL) {
		free(text);
		return -EIO;
	}
	r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_int(st, ":seq", seq);
	if (r == 0) r = store_bind_int(st, ":time", time_ms);
	if (r == 0) r = store_bind_text(st, ":type", type);
	if (r == 0) r = store_bind_text(st, ":data", text);
	if (r == 0) r = store_bind_blob(st, ":hash", hash, HASH_BYTES);
	if (r == 0) r = store_step_done(st);
	free(text);
	if (r == 0 && ret_seq)
		*ret_seq = seq;
	return r;
}

int store_event_list(struct store *s, int64_t job_id, int64_t since, int64_t limit,
    store_event_fn fn, void *userdata)
{
	sqlite3_stmt *st = store_stmt(s, STMT_EVENT_LIST);
	int rc = SQLITE_DONE, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":job", job_id);
	if (r == 0) r = store_bind_int(st, ":since", since);
	if (r == 0) r = store_bind_int(st, ":limit", limit);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_event e = {
			.job_id = job_id,
			.seq = sqlite3_column_int64(st, 0),
			.time = sqlite3_column_int64(st, 1),
			.type = (const char *)sqlite3_column_text(st, 2),
			.data = (const char *)sqlite3_column_text(st, 3),
		};

		if (sqlite3_column_bytes(st, 4) == HASH_BYTES)
			memcpy(e.hash, sqlite3_column_blob(st, 4), HASH_BYTES);
		if (e.type == NULL)
			e.type = "";
		if (e.data == NULL)
			e.data = "{}";
		r = fn(&e, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_errno(rc);
	sqlite3_reset(st);
	return r;
}

struct store_verify {
	uint8_t prev[HASH_BYTES];
	int64_t expect_seq;
	int64_t bad_seq;
};

static int store_event_verify_one(const struct store_event *e, void *userdata)
{
	struct store_verify *v = userdata;
	uint8_t hash[HASH_BYTES];

	store_event_hash(v->prev, e->seq, e->time, e->type, e->data, hash);
	if (e->seq != v->expect_seq || memcmp(hash, e->hash, HASH_BYTES) != 0) {
		v->bad_seq = e->seq;
		return -EBADMSG;
	}
	memcpy(v->prev, hash, HASH_BYTES);
	v->expect_seq++;
	return 0;
}

int store_event_verify(struct store *s, int64_t job_id, int64_t *ret_bad_seq)
{
	struct store_verify v = { .expect_seq = 1 };
	int r;

	r = store_event_list(s, job_id, 0, INT64_MAX, store_event_verify_one, &v);
	if (r == -EBADMSG && ret_bad_seq)
		*ret_bad_seq = v.bad_seq;
	return r;
}
