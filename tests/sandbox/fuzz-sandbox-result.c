/* libFuzzer harness: the daemon's parser of the helper's result
 * (sandbox_result_parse). What parses is within the limits it was given;
 * what does not is refused without a leak. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sandbox_limits lim = { .stdout_max = 64, .stderr_max = 64, .files_max = 128,
		.files_count = 4 };
	struct sandbox_result *res = xcalloc(1, sizeof(*res));
	size_t total = 0;
	int r;

	r = sandbox_result_parse((const char *)data, size, &lim, res);
	if (r == 0) {
		if (res->out_len > 64 || res->err_len > 64 || res->n_files > 4 || !res->out || !res->err)
			abort();
		for (size_t i = 0; i < res->n_files; i++) {
			if (strncmp(res->files[i].path, "out/", 4) != 0 || strstr(res->files[i].path, ".."))
				abort();
			total += res->files[i].len;
		}
		if (total > 128)
			abort();
	} else if (r != -EBADMSG && !res->error) {
		abort();
	}
	sandbox_result_free(res);
	return 0;
}
