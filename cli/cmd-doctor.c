/* research doctor: one screen of what a research job needs, each line OK
 * or a concrete fix. The daemon checks the rest from where it runs (its
 * user, its unit's restrictions); this side checks that it answers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "research.h"
#include "xmalloc.h"

/* The daemon runs the sandbox's self-check and asks each search backend. */
#define CLI_DOCTOR_TIMEOUT_MS (60 * 1000)

static void cli_doctor_line(struct cli *cli, bool ok, const char *name, const char *detail,
    const char *fix)
{
	printf("%-4s %-16s %s\n", ok ? "OK" : "FAIL", name, detail);
	if (!ok && fix && fix[0])
		printf("     %-16s fix: %s\n", "", fix);
}

int cli_cmd_doctor(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "doctor"), *reply = NULL;
	_cleanup_free_ char *where = NULL;
	json_t *checks, *v;
	size_t i;
	int r, failed = 0;

	r = cli_args_plain(cli, argc, argv);
	if (r != EXIT_OK)
		return r;
	r = cli_want_none(cli);
	if (r != EXIT_OK)
		return r;
	r = client_connect(cli->socket_path, CLI_TIMEOUT_MS, &cli->client);
	if (r < 0) {
		where = xasprintf("cannot connect to %s: %s", cli->socket_path, strerror(-r));
		if (cli->json) {
			_cleanup_json_ json_t *doc = json_pack("{s:b, s:[{s:s, s:b, s:s, s:s}]}", "ok", 0,
			    "checks", "name", "daemon", "ok", 0, "detail", where, "fix",
			    "start it: `researchd -d` (or `systemctl start researchd`), or point "
			    "--socket / $RESEARCHD_SOCKET at its socket");
			cli_print_json(cli, doc);
		} else
			cli_doctor_line(cli, false, "daemon", cli_esc(cli, where),
			    "start it: `researchd -d` (or `systemctl start researchd`), or point "
			    "--socket / $RESEARCHD_SOCKET at its socket");
		return EXIT_UNREACHABLE;
	}
	r = cli_call_wait(cli, req, CLI_DOCTOR_TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	checks = json_object_get(reply, "checks");
	if (!json_is_array(checks))
		return cli_malformed(cli);
	json_array_foreach(checks, i, v)
		if (!json_is_true(json_object_get(v, "ok")))
			failed++;
	if (cli->json) {
		_cleanup_json_ json_t *doc = json_pack("{s:b, s:O}", "ok", failed == 0, "checks", checks);
		cli_print_json(cli, doc);
		return failed ? EXIT_DAEMON_ERROR : EXIT_OK;
	}
	json_array_foreach(checks, i, v) {
		_cleanup_free_ char *name = xstrdup(cli_esc(cli, cli_job_str(v, "name") ?: "?"));
		_cleanup_free_ char *detail = xstrdup(cli_esc(cli, cli_job_str(v, "detail") ?: ""));
		const char *fix = cli_job_str(v, "fix");

		cli_doctor_line(cli, json_is_true(json_object_get(v, "ok")), name, detail,
		    fix ? cli_esc(cli, fix) : NULL);
	}
	if (failed)
		printf("%d check%s failed\n", failed, failed == 1 ? "" : "s");
	else
		printf("everything a research job needs is in place\n");
	return failed ? EXIT_DAEMON_ERROR : EXIT_OK;
}
