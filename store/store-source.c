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

void store_blob_clear(struct store_blob *b)
{
	free(b->owned);
	*b = (struct store_blob){0};
}

int store_snapshot_encode(const void *body, size_t len, struct store_blob *ret)
{
	uLongf zlen;
	Bytef *z;

	if (len > STORE_MAX_SNAPSHOT)
		return -EFBIG;
	zlen = compressBound((uLong)len);
	z = xmalloc(zlen);
	if (compress2(z, &zlen, body, (uLong)len, 6) != Z_OK) {
		free(z);
		return -EIO;
	}
	/* Incompressible bodies (images, archives) are kept as they are. */
	if (zlen >= len) {
		free(z);
		*ret = (struct store_blob){ .encoding = "identity", .data = body, .len = len,
			.bytes = len };
		return 0;
	}
	*ret = (struct store_blob){ .encoding = "zlib", .data = z, .len = zlen, .bytes = len,
		.owned = z };
	return 0;
}

int store_snapshot_put_encoded(struct store *s, const uint8_t hash[HASH_BYTES],
    const struct store_blob *b, int64_t now_ms)
{
	sqlite3_stmt *st;
	int r;

	if (b->bytes > STORE_MAX_SNAPSHOT || b->encoding == NULL)
		return -EINVAL;
	if (store_snapshot_exists(s, hash))
		return 0;
	st = store_stmt(s, STMT_SNAPSHOT_PUT);
	if (st == NULL)
		return -EIO;
	r = store_bind_blob(st, ":hash", hash, HASH_BYTES);
	if (r == 0) r = store_bind_int(st, ":bytes", (int64_t)b->bytes);
	if (r == 0) r = store_bind_text(st, ":encoding", b->encoding);
	/* A zero-length blob would bind as NULL through a NULL pointer. */
	if (r == 0) r = store_bind_blob(st, ":data", b->len ? b->data : "", b->len);
	if (r == 0) r = store_bind_int(st, ":now", now_ms);
	if (r == 0) r = store_step_done(st);
	return r;
}

int store_snapshot_put(struct store *s, const uint8_t hash[HASH_BYTES], const void *body,
    size_t len, int64_t now_ms)
{
	struct store_blob b;
	int r;

	if (len > STORE_MAX_SNAPSHOT)
		return -EFBIG;
	if (store_snapshot_exists(s, hash))
		return 0;
	r = store_snapshot_encode(body, len, &b);
	if (r < 0)
		return r;
	r = store_snapshot_put_encoded(s, hash, &b, now_ms);
	store_blob_clear(&b);
	return r;
}

int store_snapshot_get_encoded(struct store *s, const uint8_t hash[HASH_BYTES], size_t max,
    struct store_blob *ret)
{
	sqlite3_stmt *st = store_stmt(s, STMT_SNAPSHOT_GET);
	const char *encoding;
	const void *data;
	int64_t bytes;
	size_t dlen;
	void *copy;
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
	encoding = (const char *)sqlite3_column_text(st, 1);
	data = sqlite3_column_blob(st, 2);
	dlen = (size_t)sqlite3_column_bytes(st, 2);
	if (bytes < 0 || bytes > STORE_MAX_SNAPSHOT || encoding == NULL ||
	    (strcmp(encoding, "zlib") != 0 && strcmp(encoding, "identity") != 0) ||
	    (dlen > 0 && data == NULL)) {
		r = -EBADMSG;
		goto out;
	}
	if ((size_t)bytes > max) {
		r = -EFBIG;
		goto out;
	}
	copy = xmalloc(dlen + 1);
	if (dlen)
		memcpy(copy, data, dlen);
	*ret = (struct store_blob){
		.encoding = strcmp(encoding, "zlib") == 0 ? "zlib" : "identity",
		.data = copy, .len = dlen, .bytes = (size_t)bytes, .owned = copy,
	};
out:
	sqlite3_reset(st);
	return r;
}

int store_snapshot_decode(const uint8_t hash[HASH_BYTES], const struct store_blob *b,
    char **ret_body, size_t *ret_len)
{
	uint8_t check[HASH_BYTES];
	char *body;
	uLongf out;

	if (b->bytes > STORE_MAX_SNAPSHOT || b->encoding == NULL)
		return -EBADMSG;
	body = xmalloc(b->bytes + 1);
	if (strcmp(b->encoding, "identity") == 0) {
		if (b->len != b->bytes)
			goto bad;
		if (b->len)
			memcpy(body, b->data, b->len);
	} else {
		out = (uLongf)b->bytes;
		if (strcmp(b->encoding, "zlib") != 0 || b->data == NULL ||
		    uncompress((Bytef *)body, &out, b->data, (uLong)b->len) != Z_OK ||
		    out != (uLongf)b->bytes)
			goto bad;
	}
	body[b->bytes] = '\0';
	hash_bytes(body, b->bytes, check);
	if (memcmp(check, hash, HASH_BYTES) != 0)
		goto bad;
	*ret_body = body;
	*ret_len = b->bytes;
	return 0;
bad:
	free(body);
	return -EBADMSG;
}

int store_snapshot_get(struct store *s, const uint8_t hash[HASH_BYTES], size_t max,
    char **ret_body, size_t *ret_len)
{
	struct store_blob b;
	int r;

	r = store_snapshot_get_encoded(s, hash, max, &b);
	if (r < 0)
		return r;
	r = store_snapshot_decode(hash, &b, ret_body, ret_len);
	store_blob_clear(&b);
	return r;
}
