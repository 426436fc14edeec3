/* The code tool: a Python 3 computation run in the sandbox as the effect
 * kind "sandbox.python", so its request, inputs and result are stored
 * together and replayed, never run twice.
 *
 * Request (canonical JSON, the effect's key):
 *   {"code": "print(1+1)",
 *    "inputs": [{"name": "table.csv", "text": "a,b\n1,2\n"}],   optional
 *    "limits": {"cpu_s": N, "wall_ms": N, "memory": N}}        optional
 * code is at most CODE_MAX_CODE bytes; names are [A-Za-z0-9._-], 1..64
 * bytes, not dot-leading, not "main.py"; inputs are files beside the code in
 * the work dir (the code is main.py, run as "python3 -I -B main.py"); files
 * the code writes under out/ come back. Limits may only lower the
 * configured ones.
 *
 * Result: {"code", "inputs": [{"name", "bytes", "blake2b"}], "status",
 * "exit_code", "signal", "limit", "stdout", "stdout_truncated", "stderr",
 * "stderr_truncated", "files": [{"name", "bytes", "blake2b", "text" or
 * "base64"}], "files_truncated", "wall_ms", "cpu_ms", "max_rss_kb"}; or,
 * for a request the tool refuses, {"code", "error"}. Either is stored.
 * Sandboxing unavailable or a failed helper is a transient error (nothing
 * stored). */
#ifndef RESEARCHD_CODE_H
#define RESEARCHD_CODE_H

#include <jansson.h>

#include "sandbox.h"

struct effect_exec;

#define CODE_EFFECT_KIND "sandbox.python"
#define CODE_MAX_CODE (256 * 1024)
#define CODE_MAX_INPUTS 32
#define CODE_MAX_INPUT_BYTES (16 * 1024 * 1024)	/* all inputs together */

/* The executor's userdata: set from [sandbox] in the config. */
struct code_config {
	const char *helper;		/* absolute path of researchd-sandbox */
	const char *python;		/* NULL: "python3" from the sandbox's PATH */
	struct sandbox_limits limits;	/* ceilings; 0: the helper's default */
};

/* struct effect_kind's start and cancel for CODE_EFFECT_KIND. */
int code_exec_start(struct effect_exec *x, const json_t *request, void *userdata);
void code_exec_cancel(struct effect_exec *x, void *userdata);

#endif
