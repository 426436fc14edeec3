/* The supervised model server ([llm] spawn): started with the daemon,
 * watched through its /health endpoint, restarted with backoff when it
 * dies, stopped with the daemon. */
#ifndef RESEARCHD_SPAWN_H
#define RESEARCHD_SPAWN_H

#include <jansson.h>

struct daemon;
struct spawn;

#define SPAWN_MAX_ARGS 64
#define SPAWN_BACKOFF_MIN_MS 1000
#define SPAWN_BACKOFF_MAX_MS 60000
#define SPAWN_HEALTH_EVERY_MS 500

/* Split a command line into words: whitespace separates, double quotes
 * group, backslash escapes the next character inside quotes. -EINVAL for an
 * unterminated quote, -E2BIG past SPAWN_MAX_ARGS. argv is NULL-terminated
 * and freed with spawn_argv_free. */
int spawn_split(const char *cmd, char ***ret_argv);
void spawn_argv_free(char **argv);

/* Start supervising cmd; health is polled at health_url. */
int spawn_new(struct daemon *d, const char *cmd, const char *health_url, struct spawn **ret);
/* The same with the words already split (copied). */
int spawn_new_argv(struct daemon *d, char *const *argv, const char *health_url, struct spawn **ret);
/* Ask the server to stop (SIGTERM); no more restarts. */
void spawn_stop(struct spawn *s);
/* SIGKILL it if it is still there, and free. */
struct spawn *spawn_free(struct spawn *s);
/* {"pid", "state", "restarts", "ready"} for stats. */
json_t *spawn_status(const struct spawn *s);

#endif
