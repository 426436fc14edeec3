/* The local full-text index: documents split into passages (chunk.h) and
 * stored in the store's FTS5 index; BM25 queries over them. The walk that
 * adds a directory of the user's files is the CLI's (cli/walk.c). */
#ifndef RESEARCHD_INDEX_H
#define RESEARCHD_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/* Split text[0..len) into passages and put them in the index under key
 * ("web": a canonical URL; "local": a file:// URL) with title ("" when
 * none), replacing what the key had, atomically. *ret_passages and
 * *ret_unchanged (each may be NULL) say what was done; nothing is written
 * when title and text are as they were. Errors of store_index_put and
 * chunk_text. */
int index_add(struct store *s, const char *key, const char *kind, const char *title,
    const char *text, size_t len, int64_t now_ms, size_t *ret_passages, bool *ret_unchanged);

/* The same for a document of owner's (a "local" one: others see it only
 * when owner is 0, root's, shared). */
int index_add_owned(struct store *s, uid_t owner, const char *key, const char *kind,
    const char *title, const char *text, size_t len, int64_t now_ms, size_t *ret_passages,
    bool *ret_unchanged);

/* The best passages for a user's query, any text (store_index_query):
 * flags are STORE_INDEX_PER_DOC and STORE_INDEX_SNIPPET. */
int index_query(struct store *s, const char *query, size_t limit, unsigned flags,
    store_index_fn fn, void *userdata);

#define INDEX_QUERY_EFFECT_KIND	"index.query"
#define INDEX_QUERY_MAX_LIMIT	1000	/* hits of one index.query */

struct effects;

/* Register the "index.query" executor (index-effect.c). Request: {"job": N
 * (the job running it: a job reads only its own texts), "q": str, "limit":
 * N (default 10), "set": str (opaque, the caller's: it makes the key change
 * when what the caller knows was indexed changes)}. Result: {"hits": [{"url",
 * "text_hash", "start", "end", "score"}]}, best score first, then
 * text_hash, then start. */
int index_register(struct effects *e, struct store *s);

#endif
