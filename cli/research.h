/* What the research CLI's files share: the state of one invocation, the
 * command table's entry, and the helpers every command uses to parse its
 * arguments, talk to researchd and show the answer. */
#ifndef RESEARCHD_RESEARCH_H
#define RESEARCHD_RESEARCH_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "client.h"
#include "json.h"
#include "protocol.h"

#define CLI_TIMEOUT_MS (30 * 1000)	/* for one reply to a non-watch op */
#define CLI_TICK_MS 1000		/* how often the live watch line is redrawn */
#define CLI_DEFAULT_COLUMNS 80
/* Escaping at most quadruples a text, and every text comes from one reply
 * line, so this cap is only reached by a bug. */
#define CLI_MAX_TEXT (4 * (size_t)CLIENT_MAX_LINE + 64)

struct cli_cmd;

struct cli {
	char *socket_path;
	bool json;		/* --json: print the daemon's JSON */
	bool json_lines;	/* ... one compact message per line (streams) */
	bool help;		/* -h/--help seen anywhere */
	bool tty;		/* stdout is a terminal */
	bool live;		/* a live watch line is on stderr's terminal, unfinished */
	const struct cli_cmd *cmd;
	struct client *client;
	char **operands;	/* non-option arguments of the subcommand */
	int n_operands;
	struct buf esc;		/* scratch for escaping untrusted text */
};

/* Handlers return an EXIT_* code and print their own messages. */
struct cli_cmd {
	const char *name;
	const char *usage;	/* arguments, after "research NAME" */
	const char *summary;
	int (*handler)(struct cli *cli, int argc, char **argv);
};

/* output.c */
/* Untrusted text made safe for a terminal; valid until the next call. */
const char *cli_esc(struct cli *cli, const char *s);
/* The terminal's width, or CLI_DEFAULT_COLUMNS when stdout is not one. */
int cli_columns(struct cli *cli);
/* Print s cut to cols columns, ending in "..." when it was cut. */
void cli_put_fitted(const char *s, int cols);
void cli_put_fitted_to(FILE *f, const char *s, int cols);
void cli_print_json(struct cli *cli, const json_t *msg);
/* A scalar JSON value as text for a "key: value" line; NULL for containers. */
char *cli_scalar(struct cli *cli, const json_t *v);
/* "key: value" lines, nested objects flattened as "outer.inner". */
void cli_print_flat(struct cli *cli, const char *prefix, const json_t *v);
json_t *cli_unref(json_t *v);
/* A member of a reply object, NULL or 0 when missing or of another type. */
const char *cli_job_str(const json_t *job, const char *key);
int64_t cli_job_int(const json_t *job, const char *key);
/* Text on a terminal: keep its lines and tabs, escape other controls. */
void cli_put_terminal(struct cli *cli, const char *s, size_t len);
/* A label line, then text as cli_put_terminal shows it; nothing when empty. */
void cli_put_text(struct cli *cli, const char *label, const char *text);
/* A usage error on stderr with the command's usage; returns EXIT_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wipe the live watch line so an error does not land in the middle of it. */
void cli_clear_live(struct cli *cli);
/* A command-line argument quoted in a usage error, escaped and cut. */
const char *cli_arg(struct cli *cli, const char *s);
/* Talking to the daemon failed (-errno r); returns EXIT_UNREACHABLE. */
int cli_transport_error(struct cli *cli, int r);
int cli_malformed(struct cli *cli);
/* An "ok":false reply on stderr (and stdout for --json); EXIT_DAEMON_ERROR. */
int cli_daemon_error(struct cli *cli, const json_t *msg);

/* call.c: each returns an EXIT_* code, having reported any failure. */
int cli_connect(struct cli *cli);
int cli_send(struct cli *cli, const json_t *req, int64_t *ret_id);
/* One message for request id; EXIT_OK only for "ok":true. timeout_ms < 0
 * waits for ever; with quiet_timeout a timeout returns -ETIMEDOUT unreported. */
int cli_recv(struct cli *cli, int64_t id, int timeout_ms, bool quiet_timeout, json_t **ret);
/* One request, one reply within CLI_TIMEOUT_MS, or within timeout_ms. */
int cli_call(struct cli *cli, const json_t *req, json_t **ret);
int cli_call_wait(struct cli *cli, const json_t *req, int timeout_ms, json_t **ret);
/* cli_call_wait for a command that shows the reply: with --json it is
 * printed here and *ret stays NULL, for the caller to show it otherwise. */
int cli_call_show(struct cli *cli, const json_t *req, int timeout_ms, json_t **ret);
/* A list request: each message's `key` object appended to `into`. */
int cli_collect(struct cli *cli, const json_t *req, const char *key, json_t *into);

/* args.c: each returns an EXIT_* code, having reported a usage error. */
/* The next option of the command (-1 at the end, '?' after an error);
 * operands go to cli->operands. shortopts must start with "-:". */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
    const struct option *longopts);
/* A command without options: its operands collected, or a usage error. */
int cli_args_plain(struct cli *cli, int argc, char **argv);
/* A command whose one argument is a job id. */
int cli_args_job(struct cli *cli, int argc, char **argv, int64_t *ret_id);
/* An integer option's value in [min, max]; what is the option's long name,
 * without its dashes, for the usage error. */
int cli_parse_int(struct cli *cli, const char *what, const char *s, int64_t min, int64_t max,
    int64_t *ret);
int cli_parse_id(struct cli *cli, const char *s, int64_t *ret);
/* Exactly one operand, a job id. */
int cli_want_id(struct cli *cli, int64_t *ret);
int cli_want_none(struct cli *cli);
/* {"op":op, "job":id}. */
json_t *cli_job_request(const char *op, int64_t id);
/* A whole file, or stdin for "-", up to max bytes (-EFBIG past it). */
int cli_read_input(const char *path, size_t max, char **ret, size_t *ret_len);

/* watch.c: follow job id to its end; since < 0 starts at its first event.
 * quiet (submit --wait): no event lines on stdout, the outcome on stderr. */
int cli_watch(struct cli *cli, int64_t id, int64_t since, bool quiet);

/* The commands, one file per family. */
int cli_ask(struct cli *cli, int argc, char **argv);
int cli_cmd_submit(struct cli *cli, int argc, char **argv);
int cli_cmd_followup(struct cli *cli, int argc, char **argv);
int cli_cmd_list(struct cli *cli, int argc, char **argv);
int cli_cmd_status(struct cli *cli, int argc, char **argv);
int cli_cmd_job_op(struct cli *cli, int argc, char **argv);
int cli_cmd_finish(struct cli *cli, int argc, char **argv);
/* cmd-hitl.c */
int cli_cmd_answer(struct cli *cli, int argc, char **argv);
int cli_cmd_plan(struct cli *cli, int argc, char **argv);
int cli_cmd_approve(struct cli *cli, int argc, char **argv);
int cli_cmd_watch(struct cli *cli, int argc, char **argv);
int cli_cmd_report(struct cli *cli, int argc, char **argv);
int cli_cmd_extract(struct cli *cli, int argc, char **argv);
int cli_cmd_fetch(struct cli *cli, int argc, char **argv);
int cli_cmd_sources(struct cli *cli, int argc, char **argv);
int cli_cmd_index(struct cli *cli, int argc, char **argv);
int cli_cmd_search(struct cli *cli, int argc, char **argv);
int cli_cmd_llm(struct cli *cli, int argc, char **argv);
int cli_cmd_trace(struct cli *cli, int argc, char **argv);
int cli_cmd_sandbox(struct cli *cli, int argc, char **argv);
int cli_cmd_model(struct cli *cli, int argc, char **argv);
int cli_cmd_ping(struct cli *cli, int argc, char **argv);
int cli_cmd_doctor(struct cli *cli, int argc, char **argv);
int cli_cmd_stats(struct cli *cli, int argc, char **argv);

#endif
