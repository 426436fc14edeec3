/* The effect kinds the daemon offers its jobs (see tools.h), and the shared
 * objects behind them: one HTTP client on the loop, the polite fetcher with
 * its source cache, the sandbox's code tool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "code.h"
#include "config.h"
#include "doc-text.h"
#include "daemon.h"
#include "effect.h"
#include "fetch.h"
#include "http.h"
#include "index.h"
#include "llm-effect.h"
#include "log.h"
#include "model.h"
#include "pool.h"
#include "search.h"
#include "tools.h"
#include "xmalloc.h"

/* The daemon's [fetch] config as the fetcher's own struct. */
void fetch_config_from(struct fetch_config *c, const struct config *cfg)
{
	fetch_config_init(c);
	if (cfg->user_agent && cfg->user_agent[0])
		c->user_agent = cfg->user_agent;
	c->allow_hosts = (const char *const *)cfg->allow_hosts.items;
	c->n_allow_hosts = cfg->allow_hosts.n;
	c->robots = cfg->robots;
	c->max_body = cfg->fetch_max_body;
	c->timeout_ms = cfg->fetch_timeout * 1000;
	c->cache_ttl_ms = cfg->cache_ttl * 1000;
	c->host_delay_ms = cfg->host_delay * 1000;
}

#define TOOLS_MAX_TRANSFERS 32
#define TOOLS_VERIFIER_WAIT_MS 10000	/* a verifier request's wait for an endpoint */

/* The executor reads this on every start, so a reload takes effect for the
 * next run while runs in flight keep what they started with. */
static struct code_config tools_code_config;
static char *tools_code_helper;
/* doc.text converts PDFs with the same helper. */
static struct doc_text_config tools_doc_text_config;

static void tools_code_reconfigure(const struct config *c)
{
	free(tools_code_helper);
	tools_code_helper = xstrdup(c->sandbox_helper);
	memset(&tools_code_config, 0, sizeof(tools_code_config));
	tools_code_config.helper = tools_code_helper;
	tools_doc_text_config.sandbox_helper = tools_code_helper;
	tools_code_config.limits.cpu_s = c->sandbox_cpu_time;
	tools_code_config.limits.wall_ms = c->sandbox_timeout * 1000;
	tools_code_config.limits.memory = c->sandbox_memory;
	tools_code_config.limits.nproc = c->sandbox_max_procs;
	tools_code_config.limits.stdout_max = c->sandbox_max_output;
	tools_code_config.limits.stderr_max = c->sandbox_max_output;
	tools_code_config.limits.files_max = c->sandbox_max_output;
}

/* [fetch] as the fetcher wants it; the strings stay owned by c. */
static void tools_fetch_config(const struct config *c, struct fetch_config *fc)
{
	fetch_config_init(fc);
	fc->user_agent = c->user_agent;
	fc->allow_hosts = (const char *const *)c->allow_hosts.items;
	fc->n_allow_hosts = c->allow_hosts.n;
	fc->robots = c->robots;
	fc->max_body = c->fetch_max_body;
	fc->timeout_ms = c->fetch_timeout * 1000;
	fc->cache_ttl_ms = c->cache_ttl * 1000;
	fc->host_delay_ms = c->host_delay * 1000;
}

/* The search backends' endpoints come from the configuration, not from
 * pages, so they are not put behind the SSRF guard (a SearXNG on localhost
 * is the usual setup). */
static int tools_search_new(struct daemon *d)
{
	const struct config *c = d->config;
	struct search_config sc = {
		.backends = (const char *const *)c->search_backends.items,
		.n_backends = c->search_backends.n,
		.searxng_url = c->searxng_url,
		.brave_key_file = c->brave_key_file,
		.user_agent = c->user_agent,
		.max_results = (unsigned)c->search_max_results,
		.store = d->store,
		/* rate per second, bursts of 2 s worth (at least 2), and half a
		 * rate period between two requests (500 ms at the default 1). */
		.rate_per_second = (double)c->search_rate,
		.rate_burst = c->search_rate > 1 ? 2.0 * (double)c->search_rate : 2.0,
		.min_interval_ms = 500 / c->search_rate > 0 ? 500 / c->search_rate : -1,
	};
	int r;

	r = search_new(d->loop, d->http, &sc, &d->search);
	if (r < 0)
		return r;
	return search_register(d->effects, d->search);
}

/* A pool over urls. It asks each endpoint what it is (llama-server
 * /props, Ollama /api/show) as it starts; a server that is down is found
 * again later. */
static int tools_pool_new(struct daemon *d, const struct config_list *list, int64_t max_wait_ms,
    struct llm_pool **ret)
{
	const struct config *c = d->config;
	struct llm_pool_options o = {
		.api_key_file = c->llm_api_key_file,
		.model = c->llm_model,
		.timeout_ms = c->llm_timeout * 1000,
		.n_ctx = c->llm_context,
		.slot_affinity = true,
		.max_wait_ms = max_wait_ms,
	};
	struct buf urls;
	int r;

	buf_init(&urls, CONFIG_MAX_LIST * 4096);
	for (size_t i = 0; i < list->n; i++) {
		r = buf_printf(&urls, "%s%s", i ? "," : "", list->items[i]);
		if (r < 0) {
			buf_free(&urls);
			return r;
		}
	}
	o.urls = urls.data;
	r = llm_pool_new(d->loop, d->http, &o, ret);
	buf_free(&urls);
	return r;
}

/* "llm.chat" on the pool model.c makes from [llm] url, serve or probe;
 * "llm.verify" on [llm] verifier_url when it is set, else on the same pool. */
static int tools_llm_new(struct daemon *d)
{
	int r;

	r = model_new(d, &d->model);
	if (r < 0)
		return r;
	r = llm_register(d->effects, d->llm);
	if (r < 0)
		return r;
	if (d->config->llm_verifier_url.n > 0) {
		/* A verifier that does not answer soon is given up: the job
		 * ends with the quote check alone. */
		r = tools_pool_new(d, &d->config->llm_verifier_url, TOOLS_VERIFIER_WAIT_MS,
		    &d->verifier);
		if (r < 0)
			return r;
	}
	return llm_register_kind(d->effects, d->verifier ? d->verifier : d->llm, LLM_VERIFY_KIND);
}

void tools_reconfigure(struct daemon *d)
{
	tools_code_reconfigure(d->config);
	/* The fetcher copies what it keeps; [fetch] changes apply at restart. */
}

int tools_register(struct daemon *d)
{
	static const struct effect_kind code_kind = {
		.name = CODE_EFFECT_KIND,
		.start = code_exec_start,
		.cancel = code_exec_cancel,
		.userdata = &tools_code_config,
	};
	struct http_limits hl = { .max_transfers = TOOLS_MAX_TRANSFERS };
	struct fetch_config fc;
	int r;

	tools_code_reconfigure(d->config);
	r = effects_register(d->effects, &code_kind);
	if (r < 0)
		return r;
	r = http_new(d->loop, &hl, &d->http);
	if (r < 0)
		return r;
	tools_fetch_config(d->config, &fc);
	r = fetch_new(d->loop, d->http, d->store, &fc, &d->fetch);
	if (r < 0)
		return r;
	r = fetch_register(d->effects, d->fetch);
	if (r < 0)
		return r;
	tools_doc_text_config.store = d->store;
	tools_doc_text_config.max_input = (size_t)d->config->fetch_max_body;
	r = doc_text_register(d->effects, &tools_doc_text_config);
	if (r < 0)
		return r;
	r = index_register(d->effects, d->store);
	if (r < 0)
		return r;
	r = tools_search_new(d);
	if (r < 0)
		return r;
	return tools_llm_new(d);
}

void tools_unregister(struct daemon *d)
{
	d->llm = llm_pool_free(d->llm);
	d->verifier = llm_pool_free(d->verifier);
	d->model = model_free(d->model);
	d->search = search_free(d->search);
	d->fetch = fetch_free(d->fetch);
	d->http = http_free(d->http);
	tools_code_helper = mfree(tools_code_helper);
	tools_code_config.helper = NULL;
	tools_doc_text_config.sandbox_helper = NULL;
}
