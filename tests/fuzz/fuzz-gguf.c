/* libFuzzer harness: the GGUF header reader (common/gguf.c). A parse that
 * succeeds must stay within the input and name a quantisation; any input
 * cut shorter than a good header's end must say so, never succeed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_info info, cut;
	int r;

	r = gguf_parse(data, size, &info);
	if (r != 0 && r != -ENODATA && r != -EBADMSG && r != -EPROTONOSUPPORT && r != -E2BIG)
		abort();
	if (r != 0)
		return 0;
	if (info.header_len > size || info.header_len < 24 || gguf_quant_name(&info) == NULL)
		abort();
	if (strlen(info.arch) >= GGUF_MAX_TEXT || strlen(info.name) >= GGUF_MAX_TEXT)
		abort();
	/* The header alone parses the same; one byte less is incomplete. */
	if (gguf_parse(data, info.header_len, &cut) != 0 || cut.n_params != info.n_params ||
	    cut.context_length != info.context_length)
		abort();
	if (gguf_parse(data, info.header_len - 1, &cut) != -ENODATA)
		abort();
	return 0;
}
