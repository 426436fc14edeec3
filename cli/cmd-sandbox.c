/* research sandbox: runs researchd's sandbox helper locally, for the
 * operator to see its limits; no daemon is involved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "research.h"
#include "xmalloc.h"

/* `research sandbox`: the operator's check of the sandbox on this machine,
 * run locally by the helper the daemon uses (no daemon involved). */
int cli_cmd_sandbox(struct cli *cli, int argc, char **argv)
{
	const char *env = getenv("RESEARCHD_SANDBOX");
	_cleanup_free_ char *helper = NULL;
	char *args[256];
	int n = 0;

	/* $RESEARCHD_SANDBOX wins; else the helper the daemon would find
	 * from the same place (beside this program, or installed). */
	helper = env != NULL && env[0] == '/' ? xstrdup(env) : paths_sandbox_helper();
	/* Everything after the command name goes to the helper as it is:
	 * "--check", or "[--limit NAME=N]... -- CMD ARGS...". */
	args[n++] = helper;
	if (argc >= 2 && strcmp(argv[1], "--check") == 0) {
		args[n++] = "--check";
		argv++, argc--;
	} else
		args[n++] = "--run";
	for (int i = 1; i < argc && n < 255; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	if (n == 2 && strcmp(args[1], "--run") == 0)
		return cli_usage_error(cli, "sandbox needs -- CMD [ARGS...] or --check");
	fflush(stdout);
	execv(helper, args);
	fprintf(stderr, "research: cannot run %s: %s (set RESEARCHD_SANDBOX to its path)\n",
	    helper, strerror(errno));
	return EXIT_DAEMON_ERROR;
}
