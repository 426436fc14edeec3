/* research sandbox: runs researchd's sandbox helper locally, for the
 * operator to see its limits; no daemon is involved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildconf.h"
#include "research.h"

/* `research sandbox`: the operator's check of the sandbox on this machine,
 * run locally by the helper the daemon uses (no daemon involved). */
int cli_cmd_sandbox(struct cli *cli, int argc, char **argv)
{
	const char *helper = getenv("RESEARCHD_SANDBOX");
	char *args[256];
	int n = 0;

	if (helper == NULL || helper[0] != '/')
		helper = RESEARCHD_LIBEXECDIR "/researchd-sandbox";
	/* Everything after the command name goes to the helper as it is:
	 * "--check", or "[--limit NAME=N]... -- CMD ARGS...". */
	args[n++] = (char *)helper;
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
