/* The daemon's configuration: INI-style file, one table of keys
 * (config.c), parsed into a fresh struct that replaces the running one only
 * when it is valid. */
#ifndef RESEARCHD_CONFIG_H
#define RESEARCHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buildconf.h"

#define CONFIG_MAX_LIST 32		/* items in a comma-separated list */
#define CONFIG_MAX_LINE 4096		/* bytes in one line of the file */
#define CONFIG_MAX_FILE (1024 * 1024)	/* bytes in the whole file */

#define CONFIG_DEFAULT_PATH RESEARCHD_SYSCONFDIR "/researchd.conf"
/* Where users run model servers: llama-server, Ollama, LM Studio, vLLM. */
#define CONFIG_DEFAULT_PROBE "127.0.0.1:8080,127.0.0.1:11434,127.0.0.1:1234,127.0.0.1:8000"

struct config_list {
	size_t n;
	char *items[CONFIG_MAX_LIST];
};

struct config {
	/* [server] */
	char *socket;
	char *socket_group;
	char *state_dir;
	int64_t max_jobs;
	int64_t max_queued;
	int64_t max_clients;
	int64_t max_clients_per_user;	/* connections of one uid; root is exempt */
	int64_t client_timeout;		/* seconds */
	char *log_level;
	bool selftest;

	/* [llm] */
	struct config_list llm_url;	/* empty: serve, or probe loopback */
	struct config_list llm_probe;	/* loopback HOST:PORT to look for a server at */
	struct config_list llm_verifier_url;	/* the verifier pass's endpoints; none: the main pool */
	char *llm_model;
	char *llm_api_key_file;
	char *llm_spawn;
	int64_t llm_timeout;		/* seconds */
	int64_t llm_context;		/* tokens per slot; 0: discovered */
	char *llm_serve;		/* a GGUF file or a pulled model's name to run */
	char *llm_serve_engine;		/* NULL: llama-server on PATH, else researchd-llm */
	int64_t llm_serve_threads;	/* 0: chosen from the machine */
	int64_t llm_serve_context;	/* total tokens; 0: chosen */
	int64_t llm_serve_slots;	/* 0: chosen */

	/* [search] */
	struct config_list search_backends;
	char *searxng_url;
	char *brave_key_file;
	int64_t search_max_results;
	int64_t search_rate;		/* requests per second to one backend */

	/* [fetch] */
	char *user_agent;
	struct config_list allow_hosts;
	bool robots;
	int64_t fetch_max_body;		/* bytes */
	int64_t fetch_timeout;		/* seconds */
	int64_t cache_ttl;		/* seconds */
	int64_t host_delay;		/* seconds between two requests' starts to one host */

	/* [budget] defaults for new jobs */
	int64_t budget_max_time;	/* seconds of wall time */
	int64_t budget_max_tokens;
	int64_t budget_max_fetches;
	int64_t budget_max_depth;
	int64_t budget_max_breadth;

	/* [sandbox] */
	char *sandbox_helper;		/* path of researchd-sandbox */
	int64_t sandbox_cpu_time;	/* seconds */
	int64_t sandbox_memory;		/* bytes */
	int64_t sandbox_max_procs;
	int64_t sandbox_max_output;	/* bytes */
	int64_t sandbox_timeout;	/* seconds */
};

/* A config with every default set. */
struct config *config_new(void);
struct config *config_free(struct config *c);

/* Parse text (named path in messages) into c, which holds the defaults.
 * On error returns a negative errno and writes "path:line: message" into
 * errmsg. */
int config_parse(struct config *c, const char *path, const char *text, size_t len,
    char *errmsg, size_t errlen);
/* Read and parse a file into a new config. A missing file is an error. */
int config_load(const char *path, struct config **ret, char *errmsg, size_t errlen);

#endif
