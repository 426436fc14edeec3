/* The helper's core: run one command in fresh namespaces under seccomp,
 * rlimits and a wall-clock timeout, and collect what it left. Used only by
 * researchd-sandbox (sandbox-main.c); the daemon talks to the helper. */
#ifndef RESEARCHD_JAIL_H
#define RESEARCHD_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sandbox-proto.h"

struct jail_file {
	char *path;		/* relative to the work dir */
	unsigned char *data;
	size_t len;
	bool exec;
};

struct jail_limits {
#define JAIL_LIMIT_FIELD(name, def, min, max) int64_t name;
	SANDBOX_LIMITS(JAIL_LIMIT_FIELD)
#undef JAIL_LIMIT_FIELD
};

struct jail_spec {
	char **argv;		/* NULL-terminated */
	char **env;		/* NULL-terminated "NAME=value" */
	unsigned char *stdin_data;
	size_t stdin_len;
	struct jail_file *files;
	size_t n_files;
	struct jail_limits lim;
	bool no_as_limit;	/* --check of a sanitizer build only: ASan needs terabytes of address space */
};

enum jail_status {
	JAIL_EXITED,
	JAIL_SIGNALED,
	JAIL_KILLED,	/* by the helper: timeout or output cap */
};

struct jail_outcome {
	enum jail_status status;
	int exit_code;
	int signal;
	const char *limit;	/* NULL, "timeout", "cpu", "fsize", "output", "files", "memory" */
	bool cgroup;		/* the run had a cgroup of its own (cgroup.h) */
	int64_t wall_ms, cpu_ms, max_rss_kb;
	struct buf out, err;
	bool out_truncated, err_truncated;
	struct jail_file *files;
	size_t n_files;
	bool files_truncated;
};

enum jail_error {
	JAIL_ERR_INTERNAL = 1,
	JAIL_ERR_REQUEST = 2,
	JAIL_ERR_UNAVAILABLE = 3,
};

/* Run spec. 0 with *o filled (free with jail_outcome_free), or a negative
 * errno with a sentence in errmsg and *kind telling whether the machine
 * cannot sandbox at all. Nothing runs unless every isolation step worked. */
int jail_run(const struct jail_spec *spec, struct jail_outcome *o, char *errmsg, size_t errlen,
    enum jail_error *kind);
void jail_outcome_free(struct jail_outcome *o);

/* A relative path of parts [A-Za-z0-9._-]+, none "." / ".." / dot-leading. */
bool jail_path_valid(const char *path);

#endif
