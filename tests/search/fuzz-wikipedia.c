/* libFuzzer harness: the MediaWiki search API JSON response parser. */
#include "fuzz-search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_search_parser(search_wikipedia_parse, data, size);
}
