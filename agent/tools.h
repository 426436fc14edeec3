/* The effect kinds the daemon offers its jobs, registered with the effects
 * layer and kept in step with the configuration. */
#ifndef RESEARCHD_TOOLS_H
#define RESEARCHD_TOOLS_H

struct config;
struct daemon;
struct fetch_config;

int tools_register(struct daemon *d);
/* Apply a reloaded configuration's limits to the registered tools. */
void tools_reconfigure(struct daemon *d);
/* Free what tools_register() made; before the loop is run to its end. */
void tools_unregister(struct daemon *d);

/* Defaults, then the [fetch] keys of the daemon's config: user_agent,
 * allow_hosts, robots, max_body, timeout, cache_ttl. c points into cfg,
 * which must outlive fetch_new(). */
void fetch_config_from(struct fetch_config *c, const struct config *cfg);

#endif
