/* libFuzzer harness for extract/: any bytes, under several content
 * types chosen by the first byte; the result must be valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {
		"text/html", "text/html; charset=utf-8", "text/html; charset=iso-8859-1",
		"text/html; charset=shift_jis", "text/html; charset=utf-16", NULL,
		"text/plain", "application/json",
	};
	struct extract_options opt = {
		.base_url = "https://fuzz.example/a/b?c=d",
		.max_output = 1 << 20,
		.max_links = 16,
	};
	struct extract_result *r = NULL;

	if (size == 0)
		return 0;
	opt.content_type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	if (extract_html((const char *)data + 1, size - 1, &opt, &r) == 0) {
		if (!utf8_valid(r->text, r->text_len) || strlen(r->text) != r->text_len)
			abort();
		for (size_t i = 0; i < r->n_links; i++)
			if (!utf8_valid(r->links[i].url, strlen(r->links[i].url)) ||
			    !utf8_valid(r->links[i].text, strlen(r->links[i].text)))
				abort();
		extract_result_free(r);
	}
	return 0;
}
