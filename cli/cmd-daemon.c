/* research's commands about the daemon itself: ping and stats. */
#include <stdio.h>

#include "research.h"
#include "xmalloc.h"

/* A command with neither options nor operands: one request, one reply.
 * With --json the reply is printed here and *ret_reply stays NULL. */
static int cli_bare_call(struct cli *cli, int argc, char **argv, const char *op, json_t **ret_reply)
{
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", op);
	int r;

	r = cli_args_plain(cli, argc, argv);
	if (r != EXIT_OK)
		return r;
	r = cli_want_none(cli);
	if (r != EXIT_OK)
		return r;
	return cli_call_show(cli, req, CLI_TIMEOUT_MS, ret_reply);
}

int cli_cmd_ping(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_free_ char *version = NULL;
	int r;

	r = cli_bare_call(cli, argc, argv, "ping", &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	version = xstrdup(cli_esc(cli, cli_job_str(reply, "version")));
	printf("researchd %s (protocol %lld, pid %lld)\n", version,
	    (long long)cli_job_int(reply, "protocol"), (long long)cli_job_int(reply, "pid"));
	return EXIT_OK;
}

int cli_cmd_stats(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	json_t *stats = NULL;
	int r;

	r = cli_bare_call(cli, argc, argv, "stats", &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	if (json_get_object(reply, "stats", &stats) < 0)
		return cli_malformed(cli);
	cli_print_flat(cli, NULL, stats);
	return EXIT_OK;
}
