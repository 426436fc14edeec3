/* The code tool (see code.h): validate a "sandbox.python" request, run it
 * through sandbox_run, and report one result JSON holding the code, the
 * inputs' hashes and everything the run produced. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "effect.h"
#include "code.h"
#include "hash.h"
#include "log.h"
#include "sandbox-proto.h"
#include "str.h"
#include "xmalloc.h"

struct code_run {
	struct effect_exec *x;
	struct sandbox_run *run;
	json_t *echo;		/* "code" and "inputs" of the result */
};

static bool name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 64 || s[0] == '.' || strlen(s) != len ||
	    strcmp(s, "main.py") == 0 || strcmp(s, "out") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static json_t *hash_json(const void *p, size_t n)
{
	uint8_t h[HASH_BYTES];
	char hex[HASH_HEX_LEN + 1];
	hash_bytes(p, n, h);
	hash_hex(h, hex);
	return json_string(hex);
}

/* Text for JSON: cleaned of invalid UTF-8 and control bytes. */
static json_t *text_json(const char *s, size_t len)
{
	size_t n;
	char *t = sandbox_text_clean(s ? s : "", len, &n);
	json_t *j = json_stringn(t, n);
	free(t);
	return j;
}

static json_t *file_json(const struct sandbox_out_file *f)
{
	json_t *j = json_pack("{s:s, s:I, s:o}", "name", f->path, "bytes", (json_int_t)f->len,
	    "blake2b", hash_json(f->data, f->len));
	if (utf8_valid((const char *)f->data, f->len) && !memchr(f->data, '\0', f->len)) {
		json_object_set_new(j, "text", json_stringn((const char *)f->data, f->len));
	} else {
		size_t len = sodium_base64_ENCODED_LEN(f->len, sodium_base64_VARIANT_ORIGINAL);
		char *b = xmalloc(len);
		sodium_bin2base64(b, len, f->data, f->len, sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(j, "base64", json_string(b));
		free(b);
	}
	return j;
}

static void on_done(struct sandbox_run *run, int r, struct sandbox_result *res, void *userdata)
{
	struct code_run *c = userdata;
	struct effect_exec *x = c->x;
	json_t *out = NULL;

	effect_exec_set_data(x, NULL);
	if (r < 0) {
		log_debug("sandbox.python: %s", res->error ? res->error : "failed");
	} else {
		static const char *const status[] = { "exited", "signaled", "killed" };
		json_t *files = json_array();
		const char *limit = sandbox_limit_to_string(res->limit);
		for (size_t i = 0; i < res->n_files; i++)
			json_array_append_new(files, file_json(&res->files[i]));
		json_t *tail;
		out = json_deep_copy(c->echo);
		tail = json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:b, s:o, s:b,"
		    " s:I, s:I, s:I}",
		    "status", status[res->status],
		    "exit_code", res->status == SANDBOX_EXITED ? json_integer(res->exit_code) : json_null(),
		    "signal", res->status != SANDBOX_EXITED ? json_integer(res->signal) : json_null(),
		    "limit", limit ? json_string(limit) : json_null(),
		    "stdout", text_json(res->out, res->out_len),
		    "stdout_truncated", res->out_truncated,
		    "stderr", text_json(res->err, res->err_len),
		    "stderr_truncated", res->err_truncated,
		    "files", files,
		    "files_truncated", res->files_truncated,
		    "wall_ms", (json_int_t)res->wall_ms,
		    "cpu_ms", (json_int_t)res->cpu_ms,
		    "max_rss_kb", (json_int_t)res->max_rss_kb);
		json_object_update(out, tail);
		json_decref(tail);
	}
	sandbox_result_free(res);
	json_decref(c->echo);
	free(c);
	if (out) {
		effect_exec_done(x, 0, out, NULL);
	} else {
		effect_exec_done(x, r, NULL, NULL);
	}
}

/* The configured value (or the default), within what the helper accepts. */
static int64_t ceiling(int64_t configured, int64_t def, int64_t min, int64_t max)
{
	int64_t v = configured > 0 ? configured : def;
	return v < min ? min : v > max ? max : v;
}

/* A refusal is a permanent answer: stored like any result. */
static int refuse(struct effect_exec *x, const json_t *request, const char *why)
{
	json_t *code = json_object_get(request, "code");
	effect_exec_done(x, 0, json_pack("{s:O, s:s}", "code", json_is_string(code) ? code : json_null(),
	    "error", why), NULL);
	return 0;
}

int code_exec_start(struct effect_exec *x, const json_t *request, void *userdata)
{
	const struct code_config *cfg = userdata;
	struct sandbox_file files[CODE_MAX_INPUTS + 1];
	struct sandbox_request req;
	struct code_run *c;
	json_t *code, *inputs, *limits, *v, *meta;
	const char *key;
	size_t total = 0, n = 0, i;
	int r;

	if (!json_is_object(request))
		return refuse(x, request, "the request must be an object");
	json_object_foreach((json_t *)request, key, v)
		if (strcmp(key, "code") && strcmp(key, "inputs") && strcmp(key, "limits"))
			return refuse(x, request, "unknown key in the request");
	code = json_object_get(request, "code");
	if (!json_is_string(code) || json_string_length(code) == 0 ||
	    json_string_length(code) > CODE_MAX_CODE)
		return refuse(x, request, "\"code\" must be a non-empty string of at most 256 KiB");
	inputs = json_object_get(request, "inputs");
	if (inputs && (!json_is_array(inputs) || json_array_size(inputs) > CODE_MAX_INPUTS))
		return refuse(x, request, "\"inputs\" must be an array of at most 32 objects");

	memset(&req, 0, sizeof(req));
	req.limits = cfg->limits;
#define LIMIT_CEIL(name, def, min, max) req.limits.name = ceiling(cfg->limits.name, def, min, max);
	SANDBOX_LIMITS(LIMIT_CEIL)
#undef LIMIT_CEIL
	limits = json_object_get(request, "limits");
	if (limits) {
		if (!json_is_object(limits))
			return refuse(x, request, "\"limits\" must be an object");
		json_object_foreach(limits, key, v) {
			int64_t *field = strcmp(key, "cpu_s") == 0 ? &req.limits.cpu_s :
			    strcmp(key, "wall_ms") == 0 ? &req.limits.wall_ms :
			    strcmp(key, "memory") == 0 ? &req.limits.memory : NULL;
			if (!field || !json_is_integer(v) || json_integer_value(v) < 1)
				return refuse(x, request, "\"limits\" may hold cpu_s, wall_ms and "
				    "memory, as positive integers");
			if (json_integer_value(v) < *field)
				*field = json_integer_value(v);
		}
		/* Below the helper's minimum is the request's problem, said plainly. */
		if (req.limits.wall_ms < 10 || req.limits.memory < (16LL << 20))
			return refuse(x, request, "limits below the minimum (wall_ms >= 10, "
			    "memory >= 16 MiB)");
	}

	meta = json_array();
	files[n++] = (struct sandbox_file){ .path = "main.py", .data = json_string_value(code),
		.len = json_string_length(code) };
	json_array_foreach(inputs, i, v) {
		json_t *name = json_object_get(v, "name"), *text = json_object_get(v, "text");
		if (!json_is_object(v) || json_object_size(v) != 2 || !json_is_string(name) ||
		    !json_is_string(text) ||
		    !name_valid(json_string_value(name), json_string_length(name))) {
			json_decref(meta);
			return refuse(x, request, "each input must be {\"name\", \"text\"} with a "
			    "name of [A-Za-z0-9._-], 1 to 64 bytes, not \"main.py\"");
		}
		for (size_t j = 1; j < n; j++)
			if (strcmp(files[j].path, json_string_value(name)) == 0) {
				json_decref(meta);
				return refuse(x, request, "two inputs have the same name");
			}
		total += json_string_length(text);
		if (total > CODE_MAX_INPUT_BYTES) {
			json_decref(meta);
			return refuse(x, request, "the inputs are over 16 MiB together");
		}
		files[n++] = (struct sandbox_file){ .path = json_string_value(name),
			.data = json_string_value(text), .len = json_string_length(text) };
		json_array_append_new(meta, json_pack("{s:O, s:I, s:o}", "name", name,
		    "bytes", (json_int_t)json_string_length(text),
		    "blake2b", hash_json(json_string_value(text), json_string_length(text))));
	}
	if (req.limits.disk < (int64_t)(total + CODE_MAX_CODE) * 2)
		req.limits.disk = (int64_t)(total + CODE_MAX_CODE) * 2;
	if (req.limits.disk > (2LL << 30))
		req.limits.disk = 2LL << 30;

	const char *python = cfg->python ? cfg->python : "python3";
	const char *argv[] = { python, "-I", "-B", "main.py", NULL };
	/* Threads count against the process limit: keep numeric libraries
	 * from starting one per core. */
	static const char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work",
		"LANG=C.UTF-8", "TMPDIR=/tmp", "USER=sandbox", "OMP_NUM_THREADS=1",
		"OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1", "NUMEXPR_NUM_THREADS=1",
		"MPLBACKEND=Agg", NULL };
	req.helper = cfg->helper;
	req.argv = argv;
	req.env = env;
	req.files = files;
	req.n_files = n;

	c = xcalloc(1, sizeof(*c));
	c->x = x;
	c->echo = json_pack("{s:O, s:o}", "code", code, "inputs", meta);
	r = sandbox_run(effect_exec_loop(x), &req, on_done, c, &c->run);
	if (r < 0) {
		json_decref(c->echo);
		free(c);
		return r;
	}
	effect_exec_set_data(x, c);
	return 0;
}

void code_exec_cancel(struct effect_exec *x, void *userdata)
{
	struct code_run *c = effect_exec_get_data(x);
	if (!c)
		return;
	effect_exec_set_data(x, NULL);
	sandbox_run_cancel(c->run);
	json_decref(c->echo);
	free(c);
}
