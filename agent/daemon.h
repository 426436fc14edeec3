/* The daemon's top-level state, shared by the agent's modules. */
#ifndef RESEARCHD_DAEMON_H
#define RESEARCHD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
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
struct sign_key;
struct model;

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
	struct spawn *spawn;	/* the supervised model server, [llm] spawn or serve */
	struct model *model;	/* where d->llm's endpoints come from */
	struct sign_key *key;	/* signs report manifests (provenance.c) */
	json_t *served_model;	/* [llm] spawn's model file and its hash, once known */
	int64_t start_ms;
	bool stopping;
};

#endif
