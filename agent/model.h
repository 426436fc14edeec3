/* Where the daemon's model comes from: the configured [llm] url, a server
 * found by probing loopback ([llm] probe), or one the daemon runs itself
 * ([llm] serve: a GGUF file or a pulled model's name, under spawn's
 * supervision with threads, context and slots chosen from the machine). */
#ifndef RESEARCHD_MODEL_H
#define RESEARCHD_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct config;
struct daemon;
struct model;

#define MODEL_MAX_NAME 255
#define MODEL_WATCH_MS 2000	/* probing again while nothing answers */

/* What [llm] serve will run, chosen from the machine and the model. */
struct model_plan {
	int64_t threads;
	int64_t context;	/* total, over the slots */
	int64_t slots;
	int64_t trained_ctx;	/* from the GGUF header; 0 unknown */
	int64_t file_bytes;
	int64_t kv_bytes;	/* the KV cache at that context (estimate; 0 unknown) */
};

/* What the GGUF header says (the keys we plan with; 0 when absent). */
struct model_gguf {
	int64_t context_length, block_count, embedding_length, head_count, head_count_kv;
};

/* Read the header of a GGUF file. -EINVAL when it is not one (or is
 * damaged), -E2BIG past our caps. */
int model_gguf_read(const char *path, struct model_gguf *ret);

/* The directory [llm] serve = NAME looks in, the one `research model pull`
 * fills: root: STATE_DIR/models; others: $XDG_DATA_HOME/researchd/models or
 * ~/.local/share/researchd/models. New string. */
char *model_dir(const struct config *c);
/* [llm] serve's value as a file: an absolute path, or NAME or NAME.gguf in
 * model_dir(). On failure writes a sentence with the fix into err. */
int model_resolve(const struct config *c, char **ret_path, char *err, size_t errlen);
/* Threads, context and slots for a model of that header and size on a
 * machine with ncpu cores and mem_avail bytes free; the config's serve_*
 * keys win. -ENOMEM with a sentence when it cannot fit. */
int model_plan_make(const struct config *c, const struct model_gguf *g, int64_t file_bytes,
    int64_t ncpu, int64_t mem_avail, struct model_plan *ret, char *err, size_t errlen);

/* Make d->llm from the config (url, serve or probe) and, for serve, start
 * the engine as d->spawn. A model that cannot be served is reported (log,
 * model_status), not fatal. */
int model_new(struct daemon *d, struct model **ret);
struct model *model_free(struct model *m);
/* {"mode":"url"|"probe"|"serve", "probe":[...], "found":[...], "serve":{...},
 * "hint": "what to do"} for `research llm` and doctor. */
json_t *model_status(const struct model *m);
/* Can this process map memory writable and executable? A JIT engine (node)
 * needs it; systemd's MemoryDenyWriteExecute= forbids it. */
bool model_wx_allowed(void);

#endif
