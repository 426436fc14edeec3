/* The signed manifest of a published report (docs/PROTOCOL.md): building it
 * from a job and its report, signing it, and the checks `research verify`
 * makes, offline: signature, hashes of the parts, quotes at their offsets. */
#ifndef RESEARCHD_MANIFEST_H
#define RESEARCHD_MANIFEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "sign.h"

#define MANIFEST_VERSION 1
#define MANIFEST_MAX_BYTES (4 * 1024 * 1024)	/* of a manifest's text */

struct manifest_job {
	int64_t id;
	const char *question;
	const json_t *options;	/* as submitted; NULL: {} */
	/* The model file the daemon serves itself ([llm] spawn), or NULL:
	 * {"path", "blake2b", "bytes"}. */
	const json_t *served_model;
};

/* The unsigned manifest: version, job, models (from data's "model"), the
 * cited sources of data (cite > 0) with their text and snapshot hashes, the
 * BLAKE2b of the Markdown report and of the sidecar's exact bytes, created;
 * served_model when the job gives one.
 * -EINVAL when data is not a report's data. */
int manifest_build(const struct manifest_job *job, const json_t *data, const char *md,
    size_t md_len, const char *sidecar, size_t sidecar_len, int64_t created_ms, json_t **ret);
/* Set "key_id" and "signature" (hex Ed25519 over the canonical JSON of
 * everything else). */
void manifest_sign(json_t *m, const struct sign_key *k);
/* 0 when m is signed by pk; -EBADMSG when the signature does not match,
 * -EINVAL when m has no well-formed signature. A key carried in m is never
 * used. */
int manifest_check_signature(const json_t *m, const uint8_t pk[SIGN_PUBLIC_BYTES]);
/* 0 when the hex hash named field of m is that of p[0..n); -EBADMSG when it
 * is another, -EINVAL when the field is missing. */
int manifest_check_hash(const json_t *m, const char *field, const void *p, size_t n);
void manifest_hash_hex(const void *p, size_t n, char out[HASH_HEX_LEN + 1]);
/* Is quote what text[start, end) says, both normalised as the planner's
 * quote check does (NFKC, folded quotes and dashes, whitespace runs as one
 * space, trimmed)? 0; -ERANGE for offsets outside the text or not on
 * character boundaries; -EBADMSG when it says something else; -EINVAL for
 * invalid UTF-8. */
int manifest_quote_check(const char *text, size_t len, int64_t start, int64_t end,
    const char *quote);

#endif
