/* research watch: a job's events as they come, a live progress line on a
 * terminal (stderr), why a queued job waits, and the job's outcome as the
 * exit status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"
#include "research.h"
#include "str.h"
#include "xmalloc.h"

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

/* Append "TYPE  DETAIL" for an event, with untrusted text escaped. A
 * progress event is described by the watch itself (it needs the job). */
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
	if (strcmp(type, "waiting") == 0 || strcmp(type, "finish") == 0) {
		if (cli_job_str(data, "for") != NULL)
			buf_printf(out, " for %s:", cli_esc(cli, cli_job_str(data, "for")));
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

#define CLI_POLL_MS 5000		/* how often the job's usage is asked for */
#define CLI_POLL_TIMEOUT_MS 2000

struct cli_watch {
	int64_t job_id;
	char state[32];
	int64_t start_ms;	/* when the job started, or was created; 0 if unknown */
	int64_t end_ms;		/* when it finished; 0 while it runs */
	int64_t events;		/* highest seq seen */
	struct buf last;	/* the last event, described */
	struct buf line;	/* scratch for the live line */
	struct cli_progress progress;
	char waiting[512];	/* why the job waits, escaped; "" when it does not */
	bool quiet;		/* submit --wait: stdout keeps only the job id */
	bool live;		/* a live line on stderr (a terminal) */
	struct client *poll;	/* a second connection for status while watching */
	int64_t poll_ms;
};

static void cli_watch_set_state(struct cli_watch *w, const char *state)
{
	if (state != NULL)
		snprintf(w->state, sizeof(w->state), "%s", state);
}

/* A plain notice that the job waits, once per reason (not on the live line,
 * which shows it anyway). */
static void cli_watch_set_waiting(struct cli *cli, struct cli_watch *w, const char *why)
{
	char text[sizeof(w->waiting)];

	snprintf(text, sizeof(text), "%s", why ? cli_esc(cli, why) : "");
	if (strcmp(text, w->waiting) == 0)
		return;
	memcpy(w->waiting, text, sizeof(text));
	if (text[0] != '\0' && !w->live)
		fprintf(stderr, "research: job %lld is %s: %s\n", (long long)w->job_id,
		    cli_esc(cli, w->state), w->waiting);
}

/* What a status reply says: state, start, budgets, usage, waiting. */
static void cli_watch_take_job(struct cli *cli, struct cli_watch *w, const json_t *job, bool first)
{
	const char *waiting = cli_job_str(job, "waiting");

	cli_watch_set_state(w, cli_job_str(job, "state"));
	if (first)
		w->events = cli_job_int(job, "events");
	if (cli_parse_time(cli_job_str(job, "started"), &w->start_ms) < 0)
		(void)cli_parse_time(cli_job_str(job, "created"), &w->start_ms);
	if (cli_parse_time(cli_job_str(job, "finished"), &w->end_ms) < 0)
		w->end_ms = 0;
	cli_progress_job(&w->progress, job);
	/* A running job's wait is known from its events, not its status. */
	if (waiting != NULL || strcmp(w->state, "running") != 0)
		cli_watch_set_waiting(cli, w, waiting);
}

/* The job's figures from a second connection (the first one is streaming),
 * every CLI_POLL_MS; a failure only means older figures. */
static void cli_watch_poll(struct cli *cli, struct cli_watch *w)
{
	_cleanup_json_ json_t *req = NULL, *msg = NULL;
	int64_t now = time_now_ms(), rid;
	json_t *job = NULL;

	if (now - w->poll_ms < CLI_POLL_MS)
		return;
	w->poll_ms = now;
	if (w->poll == NULL &&
	    client_connect(cli->socket_path, CLI_POLL_TIMEOUT_MS, &w->poll) < 0)
		return;
	req = cli_job_request("status", w->job_id);
	if (client_send(w->poll, req, CLI_POLL_TIMEOUT_MS, &rid) < 0 ||
	    client_read_reply(w->poll, rid, CLI_POLL_TIMEOUT_MS, &msg) < 0) {
		w->poll = client_free(w->poll);
		return;
	}
	if (json_is_true(json_object_get(msg, "ok")) && json_get_object(msg, "job", &job) == 0)
		cli_watch_take_job(cli, w, job, false);
}

static int cli_live_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return CLI_DEFAULT_COLUMNS;
}

static int64_t cli_watch_elapsed(const struct cli_watch *w, int64_t now_ms)
{
	return w->start_ms > 0 ? (now_ms - w->start_ms) / 1000 : -1;
}

static void cli_watch_draw(struct cli *cli, struct cli_watch *w)
{
	/* A finished job's clock stopped when it did. */
	int64_t elapsed = cli_watch_elapsed(w, w->end_ms > 0 ? w->end_ms : time_now_ms());
	char el[32] = "-";

	if (elapsed >= 0)
		cli_progress_duration(elapsed, el);
	buf_reset(&w->line);
	buf_printf(&w->line, "job %lld  %s  ", (long long)w->job_id, cli_esc(cli, w->state));
	if (w->waiting[0] != '\0')
		buf_printf(&w->line, "%s  waiting: %s", el, w->waiting);
	else if (w->progress.have) {
		cli_progress_bar(cli_progress_fraction(&w->progress, elapsed), 20, &w->line);
		buf_puts(&w->line, "  ");
		/* Now, not as of an event: a job that ended has nothing left. A
		 * plain line keeps the estimate as of its event. */
		w->progress.ended = w->end_ms > 0;
		cli_progress_format(&w->progress, elapsed, true, &w->line);
		w->progress.ended = false;
	} else
		buf_printf(&w->line, "%s  %lld events  %s", el, (long long)w->events,
		    w->last.data ? w->last.data : "");
	/* One column short of the width, so the terminal never wraps the line. */
	fputs("\r\033[K", stderr);
	cli_put_fitted_to(stderr, w->line.data ? w->line.data : "", cli_live_columns() - 1);
	fflush(stderr);
}

static void cli_watch_event(struct cli *cli, struct cli_watch *w, const json_t *ev)
{
	const char *time = NULL, *type = "";
	json_t *data = NULL;
	int64_t seq, at_ms;

	if (json_get_int(ev, "seq", &seq) == 0 && seq > w->events)
		w->events = seq;
	(void)json_get_string(ev, "type", &type);
	(void)json_get_object(ev, "data", &data);
	(void)json_get_string(ev, "time", &time);
	buf_reset(&w->last);
	if (strcmp(type, "state") == 0 && data != NULL) {
		cli_watch_set_state(w, cli_job_str(data, "to"));
		if (strcmp(w->state, "queued") != 0)
			cli_watch_set_waiting(cli, w, NULL);
	}
	if (strcmp(type, "waiting") == 0 && data != NULL)
		cli_watch_set_waiting(cli, w, cli_job_str(data, "message"));
	if (strcmp(type, "progress") == 0 && data != NULL &&
	    cli_progress_update(&w->progress, data) == 0) {
		/* The runner went on: whatever it waited for came. */
		cli_watch_set_waiting(cli, w, NULL);
		cli_watch_poll(cli, w);
		/* Unless the live line shows it alone: the figures in words. */
		if (!cli->live || !cli->tty) {
			buf_puts(&w->last, "progress  ");
			if (cli_parse_time(time, &at_ms) < 0)
				at_ms = time_now_ms();
			cli_progress_format(&w->progress, cli_watch_elapsed(w, at_ms), false, &w->last);
		}
	}
	if (w->last.len == 0)
		cli_event_describe(cli, ev, &w->last);
	if (cli->live)
		cli_watch_draw(cli, w);
	/* When stdout is the terminal of the live line, that line shows the
	 * event; a pipe or file gets every event as a line. */
	if (w->quiet || (cli->live && cli->tty))
		return;
	printf("%s  %s\n", cli_esc(cli, time), w->last.data ? w->last.data : "");
	fflush(stdout);
}

/* The line after the stream; the exit status is the job's outcome. */
static int cli_watch_end(struct cli *cli, struct cli_watch *w, const json_t *job)
{
	const char *state = cli_job_str(job, "state"), *message = cli_job_str(job, "message");
	FILE *f = w->quiet ? stderr : stdout;
	enum job_state s;

	if (state == NULL)
		return cli_malformed(cli);
	cli_clear_live(cli);
	fprintf(f, "job %lld %s", (long long)w->job_id, cli_esc(cli, state));
	if (message != NULL)
		fprintf(f, ": %s", cli_esc(cli, message));
	if (job_state_from_string(state, &s) < 0 || !job_state_is_final(s))
		fputs(" (the watch ended before the job did)", f);
	fputc('\n', f);
	return strcmp(state, "done") == 0 ? EXIT_OK : EXIT_DAEMON_ERROR;
}

/* Ctrl-C during a live watch: end the status line first, so the shell's
 * prompt does not land in the middle of it, then die of the signal. */
static void cli_watch_sigint(int sig)
{
	static const char nl[] = "\n";

	(void)!write(STDERR_FILENO, nl, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Follow job id to its end. since < 0: from the first event. */
int cli_watch(struct cli *cli, int64_t id, int64_t since, bool quiet)
{
	_cleanup_json_ json_t *req = NULL;
	struct cli_watch w = { .job_id = id, .quiet = quiet,
		.live = isatty(STDERR_FILENO) && !cli->json };
	json_t *msg = NULL, *job = NULL, *ev;
	int64_t rid;
	int r;

	buf_init(&w.last, CLI_MAX_TEXT);
	buf_init(&w.line, CLI_MAX_TEXT);
	cli->json_lines = cli->json;
	snprintf(w.state, sizeof(w.state), "?");
	if (!cli->json) {
		/* The live line shows the state and elapsed time from the start,
		 * even when the history holds nothing recent; progress needs the
		 * job's budgets. */
		req = cli_job_request("status", id);
		r = cli_call(cli, req, &msg);
		if (r != EXIT_OK)
			goto done;
		if (json_get_object(msg, "job", &job) == 0)
			cli_watch_take_job(cli, &w, job, true);
		w.poll_ms = time_now_ms();
		msg = cli_unref(msg);
		json_decref(req);
	}

	req = json_pack("{s:s, s:I, s:b}", "op", "watch", "job", (json_int_t)id, "follow", 1);
	if (since >= 0)
		json_object_set_new(req, "since", json_integer(since));
	r = cli_send(cli, req, &rid);
	if (r != EXIT_OK)
		goto done;
	/* On a terminal the live line goes to stderr; the events go to stdout
	 * as lines, unless stdout is that terminal too (then the live line
	 * shows the last one). */
	if (w.live) {
		cli->live = true;
		signal(SIGINT, cli_watch_sigint);
		cli_watch_draw(cli, &w);
	}

	for (;;) {
		r = cli_recv(cli, rid, cli->json ? -1 : CLI_TICK_MS, true, &msg);
		if (r == -ETIMEDOUT) {
			cli_watch_poll(cli, &w);
			if (cli->live)
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
	w.poll = client_free(w.poll);
	buf_free(&w.last);
	buf_free(&w.line);
	return r;
}
