/* research's commands for a person in the loop: answer (a job's clarifying
 * questions), plan (show a job's plan as editable text or JSON) and
 * approve (let it research, with an edited plan if given). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "research.h"
#include "str.h"
#include "xmalloc.h"

#define HITL_MAX_ANSWERS 3
#define HITL_MAX_ANSWER 2000		/* bytes, as the daemon's PLANNER_MAX_ANSWER */
#define HITL_MAX_PLAN_FILE (256 * 1024)
#define HITL_MAX_SUBQUESTIONS 24
#define HITL_MAX_QUERIES 8

/* The reply of op with the job's id, printed as the job's new state. */
static int hitl_send(struct cli *cli, json_t *req, const char *done)
{
	_cleanup_json_ json_t *reply = NULL;
	json_t *job = NULL;
	int r;

	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	if (json_get_object(reply, "job", &job) < 0)
		return cli_malformed(cli);
	printf("job %lld %s: %s\n", (long long)cli_job_int(job, "id"),
	    cli_esc(cli, cli_job_str(job, "state")), done);
	return EXIT_OK;
}

static int hitl_questions_print(struct cli *cli, int64_t id)
{
	_cleanup_json_ json_t *req = cli_job_request("plan", id), *reply = NULL;
	const json_t *qs, *q;
	size_t i;
	int r;

	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	qs = json_object_get(reply, "questions");
	if (!json_is_array(qs)) {
		fprintf(stderr, "research: job %lld is not waiting for answers\n", (long long)id);
		return EXIT_DAEMON_ERROR;
	}
	if (cli->json) {
		cli_print_json(cli, reply);
		return EXIT_OK;
	}
	json_array_foreach(qs, i, q)
		printf("%zu. %s\n", i + 1, cli_esc(cli, json_string_value(q)));
	printf("Answer with: research answer %lld TEXT... (one per question, in order), "
	    "or --skip\n", (long long)id);
	return EXIT_OK;
}

int cli_cmd_answer(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "skip", no_argument, NULL, 's' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = NULL;
	json_t *answers;
	bool skip = false;
	int64_t id;
	int c, r;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		if (c != 's')
			return EXIT_USAGE;
		skip = true;
	}
	if (cli->n_operands < 1)
		return cli_usage_error(cli, "missing job ID");
	r = cli_parse_id(cli, cli->operands[0], &id);
	if (r != EXIT_OK)
		return r;
	if (skip && cli->n_operands > 1)
		return cli_usage_error(cli, "give answers or --skip, not both");
	/* Without answers: show the questions. */
	if (!skip && cli->n_operands < 2)
		return hitl_questions_print(cli, id);
	if (cli->n_operands - 1 > HITL_MAX_ANSWERS)
		return cli_usage_error(cli, "at most %d answers, one per question", HITL_MAX_ANSWERS);
	req = cli_job_request("answer", id);
	if (skip) {
		json_object_set_new(req, "skip", json_true());
		return hitl_send(cli, req, "goes on with its own assumptions");
	}
	answers = json_array();
	json_object_set_new(req, "answers", answers);
	for (int i = 1; i < cli->n_operands; i++) {
		size_t n = strlen(cli->operands[i]);

		if (n == 0 || n > HITL_MAX_ANSWER)
			return cli_usage_error(cli, "answer %d: a text of 1 to %d bytes is needed", i,
			    HITL_MAX_ANSWER);
		if (json_array_append_new(answers, json_string(cli->operands[i])) < 0)
			return cli_usage_error(cli, "answer %d is not valid UTF-8", i);
	}
	return hitl_send(cli, req, "answered; it goes on");
}

/* The plan as text a person edits: "Q: " lines, each followed by its
 * queries as "  - " lines; '#' lines are comments. */
static void hitl_plan_print(struct cli *cli, int64_t id, const json_t *plan, const char *waiting)
{
	const json_t *list = json_object_get(plan, "subquestions"), *v, *q;
	size_t i, k;

	printf("# The plan of job %lld%s.\n", (long long)id, waiting && strcmp(waiting, "approval") == 0 ?
	    ", waiting for approval" : "");
	printf("# Edit it and run: research approve %lld --plan FILE (or approve it as it is).\n"
	    "# \"Q: \" starts a sub-question; \"  - \" lines under it are its search queries.\n"
	    "# Remove a sub-question to leave it out; add one (with or without queries).\n",
	    (long long)id);
	json_array_foreach(list, i, v) {
		const char *o = cli_job_str(v, "origin");

		if (o && strcmp(o, "plan") != 0)
			printf("# (%s)\n", strcmp(o, "gap") == 0 ? "a gap added by reflection" :
			    "added by the user");
		printf("Q: %s\n", cli_esc(cli, cli_job_str(v, "question")));
		json_array_foreach(json_object_get(v, "queries"), k, q)
			printf("  - %s\n", cli_esc(cli, json_string_value(q)));
	}
}

int cli_cmd_plan(struct cli *cli, int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	json_t *plan = NULL;
	int64_t id;
	int r;

	r = cli_args_job(cli, argc, argv, &id);
	if (r != EXIT_OK)
		return r;
	req = cli_job_request("plan", id);
	r = cli_call(cli, req, &reply);
	if (r != EXIT_OK)
		return r;
	if (json_get_object(reply, "plan", &plan) < 0) {
		if (json_is_array(json_object_get(reply, "questions"))) {
			fprintf(stderr, "research: job %lld has no plan yet: it waits for answers "
			    "(research answer %lld shows the questions)\n", (long long)id, (long long)id);
			return EXIT_DAEMON_ERROR;
		}
		return cli_malformed(cli);
	}
	if (cli->json) {
		cli_print_json(cli, plan);
		return EXIT_OK;
	}
	hitl_plan_print(cli, id, plan, cli_job_str(reply, "waiting_for"));
	return EXIT_OK;
}

/* The edited plan: the text form above, or JSON as `research plan --json`
 * prints it. NULL with the error printed. */
static json_t *hitl_plan_parse(struct cli *cli, const char *path, int *ret_r)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *list = json_array();
	json_t *cur = NULL;
	json_error_t jerr;
	size_t len = 0, line = 0;
	char *p, *next;
	int r;

	r = cli_read_input(path, HITL_MAX_PLAN_FILE, &text, &len);
	if (r < 0) {
		*ret_r = cli_usage_error(cli, "--plan: %s: %s", cli_arg(cli, path),
		    r == -EFBIG ? "larger than 256 KiB" : strerror(-r));
		return NULL;
	}
	p = text + strspn(text, " \t\r\n");
	if (*p == '{') {
		json_t *plan = json_loadb(text, len, 0, &jerr);

		if (plan == NULL || !json_is_array(json_object_get(plan, "subquestions"))) {
			*ret_r = cli_usage_error(cli, "--plan: %s: %s", cli_arg(cli, path),
			    plan ? "no \"subquestions\" list" : jerr.text);
			json_decref(plan);
			return NULL;
		}
		return plan;
	}
	for (p = text; p && *p; p = next) {
		char *s;
		size_t n;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		line++;
		n = strlen(p);
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = '\0';
		s = p + strspn(p, " \t");
		if (*s == '\0' || *s == '#')
			continue;
		if (str_startswith(s, "Q:")) {
			s += 2 + strspn(s + 2, " \t");
			if (*s == '\0' || json_array_size(list) == HITL_MAX_SUBQUESTIONS) {
				*ret_r = cli_usage_error(cli, "%s:%zu: %s", cli_arg(cli, path), line,
				    *s ? "more than 24 sub-questions" : "an empty sub-question");
				return NULL;
			}
			cur = json_pack("{s:s, s:[]}", "question", s, "queries");
			if (cur == NULL) {
				*ret_r = cli_usage_error(cli, "%s:%zu: not valid UTF-8", cli_arg(cli, path), line);
				return NULL;
			}
			json_array_append_new(list, cur);
		} else if (*s == '-') {
			json_t *qs = cur ? json_object_get(cur, "queries") : NULL, *q;

			s += 1 + strspn(s + 1, " \t");
			if (qs == NULL || *s == '\0' || json_array_size(qs) == HITL_MAX_QUERIES) {
				*ret_r = cli_usage_error(cli, "%s:%zu: %s", cli_arg(cli, path), line,
				    qs == NULL ? "a query before any \"Q: \" line" : *s == '\0' ?
				    "an empty query" : "more than 8 queries for one sub-question");
				return NULL;
			}
			q = json_string(s);
			if (q == NULL) {
				*ret_r = cli_usage_error(cli, "%s:%zu: not valid UTF-8", cli_arg(cli, path), line);
				return NULL;
			}
			json_array_append_new(qs, q);
		} else {
			*ret_r = cli_usage_error(cli, "%s:%zu: expected \"Q: sub-question\", \"- query\" "
			    "or a # comment", cli_arg(cli, path), line);
			return NULL;
		}
	}
	if (json_array_size(list) == 0) {
		*ret_r = cli_usage_error(cli, "--plan: %s has no sub-question (\"Q: \" line)",
		    cli_arg(cli, path));
		return NULL;
	}
	return json_pack("{s:O}", "subquestions", list);
}

int cli_cmd_approve(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "plan", required_argument, NULL, 'p' },
		{ 0 },
	};
	_cleanup_json_ json_t *req = NULL;
	const char *path = NULL;
	int64_t id;
	int c, r = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "-:", longopts)) != -1) {
		if (c != 'p')
			return EXIT_USAGE;
		path = optarg;
	}
	r = cli_want_id(cli, &id);
	if (r != EXIT_OK)
		return r;
	req = cli_job_request("approve", id);
	if (path) {
		json_t *plan = hitl_plan_parse(cli, path, &r);

		if (plan == NULL)
			return r;
		json_object_set_new(req, "plan", plan);
	}
	return hitl_send(cli, req, path ? "the edited plan is approved; it goes on" :
	    "the plan is approved; it goes on");
}
