/* Unit tests: request parsing and replies (common/protocol.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "protocol.h"

/* Parse; on failure check the error code (and return it). */
static const char *parse(const char *line, struct protocol_request *req, json_t **id)
{
	const char *code = NULL;
	char err[512];

	*id = NULL;
	if (protocol_request_parse(line, strlen(line), req, &code, err, sizeof(err), id) == 0)
		return NULL;
	assert_non_null(code);
	assert_true(strlen(err) > 0);
	return code;
}

static void expect_code(const char *line, const char *want)
{
	struct protocol_request req = { 0 };
	json_t *id;
	const char *code = parse(line, &req, &id);

	if (code == NULL || strcmp(code, want) != 0)
		fail_msg("%s: wanted %s, got %s", line, want, code ? code : "success");
	if (id)
		json_decref(id);
}

static void test_valid(void **state)
{
	struct protocol_request req = { 0 };
	json_t *id;

	assert_null(parse("{\"v\":1,\"id\":7,\"op\":\"ping\"}", &req, &id));
	assert_string_equal(req.op->name, "ping");
	assert_int_equal(json_integer_value(req.id), 7);
	protocol_request_done(&req);

	assert_null(parse("{\"v\":1,\"op\":\"submit\",\"question\":\"why?\",\"options\":{\"max_depth\":2}}", &req, &id));
	assert_string_equal(req.op->name, "submit");
	assert_null(req.id);
	protocol_request_done(&req);

	assert_null(parse("{\"v\":1,\"id\":\"abc\",\"op\":\"watch\",\"job\":3,\"since\":0,\"follow\":false}", &req, &id));
	assert_string_equal(json_string_value(req.id), "abc");
	protocol_request_done(&req);

	/* null counts as absent for optional fields */
	assert_null(parse("{\"v\":1,\"op\":\"list\",\"state\":null}", &req, &id));
	protocol_request_done(&req);
}

static void test_errors(void **state)
{
	struct protocol_request req = { 0 };
	json_t *id;

	expect_code("not json", PROTO_E_BAD_JSON);
	expect_code("[1,2]", PROTO_E_BAD_JSON);
	expect_code("\"ping\"", PROTO_E_BAD_JSON);
	expect_code("{\"v\":1,\"op\":\"ping\",\"op\":\"list\"}", PROTO_E_BAD_JSON);
	expect_code("{\"v\":1,\"op\":\"ping\"} trailing", PROTO_E_BAD_JSON);
	expect_code("{\"op\":\"ping\"}", PROTO_E_BAD_VERSION);
	expect_code("{\"v\":2,\"op\":\"ping\"}", PROTO_E_BAD_VERSION);
	expect_code("{\"v\":\"1\",\"op\":\"ping\"}", PROTO_E_BAD_VERSION);
	expect_code("{\"v\":1}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":7}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"frobnicate\"}", PROTO_E_UNKNOWN_OP);
	expect_code("{\"v\":1,\"op\":\"status\"}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"status\",\"job\":\"3\"}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"status\",\"job\":0}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"status\",\"job\":-5}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"submit\"}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"submit\",\"question\":\"\"}", PROTO_E_BAD_REQUEST);
	/* jansson refuses \u0000 inside strings: no NUL reaches a handler */
	expect_code("{\"v\":1,\"op\":\"submit\",\"question\":\"a\\u0000b\"}", PROTO_E_BAD_JSON);
	expect_code("{\"v\":1,\"op\":\"submit\",\"question\":\"q\",\"options\":[]}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"list\",\"limit\":0}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"op\":\"list\",\"all\":1}", PROTO_E_BAD_REQUEST);
	expect_code("{\"v\":1,\"id\":[1],\"op\":\"ping\"}", PROTO_E_BAD_REQUEST);

	/* the id is handed back when it could be read */
	assert_string_equal(parse("{\"v\":9,\"id\":42,\"op\":\"ping\"}", &req, &id), PROTO_E_BAD_VERSION);
	assert_non_null(id);
	assert_int_equal(json_integer_value(id), 42);
	json_decref(id);
}

static void test_limits(void **state)
{
	struct protocol_request req = { 0 };
	const char *code = NULL;
	char err[512];
	json_t *id = NULL;
	size_t n = PROTOCOL_MAX_QUESTION + 1;
	char *line = malloc(n + 100);
	char *big;

	/* a question one byte over the limit */
	strcpy(line, "{\"v\":1,\"op\":\"submit\",\"question\":\"");
	size_t prefix = strlen(line);
	memset(line + prefix, 'q', n);
	strcpy(line + prefix + n, "\"}");
	expect_code(line, PROTO_E_BAD_REQUEST);
	free(line);

	/* a line over 1 MiB is refused before parsing */
	big = malloc(PROTOCOL_MAX_LINE + 2);
	memset(big, ' ', PROTOCOL_MAX_LINE + 1);
	big[PROTOCOL_MAX_LINE + 1] = '\0';
	assert_int_equal(protocol_request_parse(big, PROTOCOL_MAX_LINE + 1, &req, &code, err,
	    sizeof(err), &id), -E2BIG);
	assert_string_equal(code, PROTO_E_TOO_LARGE);
	free(big);

	/* deep nesting is refused by the parser, not by the stack */
	big = malloc(200000);
	strcpy(big, "{\"v\":1,\"op\":\"ping\",\"x\":");
	size_t p = strlen(big);
	for (int i = 0; i < 50000; i++)
		big[p++] = '[';
	big[p] = '\0';
	expect_code(big, PROTO_E_BAD_JSON);
	free(big);
}

static void test_replies(void **state)
{
	json_t *id = json_integer(5), *m, *back;
	size_t len;
	char *s;

	m = protocol_error_new(id, PROTO_E_NOT_FOUND, "no job 5");
	s = protocol_encode(m, &len);
	assert_int_equal(len, strlen(s));
	assert_int_equal(s[len - 1], '\n');
	assert_null(memchr(s, '\n', len - 1));
	back = json_loads(s, 0, NULL);
	assert_non_null(back);
	assert_true(json_is_false(json_object_get(back, "ok")));
	assert_int_equal(json_integer_value(json_object_get(back, "id")), 5);
	assert_string_equal(json_string_value(json_object_get(json_object_get(back, "error"), "code")), "not_found");
	json_decref(back);
	json_decref(m);
	free(s);

	m = protocol_reply_new(NULL);
	json_object_set_new(m, "text", json_string("two\nlines"));
	s = protocol_encode(m, &len);
	assert_null(memchr(s, '\n', len - 1));	/* newlines inside strings are escaped */
	assert_true(json_is_null(json_object_get(m, "id")));
	json_decref(m);
	free(s);
	json_decref(id);
}

static void test_states(void **state)
{
	enum job_state s;

	for (int i = 0; i < _JOB_STATE_MAX; i++) {
		assert_int_equal(job_state_from_string(job_state_to_string((enum job_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(job_state_from_string("finished", &s), -EINVAL);
	assert_true(job_state_is_final(JOB_DONE));
	assert_true(job_state_is_final(JOB_FAILED));
	assert_true(job_state_is_final(JOB_CANCELLED));
	assert_false(job_state_is_final(JOB_PAUSED));
	assert_false(job_state_is_final(JOB_QUEUED));
	assert_false(job_state_is_final(JOB_RUNNING));
}

/* Every op id has its entry, at its own index, found again by its name. */
static void test_op_table(void **state)
{
	const struct protocol_op *op;

	for (int i = 0; i < _OP_MAX; i++) {
		op = protocol_op_get((enum protocol_op_id)i);
		if (op == NULL)
			fail_msg("op id %d has no entry in the protocol's table", i);
		assert_int_equal(op->id, i);
		assert_ptr_equal(protocol_op_find(op->name), op);
	}
	assert_null(protocol_op_get(_OP_MAX));
	assert_null(protocol_op_get((enum protocol_op_id)-1));
	op = protocol_op_find("index_add");
	assert_non_null(op);
	assert_int_equal(op->id, OP_INDEX_ADD);
	assert_null(protocol_op_find("frobnicate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_op_table),
	};
	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
