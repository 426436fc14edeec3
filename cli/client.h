/* The research CLI's end of the control socket: one connection to researchd,
 * requests out as JSON lines, reply lines in under a size cap and a deadline. */
#ifndef RESEARCHD_CLIENT_H
#define RESEARCHD_CLIENT_H

#include <jansson.h>
#include <stdint.h>

/* Reports can be large; a longer reply line is refused with -EMSGSIZE. */
#define CLIENT_MAX_LINE (64 * 1024 * 1024)

struct client;

/* Connect to the Unix socket at path; connect() itself waits at most
 * timeout_ms when the daemon's backlog is full. */
int client_connect(const char *path, int timeout_ms, struct client **ret);
struct client *client_free(struct client *c);

/* Send req (an object with "op" and its arguments, not modified) as one line,
 * with "v" and the next request id put in front; *ret_id gets that id. */
int client_send(struct client *c, const json_t *req, int timeout_ms, int64_t *ret_id);

/* Read one message (a JSON object). timeout_ms < 0 waits for ever. Returns
 * -ETIMEDOUT when nothing complete came in time (a partial line is kept for
 * the next call), -ECONNRESET when the daemon closed the connection,
 * -EMSGSIZE for a line over CLIENT_MAX_LINE, -EBADMSG for one that is not a
 * JSON object with a boolean "ok". */
int client_read(struct client *c, int timeout_ms, json_t **ret);

/* client_read, then check the message answers request id: -EPROTO if not.
 * An error with a null id (the daemon dropping us: busy, timeout) counts
 * as the answer. */
int client_read_reply(struct client *c, int64_t id, int timeout_ms, json_t **ret);

#endif
