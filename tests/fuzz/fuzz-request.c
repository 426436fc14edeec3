/* libFuzzer harness: the socket request parser (common/protocol.c). Each
 * input is one request line; a parse that succeeds must have an op from the
 * table, and every reply built from it must encode to one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct protocol_request req = { 0 };
	const char *code = NULL;
	char err[512];
	json_t *id = NULL, *m;
	size_t len;
	char *line;
	int r;

	r = protocol_request_parse((const char *)data, size, &req, &code, err, sizeof(err), &id);
	if (r == 0) {
		if (protocol_op_find(req.op->name) != req.op)
			abort();
		m = protocol_reply_new(req.id);
		json_object_set(m, "echo", req.root);
	} else {
		if (code == NULL || err[0] == '\0')
			abort();
		m = protocol_error_new(id, code, err);
	}
	line = protocol_encode(m, &len);
	if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1) != NULL)
		abort();
	free(line);
	json_decref(m);
	if (id)
		json_decref(id);
	protocol_request_done(&req);
	return 0;
}
