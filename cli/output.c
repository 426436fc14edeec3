/* How the research CLI shows things: untrusted text made safe for a terminal,
 * lines fitted to its width, JSON and "key: value" output, and the three kinds
 * of error a command can end with (usage, transport, the daemon's answer). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "research.h"
#include "str.h"
#include "xmalloc.h"

/* Untrusted text made safe for a terminal; valid until the next call. */
const char *cli_esc(struct cli *cli, const char *s)
{
	buf_reset(&cli->esc);
	if (s == NULL)
		return "-";
	if (str_escape(&cli->esc, s, strlen(s)) < 0)
		return "(text too long to show)";
	return cli->esc.data ? cli->esc.data : "";
}

int cli_columns(struct cli *cli)
{
	struct winsize ws;

	if (cli->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return CLI_DEFAULT_COLUMNS;
}

/* How many bytes of s (valid UTF-8, already escaped) fit in cols terminal
 * columns. Without a UTF-8 locale every character counts as one column. */
static size_t cli_fit(const char *s, size_t cols, bool *ret_cut)
{
	size_t len = strlen(s), i = 0, used = 0, n;
	mbstate_t st;
	wchar_t wc;
	int w;

	memset(&st, 0, sizeof(st));
	while (i < len) {
		n = mbrtowc(&wc, s + i, len - i, &st);
		if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
			/* Step over the whole UTF-8 sequence so a cut never splits one. */
			n = 1;
			while (i + n < len && n < 4 && ((unsigned char)s[i + n] & 0xc0) == 0x80)
				n++;
			w = 1;
			memset(&st, 0, sizeof(st));
		} else {
			w = wcwidth(wc);
			if (w < 0)
				w = 1;
		}
		if (used + (size_t)w > cols) {
			*ret_cut = true;
			return i;
		}
		used += (size_t)w;
		i += n;
	}
	*ret_cut = false;
	return len;
}

/* Print s cut to cols columns, ending in "..." when it was cut. */
void cli_put_fitted_to(FILE *f, const char *s, int cols)
{
	size_t n;
	bool cut;

	if (cols < 4)
		cols = 4;
	n = cli_fit(s, (size_t)cols, &cut);
	if (!cut) {
		fputs(s, f);
		return;
	}
	n = cli_fit(s, (size_t)cols - 3, &cut);
	fprintf(f, "%.*s...", (int)n, s);
}

void cli_put_fitted(const char *s, int cols)
{
	cli_put_fitted_to(stdout, s, cols);
}

void cli_print_json(struct cli *cli, const json_t *msg)
{
	json_dumpf(msg, stdout, cli->json_lines ? JSON_COMPACT : JSON_INDENT(2));
	putchar('\n');
	/* Scripts reading a stream want each message as it comes. */
	if (cli->json_lines)
		fflush(stdout);
}

/* A scalar JSON value as text for a "key: value" line; NULL for containers. */
char *cli_scalar(struct cli *cli, const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return xstrdup("-");
	if (json_is_string(v))
		return xstrdup(cli_esc(cli, json_string_value(v)));
	if (json_is_object(v) || json_is_array(v))
		return NULL;
	/* Numbers and booleans; their JSON text is plain ASCII. */
	return json_compact(v);
}

/* "key: value" lines, nested objects flattened as "outer.inner". */
void cli_print_flat(struct cli *cli, const char *prefix, const json_t *v)
{
	_cleanup_free_ char *text = NULL;
	const char *key;
	json_t *child;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) {
			_cleanup_free_ char *name = NULL;

			name = prefix ? xasprintf("%s.%s", prefix, cli_esc(cli, key))
			    : xstrdup(cli_esc(cli, key));
			cli_print_flat(cli, name, child);
		}
		return;
	}
	text = cli_scalar(cli, v);
	if (text == NULL) /* an array: its JSON, made ASCII so it is inert */
		text = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
	printf("%s: %s\n", prefix ? prefix : "value", text ? text : "?");
}

json_t *cli_unref(json_t *v)
{
	json_decref(v);
	return NULL;
}

const char *cli_job_str(const json_t *job, const char *key)
{
	const char *s = NULL;

	if (json_get_string(job, key, &s) < 0)
		return NULL;
	return s;
}

int64_t cli_job_int(const json_t *job, const char *key)
{
	int64_t v = 0;

	(void)json_get_int(job, key, &v);
	return v;
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fputs("research: ", stderr);
	if (cli->cmd)
		fprintf(stderr, "%s: ", cli->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cli->cmd)
		fprintf(stderr, "usage: research %s%s%s\n", cli->cmd->name,
		    cli->cmd->usage[0] ? " " : "", cli->cmd->usage);
	else
		fputs("usage: research [--socket PATH] [--json] COMMAND [ARGS] | QUESTION...\n"
		    "Try 'research --help'.\n", stderr);
	return EXIT_USAGE;
}

/* Wipe the live watch line so an error does not land in the middle of it. */
void cli_clear_live(struct cli *cli)
{
	if (!cli->live)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	cli->live = false;
}

/* A command-line argument quoted in a usage error, cut so that a stray
 * paragraph does not flood the terminal; valid until the next call. */
const char *cli_arg(struct cli *cli, const char *s)
{
	bool cut;

	s = cli_esc(cli, s);
	(void)cli_fit(s, 40, &cut);
	if (cut && cli->esc.data != NULL) {
		cli->esc.len = cli_fit(s, 37, &cut);
		cli->esc.data[cli->esc.len] = '\0';
		buf_puts(&cli->esc, "...");
	}
	return cli->esc.data ? cli->esc.data : "";
}

/* Talking to the daemon failed: every case is exit 3. */
int cli_transport_error(struct cli *cli, int r)
{
	cli_clear_live(cli);
	switch (r) {
	case -ETIMEDOUT:
		fprintf(stderr, "research: no reply from researchd at %s within %d s\n",
		    cli->socket_path, CLI_TIMEOUT_MS / 1000);
		break;
	case -ECONNRESET:
		fprintf(stderr, "research: researchd at %s closed the connection before the reply ended\n",
		    cli->socket_path);
		break;
	case -EMSGSIZE:
		fprintf(stderr, "research: a reply from researchd is over %d MiB\n",
		    CLIENT_MAX_LINE / (1024 * 1024));
		break;
	case -EBADMSG:
		fputs("research: malformed reply from researchd (not a JSON object with \"ok\")\n", stderr);
		break;
	case -EPROTO:
		fputs("research: researchd answered a request we did not send (wrong id)\n", stderr);
		break;
	default:
		fprintf(stderr, "research: talking to researchd at %s: %s\n", cli->socket_path, strerror(-r));
	}
	return EXIT_UNREACHABLE;
}

int cli_malformed(struct cli *cli)
{
	return cli_transport_error(cli, -EBADMSG);
}

/* An "ok":false reply: "research: CODE: message" on stderr, and the reply
 * itself on stdout for --json. */
int cli_daemon_error(struct cli *cli, const json_t *msg)
{
	_cleanup_free_ char *code = NULL;
	const char *s = "?";
	json_t *err = NULL;

	cli_clear_live(cli);
	if (cli->json)
		cli_print_json(cli, msg);
	(void)json_get_object(msg, "error", &err);
	if (err != NULL)
		(void)json_get_string(err, "code", &s);
	code = xstrdup(cli_esc(cli, s));
	s = "(no message)";
	if (err != NULL)
		(void)json_get_string(err, "message", &s);
	fprintf(stderr, "research: %s: %s\n", code, cli_esc(cli, s));
	return EXIT_DAEMON_ERROR;
}

/* A report on a terminal: keep its lines and tabs, escape other controls. */
void cli_put_terminal(struct cli *cli, const char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		n = strcspn(s + i, "\n\t");
		if (n > len - i)
			n = len - i;
		buf_reset(&cli->esc);
		if (str_escape(&cli->esc, s + i, n) == 0 && cli->esc.data)
			fputs(cli->esc.data, stdout);
		i += n;
		if (i < len)
			putchar(s[i++]);
	}
}

/* Model text may hold anything: control characters are escaped, lines kept. */
void cli_put_text(struct cli *cli, const char *label, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return;
	printf("%s\n", label);
	cli_put_terminal(cli, text, strlen(text));
	if (text[strlen(text) - 1] != '\n')
		putchar('\n');
}
