/* research(1): the command-line client of researchd. Owns the command line,
 * the subcommand table, and how replies are shown to people and scripts. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "buildconf.h"
#include "extract.h"
#include "index.h"
#include "buf.h"
#include "client.h"
#include "json.h"
#include "paths.h"
#include "protocol.h"
#include "str.h"
#include "xmalloc.h"

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
	bool live;		/* a live watch line is on the terminal, unfinished */
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

static const struct cli_cmd *cli_cmd_find(const char *name);
static void cli_help(FILE *f);

/* --- output helpers --- */

/* Untrusted text made safe for a terminal; valid until the next call. */
static const char *cli_esc(struct cli *cli, const char *s)
{
	buf_reset(&cli->esc);
	if (s == NULL)
		return "-";
	if (str_escape(&cli->esc, s, strlen(s)) < 0)
		return "(text too long to show)";
	return cli->esc.data ? cli->esc.data : "";
}

static int cli_columns(struct cli *cli)
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
static void cli_put_fitted(const char *s, int cols)
{
	size_t n;
	bool cut;

	if (cols < 4)
		cols = 4;
	n = cli_fit(s, (size_t)cols, &cut);
	if (!cut) {
		fputs(s, stdout);
		return;
	}
	n = cli_fit(s, (size_t)cols - 3, &cut);
	printf("%.*s...", (int)n, s);
}

static void cli_print_json(struct cli *cli, const json_t *msg)
{
	json_dumpf(msg, stdout, cli->json_lines ? JSON_COMPACT : JSON_INDENT(2));
	putchar('\n');
	/* Scripts reading a stream want each message as it comes. */
	if (cli->json_lines)
		fflush(stdout);
}

/* A scalar JSON value as text for a "key: value" line; NULL for containers. */
static char *cli_scalar(struct cli *cli, const json_t *v)
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
static void cli_print_flat(struct cli *cli, const char *prefix, const json_t *v)
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

static json_t *cli_unref(json_t *v)
{
	json_decref(v);
	return NULL;
}

static const char *cli_job_str(const json_t *job, const char *key)
{
	const char *s = NULL;

	if (json_get_string(job, key, &s) < 0)
		return NULL;
	return s;
}

static int64_t cli_job_int(const json_t *job, const char *key)
{
	int64_t v = 0;

	(void)json_get_int(job, key, &v);
	return v;
}

/* --- errors --- */

static int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cli_usage_error(struct cli *cli, const char *fmt, ...)
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
static void cli_clear_live(struct cli *cli)
{
	if (!cli->live)
		return;
	fputs("\r\033[K", stdout);
	fflush(stdout);
	cli->live = false;
}

/* A command-line argument quoted in a usage error, cut so that a stray
 * paragraph does not flood the terminal; valid until the next call. */
static const char *cli_arg(struct cli *cli, const char *s)
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
static int cli_transport_error(struct cli *cli, int r)
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

static int cli_malformed(struct cli *cli)
{
	return cli_transport_error(cli, -EBADMSG);
}

/* An "ok":false reply: "research: CODE: message" on stderr, and the reply
 * itself on stdout for --json. */
static int cli_daemon_error(struct cli *cli, const json_t *msg)
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

/* --- talking to the daemon --- */

static int cli_connect(struct cli *cli)
{
	int r;

	if (cli->client != NULL)
		return EXIT_OK;
	r = client_connect(cli->socket_path, CLI_TIMEOUT_MS, &cli->client);
	if (r < 0) {
		fprintf(stderr, "research: cannot connect to researchd at %s: %s%s\n",
		    cli->socket_path, strerror(-r),
		    r == -ENOENT || r == -ECONNREFUSED ? " (is researchd running?)" : "");
		return EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

static int cli_send(struct cli *cli, const json_t *req, int64_t *ret_id)
{
	int r;

	r = cli_connect(cli);
	if (r != EXIT_OK)
		return r;
	r = client_send(cli->client, req, CLI_TIMEOUT_MS, ret_id);
	if (r < 0)
		return cli_transport_error(cli, r);
	return EXIT_OK;
}

/* One message for request id. EXIT_OK only for "ok":true; an error reply is
 * reported here. timeout_ms < 0 waits for ever; -ETIMEDOUT is not reported
 * when quiet_timeout, so a caller can wake up to redraw. */
static int cli_recv(struct cli *cli, int64_t id, int timeout_ms, bool quiet_timeout, json_t **ret)
{
	json_t *msg = NULL;
	int r;

	r = client_read_reply(cli->client, id, timeout_ms, &msg);
	if (r == -ETIMEDOUT && quiet_timeout)
		return -ETIMEDOUT;
	if (r < 0)
		return cli_transport_error(cli, r);
	if (!json_is_true(json_object_get(msg, "ok"))) {
		r = cli_daemon_error(cli, msg);
		json_decref(msg);
		return r;
	}
	*ret = msg;
	return EXIT_OK;
}

/* One request, one reply. */
static int cli_call(struct cli *cli, const json_t *req, json_t **ret)
{
	int64_t id;
	int r;

	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	return cli_recv(cli, id, CLI_TIMEOUT_MS, false, ret);
}

/* --- argument parsing --- */

/* getopt_long in "-" mode, so options and operands mix in any order even
 * under POSIXLY_CORRECT; operands are collected in cli->operands. shortopts
 * must start with "-:". Returns the option, -1 at the end, or '?' after
 * reporting a usage error. */
static int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
    const struct option *longopts)
{
	int c;

	if (cli->operands == NULL)
		cli->operands = xcalloc((size_t)argc + 1, sizeof(char *));
	for (;;) {
		c = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (c == 1) {
			cli->operands[cli->n_operands++] = optarg;
			continue;
		}
		if (c == -1) {
			while (optind < argc)
				cli->operands[cli->n_operands++] = argv[optind++];
			return -1;
		}
		if (c == ':') {
			cli_usage_error(cli, "option '%s' needs a value", cli_arg(cli, argv[optind - 1]));
			return '?';
		}
		if (c == '?') {
			/* optopt names a short option; for a long one, the word is
			 * the clearer name (optopt may hold its value instead). */
			if (optopt > 0 && optopt < 128 && !str_startswith(argv[optind - 1], "--"))
				cli_usage_error(cli, "unknown option '-%c'", optopt);
			else
				cli_usage_error(cli, "bad option '%s'", cli_arg(cli, argv[optind - 1]));
			return '?';
		}
		return c;
	}
}

static void cli_getopt_reset(void)
{
	optind = 0;	/* glibc: 0 also resets its internal state */
	opterr = 0;
}

static int cli_parse_int(struct cli *cli, const char *what, const char *s, int64_t min, int64_t max,
    int64_t *ret)
{
	int r = str_to_int64(s, min, max, ret);

	if (r < 0 && max == INT64_MAX)
		return cli_usage_error(cli, "--%s: '%s' is not an integer of %lld or more",
		    what, cli_arg(cli, s), (long long)min);
	if (r < 0)
		return cli_usage_error(cli, "--%s: '%s' is not an integer from %lld to %lld",
		    what, cli_arg(cli, s), (long long)min, (long long)max);
	return EXIT_OK;
}

static int cli_parse_id(struct cli *cli, const char *s, int64_t *ret)
{
	if (str_to_int64(s, 1, INT64_MAX, ret) < 0)
		return cli_usage_error(cli, "'%s' is not a job id (a positive integer)", cli_arg(cli, s));
	return EXIT_OK;
}

/* For commands that take exactly one operand, a job ID. */
static int cli_want_id(struct cli *cli, int64_t *ret)
{
	if (cli->n_operands == 0)
		return cli_usage_error(cli, "missing job ID");
	if (cli->n_operands > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", cli_arg(cli, cli->operands[1]));
	return cli_parse_id(cli, cli->operands[0], ret);
}

static int cli_want_none(struct cli *cli)
{
	if (cli->n_operands > 0)
		return cli_usage_error(cli, "unexpected argument '%s'", cli_arg(cli, cli->operands[0]));
	return EXIT_OK;
}

/* Options and operands of submit, also used by the bare "research QUESTION". */
static int cli_parse_submit(struct cli *cli, int argc, char **argv, json_t **ret)
{
	enum { OPT_KIND = 256, OPT_MAX_TIME, OPT_MAX_TOKENS, OPT_MAX_FETCHES, OPT_DEPTH,
		OPT_BREADTH, OPT_OPTIONS };
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, OPT_KIND },
		{ "max-time", required_argument, NULL, OPT_MAX_TIME },
		{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
		{ "max-fetches", required_argument, NULL, OPT_MAX_FETCHES },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "breadth", required_argument, NULL, OPT_BREADTH },
		{ "options", required_argument, NULL, OPT_OPTIONS },
		{ 0 },
	};
	_cleanup_json_ json_t *options = json_object(), *flags = json_object(), *req = NULL;
	const char *kind = NULL, *key;
	struct buf question;
	int64_t v;
	int c, r = EXIT_OK;

	buf_init(&question, PROTOCOL_MAX_LINE);
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		json_error_t jerr;
		json_t *raw;

		switch (c) {
		case OPT_KIND:
			kind = optarg;
			continue;
		case OPT_OPTIONS:
			raw = json_loads(optarg, 0, &jerr);
			if (raw == NULL || !json_is_object(raw)) {
				json_decref(raw);
				r = cli_usage_error(cli, "--options: not a JSON object: %s",
				    raw == NULL ? jerr.text : "wrong type");
				goto done;
			}
			json_object_update(options, raw);
			json_decref(raw);
			continue;
		case OPT_MAX_TIME:
			if (str_to_seconds(optarg, INT64_MAX, &v) < 0 || v < 1) {
				r = cli_usage_error(cli, "--max-time: '%s' is not a duration "
				    "(seconds, or with s, m, h, d)", cli_arg(cli, optarg));
				goto done;
			}
			json_object_set_new(flags, "max_time", json_integer(v));
			continue;
		case OPT_MAX_TOKENS:
		case OPT_MAX_FETCHES:
		case OPT_DEPTH:
		case OPT_BREADTH:
			key = c == OPT_MAX_TOKENS ? "max_tokens" : c == OPT_MAX_FETCHES ? "max_fetches"
			    : c == OPT_DEPTH ? "max_depth" : "max_breadth";
			r = cli_parse_int(cli, longopts[c - OPT_KIND].name, optarg, 1, INT64_MAX, &v);
			if (r != EXIT_OK)
				goto done;
			json_object_set_new(flags, key, json_integer(v));
			continue;
		default:
			r = EXIT_USAGE;
			goto done;
		}
	}
	for (int i = 0; i < cli->n_operands; i++) {
		if ((i > 0 && buf_putc(&question, ' ') < 0) || buf_puts(&question, cli->operands[i]) < 0) {
			r = cli_usage_error(cli, "the question is over %d bytes", PROTOCOL_MAX_LINE);
			goto done;
		}
	}
	if (question.len == 0) {
		r = cli_usage_error(cli, "missing QUESTION");
		goto done;
	}
	/* Flags win over --options. */
	json_object_update(options, flags);

	req = json_pack("{s:s, s:s}", "op", "submit", "question", question.data);
	if (req == NULL) {
		r = cli_usage_error(cli, "the question is not valid UTF-8");
		goto done;
	}
	if (kind != NULL && json_object_set_new(req, "kind", json_string(kind)) < 0) {
		r = cli_usage_error(cli, "--kind: not valid UTF-8");
		goto done;
	}
	if (json_object_size(options) > 0)
		json_object_set(req, "options", options);
	*ret = req;
	req = NULL;
done:
	buf_free(&question);
	return r;
}

/* --- watch --- */

static int cli_parse_time(const char *s, int64_t *ret_ms)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL)
		return -EINVAL;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret_ms = (int64_t)t * 1000;
	return 0;
}

static void cli_format_duration(int64_t s, char out[static 32])
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, 32, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, 32, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, 32, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

/* Append "TYPE  DETAIL" for an event, with untrusted text escaped. */
static void cli_event_describe(struct cli *cli, const json_t *ev, struct buf *out)
{
	const char *type = "?", *key;
	json_t *data = NULL, *v;
	bool replayed = false;
	int64_t n;

	(void)json_get_string(ev, "type", &type);
	(void)json_get_object(ev, "data", &data);
	buf_printf(out, "%s ", cli_esc(cli, type));

	if (data == NULL)
		return;
	if (strcmp(type, "state") == 0) {
		buf_printf(out, " %s", cli_esc(cli, cli_job_str(data, "from")));
		buf_printf(out, " -> %s", cli_esc(cli, cli_job_str(data, "to")));
		if (cli_job_str(data, "reason") != NULL)
			buf_printf(out, " (%s)", cli_esc(cli, cli_job_str(data, "reason")));
		return;
	}
	if (strcmp(type, "effect") == 0) {
		buf_printf(out, " %s", cli_esc(cli, cli_job_str(data, "kind")));
		buf_printf(out, " %s", cli_esc(cli, cli_job_str(data, "key")));
		if (json_get_int(data, "ms", &n) == 0)
			buf_printf(out, " %lld ms", (long long)n);
		if (json_get_bool(data, "replayed", &replayed) == 0 && replayed)
			buf_puts(out, " (replayed)");
		return;
	}
	if (strcmp(type, "log") == 0) {
		buf_printf(out, " %s:", cli_esc(cli, cli_job_str(data, "level")));
		buf_printf(out, " %s", cli_esc(cli, cli_job_str(data, "message")));
		return;
	}
	/* submitted, report, and types newer than this client: key=value. */
	json_object_foreach(data, key, v) {
		_cleanup_free_ char *text = cli_scalar(cli, v);

		if (text == NULL)
			text = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
		buf_printf(out, " %s=", cli_esc(cli, key));
		buf_puts(out, text ? text : "?");
	}
}

struct cli_watch {
	int64_t job_id;
	char state[32];
	int64_t start_ms;	/* when the job started, or was created; 0 if unknown */
	int64_t events;		/* highest seq seen */
	struct buf last;	/* the last event, described */
};

static void cli_watch_set_state(struct cli_watch *w, const char *state)
{
	if (state != NULL)
		snprintf(w->state, sizeof(w->state), "%s", state);
}

static void cli_watch_draw(struct cli *cli, struct cli_watch *w)
{
	_cleanup_free_ char *line = NULL;
	char elapsed[32] = "-";

	if (w->start_ms > 0)
		cli_format_duration((time_now_ms() - w->start_ms) / 1000, elapsed);
	line = xasprintf("job %lld  %s  %s  %lld events  %s", (long long)w->job_id,
	    cli_esc(cli, w->state), elapsed, (long long)w->events,
	    w->last.data ? w->last.data : "");
	/* One column short of the width, so the terminal never wraps the line. */
	fputs("\r\033[K", stdout);
	cli_put_fitted(line, cli_columns(cli) - 1);
	fflush(stdout);
}

static void cli_watch_event(struct cli *cli, struct cli_watch *w, const json_t *ev)
{
	const char *time = NULL, *type = NULL;
	json_t *data = NULL;
	int64_t seq;

	if (json_get_int(ev, "seq", &seq) == 0 && seq > w->events)
		w->events = seq;
	if (json_get_string(ev, "type", &type) == 0 && strcmp(type, "state") == 0 &&
	    json_get_object(ev, "data", &data) == 0)
		cli_watch_set_state(w, cli_job_str(data, "to"));
	buf_reset(&w->last);
	cli_event_describe(cli, ev, &w->last);
	if (cli->live) {
		cli_watch_draw(cli, w);
		return;
	}
	(void)json_get_string(ev, "time", &time);
	printf("%s  %s\n", cli_esc(cli, time), w->last.data ? w->last.data : "");
	fflush(stdout);
}

/* The line after the stream; the exit status is the job's outcome. */
static int cli_watch_end(struct cli *cli, struct cli_watch *w, const json_t *job)
{
	const char *state = cli_job_str(job, "state"), *message = cli_job_str(job, "message");
	enum job_state s;

	if (state == NULL)
		return cli_malformed(cli);
	cli_clear_live(cli);
	printf("job %lld %s", (long long)w->job_id, cli_esc(cli, state));
	if (message != NULL)
		printf(": %s", cli_esc(cli, message));
	if (job_state_from_string(state, &s) < 0 || !job_state_is_final(s))
		fputs(" (the watch ended before the job did)", stdout);
	putchar('\n');
	return strcmp(state, "done") == 0 ? EXIT_OK : EXIT_DAEMON_ERROR;
}

/* Ctrl-C during a live watch: end the status line first, so the shell's
 * prompt does not land in the middle of it, then die of the signal. */
static void cli_watch_sigint(int sig)
{
	static const char nl[] = "\n";

	(void)!write(STDOUT_FILENO, nl, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Follow job id to its end. since < 0: from the first event. */
static int cli_watch(struct cli *cli, int64_t id, int64_t since)
{
	_cleanup_json_ json_t *req = NULL;
	struct cli_watch w = { .job_id = id };
	json_t *msg = NULL, *job = NULL, *ev;
	int64_t rid;
	int r;

	buf_init(&w.last, CLI_MAX_TEXT);
	cli->json_lines = cli->json;
	snprintf(w.state, sizeof(w.state), "?");
	if (cli->tty && !cli->json) {
		/* The live line shows the state and elapsed time from the start,
		 * even when the history holds nothing recent. */
		req = json_pack("{s:s, s:I}", "op", "status", "job", (json_int_t)id);
		r = cli_call(cli, req, &msg);
		if (r != EXIT_OK)
			goto done;
		if (json_get_object(msg, "job", &job) == 0) {
			cli_watch_set_state(&w, cli_job_str(job, "state"));
			w.events = cli_job_int(job, "events");
			if (cli_parse_time(cli_job_str(job, "started"), &w.start_ms) < 0)
				(void)cli_parse_time(cli_job_str(job, "created"), &w.start_ms);
		}
		msg = cli_unref(msg);
		json_decref(req);
	}

	req = json_pack("{s:s, s:I, s:b}", "op", "watch", "job", (json_int_t)id, "follow", 1);
	if (since >= 0)
		json_object_set_new(req, "since", json_integer(since));
	r = cli_send(cli, req, &rid);
	if (r != EXIT_OK)
		goto done;
	if (cli->tty && !cli->json) {
		cli->live = true;
		signal(SIGINT, cli_watch_sigint);
		cli_watch_draw(cli, &w);
	}

	for (;;) {
		r = cli_recv(cli, rid, cli->live ? CLI_TICK_MS : -1, true, &msg);
		if (r == -ETIMEDOUT) {
			cli_watch_draw(cli, &w);
			continue;
		}
		if (r != EXIT_OK)
			break;
		if (cli->json)
			cli_print_json(cli, msg);
		if (json_is_true(json_object_get(msg, "end"))) {
			if (json_get_object(msg, "job", &job) < 0) {
				r = cli_malformed(cli);
				break;
			}
			if (cli->json) {
				const char *state = cli_job_str(job, "state");
				r = state && strcmp(state, "done") == 0 ? EXIT_OK : EXIT_DAEMON_ERROR;
			} else
				r = cli_watch_end(cli, &w, job);
			break;
		}
		/* Items other than events may come with newer daemons; skip them. */
		ev = json_object_get(msg, "event");
		if (!cli->json && json_is_object(ev))
			cli_watch_event(cli, &w, ev);
		/* A closed pipe: nobody is reading any more. */
		if (ferror(stdout)) {
			r = EXIT_DAEMON_ERROR;
			break;
		}
		msg = cli_unref(msg);
	}
	cli_clear_live(cli);
done:
	json_decref(msg);
	buf_free(&w.last);
	return r;
}

/* --- subcommands --- */

static const struct option cli_no_options[] = { { 0 } };

static int cli_cmd_submit(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	json_t *job = NULL;
	int r;

	r = cli_parse_submit(cli, argc, argv, &req);
	if (r != EXIT_OK)
		return r;
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	if (json_get_object(reply, "job", &job) < 0 || cli_job_int(job, "id") <= 0)
		return cli_malformed(cli);
	printf("%lld\n", (long long)cli_job_int(job, "id"));
	return EXIT_OK;
}

/* "research QUESTION...": submit, then watch on the same connection. */
static int cli_ask(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	json_t *job = NULL;
	int64_t id;
	int r;

	r = cli_parse_submit(cli, argc, argv, &req);
	if (r != EXIT_OK)
		return r;
	cli->json_lines = cli->json;
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (json_get_object(reply, "job", &job) < 0 || (id = cli_job_int(job, "id")) <= 0)
		return cli_malformed(cli);
	if (cli->json)
		cli_print_json(cli, reply);
	fprintf(stderr, "job %lld submitted\n", (long long)id);
	return cli_watch(cli, id, -1);
}

static void cli_list_print(struct cli *cli, const json_t *jobs)
{
	int idw = 2, statew = 5, cols;
	char num[32];
	json_t *job;
	size_t i;

	json_array_foreach(jobs, i, job) {
		int n = snprintf(num, sizeof(num), "%lld", (long long)cli_job_int(job, "id"));
		int m = (int)strlen(cli_esc(cli, cli_job_str(job, "state")));

		idw = n > idw ? n : idw;
		statew = m > statew ? m : statew;
	}
	printf("%*s  %-*s  %-20s  %s\n", idw, "ID", statew, "STATE", "CREATED", "QUESTION");
	cols = cli_columns(cli) - (idw + 2 + statew + 2 + 20 + 2);
	if (cols < 10)
		cols = 10;
	json_array_foreach(jobs, i, job) {
		printf("%*lld  ", idw, (long long)cli_job_int(job, "id"));
		printf("%-*s  ", statew, cli_esc(cli, cli_job_str(job, "state")));
		printf("%-20s  ", cli_esc(cli, cli_job_str(job, "created")));
		cli_put_fitted(cli_esc(cli, cli_job_str(job, "question")), cols);
		putchar('\n');
	}
}

/* A list request: send it, then gather each message's `key` object into
 * `into` until the end marker. */
static int cli_collect(struct cli *cli, const json_t *req, const char *key, json_t *into)
{
	json_t *msg = NULL, *item;
	int64_t id;
	int r;

	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	for (;;) {
		r = cli_recv(cli, id, CLI_TIMEOUT_MS, false, &msg);
		if (r != EXIT_OK)
			return r;
		if (json_is_true(json_object_get(msg, "end")))
			break;
		item = json_object_get(msg, key);
		/* More items than any limit allows: a daemon that never stops. */
		if (!json_is_object(item) || json_array_size(into) >= PROTOCOL_MAX_LIST) {
			msg = cli_unref(msg);
			return cli_malformed(cli);
		}
		json_array_append(into, item);
		msg = cli_unref(msg);
	}
	msg = cli_unref(msg);
	return EXIT_OK;
}

static int cli_cmd_list(struct cli *cli, int argc, char **argv)
{
	enum { OPT_STATE = 256, OPT_ALL, OPT_LIMIT };
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, OPT_STATE },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "list"), *jobs = json_array();
	enum job_state state;
	int64_t limit;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case OPT_STATE:
			if (job_state_from_string(optarg, &state) < 0)
				return cli_usage_error(cli, "--state: '%s' is not one of queued, "
				    "running, paused, done, failed, cancelled", cli_arg(cli, optarg));
			json_object_set_new(req, "state", json_string(optarg));
			break;
		case OPT_ALL:
			json_object_set_new(req, "all", json_true());
			break;
		case OPT_LIMIT:
			r = cli_parse_int(cli, "limit", optarg, 1, PROTOCOL_MAX_LIST, &limit);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "limit", json_integer(limit));
			break;
		default:
			return EXIT_USAGE;
		}
	}
	r = cli_want_none(cli);
	if (r != EXIT_OK)
		return r;

	r = cli_collect(cli, req, "job", jobs);
	if (r != EXIT_OK)
		return r;

	if (cli->json) {
		_cleanup_json_ json_t *doc = json_pack("{s:O}", "jobs", jobs);
		cli_print_json(cli, doc);
	} else
		cli_list_print(cli, jobs);
	return EXIT_OK;
}

/* For status, cancel, pause, resume: {"op":NAME,"job":ID} and its reply. */
static int cli_job_call(struct cli *cli, int argc, char **argv, json_t **ret_reply, json_t **ret_job)
{
	_cleanup_json_ json_t *req = NULL;
	json_t *reply = NULL, *job = NULL;
	int64_t id;
	int r;

	cli_getopt_reset();
	/* With no options to know, the only answers are the end or an error. */
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
	r = cli_want_id(cli, &id);
	if (r != EXIT_OK)
		return r;
	req = json_pack("{s:s, s:I}", "op", cli->cmd->name, "job", (json_int_t)id);
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (json_get_object(reply, "job", &job) < 0) {
		json_decref(reply);
		return cli_malformed(cli);
	}
	*ret_reply = reply;
	*ret_job = job;
	return EXIT_OK;
}

static int cli_cmd_status(struct cli *cli, int argc, char **argv)
{
	static const char *const keys[] = { "id", "state", "kind", "question", "owner",
		"created", "started", "finished", "message", "events" };
	_cleanup_json_ json_t *reply = NULL;
	json_t *job = NULL, *obj = NULL;
	int r;

	r = cli_job_call(cli, argc, argv, &reply, &job);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		_cleanup_free_ char *text = cli_scalar(cli, json_object_get(job, keys[i]));
		printf("%s: %s\n", keys[i], text ? text : "?");
	}
	if (json_get_object(job, "options", &obj) == 0)
		cli_print_flat(cli, "options", obj);
	if (json_get_object(job, "usage", &obj) == 0)
		cli_print_flat(cli, "usage", obj);
	return EXIT_OK;
}

/* cancel, pause and resume differ only in the op's name. */
static int cli_cmd_job_op(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	json_t *job = NULL;
	int r;

	r = cli_job_call(cli, argc, argv, &reply, &job);
	if (r != EXIT_OK)
		return r;
	if (cli->json)
		cli_print_json(cli, reply);
	else
		printf("job %lld %s\n", (long long)cli_job_int(job, "id"),
		    cli_esc(cli, cli_job_str(job, "state")));
	return EXIT_OK;
}

static int cli_cmd_watch(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ 0 },
	};
	int64_t id, since = -1;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		if (c != 's')
			return EXIT_USAGE;
		r = cli_parse_int(cli, "since", optarg, 0, INT64_MAX, &since);
		if (r != EXIT_OK)
			return r;
	}
	r = cli_want_id(cli, &id);
	if (r != EXIT_OK)
		return r;
	return cli_watch(cli, id, since);
}

/* Write data to path through a temporary file in the same directory and a
 * rename, so a reader never sees half a report. */
static int cli_write_atomic(const char *path, const char *data, size_t len)
{
	_cleanup_free_ char *dir = NULL, *tmp = NULL;
	const char *slash = strrchr(path, '/'), *base;
	ssize_t n;
	int fd, r = 0;

	base = slash ? slash + 1 : path;
	if (*base == '\0')
		return -EISDIR;
	dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		data += n;
		len -= (size_t)n;
	}
	/* mkostemp makes the file 0600; a report is meant to be shared. */
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r < 0 || rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

/* A report on a terminal: keep its lines and tabs, escape other controls. */
static void cli_put_terminal(struct cli *cli, const char *s, size_t len)
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

static int cli_cmd_report(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *dumped = NULL;
	const char *out = NULL, *format = NULL, *body;
	json_t *report = NULL, *jbody;
	size_t len;
	int64_t id;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:o:", longopts)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "markdown") != 0 && strcmp(optarg, "json") != 0)
				return cli_usage_error(cli, "--format: '%s' is not markdown or json", cli_arg(cli, optarg));
			format = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	r = cli_want_id(cli, &id);
	if (r != EXIT_OK)
		return r;
	req = json_pack("{s:s, s:I}", "op", "report", "job", (json_int_t)id);
	if (format != NULL)
		json_object_set_new(req, "format", json_string(format));
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (json_get_object(reply, "report", &report) < 0)
		return cli_malformed(cli);
	jbody = json_object_get(report, "body");
	if (json_is_string(jbody)) {
		body = json_string_value(jbody);
		len = json_string_length(jbody);
	} else if (jbody != NULL) {
		/* The protocol sends a string; show a decoded document as one too. */
		dumped = json_dumps(jbody, JSON_INDENT(2) | JSON_ENCODE_ANY);
		body = dumped ? dumped : "";
		len = strlen(body);
	} else
		return cli_malformed(cli);

	if (out != NULL) {
		r = cli_write_atomic(out, body, len);
		if (r < 0) {
			fprintf(stderr, "research: writing %s: %s\n", out, strerror(-r));
			return EXIT_DAEMON_ERROR;
		}
	}
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	if (out != NULL)
		return EXIT_OK;
	if (cli->tty)
		cli_put_terminal(cli, body, len);
	else
		fwrite(body, 1, len, stdout);
	if (len > 0 && body[len - 1] != '\n')
		putchar('\n');
	return EXIT_OK;
}

/* Read a whole file, or stdin for "-", up to max bytes. */
static int cli_read_input(const char *path, size_t max, char **ret, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;
	int r = 0;

	if (f == NULL)
		return -errno;
	buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		r = buf_append(&b, chunk, n);
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	if (f != stdin)
		fclose(f);
	if (r < 0) {
		buf_free(&b);
		return r == -ENOBUFS ? -EFBIG : r;
	}
	*ret_len = b.len;
	*ret = buf_steal(&b);
	return 0;
}

static json_t *cli_json_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Offline: no daemon is involved, so a page can be checked by hand. */
static int cli_cmd_extract(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "base-url", required_argument, NULL, 'b' },
		{ "content-type", required_argument, NULL, 't' },
		{ 0 },
	};
	static const char *const kinds[] = { "html", "text", "markdown", "json" };
	struct extract_options opt = { .content_type = NULL };
	struct extract_result *res = NULL;
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'b':
			opt.base_url = optarg;
			break;
		case 't':
			opt.content_type = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "extract takes one FILE (or - for standard input)");
	r = cli_read_input(cli->operands[0], EXTRACT_DEFAULT_MAX_INPUT, &body, &len);
	if (r < 0) {
		fprintf(stderr, "research: %s: %s\n", cli_esc(cli, cli->operands[0]),
		    r == -EFBIG ? "larger than the extractor accepts (16 MiB)" : strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	if (opt.content_type == NULL && (str_endswith(cli->operands[0], ".md") ||
	    str_endswith(cli->operands[0], ".markdown")))
		opt.content_type = "text/markdown";
	else if (opt.content_type == NULL && str_endswith(cli->operands[0], ".txt"))
		opt.content_type = "text/plain";
	r = extract_html(body, len, &opt, &res);
	if (r < 0) {
		fprintf(stderr, "research: %s: %s\n", cli_esc(cli, cli->operands[0]),
		    r == -EFBIG ? "the page or its text is over the extractor's caps" :
		    r == -EMEDIUMTYPE ? "not HTML, text, Markdown or JSON" :
		    r == -EINVAL ? "not text (binary data, or markup the extractor refuses)" :
		    strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	if (cli->json) {
		json_t *o = json_object(), *links = json_array();

		json_object_set_new(o, "kind", json_string(kinds[res->kind]));
		json_object_set_new(o, "title", cli_json_str(res->title));
		json_object_set_new(o, "canonical_url", cli_json_str(res->canonical_url));
		json_object_set_new(o, "author", cli_json_str(res->author));
		json_object_set_new(o, "published", cli_json_str(res->published));
		json_object_set_new(o, "lang", cli_json_str(res->lang));
		json_object_set_new(o, "charset", cli_json_str(res->charset));
		for (size_t i = 0; i < res->n_links; i++)
			json_array_append_new(links, json_pack("{s:s, s:s}", "url", res->links[i].url,
			    "text", res->links[i].text ? res->links[i].text : ""));
		json_object_set_new(o, "links", links);
		json_object_set_new(o, "links_truncated", json_boolean(res->links_truncated));
		json_object_set_new(o, "text", json_stringn(res->text, res->text_len));
		cli_print_json(cli, o);
		json_decref(o);
	} else {
		if (cli->tty)
			cli_put_terminal(cli, res->text, res->text_len);
		else
			fwrite(res->text, 1, res->text_len, stdout);
		if (res->text_len > 0 && res->text[res->text_len - 1] != '\n')
			putchar('\n');
	}
	extract_result_free(res);
	return EXIT_OK;
}

/* A fetch waits on politeness delays, robots.txt and the page itself. */
#define CLI_FETCH_TIMEOUT_MS (180 * 1000)

static int cli_cmd_fetch(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	json_t *src, *page;
	const char *text = NULL;
	int64_t id;
	int r;

	cli_getopt_reset();
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "fetch takes one URL");
	req = json_pack("{s:s, s:s}", "op", "fetch", "url", cli->operands[0]);
	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	r = cli_recv(cli, id, CLI_FETCH_TIMEOUT_MS, false, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	if (json_get_object(reply, "source", &src) < 0)
		return cli_malformed(cli);
	page = json_object_get(reply, "page");
	printf("url: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "url"))));
	if (json_is_string(json_object_get(src, "final_url")))
		printf("final_url: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "final_url"))));
	printf("status: %lld\n", (long long)json_integer_value(json_object_get(src, "status")));
	if (json_is_string(json_object_get(src, "content_type")))
		printf("content_type: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "content_type"))));
	printf("from_cache: %s\n", json_is_true(json_object_get(src, "from_cache")) ? "yes" : "no");
	if (json_is_string(json_object_get(src, "error"))) {
		printf("error: %s\n", cli_esc(cli, json_string_value(json_object_get(src, "error"))));
		return EXIT_DAEMON_ERROR;
	}
	if (json_is_object(page)) {
		static const char *const keys[] = { "title", "author", "published", "lang", "canonical_url" };

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_is_string(json_object_get(page, keys[i])))
				printf("%s: %s\n", keys[i], cli_esc(cli, json_string_value(json_object_get(page, keys[i]))));
		json_get_string(page, "text", &text);
	} else if (json_is_string(json_object_get(reply, "page_error")))
		printf("page_error: %s\n", cli_esc(cli, json_string_value(json_object_get(reply, "page_error"))));
	putchar('\n');
	if (text != NULL) {
		size_t len = strlen(text);

		cli_put_terminal(cli, text, len);
		if (len > 0 && text[len - 1] != '\n')
			putchar('\n');
	}
	return EXIT_OK;
}

static int cli_cmd_sources(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "sources"), *list = json_array();
	int64_t n;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'a':
			json_object_set_new(req, "all", json_true());
			break;
		case 'n':
			r = cli_parse_int(cli, "--limit", optarg, 1, PROTOCOL_MAX_LIST, &n);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "limit", json_integer(n));
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands > 1)
		return cli_usage_error(cli, "sources takes at most one job ID");
	if (cli->n_operands == 1) {
		r = cli_parse_id(cli, cli->operands[0], &n);
		if (r != EXIT_OK)
			return r;
		json_object_set_new(req, "job", json_integer(n));
	}
	r = cli_collect(cli, req, "source", list);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		_cleanup_json_ json_t *doc = json_pack("{s:O}", "sources", list);
		cli_print_json(cli, doc);
		return EXIT_OK;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *s = json_array_get(list, i);

		/* cli_esc's buffer holds one text at a time: one per printf. */
		printf("%-4lld %3lld  %s", (long long)json_integer_value(json_object_get(s, "job")),
		    (long long)json_integer_value(json_object_get(s, "status")),
		    cli_esc(cli, json_string_value(json_object_get(s, "url"))));
		if (json_is_string(json_object_get(s, "error")))
			printf("  error: %s", cli_esc(cli, json_string_value(json_object_get(s, "error"))));
		putchar('\n');
	}
	return EXIT_OK;
}

/* `research index DIR`: the walk runs here, with the user's permissions;
 * each document goes to the daemon as one index_add request. */
struct cli_index {
	struct cli *cli;
	int failed;
};

/* A document's JSON must fit in one request line, with room for the rest. */
#define CLI_INDEX_MAX_TEXT (PROTOCOL_MAX_LINE - 64 * 1024)

static int cli_index_sink(const char *key, const char *title, const char *text, size_t len,
    size_t *ret_passages, bool *ret_unchanged, void *userdata)
{
	struct cli_index *ix = userdata;
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	int r;

	if (len > CLI_INDEX_MAX_TEXT)
		return -E2BIG;
	req = json_pack("{s:s, s:s, s:s, s:s%}", "op", "index_add", "key", key, "title", title,
	    "text", text, len);
	if (req == NULL)
		return -EINVAL;
	{
		/* Escaping can grow the text past the line limit: measure. */
		_cleanup_free_ char *line = json_dumps(req, JSON_COMPACT);

		if (line == NULL || strlen(line) > PROTOCOL_MAX_LINE)
			return -E2BIG;
	}
	r = cli_call(ix->cli, req, &reply);
	if (r == EXIT_UNREACHABLE)
		return -ECONNRESET;
	if (r != EXIT_OK)
		return -EINVAL;
	*ret_passages = (size_t)json_integer_value(json_object_get(reply, "passages"));
	*ret_unchanged = json_is_true(json_object_get(reply, "unchanged"));
	return 0;
}

static void cli_index_report(const char *relpath, enum index_file_status status, int error,
    size_t passages, void *userdata)
{
	struct cli_index *ix = userdata;
	struct cli *cli = ix->cli;
	json_t *o;

	if (status == INDEX_FILE_FAILED)
		ix->failed++;
	if (cli->json) {
		static const char *const names[] = { "added", "unchanged", "too_big", "binary", "failed" };

		o = json_pack("{s:s, s:s, s:I}", "file", relpath, "status", names[status],
		    "passages", (json_int_t)passages);
		if (error < 0)
			json_object_set_new(o, "error", json_string(error == -E2BIG ?
			    "too large for one request" : strerror(-error)));
		cli->json_lines = true;
		cli_print_json(cli, o);
		json_decref(o);
		return;
	}
	switch (status) {
	case INDEX_FILE_ADDED:
		printf("added      %s (%zu passages)\n", cli_esc(cli, relpath), passages);
		break;
	case INDEX_FILE_UNCHANGED:
		printf("unchanged  %s\n", cli_esc(cli, relpath));
		break;
	case INDEX_FILE_TOO_BIG:
		printf("too big    %s\n", cli_esc(cli, relpath));
		break;
	case INDEX_FILE_BINARY:
		printf("binary     %s\n", cli_esc(cli, relpath));
		break;
	case INDEX_FILE_FAILED:
		printf("failed     %s: %s\n", cli_esc(cli, relpath),
		    error == -E2BIG ? "too large for one request" : strerror(-error));
		break;
	}
}

static int cli_cmd_index(struct cli *cli, int argc, char **argv)
{
	struct cli_index ix = { .cli = cli };
	struct index_dir_options opt = {
		.fn = cli_index_report, .userdata = &ix,
		.sink = cli_index_sink, .sink_userdata = &ix,
	};
	struct index_dir_stats st = { 0 };
	int r;

	cli_getopt_reset();
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
	if (cli->n_operands != 1)
		return cli_usage_error(cli, "index takes one DIR");
	r = cli_connect(cli);
	if (r != EXIT_OK)
		return r;
	r = index_dir(NULL, cli->operands[0], &opt, &st);
	if (r == -ECONNRESET || r == -EPIPE)
		return EXIT_UNREACHABLE;
	if (r < 0) {
		fprintf(stderr, "research: %s: %s\n", cli_esc(cli, cli->operands[0]), strerror(-r));
		return EXIT_DAEMON_ERROR;
	}
	if (cli->json) {
		json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "end", 1,
		    "added", (json_int_t)st.added, "unchanged", (json_int_t)st.unchanged,
		    "too_big", (json_int_t)st.too_big, "binary", (json_int_t)st.binary,
		    "failed", (json_int_t)st.failed, "skipped", (json_int_t)st.skipped,
		    "passages", (json_int_t)st.passages, "truncated", st.truncated);

		cli_print_json(cli, o);
		json_decref(o);
	} else
		printf("%zu added (%zu passages), %zu unchanged, %zu too big, %zu binary, %zu failed, "
		    "%zu skipped%s\n", st.added, st.passages, st.unchanged, st.too_big, st.binary,
		    st.failed, st.skipped, st.truncated ? "; stopped at a cap" : "");
	return st.failed ? EXIT_DAEMON_ERROR : EXIT_OK;
}

static int cli_cmd_search(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max", required_argument, NULL, 'n' },
		{ "lang", required_argument, NULL, 'l' },
		{ "time", required_argument, NULL, 't' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "search"), *reply = NULL;
	_cleanup_free_ char *q = NULL;
	json_t *results, *failed, *v;
	size_t i, len = 0;
	int64_t id, n;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'n':
			r = cli_parse_int(cli, "--max", optarg, 1, 100, &n);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "max_results", json_integer(n));
			break;
		case 'l':
			json_object_set_new(req, "lang", json_string(optarg));
			break;
		case 't':
			json_object_set_new(req, "time_range", json_string(optarg));
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands == 0)
		return cli_usage_error(cli, "search needs a query");
	for (int k = 0; k < cli->n_operands; k++)
		len += strlen(cli->operands[k]) + 1;
	q = xmalloc(len + 1);
	q[0] = '\0';
	for (int k = 0; k < cli->n_operands; k++) {
		if (k)
			strcat(q, " ");
		strcat(q, cli->operands[k]);
	}
	json_object_set_new(req, "q", json_string(q));
	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	/* Backends each have their own time limit; this covers them all. */
	r = cli_recv(cli, id, CLI_FETCH_TIMEOUT_MS, false, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	results = json_object_get(reply, "results");
	json_array_foreach(results, i, v) {
		printf("%2zu. %s\n", i + 1, cli_esc(cli, json_string_value(json_object_get(v, "title"))));
		printf("    %s\n", cli_esc(cli, json_string_value(json_object_get(v, "url"))));
		if (json_is_string(json_object_get(v, "snippet")) && json_string_length(json_object_get(v, "snippet")))
			printf("    %s\n", cli_esc(cli, json_string_value(json_object_get(v, "snippet"))));
	}
	failed = json_object_get(reply, "failed");
	json_array_foreach(failed, i, v) {
		fprintf(stderr, "research: backend %s", cli_esc(cli, json_string_value(json_object_get(v, "backend"))));
		fprintf(stderr, " failed: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "error"))));
	}
	return json_array_size(results) == 0 && json_array_size(failed) > 0 ? EXIT_DAEMON_ERROR : EXIT_OK;
}

/* A model answer may take minutes on a slow machine. */
#define CLI_LLM_TIMEOUT_MS (15 * 60 * 1000)

static int cli_cmd_llm(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "prompt", required_argument, NULL, 'p' },
		{ "schema", required_argument, NULL, 's' },
		{ "max-tokens", required_argument, NULL, 'm' },
		{ "show-reasoning", no_argument, NULL, 'r' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "llm"), *reply = NULL;
	bool show_reasoning = false, prompted = false;
	json_t *eps, *v;
	const char *s;
	int64_t id, n;
	size_t i;
	int c, r;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		switch (c) {
		case 'p':
			json_object_set_new(req, "prompt", json_string(optarg));
			prompted = true;
			break;
		case 's': {
			_cleanup_free_ char *text = NULL;
			json_error_t jerr;
			json_t *schema;
			size_t len;

			r = cli_read_input(optarg, 1024 * 1024, &text, &len);
			if (r < 0) {
				fprintf(stderr, "research: --schema %s: %s\n", cli_esc(cli, optarg), strerror(-r));
				return EXIT_USAGE;
			}
			schema = json_loadb(text, len, 0, &jerr);
			if (!json_is_object(schema)) {
				json_decref(schema);
				return cli_usage_error(cli, "--schema: not a JSON object (line %d: %s)", jerr.line, jerr.text);
			}
			json_object_set_new(req, "schema", schema);
			break;
		}
		case 'm':
			r = cli_parse_int(cli, "--max-tokens", optarg, 1, 1000000, &n);
			if (r != EXIT_OK)
				return r;
			json_object_set_new(req, "max_tokens", json_integer(n));
			break;
		case 'r':
			show_reasoning = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (cli->n_operands > 0)
		return cli_usage_error(cli, "llm takes no operands (use --prompt TEXT)");
	if (json_object_get(req, "schema") && !prompted)
		return cli_usage_error(cli, "--schema goes with --prompt");
	r = cli_send(cli, req, &id);
	if (r != EXIT_OK)
		return r;
	r = cli_recv(cli, id, prompted ? CLI_LLM_TIMEOUT_MS : CLI_TIMEOUT_MS, false, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	if (prompted) {
		/* Only the answer on stdout, so it can be piped; reasoning apart. */
		if (show_reasoning && json_get_string(reply, "reasoning", &s) == 0 && s[0])
			fprintf(stderr, "%s\n", cli_esc(cli, s));
		if (json_is_object(json_object_get(reply, "json")))
			json_dumpf(json_object_get(reply, "json"), stdout, JSON_COMPACT);
		else if (json_get_string(reply, "answer", &s) == 0)
			fputs(s, stdout);
		putchar('\n');
		return EXIT_OK;
	}
	eps = json_object_get(reply, "endpoints");
	json_array_foreach(eps, i, v) {
		printf("%s\n", cli_esc(cli, json_string_value(json_object_get(v, "url"))));
		printf("  reachable: %s\n", json_is_true(json_object_get(v, "reachable")) ? "yes" : "no");
		printf("  kind: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "kind"))));
		if (json_is_string(json_object_get(v, "model")))
			printf("  model: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "model"))));
		if (json_is_integer(json_object_get(v, "n_ctx")))
			printf("  context: %lld tokens per slot\n", (long long)json_integer_value(json_object_get(v, "n_ctx")));
		printf("  slots: %lld (%lld busy)\n", (long long)json_integer_value(json_object_get(v, "slots")),
		    (long long)json_integer_value(json_object_get(v, "busy")));
		printf("  breaker: %s\n", cli_esc(cli, json_string_value(json_object_get(v, "breaker"))));
		if (json_is_number(json_object_get(v, "tokens_per_s")))
			printf("  measured: %.0f tokens/s\n", json_number_value(json_object_get(v, "tokens_per_s")));
		printf("  requests: %lld (%lld failed)\n", (long long)json_integer_value(json_object_get(v, "requests")),
		    (long long)json_integer_value(json_object_get(v, "failures")));
	}
	return EXIT_OK;
}

/* Model text may hold anything: control characters are escaped, lines kept. */
static void cli_put_text(struct cli *cli, const char *label, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return;
	printf("%s\n", label);
	cli_put_terminal(cli, text, strlen(text));
	if (text[strlen(text) - 1] != '\n')
		putchar('\n');
}

static int cli_cmd_trace(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *calls = json_array();
	json_t *call, *v, *msgs, *res;
	const char *s;
	int64_t job;
	size_t i, k;
	int r;

	cli_getopt_reset();
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
	r = cli_want_id(cli, &job);
	if (r != EXIT_OK)
		return r;
	req = json_pack("{s:s, s:I}", "op", "trace", "job", (json_int_t)job);
	r = cli_collect(cli, req, "call", calls);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		_cleanup_json_ json_t *doc = json_pack("{s:O}", "calls", calls);
		cli_print_json(cli, doc);
		return EXIT_OK;
	}
	json_array_foreach(calls, i, call) {
		res = json_object_get(call, "result");
		printf("=== call %zu, %s, %lld ms", i + 1,
		    cli_esc(cli, json_string_value(json_object_get(call, "time"))),
		    (long long)json_integer_value(json_object_get(call, "ms")));
		if (json_get_string(res, "model", &s) == 0)
			printf(", model %s", cli_esc(cli, s));
		putchar('\n');
		msgs = json_object_get(json_object_get(call, "request"), "messages");
		json_array_foreach(msgs, k, v) {
			char label[64];

			snprintf(label, sizeof(label), "--- %s",
			    json_is_string(json_object_get(v, "role")) ? json_string_value(json_object_get(v, "role")) : "?");
			for (char *p = label; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = '?';
			cli_put_text(cli, label, json_string_value(json_object_get(v, "content")));
		}
		cli_put_text(cli, "--- reasoning", json_string_value(json_object_get(res, "reasoning")));
		cli_put_text(cli, "--- answer", json_string_value(json_object_get(res, "answer")));
		if (json_is_object(json_object_get(res, "error")))
			printf("--- error: %s\n", cli_esc(cli, json_string_value(json_object_get(json_object_get(res, "error"), "message"))));
		v = json_object_get(res, "usage");
		if (json_is_object(v))
			printf("--- tokens: %lld prompt (%lld cached), %lld completion\n",
			    (long long)json_integer_value(json_object_get(v, "prompt_tokens")),
			    (long long)json_integer_value(json_object_get(v, "cached_tokens")),
			    (long long)json_integer_value(json_object_get(v, "completion_tokens")));
	}
	return EXIT_OK;
}

/* `research sandbox`: the operator's check of the sandbox on this machine,
 * run locally by the helper the daemon uses (no daemon involved). */
static int cli_cmd_sandbox(struct cli *cli, int argc, char **argv)
{
	const char *helper = getenv("RESEARCHD_SANDBOX");
	char *args[256];
	int n = 0;

	if (helper == NULL || helper[0] != '/')
		helper = RESEARCHD_LIBEXECDIR "/researchd-sandbox";
	/* Everything after the command name goes to the helper as it is:
	 * "--check", or "[--limit NAME=N]... -- CMD ARGS...". */
	args[n++] = (char *)helper;
	if (argc >= 2 && strcmp(argv[1], "--check") == 0) {
		args[n++] = "--check";
		argv++, argc--;
	} else
		args[n++] = "--run";
	for (int i = 1; i < argc && n < 255; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	if (n == 2 && strcmp(args[1], "--run") == 0)
		return cli_usage_error(cli, "sandbox needs -- CMD [ARGS...] or --check");
	fflush(stdout);
	execv(helper, args);
	fprintf(stderr, "research: cannot run %s: %s (set RESEARCHD_SANDBOX to its path)\n",
	    helper, strerror(errno));
	return EXIT_DAEMON_ERROR;
}

/* A command with neither options nor operands: one request, one reply.
 * With --json the reply is printed here and *ret_reply stays NULL. */
static int cli_bare_call(struct cli *cli, int argc, char **argv, const char *op, json_t **ret_reply)
{
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", op);
	json_t *reply = NULL;
	int r;

	cli_getopt_reset();
	/* With no options to know, the only answers are the end or an error. */
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
	r = cli_want_none(cli);
	if (r != EXIT_OK)
		return r;
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		json_decref(reply);
		return EXIT_OK;
	}
	*ret_reply = reply;
	return EXIT_OK;
}

static int cli_cmd_ping(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_free_ char *version = NULL;
	int r;

	r = cli_bare_call(cli, argc, argv, "ping", &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	version = xstrdup(cli_esc(cli, cli_job_str(reply, "version")));
	printf("researchd %s (protocol %lld, pid %lld)\n", version,
	    (long long)cli_job_int(reply, "protocol"), (long long)cli_job_int(reply, "pid"));
	return EXIT_OK;
}

static int cli_cmd_stats(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	json_t *stats = NULL;
	int r;

	r = cli_bare_call(cli, argc, argv, "stats", &reply);
	if (r != EXIT_OK || reply == NULL)
		return r;
	if (json_get_object(reply, "stats", &stats) < 0)
		return cli_malformed(cli);
	cli_print_flat(cli, NULL, stats);
	return EXIT_OK;
}

static void cli_cmd_usage(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "usage: research %s%s%s\n  %s\n", cmd->name, cmd->usage[0] ? " " : "",
	    cmd->usage, cmd->summary);
}

static int cli_cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *cmd;

	cli_getopt_reset();
	/* With no options to know, the only answers are the end or an error. */
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
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
	{ "submit", "[--kind K] [--max-time SECONDS] [--max-tokens N] [--max-fetches N] "
	    "[--depth N] [--breadth N] [--options JSON] QUESTION...",
	    "queue a question and print its job id", cli_cmd_submit },
	{ "list", "[--state S] [--all] [--limit N]",
	    "list your jobs, oldest first", cli_cmd_list },
	{ "status", "ID", "show a job", cli_cmd_status },
	{ "watch", "ID [--since N]",
	    "show a job's events until it ends; exit 0 if it ended done", cli_cmd_watch },
	{ "report", "ID [-o FILE] [--format markdown|json]",
	    "print a job's report, or write it to FILE", cli_cmd_report },
	{ "cancel", "ID", "cancel a job", cli_cmd_job_op },
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
	{ "ping", "", "check that researchd answers, and its version", cli_cmd_ping },
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
	    "                 watch one message per line; list gives {\"jobs\":[...]}\n"
	    "  -h, --help     show this help; after a command, that command's usage\n"
	    "  --version      show the version\n"
	    "\n"
	    "Exit status:\n"
	    "  0  success; for watch and a bare QUESTION, the job ended done\n"
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
