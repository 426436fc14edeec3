/* The "doc.text" effect: a fetched snapshot (or a document of the local
 * index) made text once. Extraction runs on the thread pool (PDFs in the
 * sandbox); the text is stored content-addressed and its passages indexed
 * for the job, so a job's index.query finds them and quotes are checked
 * against exactly that text. */
#ifndef RESEARCHD_DOC_TEXT_H
#define RESEARCHD_DOC_TEXT_H

#include <stddef.h>

#include "store.h"

struct effects;

#define DOC_TEXT_EFFECT_KIND	"doc.text"
/* Bytes of snapshot read when max_input is 0: extract's own cap. */
#define DOC_TEXT_DEFAULT_MAX_INPUT	(16u * 1024 * 1024)
/* Bytes of text doc_text_get reads at most, whatever max says: extract's
 * and pdf's output caps are below it. */
#define DOC_TEXT_MAX_TEXT		(64u * 1024 * 1024)

/* Kept by pointer: it must outlive the registration. */
struct doc_text_config {
	struct store *store;
	const char *sandbox_helper;	/* researchd-sandbox, for PDFs */
	size_t max_input;		/* bytes of a snapshot; 0: the default */
};

/* Register the executor. Request: {"hash": HEX, "content_type": str,
 * "url": str} for a snapshot in the source cache (content_type may be
 * null), or {"local": "file:///..."} for a document of the local index the
 * job's owner may see. Result: {"text_hash": HEX, "title": str, "bytes": N,
 * "passages": [[start, end], ...]}, or {"error": str} for a document that
 * has no text or cannot be read as one. A snapshot that is not in the cache
 * is an error of the request (-ENOENT), never stored. */
int doc_text_register(struct effects *e, const struct doc_text_config *c);

/* The text whose hash (hex) a doc.text result names: immutable, so a
 * planner may read it as a pure function of the result. NUL-terminated.
 * -EINVAL for a bad hash, -ENOENT, -EFBIG over max, -EBADMSG when corrupt. */
int doc_text_get(struct store *s, const char *text_hash_hex, size_t max, char **ret,
    size_t *ret_len);

/* Parse 64 hex digits (either case). -EINVAL otherwise. */
int doc_text_parse_hash(const char *hex, uint8_t out[HASH_BYTES]);

#endif
