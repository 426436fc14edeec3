/* Unit tests of common/sign.c and common/manifest.c: the key file, signing,
 * and each check `research verify` relies on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "json.h"
#include "manifest.h"
#include "sign.h"

static char dir[] = "/tmp/test-manifest-XXXXXX";

static char *key_path(void)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/signing.key", dir);
	return p;
}

static void test_key_file(void **state)
{
	struct sign_key *a = NULL, *b = NULL;
	uint8_t pa[SIGN_PUBLIC_BYTES], pb[SIGN_PUBLIC_BYTES];
	char id[SIGN_KEY_ID_LEN + 1];
	struct stat st;
	int created = -1;

	unlink(key_path());
	assert_int_equal(sign_key_open(key_path(), &a, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(stat(key_path(), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Opened again: the same key, not a new one. */
	assert_int_equal(sign_key_open(key_path(), &b, &created), 0);
	assert_int_equal(created, 0);
	sign_key_public(a, pa);
	sign_key_public(b, pb);
	assert_memory_equal(pa, pb, SIGN_PUBLIC_BYTES);
	sign_key_id(pa, id);
	assert_int_equal(strlen(id), SIGN_KEY_ID_LEN);
	sign_key_free(b);
	b = NULL;
	/* A key file others may read is refused. */
	assert_int_equal(chmod(key_path(), 0640), 0);
	assert_int_equal(sign_key_open(key_path(), &b, NULL), -EPERM);
	assert_null(b);
	assert_int_equal(chmod(key_path(), 0600), 0);
	/* A damaged one too, and it is never replaced. */
	FILE *f = fopen(key_path(), "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(sign_key_open(key_path(), &b, NULL), -EBADMSG);
	assert_null(b);
	sign_key_free(a);
	unlink(key_path());
}

static void test_public_parse(void **state)
{
	struct sign_key *k = NULL;
	uint8_t pk[SIGN_PUBLIC_BYTES], got[SIGN_PUBLIC_BYTES];
	char hex[SIGN_PUBLIC_HEX_LEN + 1], padded[SIGN_PUBLIC_HEX_LEN + 8];

	assert_int_equal(sign_key_generate(&k), 0);
	sign_key_public(k, pk);
	sign_key_public_hex(k, hex);
	snprintf(padded, sizeof(padded), "  %s\n", hex);
	assert_int_equal(sign_public_parse(padded, got), 0);
	assert_memory_equal(pk, got, SIGN_PUBLIC_BYTES);
	hex[10] = 'x';
	assert_int_equal(sign_public_parse(hex, got), -EINVAL);
	assert_int_equal(sign_public_parse("abcd", got), -EINVAL);
	sign_key_free(k);
}

static const char *MD = "# Title\n\nA sentence [1].\n";
static const char *TEXT = "Intro.  The \xe2\x80\x9cquick\xe2\x80\x9d brown fox \xe2\x80\x94 it jumps over the lazy dog. End.";

static json_t *sample_data(void)
{
	return json_pack("{s:s, s:[{s:i, s:s, s:i, s:s, s:s}, {s:i, s:s, s:i, s:s}], s:{s:s, s:s}}",
	    "question", "q?",
	    "sources", "id", 1, "url", "http://a.test/", "cite", 1, "text_hash", "aa", "snapshot", "bb",
	    "id", 2, "url", "http://b.test/", "cite", 0, "text_hash", "cc",
	    "model", "model", "m1", "endpoint", "http://127.0.0.1:9/v1");
}

static json_t *sample_manifest(const char *sidecar)
{
	struct manifest_job job = { .id = 7, .question = "q?" };
	json_t *data = sample_data(), *m = NULL;

	assert_int_equal(manifest_build(&job, data, MD, strlen(MD), sidecar, strlen(sidecar),
	    1700000000000, &m), 0);
	json_decref(data);
	return m;
}

static void test_build(void **state)
{
	json_t *m = sample_manifest("{}"), *src;
	char want[HASH_HEX_LEN + 1];
	const char *s = NULL;

	assert_int_equal(json_integer_value(json_object_get(m, "version")), 1);
	/* Only the cited source. */
	src = json_object_get(m, "sources");
	assert_int_equal(json_array_size(src), 1);
	assert_int_equal(json_get_string(json_array_get(src, 0), "url", &s), 0);
	assert_string_equal(s, "http://a.test/");
	assert_int_equal(json_array_size(json_object_get(m, "models")), 1);
	/* The hash is BLAKE2b-256 of the exact bytes (libsodium's, recomputed here). */
	uint8_t h[HASH_BYTES];

	crypto_generichash(h, HASH_BYTES, (const unsigned char *)MD, strlen(MD), NULL, 0);
	hash_hex(h, want);
	assert_int_equal(json_get_string(m, "report_md", &s), 0);
	assert_string_equal(s, want);
	assert_int_equal(manifest_check_hash(m, "report_md", MD, strlen(MD)), 0);
	assert_int_equal(manifest_check_hash(m, "report_md", "# Title\n\nA sentence [2].\n", strlen(MD)),
	    -EBADMSG);
	assert_int_equal(manifest_check_hash(m, "report_json", "{}", 2), 0);
	assert_int_equal(manifest_check_hash(m, "report_json", "{ }", 3), -EBADMSG);
	assert_int_equal(manifest_check_hash(m, "missing", "{}", 2), -EINVAL);
	json_decref(m);
}

static void test_sign(void **state)
{
	struct sign_key *k = NULL, *other = NULL;
	uint8_t pk[SIGN_PUBLIC_BYTES], opk[SIGN_PUBLIC_BYTES];
	json_t *m = sample_manifest("{}"), *copy;
	char *text;

	assert_int_equal(sign_key_generate(&k), 0);
	assert_int_equal(sign_key_generate(&other), 0);
	sign_key_public(k, pk);
	sign_key_public(other, opk);
	manifest_sign(m, k);
	assert_int_equal(manifest_check_signature(m, pk), 0);
	/* Through text and back, as verify reads it from a file. */
	text = json_dumps(m, JSON_INDENT(2));
	copy = json_loads(text, 0, NULL);
	free(text);
	assert_int_equal(manifest_check_signature(copy, pk), 0);
	/* Any signed field changed: caught. */
	json_object_set_new(copy, "report_md", json_string("00"));
	assert_int_equal(manifest_check_signature(copy, pk), -EBADMSG);
	json_decref(copy);
	/* The wrong key. */
	assert_int_equal(manifest_check_signature(m, opk), -EBADMSG);
	/* Re-signed with another key that it then carries: the given key says no. */
	copy = json_deep_copy(m);
	json_object_set_new(copy, "public_key", json_string("whatever"));
	manifest_sign(copy, other);
	assert_int_equal(manifest_check_signature(copy, pk), -EBADMSG);
	assert_int_equal(manifest_check_signature(copy, opk), 0);
	/* No signature, or a malformed one. */
	json_object_del(copy, "signature");
	assert_int_equal(manifest_check_signature(copy, pk), -EINVAL);
	json_object_set_new(copy, "signature", json_string("zz"));
	assert_int_equal(manifest_check_signature(copy, pk), -EINVAL);
	json_decref(copy);
	json_decref(m);
	sign_key_free(k);
	sign_key_free(other);
}

static void test_quote(void **state)
{
	const char *at = strstr(TEXT, "The ");
	size_t len = strlen(TEXT), start = (size_t)(at - TEXT);
	size_t end = (size_t)(strstr(TEXT, " End.") - TEXT);
	const char *q = "The \"quick\" brown fox - it jumps over the lazy dog.";

	assert_int_equal(manifest_quote_check(TEXT, len, start, end, q), 0);
	/* Extra whitespace in the quote does not matter. */
	assert_int_equal(manifest_quote_check(TEXT, len, start, end,
	    "The  \"quick\"\nbrown fox - it jumps over the lazy dog."), 0);
	/* A word changed, offsets moved, offsets out of range or mid-character. */
	assert_int_equal(manifest_quote_check(TEXT, len, start, end,
	    "The \"quick\" brown cat - it jumps over the lazy dog."), -EBADMSG);
	assert_int_equal(manifest_quote_check(TEXT, len, start + 1, end, q), -EBADMSG);
	assert_int_equal(manifest_quote_check(TEXT, len, start, len + 1, q), -ERANGE);
	assert_int_equal(manifest_quote_check(TEXT, len, start + 5, end, q), -ERANGE);
	assert_int_equal(manifest_quote_check(TEXT, len, 3, 3, ""), -EBADMSG);
	assert_int_equal(manifest_quote_check("a\xff" "b", 3, 0, 3, "ab"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_public_parse),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_quote),
	};
	int r;

	if (mkdtemp(dir) == NULL)
		return 1;
	r = cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
	rmdir(dir);
	return r;
}
