/* The daemon's top-level state, shared by the agent's modules. */
#ifndef RESEARCHD_DAEMON_H
#define RESEARCHD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct store;
struct effects;
struct jobs;
struct server;
struct http;
struct fetch;
struct spawn;
struct search;
struct llm_pool;

struct daemon {
	uv_loop_t *loop;
	struct config *config;	/* replaced whole on a good reload */
	char *config_path;	/* NULL: built-in defaults */
	struct store *store;
	struct effects *effects;
	struct jobs *jobs;
	struct server *server;
	struct http *http;	/* one libcurl multi handle on the loop */
	struct fetch *fetch;	/* polite fetching through the source cache */
	struct search *search;	/* the configured search backends */
	struct llm_pool *llm;	/* the model endpoints, one queue for every job */
	struct llm_pool *verifier;	/* [llm] verifier_url's, or NULL: llm serves */
	struct spawn *spawn;	/* the supervised model server, if [llm] spawn */
	int64_t start_ms;
	bool stopping;
};

#endif
