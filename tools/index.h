/* The local full-text index: documents split into passages (chunk.h) and
 * stored in the store's FTS5 index; BM25 queries over them; the walk that
 * adds a directory of the user's files (`research index DIR`). */
#ifndef RESEARCHD_INDEX_H
#define RESEARCHD_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/* Defaults for index_dir's caps when an option is 0. */
#define INDEX_DEFAULT_MAX_DEPTH		16u
#define INDEX_DEFAULT_MAX_FILES		10000u
#define INDEX_DEFAULT_MAX_FILE_SIZE	(16u * 1024 * 1024)
/* Directory entries looked at in one walk, whatever their kind. */
#define INDEX_MAX_ENTRIES		1000000u

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

enum index_file_status {
	INDEX_FILE_ADDED,
	INDEX_FILE_UNCHANGED,	/* indexed before with the same title and text */
	INDEX_FILE_TOO_BIG,	/* over max_file_size */
	INDEX_FILE_BINARY,	/* not text after all */
	INDEX_FILE_FAILED,	/* could not be read or stored: see error */
};

/* Called for each file of a known type (.html .htm .md .markdown .txt)
 * with its path relative to the directory. */
typedef void (*index_dir_fn)(const char *relpath, enum index_file_status status, int error,
    size_t passages, void *userdata);

/* Where index_dir puts each document instead of the store: the CLI walks
 * the user's files with the user's permissions and hands each one to the
 * daemon. Same contract as index_add. */
typedef int (*index_sink_fn)(const char *key, const char *title, const char *text, size_t len,
    size_t *ret_passages, bool *ret_unchanged, void *userdata);

struct index_dir_options {
	unsigned max_depth;	/* directories below the top; 0: default */
	size_t max_files;	/* files of a known type handled; 0: default */
	size_t max_file_size;	/* bytes; 0: default */
	index_dir_fn fn;	/* may be NULL */
	void *userdata;
	index_sink_fn sink;	/* NULL: index_add into the store */
	void *sink_userdata;
};

struct index_dir_stats {
	size_t added, unchanged, too_big, binary, failed;
	size_t skipped;		/* other types, symlinks, special files, dot files */
	size_t passages;	/* of the files added */
	bool truncated;		/* max_files, max_depth or INDEX_MAX_ENTRIES was hit */
};

/* Index the .html/.htm (through extract_html), .md/.markdown and .txt
 * files under path, in name order, keyed by their file:// URL. path itself
 * may be a symlink to a directory; nothing under it is followed: symlinks,
 * dot files and dot directories, and anything but regular files and
 * directories are skipped. Each file is its own transaction, so a failure
 * leaves the others indexed; it is counted, reported to fn, and the walk
 * goes on. Returns 0 with *ret_stats (may be NULL) once the walk is done;
 * -ENOTDIR, -ENOENT, -EACCES ... when path cannot be opened as a directory,
 * or a store error that is not about one file (-EBUSY, -ENOSPC, -EIO; from a
 * sink: -EPIPE or -ECONNRESET too). s may be NULL when opt->sink is set. */
int index_dir(struct store *s, const char *path, const struct index_dir_options *opt,
    struct index_dir_stats *ret_stats);

#endif
