/* JSON helpers over jansson: typed getters and canonical encoding. */
#ifndef RESEARCHD_JSON_H
#define RESEARCHD_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Getters: -ENOENT if absent (or null), -EINVAL if of the wrong type;
 * *ret untouched on failure. */
int json_get_string(const json_t *obj, const char *key, const char **ret);
int json_get_int(const json_t *obj, const char *key, int64_t *ret);
int json_get_bool(const json_t *obj, const char *key, bool *ret);
int json_get_object(const json_t *obj, const char *key, json_t **ret);

/* Canonical form: compact, keys sorted, ASCII-only, reals with 17 digits.
 * Two equal JSON values give the same bytes; used for effect keys. */
char *json_canonical(const json_t *v);
/* Compact, one line, no trailing newline. */
char *json_compact(const json_t *v);

/* jansson >= 2.9 provides json_decrefp; json_auto_t is its cleanup type. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

#endif
