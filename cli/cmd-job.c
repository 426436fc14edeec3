/* research's job commands: submit (and the bare QUESTION), followup, list,
 * status, watch, report, cancel, pause, resume and finish. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "research.h"
#include "str.h"
#include "verify.h"
#include "xmalloc.h"

/* The limits researchd puts on a job's options (agent/job.c jobs_options,
 * agent/research.c research_check), checked here too so that a bad value is
 * refused before anything is sent. */
#define SUBMIT_MAX_TIME (30LL * 86400)
#define SUBMIT_MAX_TOKENS 1000000000000LL
#define SUBMIT_MAX_FETCHES 1000000
#define SUBMIT_MAX_DEPTH 10
#define SUBMIT_MAX_BREADTH 50
#define SUBMIT_MIN_CONTEXT 2048
#define SUBMIT_MAX_CONTEXT 131072
#define SUBMIT_MAX_BACKENDS 8
#define SUBMIT_MAX_NAME 32

/* "en", "pt-BR", "zh-Hant": letters, then letters, digits and hyphens. */
static bool cli_language_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 2 && n <= 12 && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", s[0]) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n &&
	    s[n - 1] != '-';
}

/* "searxng,wikipedia" as ["searxng","wikipedia"]; NULL with a usage error. */
static json_t *cli_parse_backends(struct cli *cli, const char *s, int *ret_r)
{
	_cleanup_json_ json_t *list = json_array();
	const char *p = s;

	for (;;) {
		size_t n = strcspn(p, ",");
		char name[SUBMIT_MAX_NAME + 1];

		if (n == 0 || n > SUBMIT_MAX_NAME ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_-") < n) {
			*ret_r = cli_usage_error(cli, "--backends: '%s' is not a comma-separated list of "
			    "backend names (lowercase letters, digits, - and _, up to %d each)",
			    cli_arg(cli, s), SUBMIT_MAX_NAME);
			return NULL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (json_array_size(list) >= SUBMIT_MAX_BACKENDS) {
			*ret_r = cli_usage_error(cli, "--backends: more than %d backends", SUBMIT_MAX_BACKENDS);
			return NULL;
		}
		json_array_append_new(list, json_string(name));
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return json_incref(list);
}

/* Options and operands of submit, also used by the bare "research QUESTION"
 * and by followup (whose first `skip` operands are not the question).
 * *ret_wait gets --wait. */
static int cli_parse_submit(struct cli *cli, int argc, char **argv, int skip, bool *ret_wait,
    json_t **ret)
{
	enum { OPT_KIND = 256, OPT_MAX_TIME, OPT_MAX_TOKENS, OPT_MAX_FETCHES, OPT_DEPTH,
		OPT_BREADTH, OPT_OPTIONS, OPT_CONTEXT, OPT_LANGUAGE, OPT_BACKENDS, OPT_WAIT,
		OPT_INTERACTIVE, OPT_REVIEW_PLAN, OPT_ANSWER_TIMEOUT, OPT_NO_VERIFIER };
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, OPT_KIND },
		{ "max-time", required_argument, NULL, OPT_MAX_TIME },
		{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
		{ "max-fetches", required_argument, NULL, OPT_MAX_FETCHES },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "breadth", required_argument, NULL, OPT_BREADTH },
		{ "options", required_argument, NULL, OPT_OPTIONS },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "language", required_argument, NULL, OPT_LANGUAGE },
		{ "backends", required_argument, NULL, OPT_BACKENDS },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "interactive", no_argument, NULL, OPT_INTERACTIVE },
		{ "review-plan", no_argument, NULL, OPT_REVIEW_PLAN },
		{ "answer-timeout", required_argument, NULL, OPT_ANSWER_TIMEOUT },
		{ "no-verifier", no_argument, NULL, OPT_NO_VERIFIER },
		{ 0 },
	};
	/* Each integer option: its key in the job's options and its range. */
	static const struct { int opt; const char *key; int64_t min, max; } ints[] = {
		{ OPT_MAX_TOKENS, "max_tokens", 1, SUBMIT_MAX_TOKENS },
		{ OPT_MAX_FETCHES, "max_fetches", 0, SUBMIT_MAX_FETCHES },
		{ OPT_DEPTH, "max_depth", 1, SUBMIT_MAX_DEPTH },
		{ OPT_BREADTH, "max_breadth", 1, SUBMIT_MAX_BREADTH },
		{ OPT_CONTEXT, "context", SUBMIT_MIN_CONTEXT, SUBMIT_MAX_CONTEXT },
	};
	_cleanup_json_ json_t *options = json_object(), *flags = json_object(), *req = NULL;
	const char *kind = NULL;
	struct buf question;
	bool wait = false;
	int64_t v;
	int c, r = EXIT_OK;

	buf_init(&question, PROTOCOL_MAX_LINE);
	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		json_error_t jerr;
		json_t *raw;

		switch (c) {
		case OPT_KIND:
			kind = optarg;
			continue;
		case OPT_WAIT:
			wait = true;
			continue;
		case OPT_INTERACTIVE:
			json_object_set_new(flags, "interactive", json_true());
			continue;
		case OPT_REVIEW_PLAN:
			json_object_set_new(flags, "review_plan", json_true());
			continue;
		case OPT_ANSWER_TIMEOUT:
			if (str_to_seconds(optarg, 7 * 86400, &v) < 0 || v < 1) {
				r = cli_usage_error(cli, "--answer-timeout: '%s' is not a duration from 1s "
				    "to 7d (seconds, or a number with s, m, h or d)", cli_arg(cli, optarg));
				goto done;
			}
			json_object_set_new(flags, "answer_timeout", json_integer(v));
			continue;
		case OPT_NO_VERIFIER:
			json_object_set_new(flags, "verifier", json_false());
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
			if (str_to_seconds(optarg, SUBMIT_MAX_TIME, &v) < 0 || v < 1) {
				r = cli_usage_error(cli, "--max-time: '%s' is not a duration from 1s to 30d "
				    "(seconds, or a number with s, m, h or d: 90s, 20m, 3h)", cli_arg(cli, optarg));
				goto done;
			}
			json_object_set_new(flags, "max_time", json_integer(v));
			continue;
		case OPT_LANGUAGE:
			if (!cli_language_ok(optarg)) {
				r = cli_usage_error(cli, "--language: '%s' is not a language code "
				    "such as en, de or pt-BR", cli_arg(cli, optarg));
				goto done;
			}
			json_object_set_new(flags, "language", json_string(optarg));
			continue;
		case OPT_BACKENDS:
			raw = cli_parse_backends(cli, optarg, &r);
			if (raw == NULL)
				goto done;
			json_object_set_new(flags, "backends", raw);
			continue;
		case OPT_MAX_TOKENS:
		case OPT_MAX_FETCHES:
		case OPT_DEPTH:
		case OPT_BREADTH:
		case OPT_CONTEXT:
			for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
				if (ints[i].opt != c)
					continue;
				r = cli_parse_int(cli, longopts[c - OPT_KIND].name, optarg, ints[i].min,
				    ints[i].max, &v);
				if (r != EXIT_OK)
					goto done;
				json_object_set_new(flags, ints[i].key, json_integer(v));
			}
			continue;
		default:
			r = EXIT_USAGE;
			goto done;
		}
	}
	for (int i = skip; i < cli->n_operands; i++) {
		if ((i > skip && buf_putc(&question, ' ') < 0) ||
		    buf_puts(&question, cli->operands[i]) < 0) {
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
	*ret_wait = wait;
	*ret = req;
	req = NULL;
done:
	buf_free(&question);
	return r;
}

/* Send a submit request; print the new job's id (or the reply with
 * --json) and, with --wait, watch the job to its end. */
static int cli_submit_send(struct cli *cli, json_t *req, bool wait)
{
	_cleanup_json_ json_t *reply = NULL;
	json_t *job = NULL;
	int64_t id;
	int r;

	/* With --wait and --json, the reply and the events are one stream. */
	cli->json_lines = cli->json && wait;
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (json_get_object(reply, "job", &job) < 0 || (id = cli_job_int(job, "id")) <= 0)
		return cli_malformed(cli);
	if (cli->json)
		cli_print_json(cli, reply);
	else
		printf("%lld\n", (long long)id);
	if (!wait)
		return EXIT_OK;
	/* The id is all a script reads from stdout; the wait shows on stderr. */
	fflush(stdout);
	return cli_watch(cli, id, -1, true);
}

int cli_cmd_submit(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL;
	bool wait = false;
	int r;

	r = cli_parse_submit(cli, argc, argv, 0, &wait, &req);
	if (r != EXIT_OK)
		return r;
	return cli_submit_send(cli, req, wait);
}

/* "research followup ID QUESTION...": a submit whose options name the
 * parent job; the daemon checks it is a done job of this user. */
int cli_cmd_followup(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL;
	json_t *options;
	bool wait = false;
	int64_t parent;
	int r;

	r = cli_parse_submit(cli, argc, argv, 1, &wait, &req);
	if (r != EXIT_OK)
		return r;
	r = cli_parse_id(cli, cli->operands[0], &parent);
	if (r != EXIT_OK)
		return r;
	options = json_object_get(req, "options");
	if (options == NULL) {
		options = json_object();
		json_object_set_new(req, "options", options);
	}
	json_object_set_new(options, "parent", json_integer(parent));
	return cli_submit_send(cli, req, wait);
}

/* "research QUESTION...": submit, then watch on the same connection. */
int cli_ask(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	json_t *job = NULL;
	bool wait;
	int64_t id;
	int r;

	/* --wait is what this form does anyway. */
	r = cli_parse_submit(cli, argc, argv, 0, &wait, &req);
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
	return cli_watch(cli, id, -1, false);
}

#define CLI_LIST_MAX_REASONS 4

/* The table; a queued job that cannot start gets a '*' marker per reason
 * after its state, each reason said once under the table. */
static void cli_list_print(struct cli *cli, const json_t *jobs)
{
	const char *reasons[CLI_LIST_MAX_REASONS];
	size_t nreasons = 0;
	int idw = 2, statew = 5, cols;
	char num[32], state[64];
	json_t *job;
	size_t i;

	json_array_foreach(jobs, i, job) {
		const char *why = cli_job_str(job, "waiting");
		int n = snprintf(num, sizeof(num), "%lld", (long long)cli_job_int(job, "id"));
		int m = (int)strlen(cli_esc(cli, cli_job_str(job, "state")));

		/* "waiting:answer", "waiting:approval" */
		if (cli_job_str(job, "waiting_for") != NULL)
			m += 1 + (int)strlen(cli_esc(cli, cli_job_str(job, "waiting_for")));
		size_t k = 0;

		if (why != NULL) {
			while (k < nreasons && strcmp(reasons[k], why) != 0)
				k++;
			if (k == nreasons && nreasons < CLI_LIST_MAX_REASONS)
				reasons[nreasons++] = why;
			m += (int)(k < nreasons ? k + 1 : 1);
		}
		idw = n > idw ? n : idw;
		statew = m > statew ? m : statew;
	}
	printf("%*s  %-*s  %-20s  %s\n", idw, "ID", statew, "STATE", "CREATED", "QUESTION");
	cols = cli_columns(cli) - (idw + 2 + statew + 2 + 20 + 2);
	if (cols < 10)
		cols = 10;
	json_array_foreach(jobs, i, job) {
		const char *why = cli_job_str(job, "waiting");
		size_t k = 0, mark = 0;

		if (why != NULL) {
			while (k < nreasons && strcmp(reasons[k], why) != 0)
				k++;
			/* Past the reasons kept, the last marker says "and more". */
			mark = k < nreasons ? k + 1 : nreasons;
		}
		snprintf(state, sizeof(state), "%s", cli_esc(cli, cli_job_str(job, "state")));
		if (cli_job_str(job, "waiting_for") != NULL)
			snprintf(state + strlen(state), sizeof(state) - strlen(state), ":%.16s",
			    cli_esc(cli, cli_job_str(job, "waiting_for")));
		snprintf(state + strlen(state), sizeof(state) - strlen(state), "%.*s", (int)mark, "****");
		printf("%*lld  ", idw, (long long)cli_job_int(job, "id"));
		printf("%-*s  ", statew, state);
		printf("%-20s  ", cli_esc(cli, cli_job_str(job, "created")));
		cli_put_fitted(cli_esc(cli, cli_job_str(job, "question")), cols);
		putchar('\n');
	}
	for (size_t k = 0; k < nreasons; k++)
		printf("%.*s %s\n", (int)(k + 1), "****", cli_esc(cli, reasons[k]));
}

int cli_cmd_list(struct cli *cli, int argc, char **argv)
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

/* For status, cancel, pause, resume, finish: {"op":NAME,"job":ID} and its
 * reply. */
static int cli_job_call(struct cli *cli, int argc, char **argv, json_t **ret_reply, json_t **ret_job)
{
	_cleanup_json_ json_t *req = NULL;
	json_t *reply = NULL, *job = NULL;
	int64_t id;
	int r;

	r = cli_args_job(cli, argc, argv, &id);
	if (r != EXIT_OK)
		return r;
	req = cli_job_request(cli->cmd->name, id);
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

int cli_cmd_status(struct cli *cli, int argc, char **argv)
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
		/* Right under the state: why a queued job does not start. */
		if (strcmp(keys[i], "state") == 0 && cli_job_str(job, "waiting") != NULL)
			printf("waiting: %s\n", cli_esc(cli, cli_job_str(job, "waiting")));
		if (strcmp(keys[i], "state") == 0 && cli_job_str(job, "waiting_for") != NULL)
			printf("waiting_for: %s\n", cli_esc(cli, cli_job_str(job, "waiting_for")));
	}
	if (json_get_object(job, "options", &obj) == 0)
		cli_print_flat(cli, "options", obj);
	if (json_get_object(job, "usage", &obj) == 0)
		cli_print_flat(cli, "usage", obj);
	return EXIT_OK;
}

/* cancel, pause and resume differ only in the op's name. */
int cli_cmd_job_op(struct cli *cli, int argc, char **argv)
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

/* research finish: like cancel, but the job writes its report first. */
int cli_cmd_finish(struct cli *cli, int argc, char **argv)
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
		printf("job %lld %s: asked to stop researching and write its report\n",
		    (long long)cli_job_int(job, "id"), cli_esc(cli, cli_job_str(job, "state")));
	return EXIT_OK;
}

int cli_cmd_watch(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ 0 },
	};
	int64_t id, since = -1;
	int c, r;

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
	return cli_watch(cli, id, since, false);
}

/* Write data to path through a temporary file in the same directory and a
 * rename, so a reader never sees half a report. */
int cli_write_atomic(const char *path, const char *data, size_t len)
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

int cli_cmd_report(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "with-sources", no_argument, NULL, 'W' },
		{ 0 },
	};
	struct stat st;
	bool with_sources = false;
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *dumped = NULL;
	const char *out = NULL, *format = NULL, *body;
	json_t *report = NULL, *jbody;
	size_t len;
	int64_t id;
	int c, r;

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
		case 'W':
			with_sources = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	r = cli_want_id(cli, &id);
	if (r != EXIT_OK)
		return r;
	/* A directory gets the report with what proves it (cli/export.c). */
	if (out != NULL && stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (format != NULL)
			return cli_usage_error(cli, "--format does not apply to a directory: it gets "
			    "both formats");
		return cli_report_export(cli, id, out, with_sources);
	}
	if (with_sources)
		return cli_usage_error(cli, "--with-sources needs -o DIR, an existing directory");
	req = cli_job_request("report", id);
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
