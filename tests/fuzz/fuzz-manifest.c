/* libFuzzer harness: `research verify`'s offline quote check
 * (common/manifest.c) must accept every quote the planner verified
 * (common/quote.c), at the offsets the planner found, and must never
 * crash on any text, offsets or quote. An input is a text, optionally
 * followed by a NUL and a quote (as fuzz-quote's corpus, which it replays);
 * without a quote, the middle third of the text is the quote. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "quote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	size_t tlen = nul ? (size_t)(nul - (const char *)data) : size, a, b;
	char *text = malloc(tlen + 1), *quote;

	if (text == NULL)
		return 0;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	if (nul)
		quote = strndup(nul + 1, size - tlen - 1);
	else
		quote = strndup(text + tlen / 3, tlen / 3);
	if (quote == NULL) {
		free(text);
		return 0;
	}
	if (quote_find(text, tlen, quote, strlen(quote), &a, &b) == 0 &&
	    manifest_quote_check(text, tlen, (int64_t)a, (int64_t)b, quote) != 0)
		abort();	/* verify would call a verified quote forged */
	/* Any offsets: an answer, never a crash. */
	(void)manifest_quote_check(text, tlen, (int64_t)(size % (tlen + 2)) - 1,
	    (int64_t)tlen - (int64_t)(size % 3), quote);
	free(quote);
	free(text);
	return 0;
}
