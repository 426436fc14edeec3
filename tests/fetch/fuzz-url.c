/* libFuzzer harness: URL canonicalisation and resolution. The canonical
 * form must be a fixed point and stay within URL_MAX. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *canon = NULL, *again = NULL, *res = NULL;
	const char *nl;
	struct url_parts p = {0};

	if (size > 2 * URL_MAX)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (url_canonical(s, &canon) == 0) {
		if (strlen(canon) > URL_MAX)
			abort();
		if (url_canonical(canon, &again) != 0 || strcmp(canon, again) != 0)
			abort();
		if (url_parse(canon, &p) != 0)
			abort();
		url_parts_clear(&p);
	}
	/* "base\nref" resolves ref against base. */
	nl = memchr(s, '\n', size);
	if (nl) {
		s[nl - s] = '\0';
		if (url_resolve(s, nl + 1, &res) == 0 && strlen(res) > URL_MAX)
			abort();
	}
	free(canon);
	free(again);
	free(res);
	free(s);
	return 0;
}
