/* research(1): the command-line client of researchd. Owns the command table,
 * the global options, help and main; the commands are in cmd-*.c, how
 * replies are shown in output.c (see research.h). */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildconf.h"
#include "paths.h"
#include "research.h"
#include "str.h"
#include "verify.h"
#include "xmalloc.h"

static const struct cli_cmd *cli_cmd_find(const char *name);
static void cli_help(FILE *f);

static void cli_cmd_usage(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "usage: research %s%s%s\n  %s\n", cmd->name, cmd->usage[0] ? " " : "",
	    cmd->usage, cmd->summary);
}

static int cli_cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *cmd;
	int r;

	r = cli_args_plain(cli, argc, argv);
	if (r != EXIT_OK)
		return r;
	if (cli->n_operands == 0) {
		cli_help(stdout);
		return EXIT_OK;
	}
	cmd = cli_cmd_find(cli->operands[0]);
	if (cmd == NULL)
		return cli_usage_error(cli, "unknown command '%s'", cli_arg(cli, cli->operands[0]));
	cli_cmd_usage(stdout, cmd);
	return EXIT_OK;
}

static const struct cli_cmd cli_cmds[] = {
	{ "submit", "[--kind K] [--max-time DURATION] [--max-tokens N] [--max-fetches N] "
	    "[--depth N] [--breadth N] [--context N] [--language CODE] [--backends A,B] "
	    "[--interactive] [--review-plan] [--answer-timeout DURATION] [--no-verifier] "
	    "[--options JSON] [--wait] QUESTION...",
	    "queue a question and print its job id; --wait: then wait for its end, "
	    "exit 0 if it is done", cli_cmd_submit },
	{ "followup", "ID [SUBMIT OPTIONS] QUESTION...",
	    "queue a question that builds on done job ID: its sources and verified findings "
	    "first, then what is missing; prints the new job's id", cli_cmd_followup },
	{ "list", "[--state S] [--all] [--limit N]",
	    "list your jobs, oldest first", cli_cmd_list },
	{ "status", "ID", "show a job, and why it waits if it does", cli_cmd_status },
	{ "watch", "ID [--since N]",
	    "show a job's events and progress until it ends; exit 0 if it ended done", cli_cmd_watch },
	{ "report", "ID [-o FILE|DIR [--with-sources]] [--format markdown|json]",
	    "print a job's report, or write it to FILE, or with its sidecar and signed manifest "
	    "into DIR", cli_cmd_report },
	{ "verify", "[--pubkey KEY] [--offline] PATH | --events ID",
	    "check a report directory's signature, hashes and quotes, or a job's event log",
	    cli_cmd_verify },
	{ "cancel", "ID", "cancel a job", cli_cmd_job_op },
	{ "finish", "ID", "stop researching now and write the report from what the job has",
	    cli_cmd_finish },
	{ "answer", "ID [TEXT... | --skip]",
	    "show a waiting job's clarifying questions, answer them (one text each), or let it assume",
	    cli_cmd_answer },
	{ "plan", "ID", "print a job's plan as editable text (--json: as JSON)", cli_cmd_plan },
	{ "approve", "ID [--plan FILE]",
	    "let a job waiting for plan approval research, with the edited plan if given",
	    cli_cmd_approve },
	{ "pause", "ID", "pause a job", cli_cmd_job_op },
	{ "resume", "ID", "queue a paused job again", cli_cmd_job_op },
	{ "extract", "FILE|- [--base-url URL] [--content-type TYPE]",
	    "print a local page's main text (offline; --json adds its metadata)", cli_cmd_extract },
	{ "fetch", "URL", "fetch a page through researchd's cache and print its text", cli_cmd_fetch },
	{ "search", "[--max N] [--lang L] [--time day|week|month|year] QUERY...",
	    "search every configured backend at once and print the merged results", cli_cmd_search },
	{ "llm", "[--prompt TEXT [--schema FILE] [--max-tokens N] [--show-reasoning]]",
	    "show the model endpoints, or print one prompt's answer", cli_cmd_llm },
	{ "trace", "ID", "show a job's model calls: prompts, reasoning, answers, tokens", cli_cmd_trace },
	{ "sandbox", "[--limit NAME=N]... -- CMD [ARGS...] | --check",
	    "run a command in researchd-sandbox and show its limits and outcome, or try every way out",
	    cli_cmd_sandbox },
	{ "index", "DIR", "add your .html, .md and .txt files under DIR to the local index", cli_cmd_index },
	{ "sources", "[JOB] [--all] [--limit N]",
	    "list the pages your jobs (or one job) fetched", cli_cmd_sources },
	{ "model", "pull NAME [--sha256 HEX] [--timeout SECONDS] | list [--recommended] | rm NAME "
	    "[--dir DIR]", "fetch, list or remove GGUF models in your models directory (no daemon)",
	    cli_cmd_model },
	{ "ping", "", "check that researchd answers, and its version", cli_cmd_ping },
	{ "doctor", "", "check what a research job needs: daemon, model, search, sandbox, disk",
	    cli_cmd_doctor },
	{ "stats", "", "show researchd's figures", cli_cmd_stats },
	{ "help", "[COMMAND]", "show this help, or a command's usage", cli_cmd_help },
};

static const struct cli_cmd *cli_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

/* Edit distance (with transpositions) between two short words, or 99. */
static int cli_distance(const char *a, const char *b)
{
	int d[17][17];
	int la = (int)strlen(a), lb = (int)strlen(b);

	if (la > 16 || lb > 16)
		return 99;
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++) {
		for (int j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1], v = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* A lone lowercase word one typo away from a command is a mistyped command,
 * not a question: submitting it would start a job nobody asked for. */
static const struct cli_cmd *cli_cmd_guess(const char *word)
{
	size_t n = strlen(word);

	if (n < 3 || strspn(word, "abcdefghijklmnopqrstuvwxyz") != n)
		return NULL;
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		if (cli_distance(word, cli_cmds[i].name) <= 1)
			return &cli_cmds[i];
	return NULL;
}

static void cli_help(FILE *f)
{
	fputs("usage: research [--socket PATH] [--json] COMMAND [ARGS]\n"
	    "       research [--socket PATH] [--json] [SUBMIT OPTIONS] QUESTION...\n"
	    "\n"
	    "Asks researchd questions and manages its jobs. A QUESTION given without a\n"
	    "command is submitted (it takes submit's options) and watched to the end;\n"
	    "the job id goes to stderr. Start it with -- if its first word is a command.\n"
	    "\n"
	    "Commands:\n", f);
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %s%s%s\n      %s\n", cli_cmds[i].name, cli_cmds[i].usage[0] ? " " : "",
		    cli_cmds[i].usage, cli_cmds[i].summary);
	fputs("\n"
	    "Global options, before or after the command:\n"
	    "  --socket PATH  researchd's socket; default $RESEARCHD_SOCKET, else\n"
	    "                 $XDG_RUNTIME_DIR/researchd.sock if it exists, else\n"
	    "                 " PROTOCOL_DEFAULT_SOCKET "\n"
	    "  --json         print the daemon's replies as JSON: one document, or for\n"
	    "                 watch (and submit --wait) one message per line; list\n"
	    "                 gives {\"jobs\":[...]}\n"
	    "  -h, --help     show this help; after a command, that command's usage\n"
	    "  --version      show the version\n"
	    "\n"
	    "Exit status:\n"
	    "  0  success; for watch, submit --wait and a bare QUESTION, the job ended done\n"
	    "  1  researchd answered with an error (printed as \"research: CODE: message\"),\n"
	    "     the watched job failed or was cancelled, or output could not be written\n"
	    "  2  usage error: unknown command or option, bad or missing argument\n"
	    "  3  researchd unreachable: cannot connect, the connection was lost before\n"
	    "     the reply ended, or no reply within 30 s (watch waits for ever)\n", f);
}

/* Take the global options out wherever they are, before or after the
 * command; the rest keeps its order, with argv[0] in front. */
static int cli_parse_globals(struct cli *cli, int argc, char **argv, char ***ret_rest,
    int *ret_n, bool *ret_version, const char **ret_socket)
{
	char **rest = xcalloc((size_t)argc + 1, sizeof(char *));
	const char *socket = NULL;
	int n = 0, i;

	rest[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--json") == 0)
			cli->json = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			cli->help = true;
		else if (strcmp(a, "--version") == 0)
			*ret_version = true;
		else if (strcmp(a, "--socket") == 0) {
			if (i + 1 >= argc) {
				free(rest);
				return cli_usage_error(cli, "option '--socket' needs a value");
			}
			socket = argv[++i];
		} else if (str_startswith(a, "--socket="))
			socket = a + strlen("--socket=");
		else
			rest[n++] = argv[i];
	}
	while (i < argc)
		rest[n++] = argv[i++];
	if (socket != NULL && socket[0] == '\0') {
		free(rest);
		return cli_usage_error(cli, "option '--socket' needs a path");
	}
	*ret_rest = rest;
	*ret_n = n;
	*ret_socket = socket;
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	_cleanup_free_ char **rest = NULL;
	const char *socket = NULL, *env;
	const struct cli_cmd *guess;
	bool version = false;
	int nrest = 0, r;

	/* A daemon that goes away must give us EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	setlocale(LC_CTYPE, "");
	buf_init(&cli.esc, CLI_MAX_TEXT);
	cli.tty = isatty(STDOUT_FILENO);

	r = cli_parse_globals(&cli, argc, argv, &rest, &nrest, &version, &socket);
	if (r != EXIT_OK)
		goto done;
	if (version) {
		printf("research %s (protocol %d)\n", RESEARCHD_VERSION, PROTOCOL_VERSION);
		goto done;
	}
	if (nrest > 1)
		cli.cmd = cli_cmd_find(rest[1]);
	if (cli.help) {
		if (cli.cmd)
			cli_cmd_usage(stdout, cli.cmd);
		else
			cli_help(stdout);
		goto done;
	}
	if (nrest == 1) {
		r = cli_usage_error(&cli, "missing COMMAND or QUESTION");
		goto done;
	}

	env = secure_getenv("RESEARCHD_SOCKET");
	if (socket != NULL)
		cli.socket_path = xstrdup(socket);
	else if (env != NULL && env[0] != '\0')
		cli.socket_path = xstrdup(env);
	else
		cli.socket_path = paths_client_socket();

	if (cli.cmd != NULL)
		r = cli.cmd->handler(&cli, nrest - 1, rest + 1);
	else if (nrest == 2 && (guess = cli_cmd_guess(rest[1])) != NULL)
		r = cli_usage_error(&cli, "unknown command '%s' (did you mean '%s'? "
		    "To ask it as a question: research -- %s)", rest[1], guess->name, rest[1]);
	else
		r = cli_ask(&cli, nrest, rest);
done:
	if ((fflush(stdout) != 0 || ferror(stdout)) && r == EXIT_OK) {
		/* A reader that went away (| head) is not worth a message. */
		if (errno != EPIPE)
			fprintf(stderr, "research: writing to stdout: %s\n", strerror(errno));
		r = EXIT_DAEMON_ERROR;
	}
	cli.client = client_free(cli.client);
	free(cli.socket_path);
	free(cli.operands);
	buf_free(&cli.esc);
	return r;
}
