/* The socket protocol: request parsing and reply construction. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"
#include "xmalloc.h"

static const char *const job_state_names[_JOB_STATE_MAX] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_PAUSED] = "paused",
	[JOB_DONE] = "done",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
	[JOB_WAITING] = "waiting",
};

const char *job_state_to_string(enum job_state s)
{
	if ((unsigned)s >= _JOB_STATE_MAX)
		return "unknown";
	return job_state_names[s];
}

int job_state_from_string(const char *s, enum job_state *ret)
{
	for (int i = 0; i < _JOB_STATE_MAX; i++) {
		if (strcmp(s, job_state_names[i]) == 0) {
			*ret = (enum job_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

#define JOB_ARG { "job", ARG_INT, 1, 1, INT64_MAX }

static const struct protocol_op protocol_ops[_OP_MAX] = {
	[OP_PING] = { OP_PING, "ping", { { 0 } } },
	[OP_SUBMIT] = { OP_SUBMIT, "submit", {
		{ "question", ARG_STRING, 1, 1, PROTOCOL_MAX_QUESTION },
		{ "kind", ARG_STRING, 0, 1, 32 },
		{ "options", ARG_OBJECT, 0, 0, 0 },
	} },
	[OP_LIST] = { OP_LIST, "list", {
		{ "state", ARG_STRING, 0, 1, 16 },
		{ "limit", ARG_INT, 0, 1, PROTOCOL_MAX_LIST },
		{ "all", ARG_BOOL, 0, 0, 0 },
	} },
	[OP_STATUS] = { OP_STATUS, "status", { JOB_ARG } },
	[OP_CANCEL] = { OP_CANCEL, "cancel", { JOB_ARG } },
	[OP_PAUSE] = { OP_PAUSE, "pause", { JOB_ARG } },
	[OP_RESUME] = { OP_RESUME, "resume", { JOB_ARG } },
	[OP_WATCH] = { OP_WATCH, "watch", {
		JOB_ARG,
		{ "since", ARG_INT, 0, 0, INT64_MAX },
		{ "follow", ARG_BOOL, 0, 0, 0 },
	} },
	[OP_REPORT] = { OP_REPORT, "report", {
		JOB_ARG,
		{ "format", ARG_STRING, 0, 1, 16 },
	} },
	[OP_STATS] = { OP_STATS, "stats", { { 0 } } },
	[OP_FETCH] = { OP_FETCH, "fetch", {
		{ "url", ARG_STRING, 1, 1, 8192 },
	} },
	[OP_SEARCH] = { OP_SEARCH, "search", {
		{ "q", ARG_STRING, 1, 1, 1024 },
		{ "max_results", ARG_INT, 0, 1, 100 },
		{ "lang", ARG_STRING, 0, 2, 16 },
		{ "time_range", ARG_STRING, 0, 3, 5 },
	} },
	[OP_TRACE] = { OP_TRACE, "trace", { JOB_ARG } },
	[OP_LLM] = { OP_LLM, "llm", {
		{ "prompt", ARG_STRING, 0, 1, 256 * 1024 },
		{ "schema", ARG_OBJECT, 0, 0, 0 },
		{ "max_tokens", ARG_INT, 0, 1, 1000000 },
	} },
	[OP_INDEX_ADD] = { OP_INDEX_ADD, "index_add", {
		{ "key", ARG_STRING, 1, 8, 8192 },
		{ "title", ARG_STRING, 1, 0, 4096 },
		{ "text", ARG_STRING, 1, 0, PROTOCOL_MAX_LINE },
	} },
	[OP_SOURCES] = { OP_SOURCES, "sources", {
		{ "job", ARG_INT, 0, 1, INT64_MAX },
		{ "limit", ARG_INT, 0, 1, PROTOCOL_MAX_LIST },
		{ "all", ARG_BOOL, 0, 0, 0 },
	} },
	[OP_FINISH] = { OP_FINISH, "finish", { JOB_ARG } },
	/* A waiting job's input: "answers" (strings) or "skip": true. */
	[OP_ANSWER] = { OP_ANSWER, "answer", {
		JOB_ARG,
		{ "answers", ARG_ARRAY, 0, 1, 3 },
		{ "skip", ARG_BOOL, 0, 0, 0 },
	} },
	[OP_PLAN] = { OP_PLAN, "plan", { JOB_ARG } },
	[OP_APPROVE] = { OP_APPROVE, "approve", {
		JOB_ARG,
		{ "plan", ARG_OBJECT, 0, 0, 0 },
	} },
	[OP_PUBKEY] = { OP_PUBKEY, "pubkey", { { 0 } } },
	[OP_SOURCE_TEXT] = { OP_SOURCE_TEXT, "source_text", {
		JOB_ARG,
		{ "text_hash", ARG_STRING, 1, 64, 64 },
	} },
	[OP_VERIFY_EVENTS] = { OP_VERIFY_EVENTS, "verify_events", { JOB_ARG } },
	[OP_DOCTOR] = { OP_DOCTOR, "doctor", { { 0 } } },
};

const struct protocol_op *protocol_op_find(const char *name)
{
	for (size_t i = 0; i < _OP_MAX; i++)
		if (protocol_ops[i].name != NULL && strcmp(protocol_ops[i].name, name) == 0)
			return &protocol_ops[i];
	return NULL;
}

const struct protocol_op *protocol_op_get(enum protocol_op_id id)
{
	if ((unsigned)id >= _OP_MAX || protocol_ops[id].name == NULL)
		return NULL;
	return &protocol_ops[id];
}

static const char *protocol_type_name(enum protocol_arg_type t)
{
	switch (t) {
	case ARG_STRING: return "a string";
	case ARG_INT: return "an integer";
	case ARG_BOOL: return "a boolean";
	case ARG_OBJECT: return "an object";
	case ARG_ARRAY: return "an array";
	}
	return "?";
}

static int protocol_arg_check(const struct protocol_arg *a, json_t *v, char *errmsg, size_t errlen)
{
	int ok;

	switch (a->type) {
	case ARG_STRING: ok = json_is_string(v); break;
	case ARG_INT: ok = json_is_integer(v); break;
	case ARG_BOOL: ok = json_is_boolean(v); break;
	case ARG_OBJECT: ok = json_is_object(v); break;
	case ARG_ARRAY: ok = json_is_array(v); break;
	default: ok = 0;
	}
	if (!ok) {
		snprintf(errmsg, errlen, "field \"%s\" must be %s", a->name, protocol_type_name(a->type));
		return -EINVAL;
	}
	if (a->type == ARG_INT) {
		json_int_t n = json_integer_value(v);
		if (n < a->min || n > a->max) {
			snprintf(errmsg, errlen, "field \"%s\" must be between %lld and %lld",
			    a->name, (long long)a->min, (long long)a->max);
			return -ERANGE;
		}
	} else if (a->type == ARG_ARRAY) {
		size_t n = json_array_size(v);
		if ((int64_t)n < a->min || (int64_t)n > a->max) {
			snprintf(errmsg, errlen, "field \"%s\" must have %lld to %lld items",
			    a->name, (long long)a->min, (long long)a->max);
			return -ERANGE;
		}
	} else if (a->type == ARG_STRING) {
		size_t n = json_string_length(v);
		if ((int64_t)n < a->min || (int64_t)n > a->max) {
			snprintf(errmsg, errlen, "field \"%s\" must be %lld to %lld bytes long",
			    a->name, (long long)a->min, (long long)a->max);
			return -ERANGE;
		}
		if (strlen(json_string_value(v)) != n) {
			snprintf(errmsg, errlen, "field \"%s\" must not contain NUL", a->name);
			return -EINVAL;
		}
	}
	return 0;
}

int protocol_request_parse(const char *line, size_t len, struct protocol_request *ret,
    const char **ret_code, char *errmsg, size_t errlen, json_t **ret_id)
{
	json_error_t jerr;
	json_t *root = NULL, *v, *id = NULL;
	const struct protocol_op *op;
	const char *opname;
	int r;

	*ret_id = NULL;
	if (len > PROTOCOL_MAX_LINE) {
		*ret_code = PROTO_E_TOO_LARGE;
		snprintf(errmsg, errlen, "request line is over %d bytes", PROTOCOL_MAX_LINE);
		return -E2BIG;
	}
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		*ret_code = PROTO_E_BAD_JSON;
		if (root == NULL)
			snprintf(errmsg, errlen, "malformed JSON at column %d: %s", jerr.column, jerr.text);
		else
			snprintf(errmsg, errlen, "a request must be a JSON object");
		r = -EBADMSG;
		goto fail;
	}
	id = json_object_get(root, "id");
	if (id != NULL && !json_is_integer(id) && !json_is_string(id)) {
		*ret_code = PROTO_E_BAD_REQUEST;
		snprintf(errmsg, errlen, "field \"id\" must be an integer or a string");
		id = NULL;
		r = -EINVAL;
		goto fail;
	}
	if (id != NULL && json_is_string(id) && json_string_length(id) > 64) {
		*ret_code = PROTO_E_BAD_REQUEST;
		snprintf(errmsg, errlen, "field \"id\" is longer than 64 bytes");
		id = NULL;
		r = -EINVAL;
		goto fail;
	}
	v = json_object_get(root, "v");
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) != PROTOCOL_VERSION) {
		*ret_code = PROTO_E_BAD_VERSION;
		snprintf(errmsg, errlen, "this daemon speaks protocol version %d; "
		    "send \"v\":%d", PROTOCOL_VERSION, PROTOCOL_VERSION);
		r = -EPROTO;
		goto fail;
	}
	v = json_object_get(root, "op");
	if (v == NULL || !json_is_string(v)) {
		*ret_code = PROTO_E_BAD_REQUEST;
		snprintf(errmsg, errlen, "field \"op\" (a string) is missing");
		r = -EINVAL;
		goto fail;
	}
	opname = json_string_value(v);
	op = protocol_op_find(opname);
	if (op == NULL) {
		*ret_code = PROTO_E_UNKNOWN_OP;
		snprintf(errmsg, errlen, "unknown op \"%.40s\"", opname);
		r = -EOPNOTSUPP;
		goto fail;
	}
	for (int i = 0; i < PROTOCOL_MAX_ARGS && op->args[i].name; i++) {
		const struct protocol_arg *a = &op->args[i];

		v = json_object_get(root, a->name);
		if (v == NULL || json_is_null(v)) {
			if (a->required) {
				*ret_code = PROTO_E_BAD_REQUEST;
				snprintf(errmsg, errlen, "op \"%s\" needs field \"%s\" (%s)",
				    op->name, a->name, protocol_type_name(a->type));
				r = -EINVAL;
				goto fail;
			}
			continue;
		}
		r = protocol_arg_check(a, v, errmsg, errlen);
		if (r < 0) {
			*ret_code = PROTO_E_BAD_REQUEST;
			goto fail;
		}
	}
	ret->root = root;
	ret->id = id;
	ret->op = op;
	return 0;
fail:
	if (id != NULL)
		*ret_id = json_incref(id);
	json_decref(root);
	return r;
}

void protocol_request_done(struct protocol_request *req)
{
	if (req->root)
		json_decref(req->root);
	req->root = NULL;
	req->id = NULL;
}

json_t *protocol_reply_new(json_t *id)
{
	json_t *m = json_object();

	json_object_set(m, "id", id ? id : json_null());
	json_object_set_new(m, "ok", json_true());
	return m;
}

json_t *protocol_error_new(json_t *id, const char *code, const char *message)
{
	json_t *m = json_object();

	json_object_set(m, "id", id ? id : json_null());
	json_object_set_new(m, "ok", json_false());
	json_object_set_new(m, "error", json_pack("{s:s, s:s}", "code", code, "message", message));
	return m;
}

char *protocol_encode(const json_t *msg, size_t *ret_len)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n;

	if (s == NULL)
		s = xstrdup("{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"encoding failed\"}}");
	n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	*ret_len = n + 1;
	return s;
}
