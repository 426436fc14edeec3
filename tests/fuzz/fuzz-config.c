/* libFuzzer harness: the configuration parser (agent/config.c). A failed
 * parse must say where ("fuzz.conf:LINE: ..."); a good one must give a
 * config whose values respect their documented ranges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = config_new();
	char err[1024] = "";
	int r;

	r = config_parse(c, "fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (r < 0) {
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
	} else {
		if (c->max_jobs < 1 || c->max_jobs > 64 || c->max_clients < 1 ||
		    c->client_timeout < 1 || c->llm_url.n > CONFIG_MAX_LIST ||
		    c->search_backends.n < 1 || c->socket == NULL || c->state_dir == NULL)
			abort();
		/* The model comes from exactly one place: url, serve, or probing. */
		if ((c->llm_url.n == 0 && c->llm_serve == NULL && c->llm_probe.n < 1) ||
		    (c->llm_serve && (c->llm_url.n > 0 || c->llm_spawn)) ||
		    (c->llm_spawn && c->llm_url.n == 0))
			abort();
	}
	config_free(c);
	return 0;
}
