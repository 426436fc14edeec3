/* The signed manifest of a report: build, sign, and check it. */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "manifest.h"
#include "quote.h"
#include "str.h"
#include "xmalloc.h"

void manifest_hash_hex(const void *p, size_t n, char out[HASH_HEX_LEN + 1])
{
	uint8_t h[HASH_BYTES];

	hash_bytes(p, n, h);
	hash_hex(h, out);
}

static json_t *manifest_models(const json_t *data)
{
	json_t *models = json_array(), *m = json_object_get(data, "model");
	const char *name = NULL, *endpoint = NULL;

	if (json_is_object(m)) {
		json_get_string(m, "model", &name);
		json_get_string(m, "endpoint", &endpoint);
		if (name || endpoint)
			json_array_append_new(models, json_pack("{s:s?, s:s?}", "model", name,
			    "endpoint", endpoint));
	}
	return models;
}

int manifest_build(const struct manifest_job *job, const json_t *data, const char *md,
    size_t md_len, const char *sidecar, size_t sidecar_len, int64_t created_ms, json_t **ret)
{
	json_t *sources = json_object_get(data, "sources"), *out, *list, *s;
	char hex[HASH_HEX_LEN + 1], when[32];
	size_t i;

	if (!json_is_object(data) || !json_is_array(sources) || job->question == NULL)
		return -EINVAL;
	list = json_array();
	json_array_foreach(sources, i, s) {
		json_t *cite = json_object_get(s, "cite");
		const char *url = NULL, *th = NULL, *snap = NULL;

		if (!json_is_integer(cite) || json_integer_value(cite) <= 0)
			continue;
		json_get_string(s, "url", &url);
		json_get_string(s, "text_hash", &th);
		json_get_string(s, "snapshot", &snap);
		json_array_append_new(list, json_pack("{s:I, s:s?, s:s?, s:s?}", "cite",
		    (json_int_t)json_integer_value(cite), "url", url, "text_hash", th,
		    "snapshot", snap));
	}
	out = json_object();
	json_object_set_new(out, "version", json_integer(MANIFEST_VERSION));
	json_object_set_new(out, "job", json_pack("{s:I, s:s, s:o}", "id", (json_int_t)job->id,
	    "question", job->question, "options",
	    job->options ? json_deep_copy(job->options) : json_object()));
	json_object_set_new(out, "models", manifest_models(data));
	if (json_is_object(job->served_model))
		json_object_set_new(out, "served_model", json_deep_copy(job->served_model));
	json_object_set_new(out, "sources", list);
	manifest_hash_hex(md, md_len, hex);
	json_object_set_new(out, "report_md", json_string(hex));
	manifest_hash_hex(sidecar, sidecar_len, hex);
	json_object_set_new(out, "report_json", json_string(hex));
	time_format(created_ms, when);
	json_object_set_new(out, "created", json_string(when));
	/* json_pack returns NULL on invalid UTF-8 in the question. */
	if (json_object_get(out, "job") == NULL) {
		json_decref(out);
		return -EINVAL;
	}
	*ret = out;
	return 0;
}

/* The bytes that are signed: the canonical JSON of all but the signature. */
static char *manifest_signed_text(const json_t *m)
{
	json_t *copy = json_copy((json_t *)m);
	char *text;

	json_object_del(copy, "signature");
	text = json_canonical(copy);
	json_decref(copy);
	return text;
}

void manifest_sign(json_t *m, const struct sign_key *k)
{
	uint8_t pk[SIGN_PUBLIC_BYTES], sig[SIGN_BYTES];
	char id[SIGN_KEY_ID_LEN + 1], hex[SIGN_HEX_LEN + 1];
	char *text;

	sign_key_public(k, pk);
	sign_key_id(pk, id);
	json_object_set_new(m, "key_id", json_string(id));
	text = manifest_signed_text(m);
	sign_data(k, text, strlen(text), sig);
	free(text);
	sodium_bin2hex(hex, sizeof(hex), sig, SIGN_BYTES);
	json_object_set_new(m, "signature", json_string(hex));
}

int manifest_check_signature(const json_t *m, const uint8_t pk[SIGN_PUBLIC_BYTES])
{
	uint8_t sig[SIGN_BYTES];
	const char *hex = NULL;
	size_t n = 0;
	char *text;
	int r;

	if (!json_is_object(m) || json_get_string(m, "signature", &hex) < 0 ||
	    strlen(hex) != SIGN_HEX_LEN ||
	    sodium_hex2bin(sig, sizeof(sig), hex, SIGN_HEX_LEN, NULL, &n, NULL) != 0 ||
	    n != SIGN_BYTES)
		return -EINVAL;
	text = manifest_signed_text(m);
	r = sign_check(pk, text, strlen(text), sig);
	free(text);
	return r;
}

int manifest_check_hash(const json_t *m, const char *field, const void *p, size_t n)
{
	char hex[HASH_HEX_LEN + 1];
	const char *want = NULL;

	if (json_get_string(m, field, &want) < 0)
		return -EINVAL;
	manifest_hash_hex(p, n, hex);
	return strcmp(hex, want) == 0 ? 0 : -EBADMSG;
}

/* The quote matcher's normal form (quote.c), without the whitespace at
 * either end. */
static int manifest_normalize(const char *s, size_t len, char **ret)
{
	size_t n = 0, *map = NULL, a = 0;
	char *t = NULL;
	int r;

	r = quote_normalize(s, len, &t, &n, &map);
	if (r < 0)
		return r;
	free(map);
	while (a < n && t[a] == ' ')
		a++;
	while (n > a && t[n - 1] == ' ')
		n--;
	memmove(t, t + a, n - a);
	t[n - a] = '\0';
	*ret = t;
	return 0;
}

int manifest_quote_check(const char *text, size_t len, int64_t start, int64_t end,
    const char *quote)
{
	char *a = NULL, *b = NULL;
	int r;

	if (start < 0 || end < start || (uint64_t)end > len)
		return -ERANGE;
	/* Offsets inside a character would not be the planner's. */
	if (((size_t)start < len && ((uint8_t)text[start] & 0xC0) == 0x80) ||
	    ((size_t)end < len && ((uint8_t)text[end] & 0xC0) == 0x80))
		return -ERANGE;
	r = manifest_normalize(text + start, (size_t)(end - start), &a);
	if (r == 0)
		r = manifest_normalize(quote, strlen(quote), &b);
	if (r == 0 && (a[0] == '\0' || strcmp(a, b) != 0))
		r = -EBADMSG;
	free(a);
	free(b);
	return r;
}
