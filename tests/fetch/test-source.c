/* Unit tests: the source cache (store/store-source.c, migration 2). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-source.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	if (store_open(f->path, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_put_get(void **state)
{
	struct fixture *f = *state;
	const char *body = "<html><body>hello hello hello hello hello</body></html>";
	struct store_source src = {
		.url = "http://example.com/a", .final_url = "http://example.com/a/",
		.status = 200, .content_type = "text/html", .etag = "\"e1\"",
		.bytes = (int64_t)strlen(body), .fetched = 1000, .has_hash = true,
	};
	struct store_source *got = NULL;
	int64_t id = 0, id2 = 0, n_src, n_snap;
	char *data = NULL;
	size_t len = 0;

	assert_int_equal(store_source_get(f->s, src.url, &got), -ENOENT);
	hash_bytes(body, strlen(body), src.hash);
	assert_int_equal(store_snapshot_put(f->s, src.hash, body, strlen(body), 1000), 0);
	assert_int_equal(store_snapshot_put(f->s, src.hash, body, strlen(body), 1000), 0);
	assert_int_equal(store_source_put(f->s, &src, &id), 0);
	assert_true(id > 0);
	assert_int_equal(store_source_get(f->s, src.url, &got), 0);
	assert_int_equal(got->id, id);
	assert_string_equal(got->final_url, "http://example.com/a/");
	assert_string_equal(got->etag, "\"e1\"");
	assert_null(got->last_modified);
	assert_true(got->has_hash);
	assert_memory_equal(got->hash, src.hash, HASH_BYTES);
	got = store_source_free(got);

	assert_int_equal(store_snapshot_get(f->s, src.hash, 1 << 20, &data, &len), 0);
	assert_int_equal(len, strlen(body));
	assert_string_equal(data, body);
	free(data);
	assert_int_equal(store_snapshot_get(f->s, src.hash, 3, &data, &len), -EFBIG);

	/* Replace: same row, new values; touch refreshes the time. */
	src.status = 404;
	src.has_hash = false;
	assert_int_equal(store_source_put(f->s, &src, &id2), 0);
	assert_int_equal(id2, id);
	assert_int_equal(store_source_touch(f->s, src.url, 5000), 0);
	assert_int_equal(store_source_touch(f->s, "http://nowhere/", 5000), -ENOENT);
	assert_int_equal(store_source_get_by_id(f->s, id, &got), 0);
	assert_int_equal(got->status, 404);
	assert_int_equal(got->fetched, 5000);
	assert_false(got->has_hash);
	store_source_free(got);
	assert_int_equal(store_source_count(f->s, &n_src, &n_snap), 0);
	assert_int_equal(n_src, 1);
	assert_int_equal(n_snap, 1);
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	uint8_t h[HASH_BYTES], missing[HASH_BYTES] = {1};
	unsigned char noise[4096];
	char *data = NULL;
	size_t len;

	/* Incompressible and empty bodies round-trip too. */
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (unsigned char)((i * 2654435761u) >> 13);
	hash_bytes(noise, sizeof(noise), h);
	assert_int_equal(store_snapshot_put(f->s, h, noise, sizeof(noise), 1), 0);
	assert_int_equal(store_snapshot_get(f->s, h, sizeof(noise), &data, &len), 0);
	assert_int_equal(len, sizeof(noise));
	assert_memory_equal(data, noise, sizeof(noise));
	free(data);
	hash_bytes("", 0, h);
	assert_int_equal(store_snapshot_put(f->s, h, "", 0, 1), 0);
	assert_int_equal(store_snapshot_get(f->s, h, 10, &data, &len), 0);
	assert_int_equal(len, 0);
	free(data);
	assert_false(store_snapshot_exists(f->s, missing));
	assert_int_equal(store_snapshot_get(f->s, missing, 10, &data, &len), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
	};

	hash_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
