/* The effect kinds the daemon offers its jobs, registered with the effects
 * layer and kept in step with the configuration. */
#ifndef RESEARCHD_TOOLS_H
#define RESEARCHD_TOOLS_H

struct daemon;

int tools_register(struct daemon *d);
/* Apply a reloaded configuration's limits to the registered tools. */
void tools_reconfigure(struct daemon *d);
/* Free what tools_register() made; before the loop is run to its end. */
void tools_unregister(struct daemon *d);

#endif
