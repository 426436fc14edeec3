/* The source cache: sources by canonical URL and their bodies as
 * content-addressed, zlib-compressed snapshots. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "store-internal.h"
#include "xmalloc.h"

struct store_source *store_source_free(struct store_source *src)
{
	if (src == NULL)
		return NULL;
	free(src->url);
	free(src->final_url);
	free(src->content_type);
	free(src->etag);
	free(src->last_modified);
	free(src);
	return NULL;
}

static char *store_col_text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? xstrdup(t) : NULL;
}

static struct store_source *store_source_row(sqlite3_stmt *st)
{
	struct store_source *src = xcalloc(1, sizeof(*src));
	const void *hash = sqlite3_column_blob(st, 7);

	src->id = sqlite3_column_int64(st, 0);
	src->url = store_col_text(st, 1);
	src->final_url = store_col_text(st, 2);
	src->status = sqlite3_column_int64(st, 3);
	src->content_type = store_col_text(st, 4);
	src->etag = store_col_text(st, 5);
	src->last_modified = store_col_text(st, 6);
	if (hash && sqlite3_column_bytes(st, 7) == HASH_BYTES) {
		memcpy(src->hash, hash, HASH_BYTES);
		src->has_hash = true;
	}
	src->bytes = sqlite3_column_int64(st, 8);
	src->fetched = sqlite3_column_int64(st, 9);
	src->created = sqlite3_column_int64(st, 10);
	if (src->url == NULL || src->final_url == NULL)
		return store_source_free(src);
	return src;
}

static int store_source_get_stmt(sqlite3_stmt *st, struct store_source **ret)
{
	struct store_source *src = NULL;
	int rc, r;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		src = store_source_row(st);
		r = src ? 0 : -EBADMSG;
	} else
		r = rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	sqlite3_reset(st);
	if (r == 0)
		*ret = src;
	return r;
}

int store_source_get(struct store *s, const char *url, struct store_source **ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_SOURCE_GET);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":url", url);
	return r < 0 ? r : store_source_get_stmt(st, ret);
}

int store_source_get_by_id(struct store *s, int64_t id, struct store_source **ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_SOURCE_GET_ID);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_int(st, ":id", id);
	return r < 0 ? r : store_source_get_stmt(st, ret);
}

int store_source_put(struct store *s, const struct store_source *src, int64_t *ret_id)
{
	sqlite3_stmt *st = store_stmt(s, STMT_SOURCE_PUT);
	int r;

	if (st == NULL)
		return -EIO;
	if (src->url == NULL || src->final_url == NULL)
		return -EINVAL;
	r = store_bind_text(st, ":url", src->url);
	if (r == 0) r = store_bind_text(st, ":final_url", src->final_url);
	if (r == 0) r = store_bind_int(st, ":status", src->status);
	if (r == 0) r = store_bind_text(st, ":content_type", src->content_type);
	if (r == 0) r = store_bind_text(st, ":etag", src->etag);
	if (r == 0) r = store_bind_text(st, ":last_modified", src->last_modified);
	if (r == 0 && src->has_hash)
		r = store_bind_blob(st, ":hash", src->hash, HASH_BYTES);
	if (r == 0) r = store_bind_int(st, ":bytes", src->bytes);
	if (r == 0) r = store_bind_int(st, ":fetched", src->fetched);
	if (r < 0)
		return r;
	return store_step_returning(st, ret_id);
}

int store_source_touch(struct store *s, const char *url, int64_t fetched_ms)
{
	sqlite3_stmt *st = store_stmt(s, STMT_SOURCE_TOUCH);
	int r;

	if (st == NULL)
		return -EIO;
	r = store_bind_text(st, ":url", url);
	if (r == 0) r = store_bind_int(st, ":fetched", fetched_ms);
	if (r == 0) r = store_step_done(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	return r;
}

int store_source_count(struct store *s, int64_t *ret_sources, int64_t *ret_snapshots)
{
	int64_t v[2];
	int r;

	r = store_step_ints(store_stmt(s, STMT_SOURCE_COUNT), v, 2);
	if (r < 0)
		return r;
	*ret_sources = v[0];
	*ret_snapshots = v[1];
	return 0;
}

bool store_snapshot_exists(struct store *s, const uint8_t hash[HASH_BYTES])
{
	sqlite3_stmt *st = store_stmt(s, STMT_SNAPSHOT_EXISTS);
	bool found;

	if (st == NULL || store_bind_blob(st, ":hash", hash, HASH_BYTES) < 0)
		return false;
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

int store_snapshot_put(struct store *s, const uint8_t hash[HASH_BYTES], const void *body,
    size_t len, int64_t now_ms)
{
	sqlite3_stmt *st;
	uLongf zlen;
	Bytef *z = NULL;
	const char *encoding = "zlib";
	const void *data;
	size_t dlen;
	int r;

	if (len > STORE_MAX_SNAPSHOT)
		return -EFBIG;
	if (store_snapshot_exists(s, hash))
		return 0;
	zlen = compressBound((uLong)len);
	z = xmalloc(zlen);
	if (compress2(z, &zlen, body, (uLong)len, 6) != Z_OK) {
		free(z);
		return -EIO;
	}
	data = z;
	dlen = zlen;
	/* Incompressible bodies (images, archives) are kept as they are. */
	if (zlen >= len) {
		encoding = "identity";
		data = body;
		dlen = len;
	}
	st = store_stmt(s, STMT_SNAPSHOT_PUT);
	if (st == NULL) {
		free(z);
		return -EIO;
	}
	r = store_bind_blob(st, ":hash", hash, HASH_BYTES);
	if (r == 0) r = store_bind_int(st, ":bytes", (int64_t)len);
	if (r == 0) r = store_bind_text(st, ":encoding", encoding);
	/* A zero-length blob would bind as NULL through a NULL pointer. */
	if (r == 0) r = store_bind_blob(st, ":data", dlen ? data : "", dlen);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r == 0) r = store_step_done(st);
	free(z);
	return r;
}

int store_snapshot_get(struct store *s, const uint8_t hash[HASH_BYTES], size_t max,
    char **ret_body, size_t *ret_len)
{
	sqlite3_stmt *st = store_stmt(s, STMT_SNAPSHOT_GET);
	uint8_t check[HASH_BYTES];
	char *body = NULL;
	int64_t bytes;
	uLongf out;
	int rc, r;

	if (st == NULL)
		return -EIO;
	r = store_bind_blob(st, ":hash", hash, HASH_BYTES);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	}
	bytes = sqlite3_column_int64(st, 0);
	const char *encoding = (const char *)sqlite3_column_text(st, 1);
	const void *data = sqlite3_column_blob(st, 2);
	size_t dlen = (size_t)sqlite3_column_bytes(st, 2);

	if (bytes < 0 || bytes > STORE_MAX_SNAPSHOT || encoding == NULL) {
		r = -EBADMSG;
		goto out;
	}
	if ((size_t)bytes > max) {
		r = -EFBIG;
		goto out;
	}
	body = xmalloc((size_t)bytes + 1);
	if (strcmp(encoding, "identity") == 0) {
		if (dlen != (size_t)bytes) {
			r = -EBADMSG;
			goto out;
		}
		if (dlen)
			memcpy(body, data, dlen);
	} else {
		out = (uLongf)bytes;
		if (strcmp(encoding, "zlib") != 0 || data == NULL ||
		    uncompress((Bytef *)body, &out, data, (uLong)dlen) != Z_OK ||
		    out != (uLongf)bytes) {
			r = -EBADMSG;
			goto out;
		}
	}
	body[bytes] = '\0';
	hash_bytes(body, (size_t)bytes, check);
	if (memcmp(check, hash, HASH_BYTES) != 0) {
		r = -EBADMSG;
		goto out;
	}
	*ret_body = body;
	*ret_len = (size_t)bytes;
	body = NULL;
out:
	free(body);
	sqlite3_reset(st);
	return r;
}
