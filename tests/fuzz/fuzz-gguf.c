/* libFuzzer harness: the GGUF header reader of [llm] serve (agent/model.c).
 * Any bytes: it returns 0 or a negative errno, never crashes, never reads
 * past the file, and a success gives no negative figure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_gguf g;
	char path[64];
	int fd = memfd_create("gguf", MFD_CLOEXEC), r;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = model_gguf_read(path, &g);
	if (r > 0 || (r == 0 && (g.context_length < 0 || g.block_count < 0 || g.embedding_length < 0 ||
	    g.head_count < 0 || g.head_count_kv < 0)))
		abort();
	close(fd);
	return 0;
}
