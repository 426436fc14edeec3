/* The control socket: listening, clients, JSON lines in and out, limits. */
#ifndef RESEARCHD_SERVER_H
#define RESEARCHD_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct daemon;
struct server;
struct client;

#define CLIENT_MAX_PENDING_WRITE (16 * 1024 * 1024)	/* bytes queued to a slow reader */
#define SERVER_BACKLOG 256

/* Listen on path (or the socket systemd passed us). Errors: -ELOOP symlink
 * at the path, -EADDRINUSE a live daemon there, -EEXIST not a socket,
 * -ENAMETOOLONG. errmsg gets a sentence. */
int server_new(struct daemon *d, const char *path, const char *group, struct server **ret,
    char *errmsg, size_t errlen);
/* Stop listening and drop every client (with a shutting_down error to those
 * waiting on a watch). The socket file is removed if we created it. */
void server_close(struct server *s);
struct server *server_free(struct server *s);
unsigned server_clients(const struct server *s);
bool server_socket_activated(const struct server *s);

/* For op handlers. */
struct daemon *client_daemon(struct client *c);
uid_t client_uid(const struct client *c);
/* Queue one message (not stolen); false if the client is gone or too slow. */
bool client_send(struct client *c, const json_t *msg);
void client_send_error(struct client *c, json_t *id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A busy client (a watch in progress) gets no further requests handled
 * until it is no longer busy; lines wait in its buffer. */
void client_set_busy(struct client *c, bool busy);
/* The busy op in progress (a watch) ends when the client shuts down its
 * writing side: nobody is left to watch. Without this, a half-close is
 * answered like a close after the last request: the op's reply and those
 * of the requests read after it are sent first. Cleared when not busy. */
void client_set_ends_at_eof(struct client *c);
/* Per-client state of a long op; cleanup runs when the client goes away. */
void client_set_op(struct client *c, void *data, void (*cleanup)(void *data));
void client_close(struct client *c);

#endif
