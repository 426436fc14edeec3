/* The daemon's side of provenance: its signing key in the state dir and
 * the signed manifest of each published report (common/manifest.h). */
#ifndef RESEARCHD_PROVENANCE_H
#define RESEARCHD_PROVENANCE_H

#include <jansson.h>
#include <stdint.h>

struct daemon;
struct sign_key;
struct store_job;

#define PROVENANCE_KEY_FILE "signing.key"

/* The key in state_dir, created on first use (0600). */
int provenance_key_open(const char *state_dir, struct sign_key **ret, int *ret_created);
/* Build, sign and store (report format "manifest") the manifest of job's
 * report: md and sidecar are the exact stored texts, data the sidecar's
 * data. */
/* With [llm] spawn: hash the model file its command names (after -m or
 * --model) on the thread pool; manifests name it once known. */
void provenance_model_start(struct daemon *d);
/* Stop hashing (shutdown): the work ends at its next chunk. */
void provenance_model_stop(void);
int provenance_publish(struct daemon *d, const struct store_job *job, const char *md,
    const char *sidecar, const json_t *data, int64_t now_ms);

#endif
