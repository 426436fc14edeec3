/* Fuzz the think/answer splitter: the input fed whole, in chunks of sizes
 * it picks, and byte by byte must split the same way. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "think.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run(const char *s, size_t size, size_t step, struct think *t)
{
	int r = 0;

	think_init(t, 1 << 16, 1 << 16);
	for (size_t i = 0; i < size && r == 0; i += step) {
		size_t n = size - i < step ? size - i : step;

		/* A chunk starting with 0x01 plays a reasoning_content field. */
		if (s[i] == 0x01)
			r = think_feed_reasoning(t, s + i, n);
		else
			r = think_feed(t, s + i, n);
	}
	if (r == 0)
		r = think_finish(t);
	return r;
}

static bool same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct think whole, split, bytes;
	const char *s;
	size_t step;
	int rw, rs, rb;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 8) + 1;
	s = (const char *)data + 1;
	size--;
	/* Which bytes are reasoning fields depends on the chunking: with any
	 * 0x01, every run goes byte by byte (still checks the caps and tags). */
	bool fields = memchr(s, 0x01, size) != NULL;

	if (fields)
		step = 1;
	rw = run(s, size, fields ? 1 : (size ? size : 1), &whole);
	rs = run(s, size, step, &split);
	rb = run(s, size, 1, &bytes);
	if (rw != rs || rw != rb)
		abort();
	if (rw == 0) {
		if (!same(&whole.answer, &split.answer) || !same(&whole.reasoning, &split.reasoning) ||
		    !same(&whole.answer, &bytes.answer) || !same(&whole.reasoning, &bytes.reasoning))
			abort();
		/* Without '<' nothing can be a tag: all content is answer. */
		if (memchr(s, '<', size) == NULL && whole.reasoning.len > 0 && !fields)
			abort();
	}
	think_done(&whole);
	think_done(&split);
	think_done(&bytes);
	return 0;
}
