/* The research CLI's requests to researchd: connecting, one request and its
 * reply, and a list gathered up to its end marker. Failures are reported
 * here and come back as EXIT_* codes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "research.h"

int cli_connect(struct cli *cli)
{
	int r;

	if (cli->client != NULL)
		return EXIT_OK;
	r = client_connect(cli->socket_path, CLI_TIMEOUT_MS, &cli->client);
	if (r < 0) {
		fprintf(stderr, "research: cannot connect to researchd at %s: %s%s\n",
		    cli->socket_path, strerror(-r),
		    r == -ENOENT || r == -ECONNREFUSED ? " (is researchd running?)" : "");
		return EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

int cli_send(struct cli *cli, const json_t *req, int64_t *ret_id)
{
	int r;

	r = cli_connect(cli);
	if (r != EXIT_OK)
		return r;
	r = client_send(cli->client, req, CLI_TIMEOUT_MS, ret_id);
	if (r < 0)
		return cli_transport_error(cli, r);
	return EXIT_OK;
}

/* One message for request id. EXIT_OK only for "ok":true; an error reply is
 * reported here. timeout_ms < 0 waits for ever; -ETIMEDOUT is not reported
 * when quiet_timeout, so a caller can wake up to redraw. */
int cli_recv(struct cli *cli, int64_t id, int timeout_ms, bool quiet_timeout, json_t **ret)
{
	json_t *msg = NULL;
	int r;

	r = client_read_reply(cli->client, id, timeout_ms, &msg);
	if (r == -ETIMEDOUT && quiet_timeout)
		return -ETIMEDOUT;
	if (r < 0)
		return cli_transport_error(cli, r);
	if (!json_is_true(json_object_get(msg, "ok"))) {
		r = cli_daemon_error(cli, msg);
		json_decref(msg);
		return r;
	}
	*ret = msg;
	return EXIT_OK;
}

/* One request, one reply. */
int cli_call_wait(struct cli *cli, const json_t *req, int timeout_ms, json_t **ret)
{
	int64_t id;
	int r;

	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	return cli_recv(cli, id, timeout_ms, false, ret);
}

int cli_call(struct cli *cli, const json_t *req, json_t **ret)
{
	return cli_call_wait(cli, req, CLI_TIMEOUT_MS, ret);
}

int cli_call_show(struct cli *cli, const json_t *req, int timeout_ms, json_t **ret)
{
	json_t *reply = NULL;
	int r;

	r = cli_call_wait(cli, req, timeout_ms, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		json_decref(reply);
		return EXIT_OK;
	}
	*ret = reply;
	return EXIT_OK;
}

/* A list request: send it, then gather each message's `key` object into
 * `into` until the end marker. */
int cli_collect(struct cli *cli, const json_t *req, const char *key, json_t *into)
{
	json_t *msg = NULL, *item;
	int64_t id;
	int r;

	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	for (;;) {
		r = cli_recv(cli, id, CLI_TIMEOUT_MS, false, &msg);
		if (r != EXIT_OK)
			return r;
		if (json_is_true(json_object_get(msg, "end")))
			break;
		item = json_object_get(msg, key);
		/* More items than any limit allows: a daemon that never stops. */
		if (!json_is_object(item) || json_array_size(into) >= PROTOCOL_MAX_LIST) {
			msg = cli_unref(msg);
			return cli_malformed(cli);
		}
		json_array_append(into, item);
		msg = cli_unref(msg);
	}
	msg = cli_unref(msg);
	return EXIT_OK;
}
