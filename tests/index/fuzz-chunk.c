/* libFuzzer harness for tools/chunk: any bytes, with sizes chosen by the
 * first byte. Passages must be in order, inside the text, within the
 * maximum, trimmed, separated by whitespace only (so they cover every
 * other byte), and whole UTF-8 when the input is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void fuzz_check_gap(const uint8_t *t, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++)
		if (!fuzz_ws(t[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct chunk_options opts[] = {
		{ 0, 0 }, { 16, 16 }, { 20, 40 }, { 64, 100 }, { 200, 150 }, { 1, 17 },
	};
	const struct chunk_options *opt;
	const uint8_t *t;
	struct chunk *c = NULL;
	size_t len, n = 0, prev = 0;
	int valid;

	if (size == 0)
		return 0;
	opt = &opts[data[0] % (sizeof(opts) / sizeof(opts[0]))];
	t = data + 1;
	len = size - 1;
	if (chunk_text((const char *)t, len, opt, &c, &n) != 0)
		abort();
	valid = utf8_valid((const char *)t, len);
	for (size_t i = 0; i < n; i++) {
		size_t max = opt->max ? opt->max : CHUNK_DEFAULT_MAX;

		if (c[i].start < prev || c[i].start >= c[i].end || c[i].end > len ||
		    c[i].end - c[i].start > max)
			abort();
		if (fuzz_ws(t[c[i].start]) || fuzz_ws(t[c[i].end - 1]))
			abort();
		fuzz_check_gap(t, prev, c[i].start);
		if (c[i].heading_start > c[i].heading_end || c[i].heading_end > len)
			abort();
		if (valid && (!utf8_valid((const char *)t + c[i].start, c[i].end - c[i].start) ||
		    !utf8_valid((const char *)t + c[i].heading_start,
		    c[i].heading_end - c[i].heading_start)))
			abort();
		prev = c[i].end;
	}
	fuzz_check_gap(t, prev, len);
	free(c);
	return 0;
}
