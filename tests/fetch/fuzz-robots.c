/* libFuzzer harness: robots.txt parsing and matching. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "robots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {
		"/", "/robots.txt", "/a/b.pdf", "/search?q=1", "/%7Euser/x", "/fish.html",
		"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	};
	struct robots *r = robots_parse((const char *)data, size, "researchd");

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		(void)robots_allowed(r, paths[i]);
	(void)robots_crawl_delay_ms(r);
	robots_free(r);
	return 0;
}
