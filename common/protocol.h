/* The socket protocol shared by researchd and research: JSON lines over a
 * SOCK_STREAM Unix socket. Spec: docs/PROTOCOL.md. */
#ifndef RESEARCHD_PROTOCOL_H
#define RESEARCHD_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_VERSION 1
#define PROTOCOL_MAX_LINE (1024 * 1024)	/* bytes in one request line, newline excluded */
#define PROTOCOL_MAX_QUESTION 16384	/* bytes in a submitted question */
#define PROTOCOL_MAX_LIST 10000		/* jobs in one list reply */

#define PROTOCOL_DEFAULT_SOCKET "/run/researchd/researchd.sock"

/* Error codes, as sent in {"error":{"code":...}}. */
#define PROTO_E_BAD_JSON "bad_json"		/* not a JSON object on one line */
#define PROTO_E_TOO_LARGE "too_large"		/* request line over PROTOCOL_MAX_LINE */
#define PROTO_E_BAD_VERSION "bad_version"	/* "v" missing or not PROTOCOL_VERSION */
#define PROTO_E_UNKNOWN_OP "unknown_op"
#define PROTO_E_BAD_REQUEST "bad_request"	/* missing or mistyped field */
#define PROTO_E_NOT_FOUND "not_found"		/* no such job, or not yours */
#define PROTO_E_BAD_STATE "bad_state"		/* e.g. cancelling a finished job */
#define PROTO_E_NOT_READY "not_ready"		/* report asked before it exists */
#define PROTO_E_BUSY "busy"			/* too many clients or queued jobs */
#define PROTO_E_TIMEOUT "timeout"		/* idle client dropped */
#define PROTO_E_SHUTTING_DOWN "shutting_down"
#define PROTO_E_FAILED "failed"		/* the work failed for now (e.g. a host down) */
#define PROTO_E_INTERNAL "internal"

/* Job states, as named on the wire and in the store. */
enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_PAUSED,
	JOB_DONE,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_WAITING,	/* for a person's input: an answer or a plan approval */
	_JOB_STATE_MAX,
};

const char *job_state_to_string(enum job_state s);
int job_state_from_string(const char *s, enum job_state *ret);
static inline int job_state_is_final(enum job_state s)
{
	return s == JOB_DONE || s == JOB_FAILED || s == JOB_CANCELLED;
}

/* The ops: protocol.c's table of their arguments and the daemon's table of
 * handlers (agent/ops.c) are both indexed by this, so an op added here
 * without a handler or arguments fails the unit tests, not a client. */
enum protocol_op_id {
	OP_PING,
	OP_SUBMIT,
	OP_LIST,
	OP_STATUS,
	OP_CANCEL,
	OP_PAUSE,
	OP_RESUME,
	OP_WATCH,
	OP_REPORT,
	OP_STATS,
	OP_FETCH,
	OP_SEARCH,
	OP_TRACE,
	OP_LLM,
	OP_INDEX_ADD,
	OP_SOURCES,
	OP_FINISH,
	OP_ANSWER,
	OP_PLAN,
	OP_APPROVE,
	OP_PUBKEY,
	OP_SOURCE_TEXT,
	OP_VERIFY_EVENTS,
	OP_DOCTOR,
	_OP_MAX,
};

enum protocol_arg_type { ARG_STRING, ARG_INT, ARG_BOOL, ARG_OBJECT, ARG_ARRAY };
/* ARG_ARRAY: min..max items */

struct protocol_arg {
	const char *name;
	enum protocol_arg_type type;
	int required;
	int64_t min, max;	/* ints: value range; strings: byte length */
};

#define PROTOCOL_MAX_ARGS 4

struct protocol_op {
	enum protocol_op_id id;
	const char *name;
	struct protocol_arg args[PROTOCOL_MAX_ARGS];
};

const struct protocol_op *protocol_op_find(const char *name);
/* The op with that id; NULL for an id outside the enum. */
const struct protocol_op *protocol_op_get(enum protocol_op_id id);

/* A parsed, validated request. root owns everything. */
struct protocol_request {
	json_t *root;
	json_t *id;		/* borrowed from root; NULL if absent */
	const struct protocol_op *op;
};

/* Parse and validate one request line (without its newline). On failure
 * returns a negative errno, sets *ret_code to a PROTO_E_* code and writes a
 * sentence for a person into errmsg; *ret_id gets the request's id when it
 * could be read (a new reference, or NULL). */
int protocol_request_parse(const char *line, size_t len, struct protocol_request *ret,
    const char **ret_code, char *errmsg, size_t errlen, json_t **ret_id);
void protocol_request_done(struct protocol_request *req);

/* Replies: {"id":ID,"ok":true} to be filled, and the error form. */
json_t *protocol_reply_new(json_t *id);
json_t *protocol_error_new(json_t *id, const char *code, const char *message);
/* Encode as one line ending in "\n"; *ret_len excludes nothing. */
char *protocol_encode(const json_t *msg, size_t *ret_len);

/* CLI exit codes (research(1)). */
#define EXIT_OK 0
#define EXIT_DAEMON_ERROR 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

#endif
