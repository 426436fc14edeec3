/* libFuzzer harness: the arXiv Atom (libxml2) response parser. */
#include "fuzz-search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_search_parser(search_arxiv_parse, data, size);
}
