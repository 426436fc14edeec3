/* The helper's request parser (sandbox-proto.h): strict, capped, and the
 * only code that reads what the daemon sent. Kept apart from the rest of
 * the helper so that a fuzz harness can drive it alone. */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "xmalloc.h"

bool jail_path_valid(const char *path)
{
	size_t n = strlen(path), depth = 0;
	const char *p = path;

	if (n == 0 || n > SANDBOX_MAX_PATH)
		return false;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 0 || p[0] == '.')
			return false;
		for (size_t i = 0; i < len; i++) {
			char c = p[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
				return false;
		}
		if (++depth > SANDBOX_MAX_DEPTH + 1)
			return false;
		if (!e)
			break;
		p = e + 1;
		if (!*p)
			return false;	/* trailing slash */
	}
	return true;
}

const struct limit_def request_limits[] = {
#define LIMIT_DEF(n, d, lo, hi) { #n, d, lo, hi, offsetof(struct jail_limits, n) },
	SANDBOX_LIMITS(LIMIT_DEF)
#undef LIMIT_DEF
};
const size_t request_n_limits = sizeof(request_limits) / sizeof(*request_limits);
#define N_LIMITS request_n_limits

int64_t *request_limit_field(struct jail_limits *l, const struct limit_def *d)
{
	return (int64_t *)((char *)l + d->offset);
}

void request_limits_default(struct jail_limits *l)
{
	for (size_t i = 0; i < N_LIMITS; i++)
		*request_limit_field(l, &request_limits[i]) = request_limits[i].def;
}

void request_free(struct jail_spec *s)
{
	if (s->argv)
		for (char **a = s->argv; *a; a++)
			free(*a);
	free(s->argv);
	if (s->env)
		for (char **e = s->env; *e; e++)
			free(*e);
	free(s->env);
	free(s->stdin_data);
	for (size_t i = 0; i < s->n_files; i++) {
		free(s->files[i].path);
		free(s->files[i].data);
	}
	free(s->files);
	memset(s, 0, sizeof(*s));
}

static int b64_decode(const char *in, size_t len, size_t max, unsigned char **ret, size_t *ret_len)
{
	size_t cap = len / 4 * 3 + 3, n = 0;
	unsigned char *out;

	if (len / 4 > max / 3 + 1)
		return -E2BIG;
	out = xmalloc(cap ? cap : 1);
	if (sodium_base642bin(out, cap, in, len, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n > max) {
		free(out);
		return -EINVAL;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

static bool env_name_valid(const char *k)
{
	if (!*k || strlen(k) > 128 || (*k >= '0' && *k <= '9'))
		return false;
	for (const char *c = k; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); r = -EINVAL; goto fail; } while (0)

static int parse_limits(const json_t *o, struct jail_limits *l, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int r = 0;

	if (!json_is_object(o))
		FAIL("\"limits\" must be an object");
	json_object_foreach((json_t *)o, key, v) {
		const struct limit_def *d = NULL;
		for (size_t i = 0; i < N_LIMITS; i++)
			if (strcmp(key, request_limits[i].name) == 0)
				d = &request_limits[i];
		if (!d)
			FAIL("unknown limit \"%.64s\"", key);
		if (!json_is_integer(v))
			FAIL("limit \"%s\" must be an integer", key);
		json_int_t n = json_integer_value(v);
		if (n < d->min || n > d->max)
			FAIL("limit \"%s\" must be within %lld..%lld", key, (long long)d->min,
			    (long long)d->max);
		*request_limit_field(l, d) = n;
	}
fail:
	return r;
}

int request_parse(const char *text, size_t len, struct jail_spec *s, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	size_t total = 0;
	int r = 0;

	memset(s, 0, sizeof(*s));
	request_limits_default(&s->lim);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "request is not JSON: %s at line %d", jerr.text, jerr.line);
		return -EINVAL;
	}
	if (!json_is_object(root))
		FAIL("request must be a JSON object");
	json_object_foreach(root, key, v) {
		if (strcmp(key, "version") && strcmp(key, "argv") && strcmp(key, "env") &&
		    strcmp(key, "stdin") && strcmp(key, "files") && strcmp(key, "limits"))
			FAIL("unknown request key \"%.64s\"", key);
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != SANDBOX_PROTO_VERSION)
		FAIL("\"version\" must be %d", SANDBOX_PROTO_VERSION);

	v = json_object_get(root, "argv");
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > SANDBOX_MAX_ARGS)
		FAIL("\"argv\" must be an array of 1 to %d strings", SANDBOX_MAX_ARGS);
	s->argv = xcalloc(json_array_size(v) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *a = json_array_get(v, i);
		if (!json_is_string(a) || json_string_length(a) > SANDBOX_MAX_ARG_LEN ||
		    strlen(json_string_value(a)) != json_string_length(a))
			FAIL("argv[%zu] must be a string of at most %d bytes without NUL", i,
			    SANDBOX_MAX_ARG_LEN);
		if (i == 0 && json_string_length(a) == 0)
			FAIL("argv[0] is empty");
		s->argv[i] = xstrdup(json_string_value(a));
	}

	v = json_object_get(root, "env");
	if (v) {
		size_t i = 0;
		json_t *e;
		if (!json_is_object(v) || json_object_size(v) > SANDBOX_MAX_ENV)
			FAIL("\"env\" must be an object of at most %d strings", SANDBOX_MAX_ENV);
		s->env = xcalloc(json_object_size(v) + 1, sizeof(char *));
		json_object_foreach(v, key, e) {
			if (!env_name_valid(key))
				FAIL("bad environment variable name");
			if (!json_is_string(e) || json_string_length(e) > SANDBOX_MAX_ENV_LEN ||
			    strlen(json_string_value(e)) != json_string_length(e))
				FAIL("env \"%s\" must be a string of at most %d bytes", key,
				    SANDBOX_MAX_ENV_LEN);
			s->env[i++] = xasprintf("%s=%s", key, json_string_value(e));
		}
	} else {
		static const char *const defenv[] = { "PATH=/usr/local/bin:/usr/bin:/bin",
			("HOME=" SANDBOX_WORKDIR), "LANG=C.UTF-8", "TMPDIR=/tmp", "USER=sandbox" };
		size_t n = sizeof(defenv) / sizeof(*defenv);
		s->env = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			s->env[i] = xstrdup(defenv[i]);
	}

	v = json_object_get(root, "stdin");
	if (v) {
		if (!json_is_string(v))
			FAIL("\"stdin\" must be a base64 string");
		if (b64_decode(json_string_value(v), json_string_length(v), SANDBOX_MAX_INPUT,
		    &s->stdin_data, &s->stdin_len) < 0)
			FAIL("\"stdin\" is not base64, or is over %lld bytes", SANDBOX_MAX_INPUT);
		total += s->stdin_len;
	}

	v = json_object_get(root, "files");
	if (v) {
		json_t *f;
		size_t i;
		if (!json_is_array(v) || json_array_size(v) > SANDBOX_MAX_FILES)
			FAIL("\"files\" must be an array of at most %d objects", SANDBOX_MAX_FILES);
		s->files = xcalloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*s->files));
		json_array_foreach(v, i, f) {
			json_t *p, *d, *x;
			const char *k;
			json_t *tmp;
			struct jail_file *jf = &s->files[i];
			if (!json_is_object(f))
				FAIL("files[%zu] must be an object", i);
			json_object_foreach(f, k, tmp)
				if (strcmp(k, "path") && strcmp(k, "data") && strcmp(k, "exec"))
					FAIL("files[%zu]: unknown key \"%.64s\"", i, k);
			p = json_object_get(f, "path");
			d = json_object_get(f, "data");
			x = json_object_get(f, "exec");
			if (!json_is_string(p) || strlen(json_string_value(p)) != json_string_length(p) ||
			    !jail_path_valid(json_string_value(p)) ||
			    strcmp(json_string_value(p), "out") == 0 ||
			    strncmp(json_string_value(p), "out/", 4) == 0)
				FAIL("files[%zu]: \"path\" must be a relative path of [A-Za-z0-9._-] "
				    "parts, not under out/", i);
			for (size_t j = 0; j < i; j++)
				if (strcmp(s->files[j].path, json_string_value(p)) == 0)
					FAIL("files[%zu]: duplicate path", i);
			if (!json_is_string(d))
				FAIL("files[%zu]: \"data\" must be a base64 string", i);
			if (x && !json_is_boolean(x))
				FAIL("files[%zu]: \"exec\" must be a boolean", i);
			jf->path = xstrdup(json_string_value(p));
			s->n_files = i + 1;
			if (b64_decode(json_string_value(d), json_string_length(d),
			    SANDBOX_MAX_INPUT - total, &jf->data, &jf->len) < 0)
				FAIL("files[%zu]: \"data\" is not base64, or the inputs are over %lld bytes",
				    i, SANDBOX_MAX_INPUT);
			jf->exec = x && json_is_true(x);
			total += jf->len;
		}
	}

	v = json_object_get(root, "limits");
	if (v && (r = parse_limits(v, &s->lim, err, errlen)) < 0)
		goto fail;
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	request_free(s);
	return r;
}

