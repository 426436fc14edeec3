/* research watch: a job's events as they come, under a live status line
 * on a terminal, and the job's outcome as the exit status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
int cli_watch(struct cli *cli, int64_t id, int64_t since)
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
		req = cli_job_request("status", id);
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
