/* libFuzzer harness: researchd-sandbox's request parser (sandbox/request.c).
 * A request either parses into a spec whose every path is valid and whose
 * limits are in range, or is refused with a sentence. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jail_spec s;
	char err[1024] = "";
	int r;

	if (sodium_init() < 0)
		abort();
	r = request_parse((const char *)data, size, &s, err, sizeof(err));
	if (r < 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!s.argv || !s.argv[0] || !s.argv[0][0] || !s.env)
		abort();
	for (size_t i = 0; i < s.n_files; i++)
		if (!jail_path_valid(s.files[i].path) || strncmp(s.files[i].path, "out/", 4) == 0)
			abort();
	for (size_t i = 0; i < request_n_limits; i++) {
		int64_t v = *request_limit_field(&s.lim, &request_limits[i]);
		if (v < request_limits[i].min || v > request_limits[i].max)
			abort();
	}
	request_free(&s);
	return 0;
}
