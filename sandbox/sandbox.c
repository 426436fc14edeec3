/* The daemon's side of the sandbox: spawn researchd-sandbox on the loop,
 * write the JSON request to its stdin, read the JSON result from its stdout
 * (capped: the helper is trusted code, but its output carries what an
 * untrusted command produced), with a timer as a backstop in case the helper
 * itself hangs. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "cgroup.h"
#include "log.h"
#include "sandbox-proto.h"
#include "sandbox.h"
#include "str.h"
#include "xmalloc.h"

#define HELPER_STDERR_MAX (16 * 1024)
#define BACKSTOP_GRACE_MS 10000

struct sandbox_run {
	uv_loop_t *loop;
	uv_process_t proc;
	uv_pipe_t in, out, err;
	uv_timer_t timer;
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;
	uv_buf_t wbuf;
	char *request_text;
	struct buf result, helper_err;
	sandbox_done_fn cb;
	void *userdata;
	struct sandbox_limits limits;
	int64_t stdout_max, stderr_max, files_max, files_count;
	int open_handles;
	bool exited, out_eof, err_eof, overflow, backstop, cancelled, finished;
	int64_t exit_status;
	int term_signal;
};

const char *sandbox_limit_to_string(enum sandbox_limit l)
{
	switch (l) {
	case SANDBOX_LIMIT_TIMEOUT: return "timeout";
	case SANDBOX_LIMIT_CPU: return "cpu";
	case SANDBOX_LIMIT_FSIZE: return "fsize";
	case SANDBOX_LIMIT_OUTPUT: return "output";
	case SANDBOX_LIMIT_FILES: return "files";
	case SANDBOX_LIMIT_MEMORY: return "memory";
	default: return NULL;
	}
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *sandbox_text_clean(const char *s, size_t len, size_t *ret_len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc(len * 3 + 1);
	size_t o = 0, i = 0;

	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);
		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (n == 1) {
			unsigned char c = p[i];
			if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
				i++;
				continue;
			}
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\f') || c == 0x7f) {
				i++;
				continue;
			}
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return out;
}

struct sandbox_result *sandbox_result_free(struct sandbox_result *r)
{
	if (!r)
		return NULL;
	free(r->out);
	free(r->err);
	for (size_t i = 0; i < r->n_files; i++) {
		free(r->files[i].path);
		free(r->files[i].data);
	}
	free(r->files);
	free(r->error);
	free(r);
	return NULL;
}

static json_t *b64(const void *p, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = xmalloc(len);
	sodium_bin2base64(s, len, p ? p : "", n, sodium_base64_VARIANT_ORIGINAL);
	json_t *j = json_stringn(s, len - 1);
	free(s);
	return j;
}

/* Decode base64 into a fresh NUL-terminated buffer of at most max bytes. */
static int unb64(const json_t *v, size_t max, unsigned char **ret, size_t *ret_len)
{
	const char *s;
	size_t len, cap, n = 0;
	unsigned char *out;

	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	len = json_string_length(v);
	/* Padded base64 of max bytes is 4 * ceil(max / 3) characters. */
	if (len / 4 > max / 3 + 1)
		return -EBADMSG;
	cap = len / 4 * 3 + 3;
	out = xmalloc(cap + 1);
	if (sodium_base642bin(out, cap, s, len, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n > max) {
		free(out);
		return -EBADMSG;
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

static const struct sandbox_limits defaults = {
#define LIMIT_INIT(name, def, min, max) .name = def,
	SANDBOX_LIMITS(LIMIT_INIT)
#undef LIMIT_INIT
};

static int64_t pick(int64_t v, int64_t def)
{
	return v > 0 ? v : def;
}

static json_t *request_json(const struct sandbox_request *req)
{
	json_t *root = json_object(), *argv = json_array(), *files = json_array();
	json_t *limits = json_object();

	json_object_set_new(root, "version", json_integer(SANDBOX_PROTO_VERSION));
	for (const char *const *a = req->argv; *a; a++)
		json_array_append_new(argv, json_string(*a));
	json_object_set_new(root, "argv", argv);
	if (req->env) {
		json_t *env = json_object();
		for (const char *const *e = req->env; *e; e++) {
			const char *eq = strchr(*e, '=');
			if (!eq)
				continue;
			char *name = xstrndup(*e, (size_t)(eq - *e));
			json_object_set_new(env, name, json_string(eq + 1));
			free(name);
		}
		json_object_set_new(root, "env", env);
	}
	if (req->stdin_len)
		json_object_set_new(root, "stdin", b64(req->stdin_data, req->stdin_len));
	for (size_t i = 0; i < req->n_files; i++) {
		const struct sandbox_file *f = &req->files[i];
		json_array_append_new(files, json_pack("{s:s, s:o, s:b}", "path", f->path,
		    "data", b64(f->data, f->len), "exec", f->exec));
	}
	json_object_set_new(root, "files", files);
#define LIMIT_SET(name, def, min, max) \
	if (req->limits.name > 0) \
		json_object_set_new(limits, #name, json_integer(req->limits.name));
	SANDBOX_LIMITS(LIMIT_SET)
#undef LIMIT_SET
	json_object_set_new(root, "limits", limits);
	return root;
}

static bool only_keys(const json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		bool ok = false;
		for (const char *const *p = keys; *p; p++)
			if (strcmp(k, *p) == 0)
				ok = true;
		if (!ok)
			return false;
	}
	return true;
}

static int get_nonneg(const json_t *o, const char *key, int64_t *ret)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

static int get_flag(const json_t *o, const char *key, bool *ret)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_boolean(v))
		return -EBADMSG;
	*ret = json_is_true(v);
	return 0;
}

/* Strict: the result's every key, type and size is checked. */
int sandbox_result_parse(const char *text, size_t len, const struct sandbox_limits *limits,
    struct sandbox_result *res)
{
	const int64_t stdout_max = pick(limits->stdout_max, defaults.stdout_max);
	const int64_t stderr_max = pick(limits->stderr_max, defaults.stderr_max);
	const int64_t files_max = pick(limits->files_max, defaults.files_max);
	const int64_t files_count = pick(limits->files_count, defaults.files_count);
	static const char *const ok_keys[] = { "version", "status", "exit_code", "signal",
		"limit", "wall_ms", "cpu_ms", "max_rss_kb", "stdout", "stdout_truncated",
		"stderr", "stderr_truncated", "files", "files_truncated", NULL };
	static const char *const err_keys[] = { "version", "error", "error_kind", NULL };
	json_error_t jerr;
	json_t *root, *v;
	const char *s;
	int r = -EBADMSG;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root))
		goto out;
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != SANDBOX_PROTO_VERSION)
		goto out;
	v = json_object_get(root, "error");
	if (v) {
		if (!only_keys(root, err_keys) || !json_is_string(v))
			goto out;
		s = json_string_value(json_object_get(root, "error_kind"));
		if (!s)
			goto out;
		struct buf b;
		buf_init(&b, 2048);
		str_escape(&b, json_string_value(v), json_string_length(v) > 512 ? 512 :
		    json_string_length(v));
		res->error = buf_steal(&b);
		if (strcmp(s, "request") == 0) {
			res->error_kind = SANDBOX_ERROR_REQUEST;
			r = -EINVAL;
		} else if (strcmp(s, "unavailable") == 0) {
			res->error_kind = SANDBOX_ERROR_UNAVAILABLE;
			r = -EOPNOTSUPP;
		} else {
			res->error_kind = SANDBOX_ERROR_INTERNAL;
			r = -EIO;
		}
		json_decref(root);
		return r;
	}
	if (!only_keys(root, ok_keys))
		goto out;
	s = json_string_value(json_object_get(root, "status"));
	if (!s)
		goto out;
	if (strcmp(s, "exited") == 0)
		res->status = SANDBOX_EXITED;
	else if (strcmp(s, "signaled") == 0)
		res->status = SANDBOX_SIGNALED;
	else if (strcmp(s, "killed") == 0)
		res->status = SANDBOX_KILLED;
	else
		goto out;
	int64_t n;
	if (res->status == SANDBOX_EXITED) {
		if (get_nonneg(root, "exit_code", &n) < 0 || n > 255 ||
		    !json_is_null(json_object_get(root, "signal")))
			goto out;
		res->exit_code = (int)n;
	} else {
		if (get_nonneg(root, "signal", &n) < 0 || n < 1 || n > 64 ||
		    !json_is_null(json_object_get(root, "exit_code")))
			goto out;
		res->signal = (int)n;
	}
	v = json_object_get(root, "limit");
	if (json_is_null(v))
		res->limit = SANDBOX_LIMIT_NONE;
	else if (json_is_string(v)) {
		enum sandbox_limit l;
		for (l = SANDBOX_LIMIT_TIMEOUT; l <= SANDBOX_LIMIT_MEMORY; l++)
			if (strcmp(json_string_value(v), sandbox_limit_to_string(l)) == 0)
				break;
		if (l > SANDBOX_LIMIT_MEMORY)
			goto out;
		res->limit = l;
	} else
		goto out;
	if (get_nonneg(root, "wall_ms", &res->wall_ms) < 0 ||
	    get_nonneg(root, "cpu_ms", &res->cpu_ms) < 0 ||
	    get_nonneg(root, "max_rss_kb", &res->max_rss_kb) < 0 ||
	    get_flag(root, "stdout_truncated", &res->out_truncated) < 0 ||
	    get_flag(root, "stderr_truncated", &res->err_truncated) < 0 ||
	    get_flag(root, "files_truncated", &res->files_truncated) < 0)
		goto out;
	if (unb64(json_object_get(root, "stdout"), (size_t)stdout_max,
	    (unsigned char **)&res->out, &res->out_len) < 0 ||
	    unb64(json_object_get(root, "stderr"), (size_t)stderr_max,
	    (unsigned char **)&res->err, &res->err_len) < 0)
		goto out;
	v = json_object_get(root, "files");
	if (!json_is_array(v) || (int64_t)json_array_size(v) > files_count)
		goto out;
	int64_t total = 0;
	res->files = xcalloc(json_array_size(v) + 1, sizeof(*res->files));
	for (size_t i = 0; i < json_array_size(v); i++) {
		static const char *const file_keys[] = { "path", "data", NULL };
		json_t *f = json_array_get(v, i);
		struct sandbox_out_file *of = &res->files[i];
		if (!json_is_object(f) || !only_keys(f, file_keys))
			goto out;
		s = json_string_value(json_object_get(f, "path"));
		if (!s || strncmp(s, "out/", 4) != 0 || strlen(s) > SANDBOX_MAX_PATH ||
		    strstr(s, "..") || strstr(s, "//"))
			goto out;
		if (unb64(json_object_get(f, "data"), (size_t)(files_max - total), &of->data,
		    &of->len) < 0)
			goto out;
		of->path = xstrdup(s);
		res->n_files = i + 1;
		total += (int64_t)of->len;
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

static void on_close(uv_handle_t *h)
{
	struct sandbox_run *run = h->data;
	if (--run->open_handles > 0)
		return;
	buf_free(&run->result);
	buf_free(&run->helper_err);
	free(run->request_text);
	free(run);
}

static void close_all(struct sandbox_run *run)
{
	uv_handle_t *hs[] = { (uv_handle_t *)&run->proc, (uv_handle_t *)&run->in,
		(uv_handle_t *)&run->out, (uv_handle_t *)&run->err, (uv_handle_t *)&run->timer };
	for (size_t i = 0; i < sizeof(hs) / sizeof(*hs); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], on_close);
}

static void finish(struct sandbox_run *run)
{
	struct sandbox_result *res;
	int r;

	if (run->finished || !run->exited || !run->out_eof || !run->err_eof)
		return;
	run->finished = true;
	uv_timer_stop(&run->timer);
	if (run->cancelled) {
		close_all(run);
		return;
	}
	res = xcalloc(1, sizeof(*res));
	if (run->helper_err.len > 0) {
		struct buf esc;
		buf_init(&esc, 4 * HELPER_STDERR_MAX + 16);
		str_escape(&esc, run->helper_err.data, run->helper_err.len);
		log_debug("sandbox helper: %s", esc.data);
		buf_free(&esc);
	}
	if (run->backstop) {
		r = -ETIMEDOUT;
		res->error_kind = SANDBOX_ERROR_INTERNAL;
		res->error = xstrdup("the sandbox helper did not finish in time and was killed");
	} else if (run->overflow) {
		r = -EIO;
		res->error_kind = SANDBOX_ERROR_INTERNAL;
		res->error = xstrdup("the sandbox helper's result is over its size limit");
	} else {
		r = sandbox_result_parse(run->result.data ? run->result.data : "", run->result.len,
		    &run->limits, res);
		if (r == -EBADMSG) {
			struct sandbox_result *fresh = xcalloc(1, sizeof(*fresh));
			sandbox_result_free(res);
			res = fresh;
			res->error_kind = SANDBOX_ERROR_INTERNAL;
			res->error = run->term_signal ?
			    xasprintf("the sandbox helper was killed by signal %d", run->term_signal) :
			    xasprintf("the sandbox helper exited with status %lld without a valid result",
			    (long long)run->exit_status);
			r = -EIO;
		}
	}
	if (r < 0) {
		/* Keep only the error. */
		struct sandbox_result *e = xcalloc(1, sizeof(*e));
		e->error = res->error;
		e->error_kind = res->error_kind;
		res->error = NULL;
		sandbox_result_free(res);
		res = e;
	}
	close_all(run);
	run->cb(run, r, res, run->userdata);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct sandbox_run *run = p->data;
	run->exited = true;
	run->exit_status = status;
	run->term_signal = sig;
	finish(run);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char slab[65536];
	/* Reads are consumed at once into capped buffers, so one slab serves. */
	b->base = slab;
	b->len = sizeof(slab);
}

static void on_read_out(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct sandbox_run *run = s->data;
	if (n > 0) {
		if (!run->overflow && buf_append(&run->result, b->base, (size_t)n) < 0) {
			run->overflow = true;
			uv_process_kill(&run->proc, SIGKILL);
		}
		return;
	}
	if (n < 0) {
		uv_read_stop(s);
		run->out_eof = true;
		finish(run);
	}
}

static void on_read_err(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct sandbox_run *run = s->data;
	if (n > 0) {
		size_t room = run->helper_err.max - run->helper_err.len;
		(void)buf_append(&run->helper_err, b->base, (size_t)n < room ? (size_t)n : room);
		return;
	}
	if (n < 0) {
		uv_read_stop(s);
		run->err_eof = true;
		finish(run);
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct sandbox_run *run = req->data;
	if (!uv_is_closing((uv_handle_t *)&run->in))
		uv_close((uv_handle_t *)&run->in, on_close);
}

static void on_written(uv_write_t *req, int status)
{
	struct sandbox_run *run = req->data;
	free(run->request_text);
	run->request_text = NULL;
	if (uv_is_closing((uv_handle_t *)&run->in))
		return;
	if (status < 0 || uv_shutdown(&run->shutdown_req, (uv_stream_t *)&run->in, on_shutdown) < 0)
		uv_close((uv_handle_t *)&run->in, on_close);
}

static void on_backstop(uv_timer_t *t)
{
	struct sandbox_run *run = t->data;
	run->backstop = true;
	uv_process_kill(&run->proc, SIGKILL);
}

int sandbox_run(uv_loop_t *loop, const struct sandbox_request *req, sandbox_done_fn cb,
    void *userdata, struct sandbox_run **ret)
{
	struct sandbox_run *run;
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	json_t *j;
	int64_t wall;
	size_t result_max;
	int r;

	if (!req->helper || req->helper[0] != '/' || !req->argv || !req->argv[0] || !cb)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	/* Once: where systemd delegated our cgroup, make room for the runs'
	 * cgroups (cgroup.h); elsewhere this changes nothing, and the helper
	 * falls back to refusing what RLIMIT_AS cannot count. */
	static bool settled;
	if (!settled) {
		settled = true;
		(void)cgroup_settle_self();
	}
	run = xcalloc(1, sizeof(*run));
	run->loop = loop;
	run->cb = cb;
	run->userdata = userdata;
	run->limits = req->limits;
	run->stdout_max = pick(req->limits.stdout_max, defaults.stdout_max);
	run->stderr_max = pick(req->limits.stderr_max, defaults.stderr_max);
	run->files_max = pick(req->limits.files_max, defaults.files_max);
	run->files_count = pick(req->limits.files_count, defaults.files_count);
	wall = pick(req->limits.wall_ms, defaults.wall_ms);
	/* base64 of everything that may come back, and room for the rest. */
	result_max = (size_t)(run->stdout_max + run->stderr_max + run->files_max) / 3 * 4 +
	    (size_t)run->files_count * (SANDBOX_MAX_PATH * 6 + 64) + 64 * 1024;
	buf_init(&run->result, result_max);
	buf_init(&run->helper_err, HELPER_STDERR_MAX);

	j = request_json(req);
	run->request_text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!run->request_text) {
		r = -EINVAL;	/* a string that is not UTF-8 */
		goto fail;
	}
	if (strlen(run->request_text) > SANDBOX_MAX_REQUEST) {
		r = -E2BIG;
		goto fail;
	}

	uv_pipe_init(loop, &run->in, 0);
	uv_pipe_init(loop, &run->out, 0);
	uv_pipe_init(loop, &run->err, 0);
	uv_timer_init(loop, &run->timer);
	run->in.data = run->out.data = run->err.data = run->timer.data = run->proc.data = run;
	run->write_req.data = run->shutdown_req.data = run;
	run->open_handles = 5;

	memset(&opts, 0, sizeof(opts));
	char *args[] = { (char *)req->helper, NULL };
	opts.file = req->helper;
	opts.args = args;
	opts.exit_cb = on_exit_cb;
	opts.flags = UV_PROCESS_DETACHED;	/* own session: signals to us do not reach it */
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&run->in;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&run->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&run->err;
	opts.stdio = stdio;
	opts.stdio_count = 3;
	r = uv_spawn(loop, &run->proc, &opts);
	if (r < 0) {
		/* The process handle is initialised even on failure. */
		run->finished = true;
		free(run->request_text);
		run->request_text = NULL;
		close_all(run);
		return r;
	}
	run->wbuf = uv_buf_init(run->request_text, (unsigned)strlen(run->request_text));
	r = uv_write(&run->write_req, (uv_stream_t *)&run->in, &run->wbuf, 1, on_written);
	if (r < 0) {
		uv_process_kill(&run->proc, SIGKILL);
		uv_close((uv_handle_t *)&run->in, on_close);
	}
	uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read_out);
	uv_read_start((uv_stream_t *)&run->err, on_alloc, on_read_err);
	uv_timer_start(&run->timer, on_backstop, (uint64_t)(wall + BACKSTOP_GRACE_MS), 0);
	*ret = run;
	return 0;
fail:
	buf_free(&run->result);
	buf_free(&run->helper_err);
	free(run->request_text);
	free(run);
	return r;
}

void sandbox_run_cancel(struct sandbox_run *run)
{
	if (!run || run->cancelled || run->finished)
		return;
	run->cancelled = true;
	/* The helper's death takes init and the namespace with it; the handles
	 * are closed once the exit is seen, so no zombie is left. */
	uv_process_kill(&run->proc, SIGKILL);
}
