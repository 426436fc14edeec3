/* The effect kinds the daemon offers its jobs (see tools.h). */
#include <stdlib.h>
#include <string.h>

#include "code.h"
#include "config.h"
#include "daemon.h"
#include "effect.h"
#include "tools.h"
#include "xmalloc.h"

/* The executor reads this on every start, so a reload takes effect for the
 * next run while runs in flight keep what they started with. */
static struct code_config tools_code_config;
static char *tools_code_helper;

void tools_reconfigure(struct daemon *d)
{
	const struct config *c = d->config;

	free(tools_code_helper);
	tools_code_helper = xstrdup(c->sandbox_helper);
	memset(&tools_code_config, 0, sizeof(tools_code_config));
	tools_code_config.helper = tools_code_helper;
	tools_code_config.limits.cpu_s = c->sandbox_cpu_time;
	tools_code_config.limits.wall_ms = c->sandbox_timeout * 1000;
	tools_code_config.limits.memory = c->sandbox_memory;
	tools_code_config.limits.nproc = c->sandbox_max_procs;
	tools_code_config.limits.stdout_max = c->sandbox_max_output;
	tools_code_config.limits.stderr_max = c->sandbox_max_output;
	tools_code_config.limits.files_max = c->sandbox_max_output;
}

int tools_register(struct daemon *d)
{
	static const struct effect_kind code_kind = {
		.name = CODE_EFFECT_KIND,
		.start = code_exec_start,
		.cancel = code_exec_cancel,
		.userdata = &tools_code_config,
	};

	tools_reconfigure(d);
	return effects_register(d->effects, &code_kind);
}

void tools_unregister(void)
{
	tools_code_helper = mfree(tools_code_helper);
	tools_code_config.helper = NULL;
}
