/* Fuzz the JSON Schema subset: the input is a schema and an instance
 * separated by the first NUL byte (no NUL: the input is both). The
 * instance text also goes through chat_reply_json() as a model's answer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nul = memchr(s, '\0', size);
	size_t slen = nul ? (size_t)(nul - s) : size;
	const char *inst = nul ? nul + 1 : s;
	size_t ilen = nul ? size - slen - 1 : size;
	struct schema_errors errs;
	json_t *schema, *instance;
	struct buf out;
	int r;

	schema = json_loadb(s, slen, JSON_DECODE_ANY, NULL);
	if (schema == NULL)
		return 0;
	schema_errors_init(&errs, 8);
	r = schema_check(schema, &errs);
	if ((r == 0) != (errs.n == 0))
		abort();
	schema_errors_clear(&errs);

	instance = json_loadb(inst, ilen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (instance) {
		r = schema_validate(schema, instance, &errs);
		if (r == 0 && errs.n != 0)
			abort();
		if (r == -EBADMSG && errs.n == 0)
			abort();
		if (r != 0 && r != -EBADMSG && r != -EINVAL && r != -E2BIG)
			abort();
		if (errs.n > errs.max)
			abort();
		buf_init(&out, 1 << 20);
		if (schema_errors_format(&errs, &out) < 0)
			abort();
		buf_free(&out);
		/* Without an error list the verdict must be the same. */
		if (schema_validate(schema, instance, NULL) != r)
			abort();
		json_decref(instance);
	}
	/* The instance text as a model's answer: think tags, fences, JSON. */
	struct chat_reply reply;
	json_t *v;

	schema_errors_clear(&errs);
	chat_reply_init(&reply, 1 << 16, 1 << 16);
	if (think_feed(&reply.think, inst, ilen) == 0 && think_finish(&reply.think) == 0) {
		r = chat_reply_json(&reply, schema, &errs, &v);
		if (r == 0)
			json_decref(v);
		else if (r == -EBADMSG && errs.n == 0)
			abort();
	}
	chat_reply_done(&reply);
	schema_errors_free(&errs);
	json_decref(schema);
	return 0;
}
