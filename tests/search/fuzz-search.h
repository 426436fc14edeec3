/* The body shared by the response-parser harnesses: parse the input, check
 * what every hit must satisfy (a URL, valid UTF-8 text within its caps, no
 * more hits than asked for), then merge the hits with themselves. */
#ifndef RESEARCHD_TESTS_FUZZ_SEARCH_H
#define RESEARCHD_TESTS_FUZZ_SEARCH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max || !utf8_valid(s, n))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			abort();
}

static int fuzz_search_parser(int (*parse)(const char *, size_t, const struct search_parse_args *,
    struct search_hits *), const uint8_t *data, size_t size)
{
	struct search_parse_args a = { .lang = "en",
	    .article_base = "https://en.wikipedia.org/wiki/", .max_results = 20 };
	struct search_hits h;
	const struct search_hits *lists[2] = { &h, &h };
	struct search_result *r = NULL;
	size_t n = 0;

	search_hits_init(&h, a.max_results);
	if (parse((const char *)data, size, &a, &h) == 0) {
		if (h.n > a.max_results)
			abort();
		for (size_t i = 0; i < h.n; i++) {
			if (h.v[i].url == NULL || h.v[i].url[0] == '\0')
				abort();
			fuzz_check_text(h.v[i].title, SEARCH_MAX_TITLE);
			fuzz_check_text(h.v[i].snippet, SEARCH_MAX_SNIPPET);
			if (h.v[i].date)
				fuzz_check_text(h.v[i].date, SEARCH_MAX_DATE);
		}
		if (search_merge(lists, 2, 10, &r, &n) != 0 || n > 10 || n > h.n)
			abort();
		for (size_t i = 0; i < n; i++)
			if (r[i].backends != 3 || r[i].rank != i + 1)
				abort();
		search_results_free(r, n);
	}
	search_hits_clear(&h);
	return 0;
}

#endif
