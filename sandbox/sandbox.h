/* Running untrusted commands: the daemon's side of researchd-sandbox.
 * sandbox_run() spawns the helper on the loop, hands it the request and
 * parses its result; nothing blocks. The request/result format and what
 * the sandbox looks like from inside are in sandbox-proto.h. */
#ifndef RESEARCHD_SANDBOX_H
#define RESEARCHD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct sandbox_run;

struct sandbox_file {
	const char *path;	/* relative, [A-Za-z0-9._-] parts, not under out/ */
	const void *data;
	size_t len;
	bool exec;
};

/* 0 leaves a limit at the helper's default (sandbox-proto.h). */
struct sandbox_limits {
	int64_t cpu_s;		/* CPU seconds (RLIMIT_CPU) */
	int64_t wall_ms;	/* wall clock; the whole namespace is killed */
	int64_t memory;		/* bytes: RLIMIT_AS, and memory.max where the run has a cgroup */
	int64_t nproc;		/* processes and threads */
	int64_t fsize;		/* largest file written, bytes */
	int64_t nofile;		/* open files */
	int64_t stdout_max;	/* bytes kept of stdout; more kills the run */
	int64_t stderr_max;
	int64_t files_max;	/* bytes of out/ files brought back */
	int64_t files_count;
	int64_t disk;		/* size of the /work and /tmp tmpfs, bytes */
};

struct sandbox_request {
	const char *helper;		/* absolute path of researchd-sandbox */
	const char *const *argv;	/* NULL-terminated; argv[0] looked up in PATH */
	const char *const *env;		/* NULL-terminated "NAME=value"; NULL: default */
	const void *stdin_data;
	size_t stdin_len;
	const struct sandbox_file *files;
	size_t n_files;
	struct sandbox_limits limits;
};

enum sandbox_status {
	SANDBOX_EXITED,
	SANDBOX_SIGNALED,
	SANDBOX_KILLED,		/* by the sandbox, for a limit */
};

enum sandbox_limit {
	SANDBOX_LIMIT_NONE,
	SANDBOX_LIMIT_TIMEOUT,
	SANDBOX_LIMIT_CPU,
	SANDBOX_LIMIT_FSIZE,
	SANDBOX_LIMIT_OUTPUT,
	SANDBOX_LIMIT_FILES,
	SANDBOX_LIMIT_MEMORY,	/* the run's cgroup hit memory.max */
};

enum sandbox_error {
	SANDBOX_ERROR_NONE,
	SANDBOX_ERROR_REQUEST,		/* the request was refused */
	SANDBOX_ERROR_UNAVAILABLE,	/* no namespaces/seccomp here: nothing ran */
	SANDBOX_ERROR_INTERNAL,		/* the helper failed or misbehaved */
};

struct sandbox_out_file {
	char *path;		/* "out/..." */
	unsigned char *data;	/* NUL-terminated past len */
	size_t len;
};

struct sandbox_result {
	/* When the command ran (callback r == 0): */
	enum sandbox_status status;
	int exit_code;		/* SANDBOX_EXITED */
	int signal;		/* otherwise */
	enum sandbox_limit limit;
	int64_t wall_ms, cpu_ms, max_rss_kb;	/* max_rss_kb: memory.peak where a cgroup counted it */
	char *out;		/* NUL-terminated past out_len */
	size_t out_len;
	bool out_truncated;
	char *err;
	size_t err_len;
	bool err_truncated;
	struct sandbox_out_file *files;
	size_t n_files;
	bool files_truncated;
	/* When it did not (r < 0): a sentence, and its kind. */
	enum sandbox_error error_kind;
	char *error;
};

/* Called once, unless the run was cancelled: r == 0 when the command ran
 * (whatever its outcome), or a negative errno when it did not:
 * -EINVAL request refused, -EOPNOTSUPP sandboxing unavailable, -ETIMEDOUT
 * the helper itself hung, -EIO the helper failed. result is never NULL and
 * belongs to the callee (sandbox_result_free); on r < 0 only error and
 * error_kind are set. The run is freed after the callback returns. */
typedef void (*sandbox_done_fn)(struct sandbox_run *run, int r, struct sandbox_result *result,
    void *userdata);

/* Start a run; the request is copied. */
int sandbox_run(struct uv_loop_s *loop, const struct sandbox_request *req, sandbox_done_fn cb,
    void *userdata, struct sandbox_run **ret);
/* Kill the helper and the sandbox; the callback is not called. */
void sandbox_run_cancel(struct sandbox_run *run);
struct sandbox_result *sandbox_result_free(struct sandbox_result *r);

/* Parse a helper's result (the callback's job; public for the fuzz
 * harness): 0, or -EINVAL/-EOPNOTSUPP/-EIO for a well-formed error result
 * (res->error set), or -EBADMSG for anything malformed or over the limits.
 * res must be zeroed; free its fields with sandbox_result_free. */
int sandbox_result_parse(const char *text, size_t len, const struct sandbox_limits *limits,
    struct sandbox_result *res);

/* Text from a command, made fit for JSON and logs: invalid UTF-8 becomes
 * U+FFFD, NUL and C0 controls other than \t \n \f are dropped, \r\n
 * becomes \n. A new NUL-terminated string. */
char *sandbox_text_clean(const char *s, size_t len, size_t *ret_len);

/* "timeout", "cpu", ... or NULL for none. */
const char *sandbox_limit_to_string(enum sandbox_limit l);

#endif
